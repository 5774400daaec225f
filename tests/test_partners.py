"""Partners and resellers: their links, the leads and sales they say they brought, and the
attribution and pipeline reports by partner with commission as cost."""

from __future__ import annotations

import pytest

from .test_reports import around, attribution, click, rows_by_key, sale


def partner(api, code: str = "acme", **fields) -> dict:
    body = {"code": code, "name": "ACME Resellers", "kind": "reseller", **fields}
    response = api.post("/api/v1/partners", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_list_get_and_patch(api):
    made = partner(api, "ACME", commission_percent="12.5", contact_email="deals@ACME.example")
    assert made["code"] == "acme" and made["commission_percent"] == 12.5
    assert made["contact_email"] == "deals@acme.example"
    partner(api, "blog", name="Dev blog", kind="affiliate", commission_percent=10)
    assert [p["code"] for p in api.get("/api/v1/partners").get_json()["items"]] == ["acme", "blog"]
    assert [p["code"] for p in api.get("/api/v1/partners?kind=affiliate").get_json()["items"]] == [
        "blog"
    ]
    assert api.get("/api/v1/partners/ACME").get_json()["name"] == "ACME Resellers"
    patched = api.patch("/api/v1/partners/acme", json={"commission_percent": 15, "kind": "var"})
    assert patched.status_code == 200
    assert patched.get_json()["commission_percent"] == 15 and patched.get_json()["kind"] == "var"

    taken = api.post("/api/v1/partners", json={"code": "acme", "name": "x", "kind": "var"})
    assert taken.status_code == 409 and taken.get_json()["error"]["code"] == "partner_exists"
    missing = api.get("/api/v1/partners/nobody")
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "partner_not_found"
    for body, field in (
        ({"code": "x", "name": "x", "kind": "friend"}, "kind"),
        (
            {"code": "x", "name": "x", "kind": "var", "commission_percent": 101},
            "commission_percent",
        ),
        (
            {"code": "x", "name": "x", "kind": "var", "commission_percent": "1.234"},
            "commission_percent",
        ),
        (
            {"code": "x", "name": "x", "kind": "var", "commission_percent": True},
            "commission_percent",
        ),
        ({"code": "no spaces", "name": "x", "kind": "var"}, "code"),
        ({"code": "x", "name": "", "kind": "var"}, "name"),
        ({"code": "x", "name": "x", "kind": "var", "contact_email": "nope"}, "contact_email"),
    ):
        response = api.post("/api/v1/partners", json=body)
        assert response.status_code == 422, body
        assert response.get_json()["error"]["field"] == field, body
    renamed = api.patch("/api/v1/partners/acme", json={"code": "acme2"})
    assert renamed.status_code == 422
    assert renamed.get_json()["error"]["code"] == "not_updatable"


def test_a_partners_link_credits_it_and_its_commission_is_its_cost(app, api, fake_clock):
    partner(api, commission_percent=10)
    campaign = api.campaign(name="Reseller program", channel="referral")
    link = api.link(campaign["id"], partner_code="acme")
    assert link["partner_code"] == "acme"
    own = api.link(campaign["id"])
    browser = app.test_client()
    sale(api, email="a@example.com", click_id=click(browser, link), value="200.00")
    sale(api, email="b@example.com", click_id=click(app.test_client(), own), value="50.00")
    fake_clock.advance(hours=1)
    report = attribution(api, group_by="partner", **around(fake_clock))
    rows = rows_by_key(report)
    assert rows["acme"]["label"] == "ACME Resellers"
    assert rows["acme"]["revenue"] == "200.00" and rows["acme"]["cost"] == "20.00"
    assert rows["acme"]["roi"] == 9.0 and rows["acme"]["human_clicks"] == 1
    assert rows[None]["label"] == "(no partner)" and rows[None]["revenue"] == "50.00"
    assert report["totals"]["revenue"] == "250.00"

    unknown = api.post(
        "/api/v1/links",
        json={
            "campaign_id": campaign["id"],
            "destination": "https://x.example/",
            "partner_code": "zz",
        },
    )
    assert unknown.status_code == 422
    assert unknown.get_json()["error"] == {
        "code": "unknown_partner",
        "field": "partner_code",
        "message": unknown.get_json()["error"]["message"],
    }


def test_a_partner_named_on_a_lead_is_its_touch_and_origin(api, fake_clock):
    partner(api, commission_percent=20)
    lead_id = sale(api, type="lead", email="deal@example.com")["lead_id"]
    patched = api.patch(f"/api/v1/leads/{lead_id}", json={"partner_code": "ACME"})
    assert patched.status_code == 200
    lead = patched.get_json()["lead"]
    # Nothing touched the lead before the reseller brought it: the partner is its origin.
    assert lead["partner_code"] == "acme" and lead["origin"] == "partner"
    [touch] = [e for e in patched.get_json()["events"] if e["type"] == "partner"]
    assert touch["partner_code"] == "acme" and touch["channel"] == "partner"
    fake_clock.advance(days=2)
    sale(api, lead_id=lead_id, value="1000.00")
    fake_clock.advance(hours=1)
    rows = rows_by_key(attribution(api, group_by="partner", **around(fake_clock)))
    assert rows["acme"]["revenue"] == "1000.00" and rows["acme"]["cost"] == "200.00"
    assert rows["acme"]["touches"] == 1
    by_channel = rows_by_key(attribution(api, group_by="channel", **around(fake_clock)))
    assert by_channel["partner"]["revenue"] == "1000.00"
    by_campaign = rows_by_key(attribution(api, **around(fake_clock)))
    assert by_campaign["(partners)"]["revenue"] == "1000.00"

    pipeline = api.get(
        "/api/v1/reports/pipeline", query_string={"group_by": "partner", **around(fake_clock)}
    ).get_json()
    [group] = [g for g in pipeline["groups"] if g["key"] == "acme"]
    assert group["label"] == "acme" and group["totals"]["leads"] == 1
    assert group["totals"]["won"] == 1

    bad = api.patch(f"/api/v1/leads/{lead_id}", json={"partner_code": "nobody"})
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "unknown_partner"


def test_a_lead_with_earlier_touches_keeps_its_origin(app, api, fake_clock):
    partner(api)
    campaign = api.campaign(name="Search", channel="search")
    lead_id = sale(
        api,
        type="lead",
        email="c@example.com",
        click_id=click(app.test_client(), api.link(campaign["id"])),
    )["lead_id"]
    lead = api.patch(f"/api/v1/leads/{lead_id}", json={"partner_code": "acme"}).get_json()["lead"]
    assert lead["origin"] == "marketing" and lead["partner_code"] == "acme"


@pytest.mark.parametrize("named_by", ["email", "ref_code"])
def test_a_partner_named_on_a_conversion_is_credited(api, fake_clock, named_by):
    partner(api, commission_percent=5)
    body = {"email": "d@example.com"}
    if named_by == "ref_code":
        # A CRM deal the reseller closed, known by its lead's reference code.
        lead_id = sale(api, type="lead", email="e@example.com")["lead_id"]
        code = api.get(f"/api/v1/leads/{lead_id}").get_json()["lead"]["ref_code"]
        body = {"ref_code": code}
    made = sale(api, value="400.00", partner_code="acme", **body)
    assert made["partner_code"] == "acme"
    fake_clock.advance(hours=1)
    rows = rows_by_key(attribution(api, group_by="partner", **around(fake_clock)))
    assert rows["acme"]["revenue"] == "400.00" and rows["acme"]["cost"] == "20.00"


def test_the_monthly_statement_lists_the_partners_leads_and_sales_with_commission(api):
    import csv
    import io

    partner(api, commission_percent="12.5")
    partner(api, "other", name="Other VAR", kind="var")
    lead_id = sale(api, type="lead", email="=cmd@example.com")["lead_id"]
    api.patch(f"/api/v1/leads/{lead_id}", json={"partner_code": "acme", "name": "=HYPERLINK()"})
    sale(api, lead_id=lead_id, value="800.00", external_id="Q-1")
    sale(api, email="direct@example.com", value="100.00", partner_code="acme")
    sale(api, email="theirs@example.com", value="999.00", partner_code="other")
    sale(api, type="opportunity", lead_id=lead_id, value="5000.00")  # pipeline, not a sale
    response = api.get("/api/v1/partners/acme/statement.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "partner-acme-" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    # The direct sale's buyer was new: a lead the partner brought, too (made in the same
    # millisecond as the sale, so the two may come in either order).
    assert sorted((r["what"], r["value"], r["commission"]) for r in rows) == [
        ("lead", "", ""),
        ("lead", "", ""),
        ("sale", "100.00", "12.50"),
        ("sale", "800.00", "100.00"),
    ]
    assert [r["date"] for r in rows] == sorted(r["date"] for r in rows)
    assert rows[0]["name"] == "'=HYPERLINK()"
    assert [r["order"] for r in rows if r["value"] == "800.00"] == ["Q-1"]
    assert api.get("/api/v1/partners/nobody/statement.csv").status_code == 404
    bad = api.get("/api/v1/partners/acme/statement.csv?from=soon")
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "from"
