"""Inputs that used to make a 500 or a wrong answer (issue 12): each gets its status, its error
code and the field it names."""

from __future__ import annotations

import pytest

from . import coupon_helpers
from .conftest import Api

HUGE = 2**63  # one past the largest integer SQLite stores


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_json()["error"]


def assert_field(response, field: str, code: str = "validation_error", status: int = 422) -> None:
    error = error_of(response, status)
    assert (error.get("field"), error["code"]) == (field, code), error
    assert "Traceback" not in error["message"]


# Integers past SQLite's range ------------------------------------------------------------


@pytest.mark.parametrize("value", [HUGE, 10**30, -HUGE])
def test_huge_campaign_id_on_a_new_link(api, value):
    response = api.post(
        "/api/v1/links", json={"campaign_id": value, "destination": "https://shop.example/"}
    )
    assert_field(response, "campaign_id")


def test_huge_offer_id_on_a_new_link(api):
    campaign = api.campaign()
    response = api.post(
        "/api/v1/links",
        json={
            "campaign_id": campaign["id"],
            "destination": "https://shop.example/",
            "offer_id": HUGE,
        },
    )
    assert_field(response, "offer_id")


@pytest.mark.parametrize("field", ["campaign_id", "per_lead_limit", "max_redemptions_per_code"])
def test_huge_integers_on_a_new_offer(api, field):
    body = {"campaign_id": api.campaign()["id"], "title": "20% off", "discount": "20% off"}
    response = api.post("/api/v1/offers", json={**body, field: HUGE})
    assert_field(response, field)


def test_huge_integers_on_an_offer_update(api):
    offer = coupon_helpers.offer(api)
    response = api.patch(f"/api/v1/offers/{offer['id']}", json={"per_lead_limit": HUGE})
    assert_field(response, "per_lead_limit")


def test_huge_recipients_link_id_on_a_code_batch(api):
    offer = coupon_helpers.offer(api)
    response = api.post(f"/api/v1/offers/{offer['id']}/codes", json={"recipients_link_id": HUGE})
    assert_field(response, "recipients_link_id")


def test_the_largest_sqlite_integer_is_an_unknown_campaign_not_a_range_error(api):
    response = api.post(
        "/api/v1/links", json={"campaign_id": HUGE - 1, "destination": "https://shop.example/"}
    )
    assert_field(response, "campaign_id", "unknown_campaign")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (f"/api/v1/links?campaign_id={HUGE}", "campaign_id"),
        (f"/api/v1/offers?campaign_id={HUGE}", "campaign_id"),
        (f"/api/v1/links?cursor={HUGE}", "cursor"),
        (f"/api/v1/campaigns?limit={HUGE}", "limit"),
        ("/api/v1/campaigns?limit=%C2%B2", "limit"),  # '²': isdigit() but not int()
        ("/api/v1/links?campaign_id=%C2%B2", "campaign_id"),
        (f"/api/v1/reports/attribution?campaign_id={HUGE}", "campaign_id"),
        (f"/api/v1/reports/funnel?campaign_id={10**40}", "campaign_id"),
        ("/api/v1/reports/time-to-convert?campaign_id=%C2%B2", "campaign_id"),
    ],
)
def test_huge_or_odd_integers_in_the_query(api, query, field):
    assert_field(api.get(query), field)


def test_huge_batch_id_in_the_codes_export(api):
    offer = coupon_helpers.offer(api)
    assert_field(api.get(f"/api/v1/offers/{offer['id']}/codes?batch_id={HUGE}"), "batch_id")


# JSON nested past the parser's recursion limit -------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/campaigns", "/api/v1/conversions", "/api/v1/tokens"])
def test_deeply_nested_json_is_invalid_json(api, path):
    response = api.post(path, data="[" * 100_000, content_type="application/json")
    assert error_of(response, 400)["code"] == "invalid_json"


def test_deeply_nested_json_inside_a_field_is_invalid_json(api):
    body = '{"type": "sale", "properties": ' + '{"a": ' * 50_000 + "1" + "}" * 50_001
    response = api.post("/api/v1/conversions", data=body, content_type="application/json")
    assert error_of(response, 400)["code"] == "invalid_json"


# Ids outside the id converter's range: 404 for every method --------------------------------


@pytest.mark.parametrize("method", ["get", "patch", "delete", "post"])
@pytest.mark.parametrize("raw_id", ["0", "00", "01", str(HUGE), "9" * 30])
def test_ids_outside_the_range_are_404_whatever_the_method(api, method, raw_id):
    path = {
        "get": f"/api/v1/campaigns/{raw_id}",
        "patch": f"/api/v1/campaigns/{raw_id}",
        "delete": f"/api/v1/tokens/{raw_id}",
        "post": f"/api/v1/offers/{raw_id}/codes",
    }[method]
    response = getattr(api, method)(path, json={})
    assert error_of(response, 404)["code"] == "not_found"


def test_a_wrong_method_on_a_real_id_is_still_405(api):
    campaign = api.campaign()
    response = api.delete(f"/api/v1/campaigns/{campaign['id']}")
    assert error_of(response, 405)["code"] == "method_not_allowed"


# Token roles: nothing said is the least privilege ------------------------------------------


@pytest.mark.parametrize("body", [{"name": "x"}, {"name": "x", "role": None}])
def test_a_token_without_a_role_is_a_marketer_token(client, api, body):
    created = api.post("/api/v1/tokens", json=body)
    assert created.status_code == 201
    assert created.get_json()["role"] == "marketer"
    # ... and it cannot do what admin tokens do.
    made = Api(client, created.get_json()["token"])
    assert error_of(made.get("/api/v1/tokens"), 403)["code"] == "admin_only"
    assert made.get("/api/v1/campaigns").status_code == 200


