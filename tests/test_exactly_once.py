"""Fifty tills racing for one single-use code through four gunicorn workers: one wins."""

from __future__ import annotations

import http.client
import json
from concurrent.futures import ProcessPoolExecutor

import pytest

from .conftest import api_for, make_app
from .coupon_helpers import codes_for, location, offer, staff
from .live import gunicorn

pytestmark = pytest.mark.slow

SECRET = "exactly-once-test-secret-key-0123456789"


def attempt(args: tuple[int, str, str, int]) -> int:
    port, key, code, n = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(
        "POST",
        "/api/v1/redemptions",
        body=json.dumps({"code": code, "transaction_id": f"T-{n}"}),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    status = conn.getresponse().status
    conn.close()
    return status


def test_fifty_concurrent_attempts_give_exactly_one_redemption(tmp_path):
    app = make_app(tmp_path, SECRET_KEY=SECRET)
    api = api_for(app)
    location(api)
    key = staff(api).headers["Authorization"].split()[1]
    code = codes_for(api, offer(api)["id"], 1)[0]
    env = {"TOUCHPOINT_DATABASE": str(tmp_path / "touchpoint.db"), "TOUCHPOINT_SECRET_KEY": SECRET}
    with gunicorn(env, workers=4) as port, ProcessPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(attempt, [(port, key, code, n) for n in range(50)]))
    assert statuses.count(201) == 1
    assert statuses.count(409) == 49
    db = app.extensions["touchpoint"].db()
    assert db.execute("SELECT count(*) FROM redemptions").fetchone()[0] == 1
    assert db.execute("SELECT redemption_count FROM codes").fetchone()[0] == 1
