"""`make run` serves through `touchpoint serve`, whose gunicorn command line
(app/server/serving.py) is the one bench/redirect measures and tests/live.py starts."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.server import serving

from . import backends
from .conftest import api_for, make_app
from .live import free_port

ROOT = Path(__file__).resolve().parent.parent
TOUCHPOINT = str(Path(sys.executable).parent / "touchpoint")


def test_make_run_serves_through_touchpoint_serve():
    plan = subprocess.run(
        ["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "touchpoint serve --bind 127.0.0.1:8000" in plan
    assert "TOUCHPOINT_PUBLIC_BASE_URL" in plan


def test_the_command_line_is_gevent_with_an_access_log_and_no_trusted_proxy_by_default():
    argv = serving.gunicorn_argv("127.0.0.1:8000")
    assert argv[argv.index("--worker-class") + 1] == "gevent"
    assert argv[argv.index("--access-logfile") + 1] == "-"
    # gunicorn's own default (127.0.0.1) would believe X-Forwarded-Proto from any local process
    assert argv[argv.index("--forwarded-allow-ips") + 1] == ""
    assert argv[-1] == "wsgi:app"


@pytest.mark.slow
def test_serve_answers_clicks_and_stops_on_sigterm(tmp_path):
    app = make_app(tmp_path)
    rt = app.extensions["touchpoint"]
    link = api_for(app).link()
    port = free_port()
    env = {
        **os.environ,
        **backends.environment(app),
        "TOUCHPOINT_SECRET_KEY": rt.config["SECRET_KEY"],
        "TOUCHPOINT_TRUSTED_PROXIES": "10.0.0.0/8",
    }
    process = subprocess.Popen(
        [TOUCHPOINT, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", f"/r/{link['token']}")
                status = conn.getresponse().status
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
            finally:
                conn.close()
        assert status == 302
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        log = process.stdout.read().decode()
        assert f'"GET /r/{link["token"]} HTTP/1.1" 302' in log  # the access log is on
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        process.stdout.close()
