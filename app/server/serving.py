"""How Touchpoint is served: the one gunicorn command line that `make run`, the tests and
bench/redirect share, and `touchpoint serve`, which runs it beside the job worker.

Why gevent (bench/README.md): a sync worker is held by one connection from its first
byte to its last, so four clients that send their headers slowly (slowloris) stop every click
until gunicorn's timeout. gthread is no better: its threads read a request's headers blocking,
so a slow client holds a thread (gunicorn 27 only waits 5 s for the *first* byte outside the
pool). A gevent worker parks a slow connection as a greenlet that costs a few kilobytes and no
CPU, while the other connections are served; bench/slow_clients measures it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

WORKER_CLASS = "gevent"
# The gunicorn worker classes `touchpoint serve --worker-class` offers.
WORKER_CLASSES = ("gevent", "gthread", "sync")
# Chosen from bench/redirect on a 2-core machine (bench/README.md): the SQLite writes
# serialise, so more processes than cores mostly add lock hand-offs.
WORKERS = 4
# Connections one gevent worker holds at once; slow clients beyond workers x this wait in the
# listen backlog (put nginx in front in production: deploy/nginx/).
WORKER_CONNECTIONS = 1000
# A worker that does not report for this long (a request stuck in C code) is restarted.
TIMEOUT_S = 30
# Idle keep-alive connections are closed after this; phones re-use the connection for the
# landing page's assets.
KEEPALIVE_S = 5
GRACEFUL_TIMEOUT_S = 10

BIN = Path(sys.executable).parent


def gunicorn_argv(
    bind: str,
    *,
    app_spec: str = "wsgi:app",
    workers: int = WORKERS,
    worker_class: str = WORKER_CLASS,
    access_log: str | None = "-",
    error_log: str = "-",
    forwarded_allow_ips: str = "",
    extra: Sequence[str] = (),
) -> list[str]:
    """The gunicorn command line `make run` serves with (bench/redirect measures exactly this).

    `forwarded_allow_ips` must be the same proxies as TOUCHPOINT_TRUSTED_PROXIES: gunicorn
    sets the request's scheme from X-Forwarded-Proto only for peers in that list, and its
    default (127.0.0.1) would let anything on the host claim https.
    """
    argv = [
        str(BIN / "gunicorn"),
        "--bind",
        bind,
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--timeout",
        str(TIMEOUT_S),
        "--graceful-timeout",
        str(GRACEFUL_TIMEOUT_S),
        "--keep-alive",
        str(KEEPALIVE_S),
        "--forwarded-allow-ips",
        forwarded_allow_ips,
        "--error-logfile",
        error_log,
        "--config",
        "python:app.server.gunicorn_hooks",
        # gunicorn 27's control socket lives in ~/.gunicorn, shared by every instance of the
        # user, and can reload or stop the server: nothing here needs it.
        "--no-control-socket",
    ]
    if worker_class == "gevent":
        argv += ["--worker-connections", str(WORKER_CONNECTIONS)]
    if access_log is not None:
        argv += ["--access-logfile", access_log]
    return [*argv, *extra, app_spec]


def serve(argvs: Sequence[Sequence[str]]) -> int:
    """Run the processes side by side until one exits or we are told to stop.

    The first is gunicorn; the others (the job worker) are restarted if they die, after a
    pause, so a crash loop does not burn the machine. SIGINT/SIGTERM stop all of them.
    """
    stopping = False

    def start(argv: Sequence[str]) -> subprocess.Popen:
        return subprocess.Popen(list(argv))

    procs = [start(argv) for argv in argvs]

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, lambda *_: procs[0].send_signal(signal.SIGHUP))
    restarts = [0.0] * len(procs)
    while True:
        time.sleep(0.5)
        if procs[0].poll() is not None:
            break
        for i in range(1, len(procs)):
            if procs[i].poll() is not None and not stopping and time.monotonic() > restarts[i]:
                print(
                    f"touchpoint serve: {' '.join(argvs[i][-2:])} exited "
                    f"({procs[i].returncode}); restarting",
                    file=sys.stderr,
                    flush=True,
                )
                restarts[i] = time.monotonic() + 5
                procs[i] = start(argvs[i])
    for proc in procs[1:]:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs[1:]:
        try:
            proc.wait(timeout=GRACEFUL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
    return procs[0].returncode or 0


def touchpoint_argv(*args: str) -> list[str]:
    """A `touchpoint` subcommand in this virtualenv, for processes `serve` runs."""
    return [str(BIN / "touchpoint"), *args]
