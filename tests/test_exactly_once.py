"""Fifty tills racing for one single-use code through four gunicorn workers: one wins."""

from __future__ import annotations

import http.client
import json
from concurrent.futures import ProcessPoolExecutor

import pytest

from . import backends
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
    env = {**backends.environment(app), "TOUCHPOINT_SECRET_KEY": SECRET}
    with gunicorn(env, workers=4) as port, ProcessPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(attempt, [(port, key, code, n) for n in range(50)]))
    assert statuses.count(201) == 1
    assert statuses.count(409) == 49
    db = app.extensions["touchpoint"].db()
    assert db.execute("SELECT count(*) FROM redemptions").fetchone()[0] == 1
    assert db.execute("SELECT redemption_count FROM codes").fetchone()[0] == 1


def post_json(args: tuple[int, str, str, dict]) -> int:
    port, token, path, body = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(
        "POST",
        path,
        body=json.dumps(body),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    status = conn.getresponse().status
    conn.close()
    return status


def test_a_lead_is_lost_once_and_a_conversion_voided_once_under_a_race(tmp_path):
    """Thirty reps' clicks on "Mark lost" and thirty CRM retries of a refund, through four
    workers: one loss, one void; the others are told it is already done (409)."""
    app = make_app(tmp_path, SECRET_KEY=SECRET)
    api = api_for(app)
    token = api.headers["Authorization"].split()[1]
    lead_id = api.post(
        "/api/v1/conversions", json={"type": "mql", "email": "race@example.com"}
    ).get_json()["lead_id"]
    sale = api.post(
        "/api/v1/conversions", json={"type": "purchase", "email": "race@example.com", "value": "9"}
    ).get_json()
    env = {**backends.environment(app), "TOUCHPOINT_SECRET_KEY": SECRET}
    lost = (f"/api/v1/leads/{lead_id}/lost", {"reason": "timing"})
    void = (f"/api/v1/conversions/{sale['id']}/void", {"reason": "refund"})
    calls = [(path, body) for _ in range(30) for path, body in (lost, void)]
    with gunicorn(env, workers=4) as port, ProcessPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(post_json, [(port, token, p, b) for p, b in calls]))
    assert statuses[0::2].count(200) == 1 and statuses[0::2].count(409) == 29
    assert statuses[1::2].count(200) == 1 and statuses[1::2].count(409) == 29
    db = app.extensions["touchpoint"].db()
    assert db.execute("SELECT count(*) FROM lead_losses").fetchone()[0] == 1
    assert db.execute("SELECT status FROM leads WHERE id = ?", (lead_id,)).fetchone()[0] == "lost"
