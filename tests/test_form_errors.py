"""Every dashboard form shows all its errors at once: each in plain words next to its field,
all of them in a summary linking to the fields, with what was typed kept. The API lists the
same errors in `error.errors`, its `code` and `field` still the first one's."""

from __future__ import annotations

import re

import pytest

from tests.conftest import api_for, make_app
from tests.dashboard_helpers import PASSWORD, Dash, create_user, errors_at_fields, value_of


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path)
    create_user(app, "ada@example.com", "admin")
    return app


@pytest.fixture
def admin(app):
    return Dash(app, "ada@example.com")


@pytest.fixture
def api(app):
    return api_for(app)


def _rows(app, sql: str) -> list[dict]:
    return list(app.extensions["touchpoint"].db().query(sql))


def refused(dash: Dash, path: str, form: dict, *, page: str | None = None, kept=()):
    """Open the form's page, send `form`: a 422 that keeps what was typed in the fields
    `kept`. Returns {field: message} of the errors at the fields, and the response."""
    dash.get(page or path)
    response = dash.post(path, form)
    assert response.status_code == 422
    for name in kept:
        assert value_of(response, name) == form[name], name
    return errors_at_fields(response), response


CAMPAIGN = {
    "name": "Spring Sale",
    "channel": "email",
    "utm_source": "newsletter",
    "utm_medium": "email",
    "utm_campaign": "",
    "cost": "100.00",
    "currency": "EUR",
    "starts_at": "",
    "ends_at": "",
    "notes": "",
}


# Campaigns and links -----------------------------------------------------------------------


def test_a_new_campaign_with_five_mistakes_shows_all_five(app, admin):
    form = {
        **CAMPAIGN,
        "name": "",
        "channel": "",
        "utm_source": "",
        "cost": "twelve",
        "starts_at": "2026-12-01T00:00",
        "ends_at": "2026-11-01T00:00",
        "notes": "for the spring mailing",
    }
    kept = ("utm_medium", "cost", "currency", "starts_at", "ends_at", "notes")
    errors, _ = refused(admin, "/dashboard/campaigns/new", form, kept=kept)
    assert errors == {
        "name": "Name is required.",
        "channel": "Channel is required.",
        "utm_source": "utm_source is required.",
        "cost": "Cost must be a decimal number such as 1200.00.",
        "ends_at": "The end must be after the start.",
    }
    assert _rows(app, "SELECT id FROM campaigns") == []


def test_editing_a_campaign_shows_every_mistake_and_changes_nothing(admin, api):
    campaign = api.campaign(name="Poster wave", cost="100.00", currency="EUR")
    form = {
        **CAMPAIGN,
        "name": "",
        "utm_medium": "",
        "utm_campaign": "poster-wave",
        "currency": "EURO",
        "starts_at": "first of May",
    }
    path = f"/dashboard/campaigns/{campaign['id']}/edit"
    errors, _ = refused(admin, path, form, kept=("currency", "starts_at", "utm_campaign"))
    assert errors == {
        "name": "Name is required.",
        "utm_medium": "utm_medium is required.",
        "starts_at": "Start must be a date and time such as 2026-11-23T09:30:00Z.",
        "currency": "Currency must be a three-letter ISO 4217 code such as EUR.",
    }
    assert api.get(f"/api/v1/campaigns/{campaign['id']}").get_json() == campaign


def test_a_new_link_shows_every_mistake_on_the_campaign_page(app, admin, api):
    campaign = api.campaign()
    form = {
        "destination": "shop.example.com/spring",
        "label": "Poster",
        "store_code": "NYC 5TH",
        "utm_content": "",
        "utm_term": "",
        "expires_at": "tomorrow",
    }
    errors, response = refused(
        admin,
        f"/dashboard/campaigns/{campaign['id']}/links",
        form,
        page=f"/dashboard/campaigns/{campaign['id']}",
        # The store is a picker of the locations: a code no location has cannot be kept in
        # it, so only its error is shown.
        kept=("destination", "label", "expires_at"),
    )
    assert errors == {
        "destination": "Destination must be a full web address starting with https:// or http://.",
        "store_code": "Store code may contain only letters, digits, '_', '.' and '-' (64 at most).",
        "expires_at": "Expiry must be a date and time such as 2026-11-23T09:30:00Z.",
    }
    html = response.get_data(as_text=True)
    assert re.search(r'<details class="panel" open>\s*<summary><strong>Add a link', html)
    assert _rows(app, "SELECT id FROM links") == []