def test_an_admin_token_must_be_asked_for(api):
    created = api.post("/api/v1/tokens", json={"name": "x", "role": "admin"})
    assert created.status_code == 201 and created.get_json()["role"] == "admin"


@pytest.mark.parametrize(
    ("role", "code"),
    [("", "invalid_choice"), ("  ", "invalid_choice"), ("root", "invalid_choice"), (1, None)],
)
def test_a_role_that_is_not_a_role_is_refused(api, role, code):
    response = api.post("/api/v1/tokens", json={"name": "x", "role": role})
    assert_field(response, "role", code or "validation_error")


# Empty strings where a value is required ---------------------------------------------------


def test_an_empty_currency_on_a_campaign_is_refused(api):
    body = {"name": "S", "channel": "email", "utm_source": "n", "utm_medium": "e", "currency": ""}
    assert_field(api.post("/api/v1/campaigns", json=body), "currency")


def test_an_empty_currency_on_an_update_and_a_conversion_is_refused(api):
    campaign = api.campaign()
    assert_field(
        api.patch(f"/api/v1/campaigns/{campaign['id']}", json={"currency": " "}), "currency"
    )
    body = {"type": "sale", "email": "ann@example.com", "value": 5, "currency": ""}
    response = api.post("/api/v1/conversions", json=body)
    assert_field(response, "currency")


def test_a_null_currency_still_means_the_default(api):
    campaign = api.campaign(currency="EUR")
    response = api.patch(f"/api/v1/campaigns/{campaign['id']}", json={"currency": None})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("/api/v1/reports/attribution?window=", "window"),
        ("/api/v1/reports/attribution?model=", "model"),
        ("/api/v1/reports/attribution?currency=", "currency"),
        ("/api/v1/reports/funnel?from=", "from"),
        ("/api/v1/reports/time-to-convert?type=", "type"),
    ],
)
def test_empty_report_parameters_are_refused(api, query, field):
    assert_field(api.get(query), field)


@pytest.mark.parametrize(
    ("query", "field"),
    [("/api/v1/locations?kind=", "kind"), ("/api/v1/campaigns?channel=", "channel")],
)
def test_empty_list_filters_are_refused(api, query, field):
    assert_field(api.get(query), field, "invalid_choice")


# An erased lead has no badge ---------------------------------------------------------------


def test_an_erased_leads_badge_is_404(api):
    link = api.link()
    response = api.post(
        f"/api/v1/links/{link['id']}/recipients",
        json={"recipients": [{"email": "ann@example.com"}]},
    )
    assert response.status_code == 200, response.get_json()
    lead_id = response.get_json()["recipients"][0]["lead_id"]
    assert api.get(f"/api/v1/leads/{lead_id}/badge.svg").status_code == 200
    assert api.delete(f"/api/v1/leads/{lead_id}").status_code == 200
    for fmt in ("svg", "png"):
        response = api.get(f"/api/v1/leads/{lead_id}/badge.{fmt}")
        assert error_of(response, 404)["code"] == "lead_not_found"


def test_times_before_the_year_1000_are_stored_as_iso_and_read_back(api):
    """A year below 1000 used to be stored unpadded ("369-06-14") and fail to parse: a 500
    (schemathesis found it on activities)."""
    lead_id = api.post(
        "/api/v1/conversions", json={"type": "lead", "email": "old@example.com"}
    ).get_json()["lead_id"]
    response = api.post(
        f"/api/v1/leads/{lead_id}/activities", json={"kind": "call", "at": "0369-06-14T00:10:29Z"}
    )
    assert response.status_code == 201
    assert response.get_json()["at"] == "0369-06-14T00:10:29.000Z"
    assert api.get(f"/api/v1/leads/{lead_id}").status_code == 200


# NUL characters: PostgreSQL text cannot hold one (SQLite can); neither backend may 500 ----


def test_a_nul_in_a_code_lookup_is_not_found(api):
    coupon_helpers.location(api, "NYC-5TH")
    response = api.get("/api/v1/codes/AB%00CD", query_string={"location": "NYC-5TH"})
    assert error_of(response, 404)["code"] == "unknown_code"
    response = api.get("/api/v1/codes/ABCD", query_string={"location": "NYC\x005TH"})
    assert_field(response, "location", "unknown_location")


def test_a_nul_in_a_click_still_redirects_and_is_logged(client, api, app):
    from .conftest import BROWSER_UA

    link = api.link()
    response = client.get(
        f"/r/{link['token']}?utm_content=a%00b&gclid=x%00", headers={"User-Agent": BROWSER_UA}
    )
    assert response.status_code == 302
    db = app.extensions["touchpoint"].db()
    assert (
        db.execute("SELECT count(*) FROM events WHERE link_id = ?", (link["id"],)).fetchone()[0]
        == 1
    )


def test_a_nul_in_a_name_is_refused_and_in_lead_attributes_stored_in_its_place(api):
    body = {"name": "Spring\x00Sale", "channel": "email", "utm_source": "n", "utm_medium": "e"}
    assert_field(api.post("/api/v1/campaigns", json=body), "name")
    link = api.link()
    records = [{"email": f"ada{n}@example.com", "team\x00": "a\x00b"} for n in range(2)]
    for _ in range(2):  # the second upload merges into the stored attributes
        imported = api.post(f"/api/v1/links/{link['id']}/recipients", json={"recipients": records})
        assert imported.status_code == 200, imported.get_json()
    lead_id = imported.get_json()["recipients"][0]["lead_id"]
    lead = api.get(f"/api/v1/leads/{lead_id}")
    assert lead.status_code == 200, lead.get_json()
    (value,) = lead.get_json()["lead"]["attributes"].values()
    assert value[0] == "a" and value[-1] == "b"
