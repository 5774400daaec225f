"""Reports from a PostgreSQL standby (TOUCHPOINT_REPORTS_DATABASE_URL, issue 15): the
summing runs on the primary, the report reads the standby, and what it shows is the state
the standby has replayed, consistent with itself however far behind it is."""

from __future__ import annotations

import pytest

from . import backends, pg_server
from .conftest import BROWSER_UA, api_for, make_app

pytestmark = pytest.mark.slow

SECRET = "replica-test-secret-key-0123456789-abcdef"
PERIOD = {"from": "2026-01-01T00:00:00Z", "to": "2027-06-01T00:00:00Z"}


def clicks_in_report(api, path: str = "/api/v1/reports/attribution") -> int:
    response = api.get(path, query_string=PERIOD)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["totals"]["human_clicks"]


@pytest.mark.skipif(not backends.POSTGRES, reason="a standby is PostgreSQL's")
def test_reports_read_the_standby_as_far_as_it_has_replayed(tmp_path):
    primary = backends.server()
    url = backends.new_database_url()
    name = url.split("/")[3].split("?")[0]
    with pg_server.standby(primary, tmp_path) as replica:
        app = make_app(
            tmp_path, SECRET_KEY=SECRET, DATABASE_URL=url, REPORTS_DATABASE_URL=replica.url(name)
        )
        api = api_for(app)
        link = api.link()
        browser = app.test_client()
        assert (
            browser.get(f"/r/{link['token']}", headers={"User-Agent": BROWSER_UA}).status_code
            == 302
        )
        pg_server.replayed(primary, replica)
        assert clicks_in_report(api) == 1
        # The standby stops replaying: a new click is summed on the primary by the next
        # report, which still reads the standby's older, whole state.
        replica.psql("SELECT pg_wal_replay_pause()")
        try:
            browser.get(f"/r/{link['token']}", headers={"User-Agent": BROWSER_UA})
            assert clicks_in_report(api) == 1
            summed = (
                app.extensions["touchpoint"]
                .db()
                .execute("SELECT sum(human_clicks) FROM report_days")
            )
            assert summed.fetchone()[0] == 2  # the primary's tables have it already
        finally:
            replica.psql("SELECT pg_wal_replay_resume()")
        pg_server.replayed(primary, replica)
        assert clicks_in_report(api) == 2
        dashboard_like = api.get("/api/v1/reports/funnel", query_string=PERIOD)
        assert dashboard_like.status_code == 200
        assert api.get("/api/v1/reports/time-to-convert", query_string=PERIOD).status_code == 200
        assert api.get("/api/v1/reports/pipeline", query_string=PERIOD).status_code == 200
        from app.core import db as dbmod

        dbmod.close_connections()  # before the standby stops


@pytest.mark.parametrize(
    "settings",
    [
        {"REPORTS_DATABASE_URL": "postgresql://replica/touchpoint"},  # SQLite primary
        {"DATABASE_URL": "postgresql://db/touchpoint", "REPORTS_DATABASE_URL": "replica.db"},
    ],
)
@backends.once
def test_a_reports_database_needs_a_postgresql_primary_and_url(tmp_path, settings):
    with pytest.raises(SystemExit) as refused:
        make_app(tmp_path, **settings)
    assert "TOUCHPOINT_REPORTS_DATABASE_URL" in str(refused.value)
