"""The management API as marketers' scripts and tools use it, including every refusal."""

from __future__ import annotations

import pytest

from . import backends
from .conftest import api_for, make_app


def error_of(response) -> dict:
    assert response.mimetype == "application/json", response.data[:200]
    body = response.get_json()
    assert set(body) == {"error"}
    assert {"code", "message"} <= set(body["error"])
    assert "Traceback" not in response.get_data(as_text=True)
    return body["error"]


# Authentication ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "missing_token"),
        ({"Authorization": "Bearer "}, "missing_token"),
        ({"Authorization": "Bearer tpa_not-a-real-token"}, "invalid_token"),
        ({"Authorization": "Bearer something-else"}, "invalid_token"),
    ],
)
def test_requests_without_a_valid_token_get_401(client, headers, code):
    response = client.get("/api/v1/campaigns", headers=headers)
    assert response.status_code == 401
    assert error_of(response)["code"] == code
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_revoked_token_stops_working(client, api):
    assert api.get("/api/v1/campaigns").status_code == 200
    [token] = api.get("/api/v1/tokens").get_json()["items"]
    assert api.delete(f"/api/v1/tokens/{token['id']}").status_code == 204
    assert api.get("/api/v1/campaigns").status_code == 401


def test_tokens_are_stored_hashed_and_prefixed(app, api):
    created = api.post("/api/v1/tokens", json={"name": "CRM sync"})
    assert created.status_code == 201
    secret = created.get_json()["token"]
    assert secret.startswith("tpa_") and len(secret) > 40
    db = app.extensions["touchpoint"].db()
    dump = backends.dump(db)
    assert secret not in dump
    listed = api.get("/api/v1/tokens").get_json()["items"]
    assert all("token" not in t and "token_hash" not in t for t in listed)
    assert listed[-1]["prefix"] == secret[:8]


# Error shapes for routing and body problems ------------------------------------------------


def test_unknown_route_and_resource_are_json_404(api):
    assert error_of(api.get("/api/v1/nope"))["code"] == "not_found"
    assert api.get("/api/v1/nope").status_code == 404
    response = api.get("/api/v1/campaigns/999")
    assert response.status_code == 404
    assert error_of(response)["code"] == "campaign_not_found"
    response = api.get("/api/v1/links/999")
    assert (response.status_code, error_of(response)["code"]) == (404, "link_not_found")


