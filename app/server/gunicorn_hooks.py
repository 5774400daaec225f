"""gunicorn settings that only a config module can give (`-c python:app.server.gunicorn_hooks`)."""

from __future__ import annotations


def post_request(worker, req, environ, resp) -> None:
    # gevent switches greenlets only when one would block. A keep-alive client whose next
    # request is already waiting would be served again and again while the others wait:
    # yield after every request, so connections take turns.
    if worker.__class__.__name__.startswith("Gevent"):
        import gevent

        gevent.sleep(0)