def test_editing_a_link_shows_every_mistake(admin, api):
    link = api.link(api.campaign()["id"])
    form = {
        "destination": "",
        "label": "Window poster",
        "expires_at": "soon",
        "fallback_url": "javascript:alert(1)",
        "active": "1",
    }
    path = f"/dashboard/links/{link['id']}/edit"
    errors, _ = refused(admin, path, form, kept=("label", "expires_at", "fallback_url"))
    assert errors == {
        "destination": "Destination is required.",
        "expires_at": "Expiry must be a date and time such as 2026-11-23T09:30:00Z.",
        "fallback_url": "Fallback page must be a full web address starting with https:// or "
        "http://.",
    }
    assert api.get(f"/api/v1/links/{link['id']}").get_json()["label"] == link["label"]


# Offers ------------------------------------------------------------------------------------


def test_a_new_offer_shows_every_mistake(app, admin, api):
    campaign = api.campaign()
    form = {
        "title": "",
        "discount": "15% off",
        "terms": "One per customer.",
        "kind": "shared",
        "shared_code": "X!",
        "code_prefix": "",
        "starts_at": "2026-12-24T00:00",
        "ends_at": "2026-12-01T00:00",
        "max_redemptions_per_code": "0",
        "per_lead_limit": "",
        # A location deleted while the form was open.
        "location_codes": "NOWHERE",
    }
    kept = ("discount", "terms", "shared_code", "starts_at", "ends_at", "max_redemptions_per_code")
    path = f"/dashboard/campaigns/{campaign['id']}/offers/new"
    errors, _ = refused(admin, path, form, kept=kept)
    assert errors == {
        "title": "Title is required.",
        "max_redemptions_per_code": "Uses per code must be a whole number of at least 1.",
        "ends_at": "The end must be after the start.",
        "shared_code": "Shared code is 3-40 letters and digits.",
        "location_codes": "Unknown location code(s): NOWHERE.",
    }
    assert _rows(app, "SELECT id FROM offers") == []


def test_editing_an_offer_shows_every_mistake(admin, api):
    campaign = api.campaign()
    offer = api.post(
        "/api/v1/offers", json={"campaign_id": campaign["id"], "title": "10% off boots"}
    ).get_json()
    form = {
        "title": "",
        "discount": "10%",
        "terms": "",
        "starts_at": "next week",
        "ends_at": "",
        "max_redemptions_per_code": "1",
        "per_lead_limit": "two",
    }
    path = f"/dashboard/offers/{offer['id']}/edit"
    errors, _ = refused(admin, path, form, kept=("discount", "starts_at", "per_lead_limit"))
    assert errors == {
        "title": "Title is required.",
        "starts_at": "Start must be a date and time such as 2026-11-23T09:30:00Z.",
        "per_lead_limit": "Codes per person must be a whole number of at least 1.",
    }
    assert api.get(f"/api/v1/offers/{offer['id']}").get_json()["title"] == "10% off boots"


# Locations, users, account -----------------------------------------------------------------


def test_a_new_location_shows_every_mistake(app, admin):
    form = {
        "code": "NYC 5TH",
        "name": "",
        "kind": "store",
        "timezone": "Mars/Olympus",
        "address": "5th Avenue",
        "currency": "E1",
    }
    kept = ("code", "timezone", "address", "currency")
    errors, _ = refused(admin, "/dashboard/locations", form, kept=kept)
    assert errors == {
        "code": "Code may contain only letters, digits, '_', '.' and '-' (64 at most).",
        "name": "Name is required.",
        "timezone": "Time zone must be an IANA time zone such as Europe/Berlin, not "
        "'Mars/Olympus'.",
        "currency": "Currency must be a three-letter ISO 4217 code such as EUR.",
    }
    assert _rows(app, "SELECT code FROM locations") == []