def test_wrong_method_is_json_405_with_allow(api):
    response = api.client.put("/api/v1/campaigns", headers=api.headers, json={})
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe", b'{"a": 1'])
def test_malformed_json_is_400(api, body):
    response = api.client.post(
        "/api/v1/campaigns", data=body, headers={**api.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"


def test_json_that_is_not_an_object_is_422(api):
    response = api.post("/api/v1/campaigns", json=[1, 2])
    assert response.status_code == 422
    assert error_of(response)["code"] == "invalid_body"


def test_oversized_body_is_413(tmp_path):
    app = make_app(tmp_path, MAX_CONTENT_LENGTH=1000)
    api = api_for(app)
    response = api.client.post(
        "/api/v1/campaigns",
        data=b'{"name": "' + b"x" * 5000 + b'"}',
        headers={**api.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_curl_style_form_content_type_still_parses_json(api):
    response = api.client.post(
        "/api/v1/campaigns",
        data='{"name": "X", "channel": "print", "utm_source": "flyer", "utm_medium": "print"}',
        headers={**api.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 201


# Campaigns ---------------------------------------------------------------------------------


def test_create_campaign_returns_201_with_defaults(api):
    response = api.post(
        "/api/v1/campaigns",
        json={
            "name": "Black Friday — Süd 2026",
            "channel": "social",
            "utm_source": "facebook",
            "utm_medium": "paid_social",
            "cost": "1250.5",
            "currency": "eur",
            "starts_at": "2026-11-20T00:00:00+01:00",
            "ends_at": "2026-11-30T23:59:59Z",
        },
    )
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"] == f"/api/v1/campaigns/{body['id']}"
    assert body["utm_campaign"] == "black-friday-sud-2026"
    assert body["cost"] == "1250.50" and body["currency"] == "EUR"
    assert body["starts_at"] == "2026-11-19T23:00:00.000Z"
    assert body["ends_at"] == "2026-11-30T23:59:59.000Z"
    assert body["created_at"].endswith("Z")
    assert api.get(f"/api/v1/campaigns/{body['id']}").get_json() == body


def test_cost_as_number_and_zero_decimal_currency(api):
    assert api.campaign(cost=49.99)["cost"] == "49.99"
    assert api.campaign(cost=1200, currency="JPY")["cost"] == "1200"
    assert api.campaign()["cost"] is None


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"utm_source": None}, "utm_source", "required"),
        ({"utm_source": "  "}, "utm_source", "required"),
        ({"utm_medium": None}, "utm_medium", "required"),
        ({"name": ""}, "name", "required"),
        ({"channel": "tv"}, "channel", "invalid_choice"),
        ({"channel": None}, "channel", "required"),
        ({"utm_source": 5}, "utm_source", "validation_error"),
        ({"name": "x" * 201}, "name", "validation_error"),
        ({"cost": "-5"}, "cost", "validation_error"),
        ({"cost": "abc"}, "cost", "validation_error"),
        ({"cost": "1.234"}, "cost", "validation_error"),
        ({"cost": "1.5", "currency": "JPY"}, "cost", "validation_error"),
        ({"cost": True}, "cost", "validation_error"),
        ({"currency": "euro"}, "currency", "validation_error"),
        ({"starts_at": "next tuesday"}, "starts_at", "validation_error"),
        (
            {"starts_at": "2026-12-01T00:00:00Z", "ends_at": "2026-11-01T00:00:00Z"},
            "ends_at",
            "validation_error",
        ),
        ({"utm_sourc": "typo"}, "utm_sourc", "unknown_field"),
    ],
)
def test_campaign_validation_names_the_field(api, change, field, code):
    body = {
        "name": "Spring",
        "channel": "email",
        "utm_source": "newsletter",
        "utm_medium": "email",
        **change,
    }
    if change.get("utm_source", "") is None:
        del body["utm_source"]
    response = api.post("/api/v1/campaigns", json=body)
    assert response.status_code == 422
    error = error_of(response)
    assert (error["field"], error["code"]) == (field, code)


def test_missing_source_is_refused(api):
    response = api.post(
        "/api/v1/campaigns", json={"name": "No source", "channel": "email", "utm_medium": "email"}
    )
    assert response.status_code == 422
    assert error_of(response)["field"] == "utm_source"


def test_patch_campaign_changes_only_what_is_sent(api):
    campaign = api.campaign(cost="100", notes="first")
    response = api.patch(
        f"/api/v1/campaigns/{campaign['id']}", json={"cost": "250.00", "notes": None}
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["cost"] == "250.00" and body["notes"] is None
    assert body["name"] == campaign["name"] and body["utm_source"] == campaign["utm_source"]
    assert body["updated_at"] >= campaign["updated_at"]


def test_patch_campaign_validates_and_404s(api):
    campaign = api.campaign()
    response = api.patch(f"/api/v1/campaigns/{campaign['id']}", json={"utm_source": ""})
    assert response.status_code == 422 and error_of(response)["field"] == "utm_source"
    response = api.patch(
        f"/api/v1/campaigns/{campaign['id']}",
        json={"ends_at": "2000-01-01T00:00:00Z", "starts_at": "2001-01-01T00:00:00Z"},
    )
    assert response.status_code == 422
    assert api.patch("/api/v1/campaigns/999", json={"name": "x"}).status_code == 404


def test_list_campaigns_pages_with_a_cursor(api):
    ids = [
        api.campaign(name=f"C{i}", channel="print" if i % 2 else "email")["id"] for i in range(5)
    ]
    first = api.get("/api/v1/campaigns?limit=2").get_json()
    assert [c["id"] for c in first["items"]] == ids[:2]
    second = api.get(f"/api/v1/campaigns?limit=2&cursor={first['next_cursor']}").get_json()
    assert [c["id"] for c in second["items"]] == ids[2:4]
    third = api.get(f"/api/v1/campaigns?limit=2&cursor={second['next_cursor']}").get_json()
    assert [c["id"] for c in third["items"]] == ids[4:] and third["next_cursor"] is None
    printed = api.get("/api/v1/campaigns?channel=print").get_json()["items"]
    assert [c["id"] for c in printed] == [ids[1], ids[3]]
    for bad in ["limit=0", "limit=abc", "cursor=x", "channel=tv"]:
        assert api.get(f"/api/v1/campaigns?{bad}").status_code == 422


# Links -------------------------------------------------------------------------------------


def test_create_link_returns_urls_token_and_qr(api):
    campaign = api.campaign()
    body = {
        "campaign_id": campaign["id"],
        "destination": "https://x.example/",
        "store_code": "NYC-5TH",
    }
    unknown = api.post("/api/v1/links", json=body)
    assert unknown.status_code == 422
    assert unknown.get_json()["error"]["code"] == "unknown_location"
    assert unknown.get_json()["error"]["field"] == "store_code"
    store = {
        "code": "NYC-5TH",
        "name": "Fifth Avenue",
        "kind": "store",
        "timezone": "America/New_York",
    }
    assert api.post("/api/v1/locations", json=store).status_code == 201
    response = api.post(
        "/api/v1/links",
        json={
            "campaign_id": campaign["id"],
            "destination": "https://shop.example.com/p?x=1",
            "label": "Hero banner",
            "store_code": "NYC-5TH",
            "utm_content": "hero",
        },
    )
    assert response.status_code == 201
    link = response.get_json()
    token = link["token"]
    assert len(token) <= 32
    assert link["url"] == f"http://localhost/r/{token}"
    assert link["qr_url"] == f"http://localhost/q/{token}"
    assert link["qr"] == {
        "svg": f"http://localhost/q/{token}.svg",
        "png": f"http://localhost/q/{token}.png",
    }
    assert link["active"] is True and link["store_code"] == "NYC-5TH"
    assert link["tracked_destination"] == (
        "https://shop.example.com/p?x=1&utm_source=newsletter&utm_medium=email"
        "&utm_campaign=spring-sale&utm_content=hero"
    )


def test_public_base_url_setting_is_used_for_minted_urls(tmp_path):
    app = make_app(tmp_path, PUBLIC_BASE_URL="https://go.example.com/")
    link = api_for(app).link()
    assert link["url"] == f"https://go.example.com/r/{link['token']}"


@pytest.mark.parametrize(
    "destination",
    [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "/relative/path",
        "shop.example.com/p",
        "https://",
        "http:///nohost",
        "ftp://files.example.com/x",
        "https://trusted.example@evil.example/",
        "https://exa mple.com/",
        "https://example.com:99999/",
        "",
        None,
    ],
)
def test_unsafe_or_incomplete_destinations_are_422(api, destination):
    campaign = api.campaign()
    response = api.post(
        "/api/v1/links", json={"campaign_id": campaign["id"], "destination": destination}
    )
    assert response.status_code == 422
    assert error_of(response)["field"] == "destination"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"campaign_id": 999}, "campaign_id"),
        ({"campaign_id": "1"}, "campaign_id"),
        ({"campaign_id": None}, "campaign_id"),
        ({"fallback_url": "javascript:void(0)"}, "fallback_url"),
        ({"expires_at": "soon"}, "expires_at"),
        ({"store_code": "has space"}, "store_code"),
        ({"color": "red"}, "color"),
    ],
)
def test_link_validation_names_the_field(api, change, field):
    body = {"campaign_id": api.campaign()["id"], "destination": "https://example.com/", **change}
    response = api.post("/api/v1/links", json=body)
    assert response.status_code == 422
    assert error_of(response)["field"] == field


