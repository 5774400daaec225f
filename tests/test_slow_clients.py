"""Slow clients (slowloris) must not stop the clicks: bench/slow_clients against the server as
`make run` starts it (app/server/serving.py), loopback only, bounded in time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "slow_clients"


def run_bench(*args: str) -> tuple[int, dict]:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--json", *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, result.stdout + result.stderr
    return result.returncode, json.loads(lines[-1])


def test_two_hundred_slow_connections_leave_clicks_fast():
    code, result = run_bench("--connections", "200", "--hold", "10")
    assert result["worker_class"] == "gevent"
    assert result["failed"] == 0
    assert result["clicks"] > 100
    assert result["p99_ms"] < 100, result
    assert code == 0


def test_the_same_attack_stops_sync_workers():
    # Why the worker class matters: four slow connections hold all four sync workers, so a
    # real click waits until gunicorn gives up on them. This is what the check above catches.
    code, result = run_bench(
        "--worker-class", "sync", "--connections", "4", "--hold", "5", "--timeout", "2"
    )
    assert result["failed"] > 0
    assert code == 1
