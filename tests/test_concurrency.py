"""Several gunicorn workers on one SQLite file: every 302 a customer got has its click row."""

from __future__ import annotations

import http.client
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import pytest

from app.clicks import campaigns, links

from . import backends
from .conftest import BROWSER_UA, make_app
from .live import gunicorn

pytestmark = pytest.mark.slow

SECRET = "concurrency-test-secret-key-0123456789"


def test_every_redirect_has_its_row_under_several_workers(tmp_path):
    app = make_app(tmp_path, SECRET_KEY=SECRET)
    db = app.extensions["touchpoint"].db()
    campaign = campaigns.create(
        db, {"name": "Load", "channel": "email", "utm_source": "s", "utm_medium": "m"}
    )
    link = links.create(
        db, {"campaign_id": campaign["id"], "destination": "https://shop.example.com/"}
    )
    token = app.extensions["touchpoint"].link_tokens.mint(link["id"])
    env = {**backends.environment(app), "TOUCHPOINT_SECRET_KEY": SECRET}

    def burst(port: int, n: int) -> list[str]:
        click_ids = []
        for i in range(n):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            path = f"/{'q' if i % 2 else 'r'}/{token}"
            conn.request("GET", path, headers={"User-Agent": BROWSER_UA})
            response = conn.getresponse()
            response.read()
            assert response.status == 302
            location = response.getheader("Location")
            click_ids.append(parse_qs(urlsplit(location).query)["tp_cid"][0])
            conn.close()
        return click_ids

    with gunicorn(env, workers=3) as port, ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lambda _: burst(port, 40), range(12)))

    click_ids = [c for batch in results for c in batch]
    assert len(click_ids) == 480
    rows = {r["id"]: r for r in db.query("SELECT id, type FROM events")}
    assert set(click_ids) == set(rows)
    assert sum(1 for r in rows.values() if r["type"] == "scan") == 240