def test_patch_link_allows_the_listed_fields_only(api):
    link = api.link()
    response = api.patch(
        f"/api/v1/links/{link['id']}",
        json={
            "destination": "https://shop.example.com/new",
            "label": "New",
            "active": False,
            "expires_at": "2030-01-01T00:00:00Z",
            "fallback_url": "https://shop.example.com/",
        },
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["destination"] == "https://shop.example.com/new" and body["active"] is False
    assert body["expires_at"] == "2030-01-01T00:00:00.000Z"
    assert body["token"] == link["token"]  # printed codes never change
    for change, code in [
        ({"campaign_id": 2}, "not_updatable"),
        ({"bogus": 1}, "unknown_field"),
        ({"active": "yes"}, "validation_error"),
        ({"destination": "javascript:x"}, "invalid_url"),
    ]:
        response = api.patch(f"/api/v1/links/{link['id']}", json=change)
        assert response.status_code == 422
        assert error_of(response)["code"] == code


def test_list_links_filters_by_campaign(api):
    first, second = api.campaign(), api.campaign(name="Other")
    a = api.link(first["id"])
    api.link(second["id"])
    c = api.link(first["id"])
    items = api.get(f"/api/v1/links?campaign_id={first['id']}").get_json()["items"]
    assert [x["id"] for x in items] == [a["id"], c["id"]]
    assert all("token" in x and "url" in x for x in items)
    assert api.get("/api/v1/links?campaign_id=abc").status_code == 422


def test_stats_of_unknown_link_is_404(api):
    assert api.get("/api/v1/links/42/stats").status_code == 404


def test_stats_of_a_fresh_link_are_zero(api):
    stats = api.get(f"/api/v1/links/{api.link()['id']}/stats").get_json()
    assert stats == {
        "clicks": 0,
        "scans": 0,
        "human": 0,
        "bots": 0,
        "scanners": 0,
        "unique_visitors": 0,
        "first_at": None,
        "last_at": None,
        "by_day": [],
        "by_device": [],
        "by_browser": [],
        "by_os": [],
        "by_country": [],
        "by_referrer": [],
    }


def test_a_full_last_page_says_there_is_no_next_page(api):
    for i in range(4):
        api.campaign(name=f"C{i}")
    first = api.get("/api/v1/campaigns?limit=2").get_json()
    second = api.get(f"/api/v1/campaigns?limit=2&cursor={first['next_cursor']}").get_json()
    assert len(second["items"]) == 2 and second["next_cursor"] is None


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/campaigns/99999999999999999999",
        "/api/v1/links/0",
        "/api/v1/links/99999999999999999999/stats",
    ],
)
def test_ids_beyond_range_are_404_not_500(api, path):
    assert api.get(path).status_code == 404


def test_huge_query_numbers_are_422(api):
    assert api.get("/api/v1/campaigns?cursor=99999999999999999999").status_code == 422
    assert api.get("/api/v1/links?campaign_id=99999999999999999999").status_code == 422


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": 5}, "name"),
        ({}, "name"),
        ({"name": "x", "role": "root"}, "role"),
        ({"name": "x", "scopes": []}, "scopes"),
    ],
)
def test_token_creation_validates(api, body, field):
    response = api.post("/api/v1/tokens", json=body)
    assert response.status_code == 422
    assert error_of(response)["field"] == field


def test_notes_may_span_lines(api):
    campaign = api.campaign(notes="Budget approved.\n\tPrint run: 5,000 flyers.")
    assert campaign["notes"] == "Budget approved.\n\tPrint run: 5,000 flyers."


def test_a_cost_cannot_lose_its_currency(api):
    campaign = api.campaign(cost="10", currency="EUR")
    response = api.patch(f"/api/v1/campaigns/{campaign['id']}", json={"currency": None})
    assert response.status_code == 422 and error_of(response)["field"] == "currency"
