"""Two Touchpoint hosts over one PostgreSQL database (issue 15): what must happen once happens
once however the requests are spread over the hosts.

Each host is its own gunicorn master with 2 workers on its own loopback port; both read the
same database URL, as two machines behind a load balancer would. Requests are fired from
several processes at once, alternating between the hosts. Under SQLite one file has one host
(tests/test_exactly_once.py covers its workers).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from app.server import serving

from . import backends
from .conftest import BROWSER_UA, api_for, make_app
from .coupon_helpers import codes_for, location, offer, staff
from .live import free_port, gunicorn

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not backends.POSTGRES,
        reason="two hosts share one PostgreSQL database (the SQLite pass: test_exactly_once)",
    ),
]

SECRET = "multihost-test-secret-key-0123456789-abc"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    """(app on the shared database, admin API, [port of host one, port of host two])."""
    folder = tmp_path_factory.mktemp("multihost")
    app = make_app(folder, SECRET_KEY=SECRET)
    env = {**backends.environment(app), "TOUCHPOINT_SECRET_KEY": SECRET}
    with gunicorn(env, workers=2) as one, gunicorn(env, workers=2) as two:
        yield app, api_for(app), [one, two]


def call(args: tuple[int, str, str, dict, bytes | None]) -> tuple[int, str]:
    """One request to the host at `port`: (status, body)."""
    port, method, path, headers, body = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def spread(ports: list[int], method: str, path: str, headers: dict, bodies: list) -> list:
    """Every body sent at once from 8 processes, alternating between the hosts, in order."""
    calls = [(ports[n % len(ports)], method, path, headers, body) for n, body in enumerate(bodies)]
    with ProcessPoolExecutor(max_workers=8) as pool:
        return list(pool.map(call, calls))


def json_headers(token: str, **extra: str) -> dict:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json", **extra}


def count(app, sql: str, params: tuple = ()) -> int:
    return app.extensions["touchpoint"].db().execute(sql, params).fetchone()[0]


def single_use_code(api, store: str) -> tuple[str, int, str]:
    """(a till's staff key at a new store, an offer, one single-use code of it)."""
    location(api, store)
    till = staff(api, store).headers["Authorization"].split()[1]
    offer_id = offer(api)["id"]
    return till, offer_id, codes_for(api, offer_id, 1)[0]


def test_fifty_attempts_on_one_code_over_two_hosts_redeem_it_once(hosts):
    app, api, ports = hosts
    till, offer_id, code = single_use_code(api, "MH-1")
    bodies = [json.dumps({"code": code, "transaction_id": f"T-{n}"}) for n in range(50)]
    answers = spread(ports, "POST", "/api/v1/redemptions", json_headers(till), bodies)
    statuses = [status for status, _ in answers]
    assert statuses.count(201) == 1 and statuses.count(409) == 49, statuses
    assert all(json.loads(b)["error"]["code"] == "already_redeemed" for s, b in answers if s == 409)
    assert (
        count(app, "SELECT sum(redemption_count) FROM codes WHERE offer_id = ?", (offer_id,)) == 1
    )
    assert count(app, "SELECT count(*) FROM redemptions WHERE offer_id = ?", (offer_id,)) == 1


def test_one_idempotency_key_sent_to_both_hosts_at_once_is_one_redemption(hosts):
    app, api, ports = hosts
    till, offer_id, code = single_use_code(api, "MH-2")
    body = json.dumps({"code": code, "transaction_id": "T-42"})
    headers = json_headers(till, **{"Idempotency-Key": f"till-2-{uuid.uuid4()}"})
    answers = spread(ports, "POST", "/api/v1/redemptions", headers, [body] * 20)
    # Every answer is the first one replayed: never a 409 (a replay is due), never a 500.
    assert {status for status, _ in answers} == {201}, answers[:3]
    assert len({text for _, text in answers}) == 1
    assert count(app, "SELECT count(*) FROM redemptions WHERE offer_id = ?", (offer_id,)) == 1


class Browser:
    """A browser on the customer's phone: its cookies, whichever host answers."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def headers(self, **extra: str) -> dict:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return {"User-Agent": BROWSER_UA, **({"Cookie": cookie} if cookie else {}), **extra}

    def get(self, port: int, path: str) -> str:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("GET", path, headers=self.headers())
            response = conn.getresponse()
            text = response.read().decode()
            assert response.status == 200, (response.status, text[:300])
            for header in response.headers.get_all("Set-Cookie") or []:
                name, value = header.split(";", 1)[0].split("=", 1)
                self.cookies[name] = value
            return text
        finally:
            conn.close()


def shown_code(html: str) -> str:
    return re.search(r'class="code"[^>]*>([^<]+)<', html).group(1)


def double_taps(ports: list[int], path: str, browsers: list[Browser], pages: list[str]) -> list:
    """Each browser presses "Get my code" on its open page twice at once, once per host."""
    calls = []
    for browser, page in zip(browsers, pages, strict=True):
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        form = urlencode({"csrf_token": token}).encode()
        headers = browser.headers(**{"Content-Type": "application/x-www-form-urlencoded"})
        calls += [(port, "POST", path, headers, form) for port in ports]
    with ProcessPoolExecutor(max_workers=8) as pool:
        return list(pool.map(call, calls))


def offer_link(api, **fields) -> dict:
    campaign = api.campaign()
    created = offer(api, campaign["id"], **fields)
    response = api.post(
        "/api/v1/links", json={"campaign_id": campaign["id"], "offer_id": created["id"]}
    )
    assert response.status_code == 201
    return {**response.get_json(), "offer": created}


def test_a_double_tap_on_both_hosts_claims_one_code_per_browser(hosts):
    app, api, ports = hosts
    link = offer_link(api)
    path = f"/r/{link['token']}"
    browsers = [Browser() for _ in range(6)]
    pages = [browser.get(ports[n % 2], path) for n, browser in enumerate(browsers)]
    answers = double_taps(ports, path, browsers, pages)
    assert {status for status, _ in answers} == {200}
    codes = [shown_code(text) for _, text in answers]
    # Both taps of one browser show the same code; different browsers, different codes.
    assert all(codes[2 * n] == codes[2 * n + 1] for n in range(len(browsers)))
    assert len(set(codes)) == len(browsers)
    offer_id = link["offer"]["id"]
    assert count(app, "SELECT count(*) FROM codes WHERE offer_id = ?", (offer_id,)) == 6
    assert count(app, "SELECT count(*) FROM claims WHERE offer_id = ?", (offer_id,)) == 6


def test_a_per_lead_limit_of_one_holds_for_one_person_on_two_devices_and_hosts(hosts):
    app, api, ports = hosts
    link = offer_link(api, per_lead_limit=1)
    [row] = api.post(
        f"/api/v1/links/{link['id']}/recipients", json={"recipients": [{"email": "mh@example.com"}]}
    ).get_json()["recipients"]
    path = urlsplit(row["tracked_url"]).path
    devices = [Browser() for _ in range(4)]  # phone, laptop, tablet, work PC
    pages = [device.get(ports[n % 2], path) for n, device in enumerate(devices)]
    answers = double_taps(ports, path, devices, pages)
    assert {status for status, _ in answers} == {200}
    assert len({shown_code(text) for _, text in answers}) == 1  # the one code of this person
    offer_id = link["offer"]["id"]
    assert count(app, "SELECT count(*) FROM codes WHERE offer_id = ?", (offer_id,)) == 1


def test_duplicate_conversions_scans_and_recipients_are_stored_once(hosts):
    app, api, ports = hosts
    admin = api.headers["Authorization"].split()[1]
    sale = json.dumps(
        {"type": "sale", "email": "buyer@example.com", "value": "25.00", "external_id": "crm-mh-1"}
    )
    answers = spread(ports, "POST", "/api/v1/conversions", json_headers(admin), [sale] * 12)
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * 11 + [201], statuses
    assert len({json.loads(text)["id"] for _, text in answers}) == 1
    assert count(app, "SELECT count(*) FROM conversions WHERE external_id = 'crm-mh-1'") == 1

    location(api, "MH-BOOTH", "booth")
    booth = staff(api, "MH-BOOTH").headers["Authorization"].split()[1]
    scan = json.dumps(
        {"code": "badge 77", "scan_id": str(uuid.uuid4()), "scanned_at": "2026-11-20T10:15:00Z"}
    )
    answers = spread(ports, "POST", "/api/v1/scans", json_headers(booth), [scan] * 12)
    assert sorted(status for status, _ in answers) == [200] * 11 + [201]
    assert len({text for _, text in answers}) == 1
    assert count(app, "SELECT count(*) FROM booth_scans WHERE raw_code = 'badge 77'") == 1

    link = api.link()
    people = json.dumps({"recipients": [{"email": "same@example.com", "name": "Sam"}]})
    path = f"/api/v1/links/{link['id']}/recipients"
    answers = spread(ports, "POST", path, json_headers(admin), [people] * 12)
    assert {status for status, _ in answers} <= {200, 201}, answers[:2]
    # The same person, the same URL whichever host answered (each names itself as the
    # base URL here, for want of TOUCHPOINT_PUBLIC_BASE_URL: the path is the person's).
    urls = {urlsplit(json.loads(text)["recipients"][0]["tracked_url"]).path for _, text in answers}
    assert len(urls) == 1
    assert count(app, "SELECT count(*) FROM recipients WHERE link_id = ?", (link["id"],)) == 1
    assert count(app, "SELECT count(*) FROM leads WHERE email = 'same@example.com'") == 1


def test_clicks_a_killed_host_acknowledged_are_all_in_the_database(hosts, tmp_path):
    """SIGKILL a host (master and workers) in the middle of a burst of clicks: every 302 it
    sent has its row, committed before the answer left."""
    app, api, ports = hosts
    link = api.link()
    env = {**os.environ, **backends.environment(app), "TOUCHPOINT_SECRET_KEY": SECRET}
    port = free_port()
    argv = serving.gunicorn_argv(f"127.0.0.1:{port}", workers=2, access_log=None)
    host = subprocess.Popen(
        [*argv[:-1], "--log-level", "warning", argv[-1]],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: one killpg takes the workers too
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                call((port, "GET", "/api/v1/openapi.json", {}, None))
                break
            except OSError:
                assert time.monotonic() < deadline and host.poll() is None
                time.sleep(0.1)
        acknowledged: list[str] = []
        lock = threading.Lock()

        def clicks() -> None:
            for _ in range(200):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                try:
                    conn.request("GET", f"/r/{link['token']}", headers={"User-Agent": BROWSER_UA})
                    response = conn.getresponse()
                    response.read()
                except OSError:
                    return  # the host is gone: this click was never acknowledged
                finally:
                    conn.close()
                if response.status == 302:
                    query = parse_qs(urlsplit(response.getheader("Location")).query)
                    with lock:
                        acknowledged.append(query["tp_cid"][0])

        with ThreadPoolExecutor(max_workers=6) as pool:
            for _ in range(6):
                pool.submit(clicks)
            deadline = time.monotonic() + 60
            while len(acknowledged) < 150 and time.monotonic() < deadline:
                time.sleep(0.01)
            os.killpg(host.pid, signal.SIGKILL)
    finally:
        if host.poll() is None:
            os.killpg(host.pid, signal.SIGKILL)
        host.wait(timeout=30)
    assert len(acknowledged) >= 150
    db = app.extensions["touchpoint"].db()
    ids = json.dumps(acknowledged)
    stored = db.execute(
        "SELECT count(*) FROM events WHERE id IN "
        "(SELECT value FROM json_array_elements_text(CAST(? AS json)))",
        (ids,),
    ).fetchone()[0]
    assert stored == len(acknowledged)


def test_a_request_waiting_on_postgresql_does_not_hold_up_clicks_on_its_worker(tmp_path):
    """One gevent worker: a redemption waits for the write lock (held here), and a click sent
    meanwhile is answered at once. psycopg must wait cooperatively under gevent, though
    gunicorn's master imported it before the worker patched (app/core/postgres.py)."""
    app = make_app(tmp_path, SECRET_KEY=SECRET)
    api = api_for(app)
    till, offer_id, code = single_use_code(api, "MH-9")
    link = api.link()
    env = {**backends.environment(app), "TOUCHPOINT_SECRET_KEY": SECRET}
    db = app.extensions["touchpoint"].db()
    body = json.dumps({"code": code, "transaction_id": "T-9"}).encode()
    with gunicorn(env, workers=1) as port, ThreadPoolExecutor(max_workers=1) as pool:
        assert (
            call((port, "GET", f"/r/{link['token']}", {"User-Agent": BROWSER_UA}, None))[0] == 302
        )
        db.execute("BEGIN")
        db.execute("SELECT pg_advisory_xact_lock(?)", (0x5450575249544531,))
        try:
            redemption = pool.submit(
                call, (port, "POST", "/api/v1/redemptions", json_headers(till), body)
            )
            time.sleep(0.3)  # the redemption is waiting for the lock now
            started = time.monotonic()
            click = call((port, "GET", f"/r/{link['token']}", {"User-Agent": BROWSER_UA}, None))
            took = time.monotonic() - started
            assert not redemption.done()
        finally:
            db.execute("COMMIT")
        assert redemption.result()[0] == 201
    assert click[0] == 302 and took < 1.0, took
