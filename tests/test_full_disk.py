"""A full disk never breaks a link: a real gunicorn on a database in a tiny tmpfs that is
filled until SQLite gets ENOSPC; clicks still redirect, and every one reaches the database
exactly once after space comes back."""

from __future__ import annotations

import errno
import http.client
import json
import os
import subprocess
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from app.server import maintenance

from . import backends
from .conftest import api_for, make_app
from .live import gunicorn


@pytest.fixture
def small_disk(tmp_path):
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(folder) -> str:
    """Write a filler file until the filesystem says ENOSPC; return its path."""
    path = os.path.join(folder, "filler")
    with open(path, "wb", buffering=0) as f:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    return path


def request(port: int, method: str, path: str, body: dict | None = None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=payload, headers=all_headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def click_id(headers: dict) -> str:
    return parse_qs(urlsplit(headers["Location"]).query)["tp_cid"][0]


@pytest.mark.slow
@backends.sqlite_only  # the SQLite file on a full disk; PostgreSQL's disk is the server's
def test_clicks_survive_a_full_disk_and_land_once(small_disk, tmp_path):
    spool_dir = tmp_path / "spool"  # another filesystem than the database
    app = make_app(small_disk, SPOOL_DIR=str(spool_dir))
    rt = app.extensions["touchpoint"]
    api = api_for(app)
    link = api.link()
    token = api.headers["Authorization"]
    env = {
        "TOUCHPOINT_DATABASE": str(small_disk / "touchpoint.db"),
        "TOUCHPOINT_SECRET_KEY": rt.config["SECRET_KEY"],
        "TOUCHPOINT_SPOOL_DIR": str(spool_dir),
    }
    sent: list[str] = []
    with gunicorn(env, workers=2) as port:
        status, headers, _ = request(port, "GET", f"/r/{link['token']}")
        assert status == 302
        sent.append(click_id(headers))
        assert request(port, "GET", "/healthz")[0] == 200

        db = rt.db()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # no WAL space left to reuse
        filler = fill(small_disk)

        statuses = []
        for i in range(40):
            status, headers, _ = request(port, "GET", f"/r/{link['token']}")
            statuses.append(status)
            if status == 302:
                sent.append(click_id(headers))
            unknown = request(port, "GET", f"/r/not-a-token-{i}")[0]
            assert unknown == 404
        assert statuses == [302] * 40

        status, _, body = request(port, "GET", "/healthz")
        health = json.loads(body)
        assert status == 503 and health["database"]["writable"] is False
        assert health["spool"]["events"] >= 40  # the database truly refused them
        assert health["spool"]["lost"] == 0

        status, headers, body = request(
            port,
            "POST",
            "/api/v1/campaigns",
            {"name": "x", "channel": "email", "utm_source": "a", "utm_medium": "b"},
            {"Authorization": token},
        )
        assert status == 503
        assert json.loads(body)["error"]["code"] == "storage_unavailable"
        assert int(headers["Retry-After"]) > 0

        os.unlink(filler)
        maintenance.tick(db, rt.config, time.time())
        assert request(port, "GET", "/healthz")[0] == 200
        status, headers, _ = request(port, "GET", f"/r/{link['token']}")
        assert status == 302
        sent.append(click_id(headers))

    ids = [row[0] for row in db.execute("SELECT id FROM events ORDER BY id")]
    assert sorted(ids) == sorted(sent)  # every click, once
    assert len(sent) == 42
    orphans = db.execute("SELECT sum(hits) FROM orphan_counts").fetchone()[0]
    assert orphans == 40
    assert not list(spool_dir.glob("hits-*"))
    # A second drain finds nothing and doubles nothing.
    maintenance.tick(db, rt.config, time.time())
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 42


def test_a_database_refusing_writes_fails_open_without_a_mount(app, api, client, tmp_path):
    """The same promises where mount is not allowed: a connection that refuses every write
    (query_only gives SQLite's "attempt to write a readonly database")."""
    link = api.link()
    rt = app.extensions["touchpoint"]
    for db in (rt.db(), rt.hot_db()):
        backends.refuse_writes(db)
    response = client.get(f"/r/{link['token']}")
    assert response.status_code == 302
    assert client.get("/r/unknown").status_code == 404
    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["spool"]["events"] == 2
    write = api.post("/api/v1/campaigns", json={"name": "x", "channel": "email"})
    assert write.status_code == 503 and write.headers["Retry-After"] == "30"
    assert write.get_json()["error"]["code"] == "storage_unavailable"

    for db in (rt.db(), rt.hot_db()):
        backends.refuse_writes(db, False)
    assert maintenance.health(rt.db(), rt.config)["database"]["writable"] is True
    maintenance.tick(rt.db(), rt.config, time.time())
    cid = parse_qs(urlsplit(response.headers["Location"]).query)["tp_cid"][0]
    assert [r[0] for r in rt.db().execute("SELECT id FROM events")] == [cid]
    assert client.get("/healthz").get_json()["spool"]["events"] == 0


def test_a_spooled_recipient_click_is_stitched_when_replayed(app, api, client):
    from .conftest import BROWSER_UA

    link = api.link()
    body = {"recipients": [{"email": "ann@example.com"}]}
    response = api.post(f"/api/v1/links/{link['id']}/recipients", json=body)
    url = response.get_json()["recipients"][0]["tracked_url"].replace("http://localhost", "")
    rt = app.extensions["touchpoint"]
    for db in (rt.db(), rt.hot_db()):
        backends.refuse_writes(db)
    assert client.get(url, headers={"User-Agent": BROWSER_UA}).status_code == 302
    for db in (rt.db(), rt.hot_db()):
        backends.refuse_writes(db, False)
    maintenance.tick(rt.db(), rt.config, time.time())
    maintenance.tick(rt.db(), rt.config, time.time())
    db = rt.db()
    (event,) = db.query("SELECT lead_id, visitor_id FROM events")
    assert event["lead_id"] is not None
    stitched = db.execute(
        "SELECT lead_id FROM lead_visitors WHERE visitor_id = ?", (event["visitor_id"],)
    ).fetchone()
    assert stitched == (event["lead_id"],)


def _recipient_url(api, link: dict) -> str:
    body = {"recipients": [{"email": "ann@example.com"}]}
    response = api.post(f"/api/v1/links/{link['id']}/recipients", json=body)
    return response.get_json()["recipients"][0]["tracked_url"].replace("http://localhost", "")


def test_spooled_recipient_clicks_are_judged_as_scanners_when_replayed(app, api):
    """A gateway's two fetches from two networks, spooled while the database refused: the
    replay flags both, as it would have live."""
    from .conftest import BROWSER_UA

    url = _recipient_url(api, api.link())
    rt = app.extensions["touchpoint"]
    for db in (rt.db(), rt.hot_db()):
        backends.refuse_writes(db)
    browser = app.test_client()
    for address in ("52.100.1.1", "104.47.2.2"):
        response = browser.get(
            url, headers={"User-Agent": BROWSER_UA}, environ_base={"REMOTE_ADDR": address}
        )
        assert response.status_code == 302
    for db in (rt.db(), rt.hot_db()):
        backends.refuse_writes(db, False)
    maintenance.tick(rt.db(), rt.config, time.time())
    flags = rt.db().execute("SELECT is_bot, bot_reason FROM events ORDER BY at").fetchall()
    assert flags == [(1, "scanner:multi_network")] * 2


def test_a_spool_file_of_the_previous_version_still_replays(app, api):
    """Spool lines written before hits had field names (the events columns as a list, and
    for a recipient's hit the scanner windows as computed then) still go in, once."""
    from app.core import clock

    link = api.link()
    _recipient_url(api, link)
    rt = app.extensions["touchpoint"]
    db = rt.db()
    recipient, lead = db.execute("SELECT id, lead_id FROM recipients").fetchone()
    at = clock.now_iso()
    later = clock.shift_iso(at, 0.4)
    plain = ["e-plain", "click", at, link["id"], link["campaign_id"], None, "v-1"]
    plain += ["198.51.100.0", "Firefox", None, 0, None, "redirect", None, None]
    lines = [{"op": "event", "args": plain}]
    for n, (when, address) in enumerate(((at, "52.100.1.0"), (later, "104.47.2.0"))):
        args = [f"e-gw{n}", "click", when, link["id"], link["campaign_id"], None, f"gw-{n}"]
        args += [address, "Chrome", None, 0, None, "redirect", recipient, lead]
        kw = {
            "lead_id": lead,
            "visitor_id": f"gw-{n}",
            "is_human": True,
            "burst_since": clock.shift_iso(when, -10),
            "burst_links": 2,
            "repeat_since": clock.shift_iso(when, -5),
        }
        lines.append({"op": "recipient", "args": args, "kw": kw})
    lines.append({"op": "orphan", "args": [at, "/r/nope", "198.51.100.0", "curl/8", None]})
    spool_dir = rt.config["SPOOL_DIR"]
    os.makedirs(spool_dir, exist_ok=True)
    with open(os.path.join(spool_dir, "hits-1.jsonl"), "w") as f:
        f.writelines(json.dumps(line) + "\n" for line in lines)
    for _ in range(2):  # the second tick finds nothing left
        maintenance.tick(db, rt.config, time.time())
    rows = db.execute("SELECT id, is_bot, bot_reason, lead_id FROM events ORDER BY id").fetchall()
    assert rows == [
        ("e-gw0", 1, "scanner:multi_network", lead),
        ("e-gw1", 1, "scanner:multi_network", lead),
        ("e-plain", 0, None, None),
    ]
    stitched = db.execute("SELECT visitor_id FROM lead_visitors ORDER BY visitor_id").fetchall()
    assert stitched == [("gw-0",), ("gw-1",)]
    assert db.execute("SELECT count(*) FROM orphan_hits").fetchone()[0] == 1
    assert not os.listdir(spool_dir)
