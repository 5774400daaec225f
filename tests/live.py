"""A real gunicorn with several worker processes on one SQLite file, for tests that need one."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from app.server import serving

from . import backends

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(
    env: dict[str, str],
    workers: int = 3,
    worker_class: str = serving.WORKER_CLASS,
    forwarded_allow_ips: str = "",
):
    """Start gunicorn on a free loopback port as `make run` does (app/server/serving.py, without the
    access log); yield the port; stop it afterwards."""
    port = free_port()
    argv = serving.gunicorn_argv(
        f"127.0.0.1:{port}",
        workers=workers,
        worker_class=worker_class,
        access_log=None,
        forwarded_allow_ips=forwarded_allow_ips,
    )
    process = subprocess.Popen(
        [*argv[:-1], "--log-level", "warning", argv[-1]],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                conn.request("GET", "/api/v1/openapi.json")
                conn.getresponse().read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read().decode() if process.stdout else ""
                    raise RuntimeError(f"gunicorn did not start:\n{output}") from None
                time.sleep(0.1)
            finally:
                conn.close()
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


@contextmanager
def served_app(folder: Path, secret: str, workers: int = 2):
    """A migrated database file in `folder`, an app on it for setting up and asserting, and a
    gunicorn serving the same file: yields (app, base URL)."""
    from .conftest import make_app

    app = make_app(folder, SECRET_KEY=secret)
    env = {**backends.environment(app), "TOUCHPOINT_SECRET_KEY": secret}
    with gunicorn(env, workers=workers) as port:
        yield app, f"http://127.0.0.1:{port}"


def in_processes(app, script: str, processes: int = 4, timeout: float = 120) -> list:
    """Run `script` (Python that prints one JSON value) in several processes at once on the
    database of `app`; their printed values, in process order. For exactly-once tests: the
    processes race for real, as gunicorn workers or several hosts would."""
    import json
    import sys

    env = {**os.environ, **backends.environment(app)}
    procs = [
        subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, cwd=ROOT)
        for _ in range(processes)
    ]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, out
        results.append(json.loads(out))
    return results
