"""Shared fixtures: a real app on a real SQLite file in a temporary folder, or on a fresh
PostgreSQL database with TOUCHPOINT_TEST_BACKEND=postgresql (tests/backends.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import create_app
from app.storage import migrations

from . import backends

BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that asks for the real Chromium of tests/browser.py is a browser test even where
    its module forgot the marker, so `make test-fast` never starts one."""
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


def make_app(tmp_path: Path, **overrides):
    # A cheap password hash keeps sign-in tests fast; one test checks the real default.
    settings = {
        **backends.settings_for(tmp_path),
        "PASSWORD_HASH": "scrypt:1024:8:1",
        **overrides,
    }
    app = create_app(settings, instance_path=tmp_path / "instance", environ={})
    app.config["TESTING"] = True
    with app.app_context():
        migrations.apply(app.extensions["touchpoint"].db())
    return app


@pytest.fixture(autouse=True)
def _drop_databases():
    """Under PostgreSQL, drop the databases a test's apps were given (SQLite: a no-op);
    those of module fixtures go after the module."""
    before = backends.created()
    yield
    backends.drop_databases(before)


@pytest.fixture(autouse=True, scope="module")
def _close_connections():
    """Tests have their own database files: close a module's connections after it, or a long
    run holds thousands of files open (and select() refuses descriptors past 1024)."""
    before = backends.created()
    yield
    from app.core import db

    db.close_connections()
    backends.drop_databases(before)


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def admin_token(app):
    from app.access import api_tokens

    secret, _ = api_tokens.create(app.extensions["touchpoint"].db(), "tests", "admin")
    return secret


class Api:
    """The management API as a marketer's script would call it."""

    def __init__(self, client, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def _headers(self, kw: dict) -> dict:
        return {**self.headers, **kw.pop("headers", {})}

    def get(self, path: str, **kw):
        return self.client.get(path, headers=self._headers(kw), **kw)

    def post(self, path: str, json=None, **kw):
        return self.client.post(path, json=json, headers=self._headers(kw), **kw)

    def patch(self, path: str, json=None, **kw):
        return self.client.patch(path, json=json, headers=self._headers(kw), **kw)

    def delete(self, path: str, **kw):
        return self.client.delete(path, headers=self._headers(kw), **kw)

    def campaign(self, **fields) -> dict:
        body = {
            "name": "Spring Sale",
            "channel": "email",
            "utm_source": "newsletter",
            "utm_medium": "email",
            **fields,
        }
        response = self.post("/api/v1/campaigns", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def link(self, campaign_id: int | None = None, **fields) -> dict:
        if campaign_id is None:
            campaign_id = self.campaign()["id"]
        body = {
            "campaign_id": campaign_id,
            "destination": "https://shop.example.com/spring",
            **fields,
        }
        response = self.post("/api/v1/links", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()


@pytest.fixture
def api(client, admin_token):
    return Api(client, admin_token)


def api_for(app) -> Api:
    """An authenticated API client for an app built inside a test."""
    from app.access import api_tokens

    secret, _ = api_tokens.create(app.extensions["touchpoint"].db(), "tests", "admin")
    return Api(app.test_client(), secret)


def row_count(app, table: str) -> int:
    """How many rows `table` holds, on either backend."""
    return app.extensions["touchpoint"].db().execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def events(app) -> list[dict]:
    """Every event row, oldest first, straight from the database file."""
    db = app.extensions["touchpoint"].db()
    return list(db.query("SELECT * FROM events ORDER BY rowid"))


class FakeClock:
    """Controls the time the app reads, for replaying sequences seconds or days apart."""

    def __init__(self, start):
        self.now = start

    def advance(self, **delta) -> None:
        from datetime import timedelta

        self.now += timedelta(**delta)


@pytest.fixture
def fake_clock(monkeypatch):
    from datetime import UTC, datetime

    from app.core import clock

    fake = FakeClock(datetime(2026, 11, 2, 9, 0, 0, tzinfo=UTC))
    monkeypatch.setattr(clock, "now_iso", lambda: clock.to_iso(fake.now))
    monkeypatch.setattr(clock, "utcnow", lambda: fake.now)
    return fake
