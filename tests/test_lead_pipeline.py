"""The lead pipeline through the real API: stages from conversions, won/lost/reopen, sales
activities and the follow-up rule, lead PATCH and list, conversion voids and corrections."""

from __future__ import annotations

import pytest

from . import backends
from .conftest import make_app


def convert(api, email: str, kind: str, at: str, **extra) -> dict:
    response = api.post(
        "/api/v1/conversions", json={"type": kind, "email": email, "occurred_at": at, **extra}
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def lead_of(api, lead_id: str) -> dict:
    response = api.get(f"/api/v1/leads/{lead_id}")
    assert response.status_code == 200
    return response.get_json()["lead"]


def test_stage_history_from_out_of_order_and_repeated_posts(api, fake_clock):
    sql = convert(api, "ann@example.com", "sql", "2026-11-01T10:00:00Z")
    convert(api, "ann@example.com", "mql", "2026-10-30T10:00:00Z")  # posted late
    convert(api, "ann@example.com", "sql", "2026-11-01T12:00:00Z")  # repeated
    lead = lead_of(api, sql["lead_id"])
    assert lead["stage"] == "sql" and lead["status"] == "open"
    assert [(h["stage"], h["at"]) for h in lead["stage_history"]] == [
        ("mql", "2026-10-30T10:00:00.000Z"),
        ("sql", "2026-11-01T10:00:00.000Z"),
    ]
    assert lead["stage_history"][1]["conversion_id"] == sql["id"]
    assert lead["origin"] == "marketing" and lead["created_at"] is not None


def test_a_crm_that_only_posts_sale_makes_the_lead_won(api, fake_clock):
    sale = convert(api, "bo@example.com", "sale", "2026-11-01T10:00:00Z", value="10.00")
    lead = lead_of(api, sale["lead_id"])
    assert (lead["stage"], lead["status"]) == ("sale", "won")
    assert lead["won_at"] == "2026-11-01T10:00:00.000Z"
    # Won is closed: it cannot be lost, nor reopened.
    lost = api.post(f"/api/v1/leads/{lead['id']}/lost", json={"reason": "timing"})
    assert lost.status_code == 409 and lost.get_json()["error"]["code"] == "lead_closed"
    reopen = api.post(f"/api/v1/leads/{lead['id']}/reopen", json={})
    assert reopen.status_code == 409 and reopen.get_json()["error"]["code"] == "lead_not_lost"


def test_lose_and_reopen_keeps_the_loss_in_history(api, fake_clock):
    mql = convert(api, "cy@example.com", "mql", "2026-11-01T10:00:00Z")
    lead_id = mql["lead_id"]
    response = api.post(
        f"/api/v1/leads/{lead_id}/lost", json={"reason": "no_budget", "note": "next year"}
    )
    assert response.status_code == 200
    lead = response.get_json()["lead"]
    assert lead["status"] == "lost" and lead["lost_reason"] == "no_budget"
    assert lead["lost_stage"] == "mql" and lead["lost_note"] == "next year"
    assert lead["lost_at"] == "2026-11-02T09:00:00.000Z"
    again = api.post(f"/api/v1/leads/{lead_id}/lost", json={"reason": "timing"})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "lead_closed"
    fake_clock.advance(days=1)
    lead = api.post(f"/api/v1/leads/{lead_id}/reopen", json={}).get_json()["lead"]
    assert lead["status"] == "open" and lead["lost_reason"] is None
    assert [h["stage"] for h in lead["stage_history"]] == ["mql", "lost"]
    assert lead["stage_history"][1]["reason"] == "no_budget"
    assert lead["stage_history"][1]["reopened_at"] == "2026-11-03T09:00:00.000Z"


def test_bad_lost_reason_and_lost_conversions_are_refused(api, fake_clock):
    lead_id = convert(api, "di@example.com", "lead", "2026-11-01T10:00:00Z")["lead_id"]
    bad = api.post(f"/api/v1/leads/{lead_id}/lost", json={"reason": "bored"})
    assert bad.status_code == 422
    assert bad.get_json()["error"]["code"] == "invalid_choice"
    assert bad.get_json()["error"]["field"] == "reason"
    missing = api.post(f"/api/v1/leads/{lead_id}/lost", json={})
    assert missing.status_code == 422 and missing.get_json()["error"]["field"] == "reason"
    as_conversion = api.post("/api/v1/conversions", json={"type": "lost", "lead_id": lead_id})
    assert as_conversion.status_code == 422
    error = as_conversion.get_json()["error"]
    assert error["field"] == "type" and "/lost" in error["message"]


def test_custom_lost_reasons(tmp_path):
    from .conftest import api_for

    app = make_app(tmp_path, LOST_REASONS="price, silence")
    api = api_for(app)
    lead_id = convert(api, "ed@example.com", "lead", "2026-11-01T10:00:00Z")["lead_id"]
    assert api.post(f"/api/v1/leads/{lead_id}/lost", json={"reason": "price"}).status_code == 200
    api.post(f"/api/v1/leads/{lead_id}/reopen", json={})
    refused = api.post(f"/api/v1/leads/{lead_id}/lost", json={"reason": "competitor"})
    assert refused.status_code == 422


def test_follow_up_rule_at_its_boundary(api, fake_clock):
    # Reached mql at 09:00 on 2 Nov (the fake clock's now).
    lead_id = convert(api, "fi@example.com", "mql", "2026-11-02T09:00:00Z")["lead_id"]
    fake_clock.advance(hours=48)
    lead = lead_of(api, lead_id)
    assert lead["uncontacted"] is False  # exactly 48 h: not yet late
    listed = api.get("/api/v1/leads?uncontacted=true").get_json()["items"]
    assert listed == []
    fake_clock.advance(seconds=1)
    lead = lead_of(api, lead_id)
    assert lead["uncontacted"] is True and lead["waiting_s"] == 48 * 3600 + 1
    [item] = api.get("/api/v1/leads?uncontacted=true").get_json()["items"]
    assert item["id"] == lead_id and item["waiting_s"] == 48 * 3600 + 1
    # A note is not contact; a call is.
    api.post(f"/api/v1/leads/{lead_id}/activities", json={"kind": "note", "note": "vm full"})
    assert lead_of(api, lead_id)["uncontacted"] is True
    call = api.post(f"/api/v1/leads/{lead_id}/activities", json={"kind": "call", "by": "rep@x.io"})
    assert call.status_code == 201
    lead = lead_of(api, lead_id)
    assert lead["uncontacted"] is False
    assert lead["first_contacted_at"] == "2026-11-04T09:00:01.000Z"
    assert api.get("/api/v1/leads?uncontacted=true").get_json()["items"] == []


def test_contact_before_the_handoff_does_not_count(api, fake_clock):
    lead_id = convert(api, "gu@example.com", "lead", "2026-11-01T09:00:00Z")["lead_id"]
    api.post(
        f"/api/v1/leads/{lead_id}/activities",
        json={"kind": "call", "at": "2026-11-01T10:00:00Z"},
    )
    convert(api, "gu@example.com", "mql", "2026-11-01T11:00:00Z")
    fake_clock.advance(days=3)
    lead = lead_of(api, lead_id)
    assert lead["first_contacted_at"] == "2026-11-01T10:00:00.000Z"
    assert lead["uncontacted"] is True


def test_activities_appear_and_bad_ones_are_refused(api, fake_clock):
    campaign = api.campaign(name="Webinar")
    lead_id = convert(api, "ha@example.com", "lead", "2026-11-01T09:00:00Z")["lead_id"]
    demo = api.post(
        f"/api/v1/leads/{lead_id}/activities",
        json={"kind": "demo", "campaign_id": campaign["id"], "note": "booked from webinar"},
    ).get_json()
    assert demo["kind"] == "demo" and demo["campaign_id"] == campaign["id"]
    call = api.post(f"/api/v1/leads/{lead_id}/activities", json={"kind": "call"}).get_json()
    assert call["channel"] == "sales"
    items = api.get(f"/api/v1/leads/{lead_id}/activities").get_json()["items"]
    assert [i["kind"] for i in items] == ["demo", "call"]
    for body, field, code in [
        ({"kind": "fax"}, "kind", "invalid_choice"),
        ({}, "kind", "required"),
        ({"kind": "call", "at": "yesterday"}, "at", "validation_error"),
        ({"kind": "call", "at": "2030-01-01T00:00:00Z"}, "at", "in_future"),
        ({"kind": "call", "campaign_id": 999}, "campaign_id", "unknown_campaign"),
        ({"kind": "call", "campaign_id": "1"}, "campaign_id", "validation_error"),
        ({"kind": "call", "colour": "red"}, "colour", "unknown_field"),
    ]:
        response = api.post(f"/api/v1/leads/{lead_id}/activities", json=body)
        assert response.status_code == 422, body
        assert response.get_json()["error"]["field"] == field, body
        assert response.get_json()["error"]["code"] == code, body
    unknown = api.post(
        "/api/v1/leads/00000000-0000-4000-8000-000000000000/activities", json={"kind": "call"}
    )
    assert unknown.status_code == 404


def test_patch_lead(api, fake_clock):
    lead_id = convert(api, "io@example.com", "lead", "2026-11-01T09:00:00Z")["lead_id"]
    api.patch(f"/api/v1/leads/{lead_id}", json={"attributes": {"tier": "gold", "size": 5}})
    response = api.patch(
        f"/api/v1/leads/{lead_id}",
        json={
            "owner": "rep@example.com",
            "source": "trade_show:expo-2026",
            "origin": "sales",
            "value": "1200.50",
            "currency": "EUR",
            "name": "Io",
            "attributes": {"size": None, "region": "north"},
        },
    )
    assert response.status_code == 200
    lead = response.get_json()["lead"]
    assert lead["owner"] == "rep@example.com" and lead["origin"] == "sales"
    assert (lead["value"], lead["currency"]) == ("1200.50", "EUR")
    assert lead["attributes"] == {"tier": "gold", "region": "north"}
    assert lead["source"] == "trade_show:expo-2026" and lead["name"] == "Io"
    for body, field, code in [
        ({"stage": "sale"}, "stage", "unknown_field"),
        ({"origin": "aliens"}, "origin", "invalid_choice"),
        ({"value": "abc"}, "value", "validation_error"),
        ({"currency": "EURO", "value": "1"}, "currency", "validation_error"),
        ({"attributes": []}, "attributes", "validation_error"),
        ({"owner": 5}, "owner", "validation_error"),
    ]:
        bad = api.patch(f"/api/v1/leads/{lead_id}", json=body)
        assert bad.status_code == 422, body
        assert bad.get_json()["error"]["field"] == field, body
        assert bad.get_json()["error"]["code"] == code, body
    cleared = api.patch(f"/api/v1/leads/{lead_id}", json={"value": None, "owner": None})
    lead = cleared.get_json()["lead"]
    assert lead["value"] is None and lead["owner"] is None


def test_list_filters_and_paging(api, fake_clock):
    campaign = api.campaign(name="Expo")
    a = convert(api, "ann@acme.example", "mql", "2026-11-01T09:00:00Z")["lead_id"]
    fake_clock.advance(hours=1)
    b = convert(api, "bob@beta.example", "sql", "2026-11-01T09:00:00Z")["lead_id"]
    fake_clock.advance(hours=1)
    c = convert(api, "cat@acme.example", "sale", "2026-11-01T09:00:00Z")["lead_id"]
    api.patch(f"/api/v1/leads/{b}", json={"owner": "rep@x.io", "name": "Bobby Tables"})
    api.post(f"/api/v1/leads/{a}/activities", json={"kind": "call", "campaign_id": campaign["id"]})

    def ids(query: str) -> list[str]:
        response = api.get(f"/api/v1/leads?{query}")
        assert response.status_code == 200, response.get_json()
        return [item["id"] for item in response.get_json()["items"]]

    assert ids("") == [c, b, a]  # newest first
    assert ids("sort=-created") == [a, b, c]
    assert ids("stage=sql") == [b]
    assert ids("status=won") == [c]
    assert ids("owner=rep@x.io") == [b]
    assert ids("q=ACME") == [c, a]
    assert ids("q=tables") == [b]
    assert ids(f"campaign_id={campaign['id']}") == [a]
    assert ids("email=Bob@Beta.example") == [b]
    assert ids("created_from=2026-11-02T10:00:00Z") == [c, b]
    assert ids("created_to=2026-11-02T10:00:00Z") == [a]
    first = api.get("/api/v1/leads?limit=2").get_json()
    assert [i["id"] for i in first["items"]] == [c, b]
    rest = api.get(f"/api/v1/leads?limit=2&cursor={first['next_cursor']}").get_json()
    assert [i["id"] for i in rest["items"]] == [a] and rest["next_cursor"] is None
    [item] = api.get("/api/v1/leads?stage=mql").get_json()["items"]
    assert item["last_touch_at"] is not None  # the call
    assert "first_touch_campaign_id" in item
    for query, field, code in [
        ("stage=won", "stage", "invalid_choice"),
        ("status=maybe", "status", "invalid_choice"),
        ("campaign_id=abc", "campaign_id", "validation_error"),
        ("campaign_id=999", "campaign_id", "unknown_campaign"),
        ("uncontacted=yes", "uncontacted", "validation_error"),
        ("created_from=soon", "created_from", "validation_error"),
        ("sort=name", "sort", "invalid_choice"),
        ("email=nope", "email", "invalid_email"),
        ("cursor=zz", "cursor", "validation_error"),
        ("colour=red", "colour", "unknown_parameter"),
    ]:
        response = api.get(f"/api/v1/leads?{query}")
        assert response.status_code == 422, query
        assert response.get_json()["error"]["field"] == field, query
        assert response.get_json()["error"]["code"] == code, query


def test_void_excludes_a_conversion_everywhere(api, fake_clock):
    lead_id = convert(api, "jo@example.com", "opportunity", "2026-11-01T09:00:00Z")["lead_id"]
    sale = convert(api, "jo@example.com", "sale", "2026-11-01T10:00:00Z", value="500.00")
    assert lead_of(api, lead_id)["status"] == "won"
    report = api.get("/api/v1/reports/attribution?from=2026-10-01&to=2026-11-03").get_json()
    assert report["totals"]["revenue"] == "500.00"
    voided = api.post(f"/api/v1/conversions/{sale['id']}/void", json={"reason": "refund"})
    assert voided.status_code == 200
    assert voided.get_json()["void_reason"] == "refund" and voided.get_json()["voided_at"]
    again = api.post(f"/api/v1/conversions/{sale['id']}/void", json={"reason": "refund"})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_voided"
    lead = lead_of(api, lead_id)
    assert (lead["stage"], lead["status"]) == ("opportunity", "open")
    report = api.get("/api/v1/reports/attribution?from=2026-10-01&to=2026-11-03").get_json()
    assert report["totals"]["revenue"] == "0.00" and report["totals"]["conversions"] == 0
    funnel = api.get("/api/v1/reports/funnel?from=2026-10-01&to=2026-11-03").get_json()
    assert all(s["people"] == 0 for s in funnel["stages"] if s["stage"] == "sale")
    listed = api.get(f"/api/v1/conversions?lead_id={lead_id}").get_json()["items"]
    assert [c["type"] for c in listed] == ["opportunity"]
    everything = api.get(f"/api/v1/conversions?lead_id={lead_id}&include_voided=true")
    assert [c["type"] for c in everything.get_json()["items"]] == ["opportunity", "sale"]
    missing = api.post(f"/api/v1/conversions/{sale['id']}/void", json={})
    assert missing.status_code == 422 and missing.get_json()["error"]["field"] == "reason"


def test_correcting_a_value_keeps_an_audit_trail(api, fake_clock):
    sale = convert(api, "ka@example.com", "sale", "2026-11-01T10:00:00Z", value="100.00")
    response = api.patch(f"/api/v1/conversions/{sale['id']}", json={"value": "80.00"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["value"] == "80.00"
    assert body["changes"][0]["changes"] == {"value": {"from": "100.00", "to": "80.00"}}
    report = api.get("/api/v1/reports/attribution?from=2026-10-01&to=2026-11-03").get_json()
    assert report["totals"]["revenue"] == "80.00"
    for body, field in [
        ({"value": "x"}, "value"),
        ({"type": "sale"}, "type"),
        ({"properties": [1]}, "properties"),
    ]:
        bad = api.patch(f"/api/v1/conversions/{sale['id']}", json=body)
        assert bad.status_code == 422 and bad.get_json()["error"]["field"] == field
    for query, field in [
        ("include_voided=maybe", "include_voided"),
        ("from=x", "from"),
        ("lead_id=nobody", "lead_id"),
    ]:
        bad = api.get(f"/api/v1/conversions?{query}")
        assert bad.status_code == 422 and bad.get_json()["error"]["field"] == field


@pytest.mark.parametrize("stages", ["trial,paid"])
def test_changed_stage_settings_restage_leads(tmp_path, stages):
    from .conftest import api_for

    app = make_app(tmp_path)
    api = api_for(app)
    lead_id = convert(api, "lu@example.com", "paid", "2026-11-01T10:00:00Z")["lead_id"]
    assert lead_of(api, lead_id)["stage"] is None  # not a stage of the default funnel
    app2 = make_app(
        tmp_path, FUNNEL_STAGES=stages, WON_STAGES="paid", **backends.same_database(app)
    )
    lead = lead_of(api_for(app2), lead_id)
    assert (lead["stage"], lead["status"]) == ("paid", "won")


def test_a_browser_stitched_later_brings_its_stages(app, api, fake_clock):
    """An anonymous browser converted (sql) before anyone knew who it was; when it clicks its
    personal link, the lead it is tied to has reached sql too, on the next read."""
    from .test_leads_conversions import browse, click_id_of, recipient_path

    social = api.link(api.campaign(name="Social", channel="social")["id"])
    mail = api.link(api.campaign(name="Mail")["id"])
    browser = app.test_client()
    click = click_id_of(browse(browser, f"/r/{social['token']}"))
    anonymous = api.post("/api/v1/conversions", json={"type": "sql", "click_id": click})
    assert anonymous.status_code == 201 and anonymous.get_json()["lead_id"] is None
    fake_clock.advance(days=1)
    path, lead_id = recipient_path(api, mail)
    assert lead_of(api, lead_id)["stage"] is None
    browse(browser, path)
    lead = lead_of(api, lead_id)
    assert lead["stage"] == "sql"
    assert [h["stage"] for h in lead["stage_history"]] == ["sql"]
    listed = api.get("/api/v1/leads?stage=sql").get_json()["items"]
    assert [item["id"] for item in listed] == [lead_id]
