"""Leads, identity stitching, the conversions API and erasure, through the real HTTP API."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from . import backends
from .conftest import BROWSER_UA, events, row_count


def click_id_of(response) -> str:
    return parse_qs(urlsplit(response.headers["Location"]).query)["tp_cid"][0]


def browse(client, path: str):
    response = client.get(path, headers={"User-Agent": BROWSER_UA})
    assert response.status_code == 302
    return response


def recipient_path(api, link: dict, email: str = "ann@example.com", **extra) -> tuple[str, str]:
    body = {"recipients": [{"email": email, **extra}]}
    [row] = api.post(f"/api/v1/links/{link['id']}/recipients", json=body).get_json()["recipients"]
    return row["tracked_url"].replace("http://localhost", ""), row["lead_id"]


def test_stitching_builds_one_timeline_in_order(app, api, fake_clock):
    social = api.link(api.campaign(name="Social", channel="social")["id"])
    mail = api.link(api.campaign(name="Mail")["id"])
    browser = app.test_client()
    # Day 1: an anonymous click from a social ad.
    anonymous_click = click_id_of(browse(browser, f"/r/{social['token']}"))
    # Day 3: the same browser clicks a personal link in a newsletter.
    fake_clock.advance(days=2)
    path, lead_id = recipient_path(api, mail)
    browse(browser, path)
    # Day 5: the CRM reports a sale naming only the first, anonymous click.
    fake_clock.advance(days=2)
    response = api.post(
        "/api/v1/conversions",
        json={"type": "sale", "click_id": anonymous_click, "value": "249.00", "currency": "EUR"},
    )
    assert response.status_code == 201
    assert response.get_json()["lead_id"] == lead_id
    timeline = api.get(f"/api/v1/leads/{lead_id}").get_json()["events"]
    assert [(e["type"], e["channel"]) for e in timeline] == [
        ("click", "social"),
        ("click", "email"),
        ("conversion", "social"),
    ]
    assert [e["at"] for e in timeline] == sorted(e["at"] for e in timeline)
    assert timeline[2]["stage"] == "sale" and timeline[2]["value"] == "249.00"


def test_conversion_by_email_creates_the_lead_and_links_the_visitor(app, api):
    link = api.link()
    browser = app.test_client()
    browse(browser, f"/r/{link['token']}")
    visitor = events(app)[0]["visitor_id"]
    response = api.post(
        "/api/v1/conversions",
        json={"type": "lead", "email": "New.Person@Example.com", "visitor_id": visitor},
    )
    assert response.status_code == 201
    lead_id = response.get_json()["lead_id"]
    found = api.get("/api/v1/leads?email=new.person@example.com").get_json()["items"]
    assert [lead["id"] for lead in found] == [lead_id]
    assert found[0]["visitor_ids"] == [visitor]
    timeline = api.get(f"/api/v1/leads/{lead_id}").get_json()["events"]
    assert [e["type"] for e in timeline] == ["click", "conversion"]


def test_same_external_id_twice_returns_the_original(api):
    _, lead_id = recipient_path(api, api.link())
    body = {"type": "sale", "lead_id": lead_id, "value": 10, "external_id": "crm-deal-77"}
    first = api.post("/api/v1/conversions", json=body)
    second = api.post("/api/v1/conversions", json={**body, "value": 99})
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.get_json() == first.get_json()
    assert second.get_json()["value"] == "10.00"
    assert api.get(f"/api/v1/conversions/{first.get_json()['id']}").get_json() == first.get_json()


def test_custom_stage_properties_and_money(api):
    _, lead_id = recipient_path(api, api.link())
    response = api.post(
        "/api/v1/conversions",
        json={
            "type": "Demo_Booked",
            "lead_id": lead_id,
            "value": "1200",
            "currency": "jpy",
            "properties": {"rep": "Kim"},
            "occurred_at": "2026-11-01T10:00:00+09:00",
        },
    )
    body = response.get_json()
    assert body["type"] == "demo_booked" and body["value"] == "1200"
    assert body["currency"] == "JPY" and body["properties"] == {"rep": "Kim"}
    assert body["occurred_at"] == "2026-11-01T01:00:00.000Z"


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"type": "sale"}, "click_id", "identifier_required"),
        ({"email": "a@b.co"}, "type", "required"),
        ({"type": "big sale!", "email": "a@b.co"}, "type", "validation_error"),
        ({"type": "sale", "click_id": "nope"}, "click_id", "unknown_click"),
        (
            {"type": "sale", "visitor_id": "6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"},
            "visitor_id",
            "unknown_visitor",
        ),
        ({"type": "sale", "visitor_id": "not-a-guid"}, "visitor_id", "unknown_visitor"),
        (
            {"type": "sale", "lead_id": "6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"},
            "lead_id",
            "unknown_lead",
        ),
        ({"type": "sale", "email": "not-an-email"}, "email", "invalid_email"),
        ({"type": "sale", "email": "a@b.co", "value": "-1"}, "value", "validation_error"),
        ({"type": "sale", "email": "a@b.co", "value": "abc"}, "value", "validation_error"),
        (
            {"type": "sale", "email": "a@b.co", "currency": "dollars"},
            "currency",
            "validation_error",
        ),
        (
            {"type": "sale", "email": "a@b.co", "occurred_at": "2999-01-01T00:00:00Z"},
            "occurred_at",
            "in_future",
        ),
        (
            {"type": "sale", "email": "a@b.co", "occurred_at": "yesterday"},
            "occurred_at",
            "validation_error",
        ),
        ({"type": "sale", "email": "a@b.co", "properties": [1]}, "properties", "validation_error"),
        ({"type": "sale", "email": "a@b.co", "amount": 5}, "amount", "unknown_field"),
    ],
)
def test_conversion_validation_names_the_field(app, api, body, field, code):
    response = api.post("/api/v1/conversions", json=body)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert (error["field"], error["code"]) == (field, code)
    assert row_count(app, "conversions") == 0


def test_conversion_before_its_click_is_refused(app, api, fake_clock):
    link = api.link()
    cid = click_id_of(browse(app.test_client(), f"/r/{link['token']}"))
    response = api.post(
        "/api/v1/conversions",
        json={"type": "sale", "click_id": cid, "occurred_at": "2026-11-01T00:00:00Z"},
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "before_click"
    fake_clock.advance(minutes=4)  # a few minutes of clock skew is tolerated
    response = api.post(
        "/api/v1/conversions",
        json={"type": "sale", "click_id": cid, "occurred_at": "2026-11-02T09:08:00Z"},
    )
    assert response.status_code == 201


def test_erasure_removes_personal_data_but_keeps_counts(app, api):
    link = api.link()
    path, lead_id = recipient_path(api, link, name="Ann Example", external_id="CRM-9", city="Oslo")
    browser = app.test_client()
    cid = click_id_of(browse(browser, path))
    api.post(
        "/api/v1/conversions",
        json={"type": "sale", "click_id": cid, "value": 5, "properties": {"phone": "+47 555 0100"}},
    )
    before = api.get(f"/api/v1/links/{link['id']}/stats").get_json()

    response = api.delete(f"/api/v1/leads/{lead_id}")
    assert response.status_code == 200
    lead = response.get_json()["lead"]
    assert lead["email"] is None and lead["name"] is None and lead["external_id"] is None
    assert lead["attributes"] == {} and lead["erased_at"] is not None
    db = app.extensions["touchpoint"].db()
    [event] = events(app)
    assert event["ip"] is None and event["user_agent"] is None
    assert db.execute("SELECT properties FROM conversions").fetchone()[0] is None
    assert "Ann Example" not in backends.dump(db)
    after = api.get(f"/api/v1/links/{link['id']}/stats").get_json()
    # The counts stay; what the erased user agent said (device, browser, OS) goes with it.
    agent = ("by_device", "by_browser", "by_os")
    assert {k: v for k, v in after.items() if k not in agent} == {
        k: v for k, v in before.items() if k not in agent
    }
    assert after["by_browser"] == [{"value": "unknown", "count": 1}]
    assert api.get("/api/v1/leads?email=ann@example.com").get_json()["items"] == []
    timeline = api.get(f"/api/v1/leads/{lead_id}").get_json()["events"]
    assert [e["type"] for e in timeline] == ["click", "conversion"]


def test_unknown_leads_and_lookups(api):
    assert api.get("/api/v1/leads/6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b").status_code == 404
    assert api.get("/api/v1/leads/not-a-guid").status_code == 404
    assert api.delete("/api/v1/leads/not-a-guid").status_code == 404
    assert api.get("/api/v1/leads").get_json()["items"] == []  # a list now, empty here
    assert api.get("/api/v1/leads?email=bad").status_code == 422
    assert api.get("/api/v1/leads?email=nobody@example.com").get_json()["items"] == []
