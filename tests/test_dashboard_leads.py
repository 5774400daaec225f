"""The dashboard's Leads list and lead page, through the Flask test client on a real SQLite
file: the pipeline filters, and working a lead (owner and value, activities, lost and
reopen, voiding a conversion) with the API's validation messages at the fields."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.conftest import api_for, make_app
from tests.dashboard_helpers import Dash, create_user, errors_at_fields, field_errors, text


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path)
    create_user(app, "ada@example.com", "admin")
    create_user(app, "mark@example.com", "marketer")
    return app


@pytest.fixture
def dash(app):
    return Dash(app, "mark@example.com")


@pytest.fixture
def api(app):
    return api_for(app)


def convert(api, email: str, kind: str, at: str, **extra) -> dict:
    response = api.post(
        "/api/v1/conversions", json={"type": kind, "email": email, "occurred_at": at, **extra}
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def rows(response) -> list[str]:
    """The visible text of each row of the leads table."""
    body = response.get_data(as_text=True)
    found = re.search(r"<tbody>(.*?)</tbody>", body, re.S)
    if not found:
        return []
    return [text_of(r) for r in re.findall(r"<tr[^>]*>(.*?)</tr>", found.group(1), re.S)]


def text_of(fragment: str) -> str:
    import html

    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))).strip()


def test_the_list_filters_by_stage_status_owner_and_uncontacted(app, dash, api, fake_clock):
    ann = convert(api, "ann@example.com", "mql", "2026-10-30T09:00:00Z")["lead_id"]
    bo = convert(api, "bo@example.com", "mql", "2026-11-01T12:00:00Z")["lead_id"]
    cy = convert(api, "cy@example.com", "sale", "2026-10-20T09:00:00Z", value="50.00")["lead_id"]
    api.patch(f"/api/v1/leads/{ann}", json={"owner": "rep@example.com", "name": "Ann Arbor"})
    api.patch(f"/api/v1/leads/{bo}", json={"value": "1200.00", "currency": "EUR"})

    everyone = dash.get("/dashboard/leads")
    assert everyone.status_code == 200
    assert len(rows(everyone)) == 3
    # Ann was handed off 72 h ago with no call: uncontacted, waiting 3 d 0 h.
    late = dash.get("/dashboard/leads?uncontacted=true")
    [only] = rows(late)
    assert "Ann Arbor" in only and "ann@example.com" in only and "3 d 0 h" in only
    assert "rep@example.com" in only and "mql" in only
    won = rows(dash.get("/dashboard/leads?status=won"))
    assert len(won) == 1 and "cy@example.com" in won[0] and "sale won" in won[0]
    by_owner = rows(dash.get("/dashboard/leads?owner=rep@example.com"))
    assert len(by_owner) == 1 and "Ann Arbor" in by_owner[0]
    by_value = rows(dash.get("/dashboard/leads?sort=value"))
    assert "1,200.00 EUR" in by_value[0]
    # A pasted lead id opens the lead.
    opened = dash.get(f"/dashboard/leads?q={cy}")
    assert opened.status_code == 303 and opened.headers["Location"].endswith(f"/leads/{cy}")
    # Search is a substring of email or name, any case.
    assert len(rows(dash.get("/dashboard/leads?q=ARBOR"))) == 1


def test_bad_list_filters_are_shown_at_their_field(dash):
    response = dash.get("/dashboard/leads?stage=bogus&status=maybe&campaign_id=99")
    assert response.status_code == 422
    errors = errors_at_fields(response)
    assert errors["stage"].startswith("Stage must be one of: lead, mql, sql, opportunity, sale")
    assert errors["status"] == "Status must be one of: open, won, lost."
    assert errors["campaign_id"] == "No campaign with id 99."


def test_the_list_pages_by_fifty(dash, api, fake_clock):
    for n in range(51):
        convert(api, f"p{n:02d}@example.com", "lead", "2026-11-01T09:00:00Z")
    first = dash.get("/dashboard/leads?sort=-created")
    assert len(rows(first)) == 50 and 'rel="next"' in first.get_data(as_text=True)
    second = dash.get("/dashboard/leads?sort=-created&page=2")
    assert len(rows(second)) == 1 and 'rel="next"' not in second.get_data(as_text=True)
    assert 'rel="prev"' in second.get_data(as_text=True)


def test_working_a_lead_from_its_page(app, dash, api, fake_clock):
    mql = convert(api, "dee@example.com", "mql", "2026-10-30T09:00:00Z")
    lead_id = mql["lead_id"]
    page = dash.get(f"/dashboard/leads/{lead_id}")
    assert "uncontacted for 3 d 0 h" in text(page)

    saved = dash.post(
        f"/dashboard/leads/{lead_id}/edit",
        {"owner": "rep@example.com", "value": "2500", "currency": "EUR", "origin": "partner"},
    )
    assert saved.status_code == 303
    lead = api.get(f"/api/v1/leads/{lead_id}").get_json()["lead"]
    assert (lead["owner"], lead["value"], lead["currency"], lead["origin"]) == (
        "rep@example.com",
        "2500.00",
        "EUR",
        "partner",
    )

    fake_clock.now += timedelta(hours=1)
    logged = dash.post(f"/dashboard/leads/{lead_id}/activities", {"kind": "call", "note": "VM"})
    assert logged.status_code == 303
    page = dash.follow(logged)
    assert "Activity logged." in text(page) and "uncontacted" not in text(page)
    assert "call by mark@example.com — VM" in text(page)
    lead = api.get(f"/api/v1/leads/{lead_id}").get_json()["lead"]
    assert lead["first_contacted_at"] == "2026-11-02T10:00:00.000Z"

    lost = dash.post(f"/dashboard/leads/{lead_id}/lost", {"reason": "competitor", "note": "X"})
    assert lost.status_code == 303
    page = dash.follow(lost)
    assert "competitor at mql" in text(page) and "Reopen" in text(page)
    lead = api.get(f"/api/v1/leads/{lead_id}").get_json()["lead"]
    assert (lead["status"], lead["lost_reason"], lead["lost_stage"]) == (
        "lost",
        "competitor",
        "mql",
    )

    reopened = dash.post(f"/dashboard/leads/{lead_id}/reopen", {})
    page = dash.follow(reopened)
    assert "Reopened." in text(page) and "Mark lost" in text(page)
    assert api.get(f"/api/v1/leads/{lead_id}").get_json()["lead"]["status"] == "open"
    assert "(reopened 2026-11-02 10:00)" in text(page)


def test_the_lead_forms_show_the_apis_messages_at_their_fields(dash, api, fake_clock):
    lead_id = convert(api, "eve@example.com", "mql", "2026-11-01T09:00:00Z")["lead_id"]
    dash.get(f"/dashboard/leads/{lead_id}")
    bad_value = dash.post(f"/dashboard/leads/{lead_id}/edit", {"value": "1.234", "currency": "EUR"})
    assert bad_value.status_code == 422
    errors = errors_at_fields(bad_value)
    assert "value" in errors
    assert 'value="1.234"' in bad_value.get_data(as_text=True)  # what was typed is kept

    future = dash.post(
        f"/dashboard/leads/{lead_id}/activities", {"kind": "call", "at": "2030-01-01T10:00"}
    )
    assert future.status_code == 422
    assert errors_at_fields(future) == {
        "a-at": "'at' is more than 5 minutes in the future; give when it happened."
    }
    no_reason = dash.post(f"/dashboard/leads/{lead_id}/lost", {"note": "why not"})
    assert no_reason.status_code == 422
    assert "l-reason" in errors_at_fields(no_reason)
    wrong = dash.post(f"/dashboard/leads/{lead_id}/lost", {"reason": "vibes"})
    assert "l-reason" in field_errors(wrong)
    assert api.get(f"/api/v1/leads/{lead_id}").get_json()["lead"]["status"] == "open"


def test_voiding_a_conversion_from_the_lead_page(dash, api, fake_clock):
    sale = convert(api, "fay@example.com", "sale", "2026-11-01T09:00:00Z", value="80.00")
    lead_id = sale["lead_id"]
    other = convert(api, "gus@example.com", "sale", "2026-11-01T09:00:00Z", value="5.00")
    dash.get(f"/dashboard/leads/{lead_id}")
    blank = dash.post(f"/dashboard/leads/{lead_id}/conversions/{sale['id']}/void", {})
    assert blank.status_code == 422
    assert f"v{sale['id']}-reason" in errors_at_fields(blank)
    # Another lead's conversion cannot be voided through this lead's page.
    elsewhere = dash.post(
        f"/dashboard/leads/{lead_id}/conversions/{other['id']}/void", {"reason": "test"}
    )
    assert elsewhere.status_code == 404
    assert api.get(f"/api/v1/conversions/{other['id']}").get_json()["voided_at"] is None
    done = dash.post(
        f"/dashboard/leads/{lead_id}/conversions/{sale['id']}/void", {"reason": "refund"}
    )
    page = dash.follow(done)
    assert "voided refund" in text(page)
    lead = api.get(f"/api/v1/leads/{lead_id}").get_json()["lead"]
    assert (lead["stage"], lead["status"]) == (None, "open")
    voided = api.get(f"/api/v1/conversions/{sale['id']}").get_json()
    assert voided["void_reason"] == "refund" and voided["voided_at"] is not None


def test_what_people_typed_is_escaped_on_the_pages(dash, api, fake_clock):
    lead_id = convert(api, "hal@example.com", "mql", "2026-11-01T09:00:00Z")["lead_id"]
    api.patch(f"/api/v1/leads/{lead_id}", json={"owner": "<script>x</script>", "name": "<b>Hal"})
    api.post(f"/api/v1/leads/{lead_id}/activities", json={"kind": "note", "note": "<img src=x>"})
    for path in ("/dashboard/leads", f"/dashboard/leads/{lead_id}"):
        body = dash.get(path).get_data(as_text=True)
        assert "<script>x" not in body and "<b>Hal" not in body and "<img src=x>" not in body
        assert "&lt;script&gt;x" in body


def test_a_signed_out_browser_cannot_work_a_lead(app, api, fake_clock):
    lead_id = convert(api, "ivy@example.com", "mql", "2026-11-01T09:00:00Z")["lead_id"]
    client = app.test_client()
    response = client.post(f"/dashboard/leads/{lead_id}/lost", data={"reason": "timing"})
    assert response.status_code == 303 and "/sign-in" in response.headers["Location"]
    # Signed in but without the form's CSRF token: refused, nothing changes.
    dash = Dash(app, "mark@example.com")
    refused = dash.post(f"/dashboard/leads/{lead_id}/lost", {"reason": "timing"}, csrf=False)
    assert refused.status_code == 400
    assert api.get(f"/api/v1/leads/{lead_id}").get_json()["lead"]["status"] == "open"