def test_editing_a_location_shows_every_mistake_in_the_open_form(app, admin, api):
    api.post(
        "/api/v1/locations",
        json={"code": "NYC", "name": "Fifth Avenue", "kind": "store", "timezone": "UTC"},
    )
    form = {"name": "", "timezone": "Nowhere/City", "address": "5th Ave"}
    errors, response = refused(
        admin, "/dashboard/locations/NYC", form, kept=("timezone", "address")
    )
    assert errors == {
        "name": "Name is required.",
        "timezone": "Time zone must be an IANA time zone such as Europe/Berlin, not "
        "'Nowhere/City'.",
    }
    assert '<details class="panel" open>' in response.get_data(as_text=True)
    assert _rows(app, "SELECT name FROM locations") == [{"name": "Fifth Avenue"}]


def test_a_new_user_shows_every_mistake(app, admin):
    form = {"email": "ada at example", "name": "x" * 101, "role": "boss"}
    errors, _ = refused(admin, "/dashboard/users", form, kept=("email", "name"))
    assert errors == {
        "email": "This is not a valid email address (like name@example.com).",
        "role": "The role must be one of: admin, marketer.",
        "name": "The name is longer than 100 characters.",
    }
    assert len(_rows(app, "SELECT id FROM users")) == 1


def test_changing_a_password_shows_both_mistakes_and_never_echoes_a_password(app, admin):
    form = {"current_password": "not my password", "new_password": "short"}
    errors, response = refused(
        admin, "/dashboard/account/password", form, page="/dashboard/account"
    )
    assert errors == {
        "current_password": "This is not your current password.",
        "new_password": "The password must be at least 10 characters long.",
    }
    assert value_of(response, "current_password") == value_of(response, "new_password") == ""
    assert Dash(app, "ada@example.com", PASSWORD)  # the password did not change


# The API -----------------------------------------------------------------------------------


def test_the_api_lists_every_error_and_keeps_the_first_as_the_error(api):
    response = api.post(
        "/api/v1/campaigns",
        json={"name": "", "channel": "tv", "utm_medium": "email", "cost": "1.234"},
    )
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert (error["code"], error["field"], error["message"]) == (
        "required",
        "name",
        "Name is required.",
    )
    assert error["errors"] == [
        {"code": "required", "field": "name", "message": "Name is required."},
        {
            "code": "invalid_choice",
            "field": "channel",
            "message": "Channel must be one of: email, search, social, display, print, "
            "in_store, trade_show, referral, other.",
        },
        {"code": "required", "field": "utm_source", "message": "utm_source is required."},
        {
            "code": "validation_error",
            "field": "cost",
            "message": "Cost can have 2 decimal places at most in USD.",
        },
    ]
    # One error: the body is what it always was.
    response = api.post(
        "/api/v1/locations", json={"code": "BER", "kind": "store", "timezone": "UTC"}
    )
    assert response.status_code == 422
    assert response.get_json() == {
        "error": {"code": "required", "field": "name", "message": "Name is required."}
    }


def test_the_api_reports_a_non_field_refusal_only_after_the_field_errors_before_it(api):
    """A 404 or 409 found after a field error stays behind it, as when checks stopped at the
    first: the status is the one a client always got."""
    campaign = api.campaign()
    link = api.link(campaign["id"])
    response = api.patch(
        f"/api/v1/links/{link['id']}",
        json={"campaign_id": 2, "label": 7, "active": "yes", "expires_at": "never"},
    )
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == ("not_updatable", "campaign_id")
    assert [(e["field"], e["code"]) for e in error["errors"]] == [
        ("campaign_id", "not_updatable"),
        ("label", "validation_error"),
        ("active", "validation_error"),
        ("expires_at", "validation_error"),
    ]
    response = api.post(
        "/api/v1/locations",
        json={"code": "BER", "name": "Berlin", "kind": "store", "timezone": "Europe/Berlin"},
    )
    assert response.status_code == 201
    again = api.post("/api/v1/locations", json={"code": "BER", "name": "", "kind": "store"})
    assert again.status_code == 422  # the fields first; only then "exists" (409)
    assert [e["field"] for e in again.get_json()["error"]["errors"]] == ["name", "timezone"]
