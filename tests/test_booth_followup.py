"""After the trade show: the booth's scans day by day in the dashboard, matching the badges
nobody recognised, the sales team's CSV, and what the booth noted shown on the lead."""

from __future__ import annotations

import csv
import io
import uuid

import pytest

from tests.conftest import api_for, make_app
from tests.dashboard_helpers import Dash, create_user, text


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path)
    create_user(app, "ada@example.com", "admin")
    create_user(app, "mark@example.com", "marketer")
    return app


@pytest.fixture
def api(app):
    api = api_for(app)
    assert (
        api.post(
            "/api/v1/locations",
            json={
                "code": "EXPO",
                "name": "Expo booth",
                "kind": "booth",
                "timezone": "Europe/Berlin",
            },
        ).status_code
        == 201
    )
    return api


def scan(api, code: str, at: str, **fields) -> dict:
    body = {"code": code, "location": "EXPO", "scan_id": str(uuid.uuid4()), "scanned_at": at}
    response = api.post("/api/v1/scans", json={**body, **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_the_days_scans_their_match_and_the_csv(app, api):
    known = scan(api, "ada@example.com", "2026-11-05T09:15:00Z", rating=5, note="wants a demo")
    unknown = scan(api, '=HYPERLINK("x")', "2026-11-05T16:30:00Z", rating=2)
    scan(api, "bob@example.com", "2026-11-06T08:00:00Z")
    api.patch(f"/api/v1/leads/{known['lead_id']}", json={"name": "Ada Lovelace"})
    dash = Dash(app, "mark@example.com")

    page = dash.get("/dashboard/locations/EXPO/scans?day=2026-11-05")
    assert page.status_code == 200
    shown = text(page)
    assert "2026-11-05 (2)" in shown and "2026-11-06 (1)" in shown
    assert "10:15" in shown and "Ada Lovelace" in shown and "wants a demo" in shown  # Berlin
    assert "unmatched" in shown and "17:30" in shown
    # No day asked: the latest day with scans.
    assert "bob@example.com" in text(dash.get("/dashboard/locations/EXPO/scans"))

    export = dash.get("/dashboard/locations/EXPO/scans.csv?day=2026-11-05")
    assert export.mimetype == "text/csv"
    assert "booth-scans-EXPO-2026-11-05.csv" in export.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    assert [r["name"] for r in rows] == ["Ada Lovelace", ""]
    assert rows[0]["rating"] == "5" and rows[0]["note"] == "wants a demo"
    assert rows[0]["ref_code"] and rows[0]["scanned_text"] == ""
    assert rows[1]["scanned_text"].startswith("'=")  # a formula typed at the booth stays text

    # Matching the unknown badge: by a name nobody has, then by reference code.
    lead_id = api.post(
        "/api/v1/conversions", json={"type": "lead", "email": "cy@example.com"}
    ).get_json()["lead_id"]
    api.patch(f"/api/v1/leads/{lead_id}", json={"name": "Cy Twombly"})
    code = api.get(f"/api/v1/leads/{lead_id}").get_json()["lead"]["ref_code"]
    path = f"/dashboard/locations/EXPO/scans/{unknown['id']}/match"
    missing = dash.post(path, {"lead": "Nobody Known", "day": "2026-11-05"})
    assert missing.status_code == 422 and "No lead is called" in text(missing)
    done = dash.post(path, {"lead": code.lower(), "day": "2026-11-05"})
    assert done.status_code == 303
    after = text(dash.follow(done))
    assert "Cy Twombly" in after and "unmatched" not in after
    by_name = scan(api, "garbled", "2026-11-05T17:00:00Z")
    done = dash.post(
        f"/dashboard/locations/EXPO/scans/{by_name['id']}/match", {"lead": "cy twombly"}
    )
    assert done.status_code == 303

    # The rep opening the lead sees what the booth noted, in its timeline.
    lead_page = text(dash.get(f"/dashboard/leads/{known['lead_id']}"))
    assert "rating 5/5" in lead_page and "wants a demo" in lead_page
    events = api.get(f"/api/v1/leads/{known['lead_id']}").get_json()["events"]
    [booth] = [e for e in events if e["type"] == "booth_scan"]
    assert booth["rating"] == 5 and booth["note"] == "wants a demo"

    bad_day = dash.get("/dashboard/locations/EXPO/scans?day=yesterday")
    assert bad_day.status_code == 422


def test_leads_a_booth_made_are_booth_leads_in_the_pipeline(api):
    made = scan(api, "newcomer@example.com", "2026-11-05T09:15:00Z")
    lead = api.get(f"/api/v1/leads/{made['lead_id']}").get_json()["lead"]
    assert lead["source"] == "booth:EXPO"
    report = api.get(
        "/api/v1/reports/pipeline",
        query_string={"from": "2026-11-01", "to": "2099-01-01", "group_by": "source"},
    ).get_json()
    assert any(g["key"] == "booth:EXPO" and g["totals"]["leads"] == 1 for g in report["groups"])
