"""Attribution, funnel and time-to-convert reports, through the real API on a real database.

Clicks go through /r/<token>, claims through the offer page's form, conversions through
POST /api/v1/conversions and redemptions through a till's POST /api/v1/redemptions; only
the rollup checks write events straight into SQLite, to cover what the app does rarely
(late booth scans, scanner re-flags, deletions).
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
from array import array
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import reports, storage
from app.core import clock
from app.core import db as dbmod
from app.reports.activity import marked, visitor_counts
from app.storage import dialect, migrations

from . import backends
from .conftest import BROWSER_UA, Api
from .coupon_helpers import location, offer, redeem, staff

DAY = timedelta(days=1)


def iso(moment: datetime) -> str:
    return clock.to_iso(moment)


def click(browser, link: dict, kind: str = "r") -> str | None:
    """A human click (or QR scan with kind 'q'); returns the click id handed to the site."""
    response = browser.get(f"/{kind}/{link['token']}", headers={"User-Agent": BROWSER_UA})
    assert response.status_code in (200, 302)
    if response.status_code == 302:
        return parse_qs(urlsplit(response.headers["Location"]).query).get("tp_cid", [None])[0]
    return None


def attribution(api: Api, **params) -> dict:
    response = api.get("/api/v1/reports/attribution?" + urlencode(params))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def rows_by_key(report: dict) -> dict:
    return {row["key"]: row for row in report["rows"]}


def around(fake_clock, days_before: int = 60) -> dict:
    """from/to covering everything the test did, up to now."""
    return {
        "from": iso(fake_clock.now - days_before * DAY),
        "to": iso(fake_clock.now + timedelta(seconds=1)),
    }


def sale(api: Api, **body) -> dict:
    response = api.post("/api/v1/conversions", json={"type": "sale", **body})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# The worked example ------------------------------------------------------------------------


@pytest.fixture
def worked_example(app, api, fake_clock):
    """Touches 14, 7 and 1 day before a 100.00 sale, on campaigns A, B and C."""
    campaigns = [api.campaign(name=name) for name in ("A", "B", "C")]
    links = [api.link(c["id"]) for c in campaigns]
    browser = app.test_client()
    click(browser, links[0])
    fake_clock.advance(days=7)
    click(browser, links[1])
    fake_clock.advance(days=6)
    last = click(browser, links[2])
    fake_clock.advance(days=1)
    sale(api, click_id=last, value="100.00")
    return [c["id"] for c in campaigns]


@pytest.mark.parametrize(
    ("params", "revenue", "conversions"),
    [
        ({"model": "first_touch"}, ["100.00", "0.00", "0.00"], [1.0, 0.0, 0.0]),
        ({}, ["0.00", "0.00", "100.00"], [0.0, 0.0, 1.0]),
        ({"model": "linear"}, ["33.33", "33.33", "33.34"], [0.33, 0.33, 0.34]),
        ({"model": "position_based"}, ["40.00", "20.00", "40.00"], [0.4, 0.2, 0.4]),
        ({"model": "time_decay"}, ["15.10", "30.20", "54.70"], [0.15, 0.3, 0.55]),
        (
            {"model": "position_based", "weights": "30,0,70"},
            ["30.00", "0.00", "70.00"],
            [0.3, 0.0, 0.7],
        ),
    ],
    ids=["first", "last", "linear", "position", "time_decay", "weights"],
)
def test_worked_example_per_model(api, fake_clock, worked_example, params, revenue, conversions):
    report = attribution(api, window="30d", **around(fake_clock), **params)
    rows = rows_by_key(report)
    assert [rows[c]["revenue"] for c in worked_example] == revenue
    assert [rows[c]["conversions"] for c in worked_example] == conversions
    assert report["totals"]["revenue"] == "100.00"
    assert report["totals"]["conversions"] == 1.0
    assert [rows[c]["human_clicks"] for c in worked_example] == [1, 1, 1]
    assert report["params"]["window"] == "30d"


def test_worked_example_with_the_default_window_of_7d(api, fake_clock, worked_example):
    # The touch exactly 7 days before is still in; the one 14 days before is not.
    rows = rows_by_key(attribution(api, model="linear", **around(fake_clock)))
    assert [rows[c]["revenue"] for c in worked_example] == ["0.00", "50.00", "50.00"]
    assert rows[worked_example[1]]["median_time_to_convert_s"] == 7 * 86400
    assert rows[worked_example[2]]["median_time_to_convert_s"] == 86400


# The milestone models -------------------------------------------------------------------


def milestone_journey(app, api, fake_clock, *, opportunity: bool = True) -> dict:
    """One person's touches A, B, C, D a day apart (campaigns A-D); the `lead` stage after B,
    an `opportunity` worth 1,000.00 after C (unless not), a 100.00 sale after D."""
    campaigns = [api.campaign(name=name) for name in "ABCD"]
    browser = app.test_client()
    clicks = []
    for campaign in campaigns:
        clicks.append(click(browser, api.link(campaign["id"])))
        fake_clock.advance(hours=1)
        if campaign["name"] == "B":
            sale(api, type="lead", email="ann@example.com", click_id=clicks[-1])
        if campaign["name"] == "C" and opportunity:
            sale(api, type="opportunity", email="ann@example.com", value="1000.00")
        if campaign["name"] == "D":
            sale(api, email="ann@example.com", click_id=clicks[-1], value="100.00")
        fake_clock.advance(days=1)
    return {"ids": [c["id"] for c in campaigns]}


@pytest.mark.parametrize(
    ("params", "opportunity", "revenue", "conversions", "pipeline"),
    [
        (
            {"model": "w_shaped"},
            True,
            ["30.00", "30.00", "30.00", "10.00"],
            [0.3, 0.3, 0.3, 0.1],
            # The opportunity's own journey is A, B, C: C opened it; the others' 10% is spread.
            ["333.33", "333.33", "333.34", "0.00"],
        ),
        (
            {"model": "full_path"},
            True,
            ["25.00", "25.00", "25.00", "25.00"],
            [0.25, 0.25, 0.25, 0.25],
            # C opened the opportunity and is its closing touch: both shares.
            ["250.00", "250.00", "500.00", "0.00"],
        ),
        (
            {"model": "w_shaped"},
            False,
            ["42.86", "42.86", "7.14", "7.14"],
            [0.43, 0.43, 0.07, 0.07],
            ["0.00", "0.00", "0.00", "0.00"],
        ),
        (
            {"model": "full_path"},
            False,
            # No opportunity: 22.5 each to first, lead creation and closing, 10 to C: of 77.5.
            ["29.03", "29.03", "12.91", "29.03"],
            [0.29, 0.29, 0.13, 0.29],
            ["0.00", "0.00", "0.00", "0.00"],
        ),
        (
            {"model": "w_shaped", "weights": "40,30,20,10"},
            True,
            ["40.00", "30.00", "20.00", "10.00"],
            [0.4, 0.3, 0.2, 0.1],
            ["444.45", "333.33", "222.22", "0.00"],
        ),
        (
            {},
            True,
            ["0.00", "0.00", "0.00", "100.00"],
            [0.0, 0.0, 0.0, 1.0],
            ["0.00", "0.00", "1000.00", "0.00"],
        ),
    ],
    ids=[
        "w_shaped",
        "full_path",
        "w_shaped-no-opportunity",
        "full_path-no-opportunity",
        "w_shaped-weights",
        "last_touch",
    ],
)
def test_worked_example_of_the_milestone_models(
    app, api, fake_clock, params, opportunity, revenue, conversions, pipeline
):
    ids = milestone_journey(app, api, fake_clock, opportunity=opportunity)["ids"]
    report = attribution(api, window="30d", **around(fake_clock), **params)
    rows = rows_by_key(report)
    assert [rows[c]["revenue"] for c in ids] == revenue
    assert [rows[c]["conversions"] for c in ids] == conversions
    assert [rows[c]["pipeline_value"] for c in ids] == pipeline
    assert report["totals"]["revenue"] == "100.00"
    assert report["totals"]["conversions"] == 1.0
    assert report["totals"]["pipeline_value"] == ("1000.00" if opportunity else "0.00")
    assert report["params"]["model"] == params.get("model", "last_touch")


def test_milestone_params_and_the_default_window(app, api, fake_clock):
    ids = milestone_journey(app, api, fake_clock)["ids"]
    report = attribution(api, model="full_path", **around(fake_clock))
    assert report["params"]["weights"] == [22.5, 22.5, 22.5, 22.5, 10]
    assert attribution(api, model="w_shaped", **around(fake_clock))["params"]["weights"] == [
        30,
        30,
        30,
        10,
    ]
    # The default 7d window still holds all four touches (3 days 3 hours back at most).
    assert [rows_by_key(report)[c]["revenue"] for c in ids] == ["25.00"] * 4


def test_only_touches_in_the_window_hold_milestones(app, api, fake_clock):
    ids = milestone_journey(app, api, fake_clock)["ids"]
    # 2 days: the sale's window holds C and D only; B opened the lead but is outside, so the
    # lead-creation share has no touch; C opened the opportunity and is the first touch here.
    rows = rows_by_key(attribution(api, model="w_shaped", window="2d", **around(fake_clock)))
    # C: first 30 + opportunity 30, D: others 10 -> 60:10 of 70.
    assert [rows[c]["revenue"] for c in ids] == ["0.00", "0.00", "85.71", "14.29"]


def test_a_voided_milestone_is_no_milestone(app, api, fake_clock):
    ids = milestone_journey(app, api, fake_clock)["ids"]
    lead_conversion = api.get("/api/v1/conversions?type=lead").get_json()["items"][0]
    voided = api.post(f"/api/v1/conversions/{lead_conversion['id']}/void", json={"reason": "test"})
    assert voided.status_code == 200, voided.get_json()
    rows = rows_by_key(attribution(api, model="w_shaped", window="30d", **around(fake_clock)))
    # No lead milestone: A first 30, C opportunity 30, B and D share the others' 10 -> of 70.
    assert [rows[c]["revenue"] for c in ids] == ["42.86", "7.14", "42.86", "7.14"]


def test_a_conversion_without_a_lead_has_only_first_closing_and_others(app, api, fake_clock):
    campaigns = [api.campaign(name=name) for name in "ABC"]
    browser = app.test_client()
    last = None
    for campaign in campaigns:
        last = click(browser, api.link(campaign["id"]))
        fake_clock.advance(days=1)
    sale(api, click_id=last, value="100.00")
    ids = [c["id"] for c in campaigns]
    w_shaped = rows_by_key(attribution(api, model="w_shaped", **around(fake_clock)))
    # First 30, others 10 (B and C, 5 each): 30:5:5.
    assert [w_shaped[c]["revenue"] for c in ids] == ["75.00", "12.50", "12.50"]
    full_path = rows_by_key(attribution(api, model="full_path", **around(fake_clock)))
    # First 22.5, closing 22.5, B the others' 10.
    assert [full_path[c]["revenue"] for c in ids] == ["40.91", "18.18", "40.91"]


# Sales activities as touches ------------------------------------------------------------------


def activity(api, lead_id: str, **body) -> dict:
    response = api.post(f"/api/v1/leads/{lead_id}/activities", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def called_buyer(app, api, fake_clock):
    """A click on Mail, a call from Webinar's phone line, a demo naming no campaign, a note,
    then a 90.00 sale: three touches (a note is not contact)."""
    mail = api.campaign(name="Mail", channel="email")
    webinar = api.campaign(name="Webinar", channel="other")
    click_id = click(app.test_client(), api.link(mail["id"]))
    lead_id = sale(api, type="lead", email="bo@example.com", click_id=click_id)["lead_id"]
    fake_clock.advance(days=1)
    activity(api, lead_id, kind="call", campaign_id=webinar["id"])
    fake_clock.advance(days=1)
    activity(api, lead_id, kind="demo")
    fake_clock.advance(hours=1)
    activity(api, lead_id, kind="note", note="sent the deck", campaign_id=mail["id"])
    fake_clock.advance(hours=1)
    sale(api, lead_id=lead_id, value="90.00")
    fake_clock.advance(hours=1)
    return mail["id"], webinar["id"]


def test_sales_activities_are_touches(api, fake_clock, called_buyer):
    mail, webinar = called_buyer
    report = attribution(api, model="linear", **around(fake_clock))
    rows = rows_by_key(report)
    assert [rows[k]["revenue"] for k in (mail, webinar, "(sales)")] == ["30.00", "30.00", "30.00"]
    assert rows["(sales)"]["label"] == "(sales)"
    # Activities count as touches of the period; the note does not.
    assert [rows[k]["touches"] for k in (mail, webinar, "(sales)")] == [1, 1, 1]
    assert report["totals"]["touches"] == 3 and report["totals"]["revenue"] == "90.00"
    # The last touch is the demo, which no campaign gets.
    last = rows_by_key(attribution(api, **around(fake_clock)))
    assert last["(sales)"]["revenue"] == "90.00" and last[mail]["revenue"] == "0.00"
    # One campaign: only its own touches are credited; the (sales) share goes to no row.
    only = attribution(api, model="linear", campaign_id=webinar, **around(fake_clock))
    assert [(r["key"], r["revenue"]) for r in only["rows"]] == [(webinar, "30.00")]


@pytest.mark.parametrize(
    ("group_by", "expected"),
    [
        ("channel", {"email": "30.00", "other": "30.00", "sales": "30.00"}),
        # An activity has no link and no place: both activities are the (sales) row.
        ("link", {"(sales)": "60.00"}),
        ("location", {"(sales)": "60.00", None: "30.00"}),
    ],
)
def test_sales_activities_by_channel_link_and_location(
    api, fake_clock, called_buyer, group_by, expected
):
    rows = rows_by_key(attribution(api, model="linear", group_by=group_by, **around(fake_clock)))
    for key, revenue in expected.items():
        assert rows[key]["revenue"] == revenue
    if group_by == "link":
        assert rows["(sales)"]["touches"] == 2 and rows["(sales)"]["label"] == "(sales)"


# Windows -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("window", "seconds"), [("90s", 90), ("30m", 1800), ("7d", 604800)])
def test_a_touch_exactly_window_before_counts_one_second_earlier_does_not(
    app, api, fake_clock, window, seconds
):
    campaign = api.campaign()
    click_id = click(app.test_client(), api.link(campaign["id"]))
    touched = fake_clock.now
    fake_clock.advance(days=8)
    sale(
        api, click_id=click_id, value="10.00", occurred_at=iso(touched + timedelta(seconds=seconds))
    )
    sale(
        api,
        click_id=click_id,
        value="7.00",
        occurred_at=iso(touched + timedelta(seconds=seconds + 1)),
    )
    rows = rows_by_key(attribution(api, window=window, **around(fake_clock)))
    assert rows[campaign["id"]]["revenue"] == "10.00"
    assert rows[campaign["id"]]["median_time_to_convert_s"] == seconds
    assert rows["(unattributed)"]["revenue"] == "7.00"
    assert rows["(unattributed)"]["label"] == "(unattributed)"


def test_touches_after_the_conversion_do_not_count(app, api, fake_clock):
    campaign = api.campaign()
    browser = app.test_client()
    click_id = click(browser, api.link(campaign["id"]))
    fake_clock.advance(hours=1)
    sale(api, click_id=click_id, value="5.00")
    fake_clock.advance(hours=1)
    later = api.campaign(name="Later")
    click(browser, api.link(later["id"]))
    rows = rows_by_key(attribution(api, model="last_touch", **around(fake_clock)))
    assert rows[campaign["id"]]["revenue"] == "5.00"
    assert rows[later["id"]]["revenue"] == "0.00" and rows[later["id"]]["touches"] == 1


# Journeys ----------------------------------------------------------------------------------


def test_a_lead_journey_spans_every_stitched_browser(app, api, fake_clock):
    social = api.campaign(name="Social", channel="social")
    mail = api.campaign(name="Mail", channel="email")
    phone, laptop = app.test_client(), app.test_client()
    # Day 0: an anonymous click on the phone.
    click(phone, api.link(social["id"]))
    fake_clock.advance(days=1)
    # Day 1: the newsletter's personal link on the laptop ties the laptop to the lead.
    link = api.link(mail["id"])
    body = {"recipients": [{"email": "ann@example.com"}]}
    [row] = api.post(f"/api/v1/links/{link['id']}/recipients", json=body).get_json()["recipients"]
    laptop.get(
        row["tracked_url"].replace("http://localhost", ""), headers={"User-Agent": BROWSER_UA}
    )
    fake_clock.advance(days=1)
    # Day 2: the shop's sign-up form on the phone names the same person: phone stitched too.
    visitor = phone.get_cookie("tp_vid").value
    api.post(
        "/api/v1/conversions",
        json={"type": "lead", "email": "ann@example.com", "visitor_id": visitor},
    )
    fake_clock.advance(days=1)
    # Day 3: the CRM reports a sale for the lead only.
    sale(api, lead_id=row["lead_id"], value="90.00")
    report = attribution(api, model="linear", type="sale", **around(fake_clock))
    rows = rows_by_key(report)
    assert rows[social["id"]]["revenue"] == "45.00"
    assert rows[mail["id"]]["revenue"] == "45.00"
    assert report["totals"]["conversions"] == 1.0
    assert report["params"]["type"] == ["sale"]
    # The lead conversion alone: its journey is the same two clicks.
    leads_only = attribution(api, model="first_touch", type="lead", **around(fake_clock))
    assert rows_by_key(leads_only)[social["id"]]["conversions"] == 1.0


def test_a_conversion_naming_an_anonymous_click_is_credited_to_it(app, api, fake_clock):
    campaign = api.campaign()
    # Global Privacy Control: the click is logged without a visitor cookie.
    response = app.test_client().get(
        f"/r/{api.link(campaign['id'])['token']}",
        headers={"User-Agent": BROWSER_UA, "Sec-GPC": "1"},
    )
    click_id = parse_qs(urlsplit(response.headers["Location"]).query)["tp_cid"][0]
    sale(api, click_id=click_id, value="12.00")
    rows = rows_by_key(attribution(api, **around(fake_clock)))
    assert rows[campaign["id"]]["revenue"] == "12.00"
    assert rows[campaign["id"]]["unique_visitors"] == 0


def test_bots_and_scanners_are_counted_but_never_credited(app, api, fake_clock):
    campaign = api.campaign()
    link = api.link(campaign["id"])
    bot = app.test_client()
    bot.get(f"/r/{link['token']}", headers={"User-Agent": "Slackbot-LinkExpanding 1.0"})
    visitor = bot.get_cookie("tp_vid").value
    sale(api, visitor_id=visitor, value="3.00")
    row = rows_by_key(attribution(api, **around(fake_clock)))
    assert row[campaign["id"]]["bot_clicks"] == 1 and row[campaign["id"]]["touches"] == 0
    assert row["(unattributed)"]["revenue"] == "3.00"


# Coupons -----------------------------------------------------------------------------------


@pytest.fixture
def till(api):
    location(api, "NYC-5TH")
    return staff(api, "NYC-5TH")


def test_shared_codes_direct_codes_voids_and_unattributed(app, api, fake_clock, till):
    poster = api.campaign(name="Poster", channel="print")
    offer(api, poster["id"], kind="shared", shared_code="SPRING20")
    assert redeem(till, "SPRING20", "T-1", amount="20.00").status_code == 201
    returned = redeem(till, "SPRING20", "T-2", amount="50.00").get_json()["redemption"]
    voided = till.post(f"/api/v1/redemptions/{returned['id']}/void", json={"reason": "return"})
    assert voided.status_code == 200
    sale(api, email="walk-in@example.com", value="30.00")

    report = attribution(api, **around(fake_clock))
    rows = rows_by_key(report)
    assert rows[poster["id"]]["revenue"] == "20.00"
    assert rows[poster["id"]]["conversions"] == 1.0
    assert rows[poster["id"]]["redemptions"] == 1
    assert rows[poster["id"]]["median_time_to_convert_s"] is None
    assert rows["(unattributed)"]["revenue"] == "30.00"
    assert report["rows"][-1]["key"] == "(unattributed)"
    assert report["totals"]["revenue"] == "50.00"
    assert report["totals"]["redemptions"] == 1

    channels = rows_by_key(attribution(api, group_by="channel", **around(fake_clock)))
    assert channels["direct (code)"]["revenue"] == "20.00"
    assert channels["direct (code)"]["label"] == "direct (code)"
    links = rows_by_key(attribution(api, group_by="link", **around(fake_clock)))
    assert links["direct (code)"]["redemptions"] == 1
    stores = rows_by_key(attribution(api, group_by="location", **around(fake_clock)))
    assert stores["NYC-5TH"]["revenue"] == "20.00" and stores["NYC-5TH"]["label"] == "Store NYC-5TH"
    only_redemptions = attribution(api, type="redemption", **around(fake_clock))
    assert only_redemptions["totals"]["revenue"] == "20.00"


def form_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_a_claimed_code_is_joined_through_the_claims_visitor(app, api, fake_clock, till):
    campaign = api.campaign(name="Boots", channel="social")
    created = offer(api, campaign["id"])
    link = api.post(
        "/api/v1/links", json={"campaign_id": campaign["id"], "offer_id": created["id"]}
    ).get_json()
    browser = app.test_client()
    page = browser.get(f"/r/{link['token']}", headers={"User-Agent": BROWSER_UA})
    fake_clock.advance(minutes=2)
    coupon = browser.post(
        f"/r/{link['token']}",
        data={"csrf_token": form_token(page.get_data(as_text=True))},
        headers={"User-Agent": BROWSER_UA},
    ).get_data(as_text=True)
    code = re.search(r'class="code"[^>]*>([^<]+)<', coupon).group(1)
    fake_clock.advance(days=2)
    assert redeem(till, code, "T-9", amount="80.00").status_code == 201

    report = attribution(api, model="linear", group_by="link", **around(fake_clock))
    row = rows_by_key(report)[link["id"]]
    assert row["revenue"] == "80.00" and row["conversions"] == 1.0
    assert row["claims"] == 1 and row["redemptions"] == 1 and row["human_clicks"] == 1
    assert row["unique_visitors"] == 1
    # Two touches: the landing-page click 2 days 2 minutes before, the claim 2 days before.
    assert row["median_time_to_convert_s"] == 2 * 86400 + 60
    # Out of the window, the same redemption has no touch left.
    late = attribution(api, window="1d", **around(fake_clock))
    assert rows_by_key(late)["(unattributed)"]["revenue"] == "80.00"


# Cost and ROI ------------------------------------------------------------------------------


def test_roi_with_cost_zero_cost_and_no_cost(app, api, fake_clock):
    paid = api.campaign(name="Paid", cost="50.00")
    free = api.campaign(name="Free", cost="0")
    unknown = api.campaign(name="Unknown")
    for campaign, value in ((paid, "100.00"), (free, "10.00"), (unknown, "10.00")):
        click_id = click(app.test_client(), api.link(campaign["id"]))
        sale(api, click_id=click_id, value=value)
    rows = rows_by_key(attribution(api, **around(fake_clock)))
    assert (rows[paid["id"]]["cost"], rows[paid["id"]]["roi"]) == ("50.00", 1.0)
    assert rows[paid["id"]]["cost_per_conversion"] == "50.00"
    assert (rows[free["id"]]["cost"], rows[free["id"]]["roi"]) == ("0.00", None)
    assert rows[free["id"]]["cost_per_conversion"] == "0.00"
    assert rows[unknown["id"]]["cost"] is None
    assert rows[unknown["id"]]["roi"] is None and rows[unknown["id"]]["cost_per_conversion"] is None


def test_cost_is_prorated_to_the_period_without_losing_a_cent(api, fake_clock):
    start = fake_clock.now.replace(hour=0)
    dated = api.campaign(
        name="Three days", cost="100.00", starts_at=iso(start), ends_at=iso(start + 3 * DAY)
    )
    period = {"from": iso(start), "to": iso(start + DAY)}
    assert rows_by_key(attribution(api, **period))[dated["id"]]["cost"] == "33.33"
    days = attribution(
        api, group_by="day", **{"from": iso(start - DAY), "to": iso(start + 5 * DAY)}
    )
    costs = [row["cost"] for row in days["rows"]]
    assert costs == ["33.33", "33.34", "33.33"]
    assert days["totals"]["cost"] == "100.00"
    # No touches, no conversions, but money spent: the row is there with ROI -1 for revenue 0.
    row = rows_by_key(attribution(api, **{"from": iso(start), "to": iso(start + 3 * DAY)}))
    assert row[dated["id"]]["roi"] == -1.0
    # Days that cut the campaign's hours still add up to the cent.
    odd = api.campaign(
        name="Odd hours",
        cost="100.00",
        starts_at=iso(start + timedelta(hours=9)),
        ends_at=iso(start + timedelta(days=3, hours=9)),
    )
    days = attribution(
        api,
        group_by="day",
        campaign_id=odd["id"],
        **{"from": iso(start - DAY), "to": iso(start + 5 * DAY)},
    )
    assert [row["cost"] for row in days["rows"]] == ["20.83", "33.34", "33.33", "12.50"]


def test_one_campaign_only(app, api, fake_clock, worked_example):
    first = worked_example[0]
    report = attribution(
        api, campaign_id=str(first), model="linear", window="30d", **around(fake_clock)
    )
    assert [row["key"] for row in report["rows"]] == [first]
    assert report["totals"]["revenue"] == "33.33"


# Currencies --------------------------------------------------------------------------------


def test_mixed_currencies_are_refused_unless_one_is_chosen(app, api, fake_clock):
    campaign = api.campaign()
    click_id = click(app.test_client(), api.link(campaign["id"]))
    sale(api, click_id=click_id, value="10.00", currency="EUR")
    sale(api, click_id=click_id, value="1000", currency="JPY")
    response = api.get("/api/v1/reports/attribution?" + urlencode(around(fake_clock)))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["field"] == "currency" and error["code"] == "mixed_currencies"
    assert "EUR" in error["message"] and "JPY" in error["message"]
    report = attribution(api, currency="JPY", **around(fake_clock))
    assert report["totals"]["revenue"] == "1000" and report["params"]["currency"] == "JPY"
    assert report["totals"]["excluded_other_currency"] == 1


# Formats and errors ------------------------------------------------------------------------


def test_csv_has_the_same_columns_a_header_and_a_totals_row(api, fake_clock, worked_example):
    response = api.get(
        "/api/v1/reports/attribution?"
        + urlencode({"format": "csv", "model": "linear", "window": "30d", **around(fake_clock)})
    )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert table[0] == list(reports.COLUMNS)
    assert len(table) == 1 + 3 + 1
    assert table[-1][:2] == ["total", "Total"]
    assert sorted(r[table[0].index("revenue")] for r in table[1:-1]) == ["33.33", "33.33", "33.34"]
    assert table[-1][table[0].index("conversions")] == "1.00"
    as_json = attribution(api, model="linear", window="30d", **around(fake_clock))
    assert [int(r[0]) for r in table[1:-1]] == [row["key"] for row in as_json["rows"]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"model": "last_click"}, "model"),
        ({"window": "7x"}, "window"),
        ({"window": "0d"}, "window"),
        ({"from": "2026-11-10", "to": "2026-11-01"}, "from"),
        ({"from": "2026-11-01", "to": "2026-11-01"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"model": "position_based", "weights": "50,50,10"}, "weights"),
        ({"model": "position_based", "weights": "40,60"}, "weights"),
        ({"weights": "40,20,40"}, "weights"),
        ({"model": "w_shaped", "weights": "40,20,40"}, "weights"),
        ({"model": "w_shaped", "weights": "30,30,30,20"}, "weights"),
        ({"model": "w_shaped", "weights": "30,30,30,x"}, "weights"),
        ({"model": "w_shaped", "weights": "22.5,22.5,45,10"}, "weights"),
        ({"model": "w_shaped", "weights": "-30,60,60,10"}, "weights"),
        ({"model": "full_path", "weights": "25,25,25,25"}, "weights"),
        ({"model": "linear", "weights": "30,30,30,10"}, "weights"),
        ({"model": "u_shaped"}, "model"),
        ({"model": "time_decay", "half_life": "0s"}, "half_life"),
        ({"half_life": "7d"}, "half_life"),
        ({"group_by": "store"}, "group_by"),
        ({"format": "xml"}, "format"),
        ({"campaign_id": "999"}, "campaign_id"),
        ({"campaign_id": "abc"}, "campaign_id"),
        ({"type": "big sale"}, "type"),
        ({"currency": "EURO"}, "currency"),
        ({"modle": "linear"}, "modle"),
    ],
)
def test_bad_parameters_are_422_naming_the_parameter(api, query, field):
    response = api.get("/api/v1/reports/attribution?" + urlencode(query))
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["field"] == field
    assert set(error) >= {"code", "message", "field"} and error["message"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/reports/funnel?group_by=campaign", "group_by"),
        ("/api/v1/reports/funnel?window=7d", "window"),
        ("/api/v1/reports/time-to-convert?from=2026-12-01&to=2026-11-01", "from"),
        ("/api/v1/reports/time-to-convert?type=Big%20Sale!", "type"),
    ],
)
def test_bad_parameters_of_the_other_reports(api, path, field):
    response = api.get(path)
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == field


def test_reports_need_an_admin_token(app, api):
    location(api, "NYC-5TH")
    till = staff(api, "NYC-5TH")
    for path in ("attribution", "funnel", "time-to-convert"):
        assert app.test_client().get(f"/api/v1/reports/{path}").status_code == 401
        refused = till.get(f"/api/v1/reports/{path}")
        assert refused.status_code == 403
        assert refused.get_json()["error"]["code"] == "staff_key_not_allowed"
        assert api.get(f"/api/v1/reports/{path}").status_code == 200


# Funnel and time to convert ----------------------------------------------------------------


def test_funnel_stages_rates_drop_off_and_value_lost(app, api, fake_clock, till):
    campaign = api.campaign(name="Boots")
    created = offer(api, campaign["id"])
    location(api, "BOS-1")
    link = api.post(
        "/api/v1/links",
        json={"campaign_id": campaign["id"], "offer_id": created["id"], "store_code": "BOS-1"},
    ).get_json()
    visitors = []
    for n in range(4):
        browser = app.test_client()
        page = browser.get(f"/r/{link['token']}", headers={"User-Agent": BROWSER_UA})
        visitors.append(browser.get_cookie("tp_vid").value)
        if n < 2:
            html = browser.post(
                f"/r/{link['token']}",
                data={"csrf_token": form_token(page.get_data(as_text=True))},
                headers={"User-Agent": BROWSER_UA},
            ).get_data(as_text=True)
            if n == 0:
                code = re.search(r'class="code"[^>]*>([^<]+)<', html).group(1)
                assert redeem(till, code, "T-1", amount="25.00").status_code == 201
    # CRM stages: two leads, one reaches an opportunity worth 500.00, nobody buys; one
    # more person reports a sale without the stages before it.
    for n, kind, value in (
        (0, "lead", None),
        (1, "lead", None),
        (1, "opportunity", "500.00"),
        (2, "sale", "40.00"),
    ):
        body = {"type": kind, "visitor_id": visitors[n]}
        if value:
            body["value"] = value
        assert api.post("/api/v1/conversions", json=body).status_code == 201
    response = api.get(
        "/api/v1/reports/funnel?"
        + urlencode({"campaign_id": campaign["id"], "group_by": "location", **around(fake_clock)})
    )
    assert response.status_code == 200
    body = response.get_json()
    stages = {s["stage"]: s for s in body["stages"]}
    assert [s["stage"] for s in body["stages"]] == [
        "click",
        "claim",
        "redemption",
        "lead",
        "mql",
        "sql",
        "opportunity",
        "sale",
    ]
    assert [stages[s]["people"] for s in ("click", "claim", "redemption")] == [4, 2, 1]
    assert stages["claim"]["conversion_rate"] == 0.5 and stages["claim"]["drop_off"] == 2
    assert stages["redemption"]["after"] == "claim"
    # Reaching a later stage counts for the earlier ones: the sale counts as a lead too.
    assert [stages[s]["people"] for s in ("lead", "mql", "sql", "opportunity", "sale")] == [
        3,
        2,
        2,
        2,
        1,
    ]
    assert stages["lead"]["after"] == "click" and stages["lead"]["drop_off"] == 1
    assert stages["sale"]["drop_off"] == 1 and stages["sale"]["value_lost"] == "500.00"
    assert stages["mql"]["value_lost"] is None
    [boston] = body["by_location"]
    assert boston["key"] == "BOS-1" and boston["stages"][0]["people"] == 4


def test_funnel_without_offers_has_only_the_conversion_stages(app, api, fake_clock):
    browser = app.test_client()
    click(browser, api.link())
    body = api.get("/api/v1/reports/funnel?" + urlencode(around(fake_clock))).get_json()
    assert [s["stage"] for s in body["stages"]] == [
        "click",
        "lead",
        "mql",
        "sql",
        "opportunity",
        "sale",
    ]
    assert body["stages"][0]["people"] == 1 and "by_location" not in body


def test_funnel_stages_come_from_the_setting(tmp_path):
    from .conftest import api_for, make_app

    app = make_app(tmp_path, FUNNEL_STAGES="trial, paid")
    api = api_for(app)
    body = api.get("/api/v1/reports/funnel").get_json()
    assert body["params"]["stages"] == ["click", "trial", "paid"]


def sales_after_click(app, api, fake_clock, lags: tuple[timedelta, ...]) -> dict:
    """A campaign whose one click is followed by a sale after each lag; returns the campaign
    (the clock then stands 40 days after the click)."""
    campaign = api.campaign()
    click_id = click(app.test_client(), api.link(campaign["id"]))
    touched = fake_clock.now
    fake_clock.advance(days=40)
    for lag in lags:
        sale(api, click_id=click_id, occurred_at=iso(touched + lag))
    return campaign


def test_time_to_convert_buckets(app, api, fake_clock):
    lags = (
        timedelta(minutes=5),
        timedelta(hours=5),
        timedelta(days=3),
        timedelta(days=10),
        timedelta(days=35),
    )
    campaign = sales_after_click(app, api, fake_clock, lags)
    sale(api, email="nobody@example.com")
    body = api.get("/api/v1/reports/time-to-convert?" + urlencode(around(fake_clock))).get_json()
    assert body["buckets"] == ["< 1 h", "< 1 d", "< 7 d", "< 30 d", "later"]
    [row] = body["rows"]
    assert row["key"] == campaign["id"] and row["conversions"] == 5
    assert list(row["counts"].values()) == [1, 1, 1, 1, 1]
    assert body["totals"]["without_touch"] == 1 and body["totals"]["with_touch"] == 5


def test_time_to_convert_bucket_edges(app, api, fake_clock):
    """A bucket's limit is exclusive: exactly one hour after the touch is "< 1 d", exactly
    thirty days is "later", one millisecond less is still "< 30 d"."""
    lags = (
        timedelta(hours=1),
        timedelta(days=1),
        timedelta(days=30) - timedelta(milliseconds=1),
        timedelta(days=30),
    )
    sales_after_click(app, api, fake_clock, lags)
    body = api.get("/api/v1/reports/time-to-convert?" + urlencode(around(fake_clock))).get_json()
    [row] = body["rows"]
    assert row["counts"] == {"< 1 h": 0, "< 1 d": 1, "< 7 d": 1, "< 30 d": 1, "later": 1}
    assert body["totals"]["counts"] == row["counts"]


# The rollup tables stay exact --------------------------------------------------------------

# Events over 40 days from late October: periods then cut days and whole months alike.
START = datetime(2026, 10, 25, tzinfo=UTC)
SPAN_S = 40 * 86400
TYPES = ("click", "scan", "claim", "booth_scan", "redemption")
LINKS = {1: (1, "S1"), 2: (1, None), 3: (2, "S2"), None: (None, "S3")}
WIDE = ("2026-09-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z")


def fresh_db(folder: str, url: str | None = None):
    """A database with two campaigns, two leads and the LINKS: a SQLite file in `folder`, or
    a fresh PostgreSQL database (at `url` if given) in the PostgreSQL pass."""
    if backends.POSTGRES:
        db = dbmod.open_database(url or backends.new_database_url())
    else:
        db = dbmod.open_database(str(Path(folder) / "rollup.db"))
        migrations.apply(db)
    now = iso(START)
    for cid in (1, 2):
        db.execute(
            "INSERT INTO campaigns (id, name, channel, utm_source, utm_medium, utm_campaign,"
            " created_at, updated_at) VALUES (?, ?, 'email', 's', 'm', 'c', ?, ?)",
            (cid, f"C{cid}", now, now),
        )
    for lead in ("L1", "L2"):
        db.execute(
            "INSERT INTO leads (id, first_seen, last_seen) VALUES (?, ?, ?)", (lead, now, now)
        )
    for link_id, (cid, store_code) in LINKS.items():
        if link_id:
            db.execute(
                "INSERT INTO links (id, campaign_id, destination, store_code, created_at,"
                " updated_at) VALUES (?, ?, 'https://x.example', ?, ?, ?)",
                (link_id, cid, store_code, now, now),
            )
    return db


def recount(db, start: str, end: str) -> dict:
    """Buckets counted naively from raw events, visitor ids and all."""
    found: dict = {}
    for day, cid, link, store_code, kind, bot, visitor in db.execute(
        "SELECT substr(at, 1, 10), campaign_id, link_id, store_code, type, is_bot, visitor_id"
        " FROM events WHERE at >= ? AND at < ?",
        (start, end),
    ):
        if kind not in storage.TOUCH_KINDS:
            continue
        bucket = found.setdefault((day, cid, link, store_code), [0, 0, 0, 0, 0, set()])
        if bot:
            bucket[2] += kind in ("click", "scan")
            continue
        bucket[{"click": 0, "scan": 1, "claim": 3, "booth_scan": 4}[kind]] += 1
        if visitor:
            bucket[5].add(visitor)
    return {k: v for k, v in found.items() if any(v[:5])}


def from_report(db, start: str, end: str, by_day: bool = True) -> dict:
    last, _ = storage.report_state(db)
    names = dict(db.execute("SELECT n, visitor_id FROM report_visitors"))
    period = reports.Period.of(start, end)
    found: dict = {}
    for day, cid, link, store_code, *counts, blob in reports.activity(
        db, period, last, None, by_day
    ):
        bucket = found.setdefault((day, cid, link, store_code), [0, 0, 0, 0, 0, set()])
        for i, count in enumerate(counts):
            bucket[i] += count
        bucket[5] |= {names[n] for n in storage.unpack_visitors(blob)}
    return {k: v for k, v in found.items() if any(v[:5])}


def whole_period(buckets: dict) -> dict:
    """Buckets added up over their dates: what a report by campaign, link or store uses."""
    found: dict = {}
    for (_, *key), counts in buckets.items():
        total = found.setdefault(tuple(key), [0, 0, 0, 0, 0, set()])
        for i in range(5):
            total[i] += counts[i]
        total[5] |= counts[5]
    return found


def touches_recount(db) -> set:
    return set(
        db.execute(
            f"SELECT rv.n, {dialect.epoch_ms(db, 'e.at')},"
            " e.rowid, e.lead_id, CASE e.type WHEN 'click' THEN 1 WHEN 'scan' THEN 2"
            " WHEN 'claim' THEN 3 ELSE 4 END, e.campaign_id, e.link_id, e.store_code"
            " FROM events e LEFT JOIN report_visitors rv ON rv.visitor_id = e.visitor_id"
            " WHERE e.is_bot = 0 AND e.type IN ('click', 'scan', 'claim', 'booth_scan')"
        ).fetchall()
    )


def leads_recount(db) -> set:
    """(visitor id, lead) for every browser linked to a lead, straight from lead_visitors."""
    return set(db.execute("SELECT visitor_id, lead_id FROM lead_visitors").fetchall())


def leads_stored(db) -> set:
    """The same from report_leads, through the visitor numbers."""
    return set(
        db.execute(
            "SELECT rv.visitor_id, rl.lead_id FROM report_leads rl "
            "JOIN report_visitors rv ON rv.n = rl.visitor_n"
        ).fetchall()
    )


def stitch(db, visitor: str, lead: str) -> None:
    db.execute(
        "INSERT INTO lead_visitors (visitor_id, lead_id, linked_at, source)"
        " VALUES (?, ?, '2026-10-25T00:00:00.000Z', 'test') ON CONFLICT DO NOTHING",
        (visitor, lead),
    )


def check_exact(
    db, wide: tuple[str, str] = WIDE, start: datetime = START, span_s: int = SPAN_S
) -> None:
    """The report tables equal a recount over `wide`, and over periods cutting days within
    the `span_s` seconds from `start`."""
    storage.refresh_report_tables(db, chunk=7)
    assert db.execute("SELECT count(*) FROM report_changes").fetchone()[0] == 0
    assert from_report(db, *wide) == recount(db, *wide)
    # Through report_months, too.
    assert whole_period(from_report(db, *wide, by_day=False)) == whole_period(recount(db, *wide))
    stored = set(
        (n or None, *rest)
        for n, *rest in db.execute(
            "SELECT visitor_n, at_ms, event_rowid, lead_id, kind, campaign_id, link_id,"
            " store_code FROM report_touches"
        )
    )
    assert stored == touches_recount(db)
    assert leads_stored(db) == leads_recount(db)
    # Periods that cut days in the middle: whole days from report_days, edges from events.
    rnd = random.Random(len(stored))
    for _ in range(5):
        a, b = sorted(rnd.sample(range(0, span_s, 3600), 2))
        first, end = iso(start + timedelta(seconds=a)), iso(start + timedelta(seconds=b))
        assert from_report(db, first, end) == recount(db, first, end)
        assert whole_period(from_report(db, first, end, False)) == whole_period(
            recount(db, first, end)
        )


def insert_event(db, n: int, kind: str, seconds: int, link, visitor, is_bot: int, lead) -> None:
    cid, store_code = LINKS[link]
    db.execute(
        "INSERT INTO events (id, type, at, link_id, campaign_id, store_code, visitor_id, is_bot,"
        " bot_reason, outcome, lead_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'x', ?)",
        (
            f"e{n:06d}",
            kind,
            iso(START + timedelta(seconds=seconds)),
            link,
            cid,
            store_code,
            visitor,
            is_bot,
            "ua:test" if is_bot else None,
            lead,
        ),
    )


operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("insert"),
            st.sampled_from(TYPES),
            st.integers(0, SPAN_S),
            st.sampled_from(list(LINKS)),
            st.sampled_from([None, "v1", "v2", "v3", "pageview:x"]),
            st.integers(0, 1),
            st.sampled_from([None, "L1", "L2"]),
        ),
        st.tuples(st.just("flag"), st.integers(1, 60)),
        st.tuples(st.just("lead"), st.integers(1, 60), st.sampled_from([None, "L1", "L2"])),
        st.tuples(st.just("move"), st.integers(1, 60), st.integers(0, SPAN_S)),
        st.tuples(st.just("delete"), st.integers(1, 60)),
        st.tuples(
            st.just("stitch"),
            st.sampled_from(["v1", "v2", "v3", "v4", "pageview:x"]),
            st.sampled_from(["L1", "L2"]),
        ),
        st.tuples(st.just("refresh")),
    ),
    max_size=60,
)


@settings(max_examples=40, deadline=None)
@given(ops=operations)
def test_rollups_equal_a_recount_after_any_history(ops):
    with tempfile.TemporaryDirectory() as folder:
        db = fresh_db(folder)
        for n, op in enumerate(ops):
            if op[0] == "insert":
                insert_event(db, n, *op[1:])
            elif op[0] == "flag":
                db.execute(
                    "UPDATE events SET is_bot = 1, bot_reason = 'scanner:burst' WHERE rowid = ?",
                    (op[1],),
                )
            elif op[0] == "lead":
                db.execute("UPDATE events SET lead_id = ? WHERE rowid = ?", (op[2], op[1]))
            elif op[0] == "move":
                at = iso(START + timedelta(seconds=op[2]))
                db.execute("UPDATE events SET at = ? WHERE rowid = ?", (at, op[1]))
            elif op[0] == "delete":
                db.execute("DELETE FROM events WHERE rowid = ?", (op[1],))
            elif op[0] == "stitch":
                stitch(db, op[1], op[2])
            else:
                storage.refresh_report_tables(db, chunk=3)
        check_exact(db)
        # A rebuild from scratch gives the same tables.
        tables = ("report_days", "report_months", "report_touches")
        before = [db.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3, 4").fetchall() for t in tables]
        before.append(db.execute("SELECT * FROM report_leads ORDER BY 1").fetchall())
        storage.rebuild_report_tables(db)
        after = [db.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3, 4").fetchall() for t in tables]
        after.append(db.execute("SELECT * FROM report_leads ORDER BY 1").fetchall())
        assert after == before
        db.conn.close()


# PostgreSQL's marks (issue 15): several writers commit in any order -----------------------

postgres_only = pytest.mark.skipif(
    not backends.POSTGRES, reason="SQLite has one writer: no transaction commits out of order"
)


def open_insert(url: str, event_id: str, seconds: int, visitor: str):
    """A connection whose transaction inserted one click and is still open."""
    import psycopg

    conn = psycopg.connect(url)
    cid, store_code = LINKS[1]
    conn.execute(
        "INSERT INTO events (id, type, at, link_id, campaign_id, store_code, visitor_id, "
        "outcome) VALUES (%s, 'click', %s, 1, %s, %s, %s, 'x')",
        (event_id, iso(START + timedelta(seconds=seconds)), cid, store_code, visitor),
    )
    return conn


@postgres_only
def test_a_click_that_commits_after_a_later_one_was_summed_is_counted(tmp_path):
    """A inserts a click and stays open; B inserts and commits; a report runs; A commits; a
    report runs: A's click is counted (an id mark would have passed over it for ever)."""
    url = backends.new_database_url()
    db = fresh_db(str(tmp_path), url)
    a = open_insert(url, "eA", 60, "vA")
    insert_event(db, 2, "click", 120, 1, "vB", 0, None)  # B: committed at once
    a_rowid = a.execute("SELECT rowid FROM events WHERE id = 'eA'").fetchone()[0]
    b_rowid = db.execute("SELECT rowid FROM events WHERE id = 'e000002'").fetchone()[0]
    assert a_rowid < b_rowid  # the case a "past the last rowid" refresh gets wrong
    storage.refresh_report_tables(db)  # a report runs
    while_open = from_report(db, *WIDE)
    # B waits for A (an older transaction is still running), so the report is consistent
    # with itself and its raw edges: nothing counted twice, nothing lost.
    assert while_open == {}
    a.commit()
    a.close()
    check_exact(db)
    counted = from_report(db, *WIDE)
    assert sum(counts[0] for counts in counted.values()) == 2
    assert {v for counts in counted.values() for v in counts[5]} == {"vA", "vB"}
    # A transaction that rolls back is never counted, and does not hold the mark back.
    c = open_insert(url, "eC", 180, "vC")
    insert_event(db, 4, "click", 240, 1, "vD", 0, None)
    c.rollback()
    c.close()
    check_exact(db)
    assert sum(counts[0] for counts in from_report(db, *WIDE).values()) == 3
    db.conn.close()


@postgres_only
def test_an_update_racing_a_refresh_is_recounted(tmp_path):
    """An UPDATE of an event (a scanner flag) in a transaction open while a refresh sums that
    event: the refresh waits for it or the change is queued, never lost."""
    import threading

    url = backends.new_database_url()
    db = fresh_db(str(tmp_path), url)
    insert_event(db, 1, "click", 60, 1, "v1", 0, None)
    import psycopg

    flagger = psycopg.connect(url)
    flagger.execute("UPDATE events SET is_bot = 1, bot_reason = 'scanner:burst'")
    refresher = threading.Thread(target=storage.refresh_report_tables, args=(db,))
    refresher.start()
    refresher.join(timeout=0.5)  # it waits on the flagger's transaction...
    flagger.commit()  # ...which commits while the refresh is under way
    flagger.close()
    refresher.join(timeout=30)
    assert not refresher.is_alive()
    check_exact(db)
    # The click is a bot's now: one bot hit, no human click, no visitor.
    assert list(from_report(db, *WIDE).values()) == [[0, 0, 1, 0, 0, set()]]
    db.conn.close()


@postgres_only
def test_a_report_reading_while_a_refresh_moves_the_mark_is_not_disturbed(tmp_path):
    """A report's snapshot began before another host's refresh moved the mark: the report
    goes on with the mark of its snapshot (no lock taken, no serialization failure), and
    the refresh was not held back by it."""
    url = backends.new_database_url()
    reader, writer = fresh_db(str(tmp_path), url), dbmod.open_database(url)
    insert_event(writer, 1, "click", 60, 1, "v1", 0, None)
    storage.refresh_report_tables(writer)
    with storage.report_snapshot(reader):
        before = storage.report_state(reader)
        insert_event(writer, 2, "click", 120, 1, "v2", 0, None)
        assert storage.refresh_report_tables(writer) == 1
        assert storage.report_state(reader) == before  # the snapshot's own mark
        assert sum(c[0] for c in from_report(reader, *WIDE).values()) == 1
    assert sum(c[0] for c in from_report(reader, *WIDE).values()) == 2
    reader.conn.close()
    writer.conn.close()


def _click_burst(args: tuple[list[int], str, int, int]) -> list[int]:
    """`count` human clicks on a link, spread over the hosts at `ports`, from a few visitors."""
    import http.client

    ports, token, count, seed = args
    rnd = random.Random(seed)
    visitors = [f"00000000-0000-4000-8000-{seed:06d}{n:06d}" for n in range(4)]
    statuses = []
    for n in range(count):
        conn = http.client.HTTPConnection("127.0.0.1", ports[n % len(ports)], timeout=30)
        conn.request(
            "GET",
            f"/r/{token}",
            headers={"User-Agent": BROWSER_UA, "Cookie": f"tp_vid={rnd.choice(visitors)}"},
        )
        statuses.append(conn.getresponse().status)
        conn.close()
    return statuses


@postgres_only
@pytest.mark.slow
def test_rollups_equal_a_recount_with_clicks_on_two_hosts_during_refreshes(tmp_path):
    """Clicks through two gunicorn hosts and transactions left open a random while, as
    refreshes run in small chunks: afterwards the report tables equal a full recount."""
    import threading
    from concurrent.futures import ProcessPoolExecutor

    from .conftest import api_for, make_app
    from .live import gunicorn

    secret = "report-marks-test-secret-key-0123456789"
    app = make_app(tmp_path, SECRET_KEY=secret)
    api = api_for(app)
    link = api.link()
    url = app.extensions["touchpoint"].database_path
    env = {**backends.environment(app), "TOUCHPOINT_SECRET_KEY": secret}
    stop = threading.Event()
    refreshes = [0]

    def refresh_often() -> None:
        own = dbmod.open_database(url)
        while not stop.is_set():
            storage.refresh_report_tables(own, chunk=5)
            refreshes[0] += 1
        own.conn.close()

    def slow_writers() -> None:
        import time

        import psycopg

        rnd = random.Random(15)
        for n in range(40):
            with psycopg.connect(url) as conn:
                conn.execute(
                    "INSERT INTO events (id, type, at, link_id, campaign_id, visitor_id, "
                    "outcome) VALUES (%s, 'click', %s, %s, %s, %s, 'x')",
                    (
                        f"slow{n}",
                        clock.now_iso(),
                        link["id"],
                        link["campaign_id"],
                        f"slow-v{n % 3}",
                    ),
                )
                time.sleep(rnd.random() * 0.05)  # other clicks commit meanwhile
                if n % 7 == 3:
                    conn.rollback()

    with gunicorn(env, workers=2) as one, gunicorn(env, workers=2) as two:
        threads = [threading.Thread(target=refresh_often), threading.Thread(target=slow_writers)]
        for thread in threads:
            thread.start()
        with ProcessPoolExecutor(max_workers=4) as pool:
            bursts = list(
                pool.map(_click_burst, [([one, two], link["token"], 40, seed) for seed in range(4)])
            )
        threads[1].join()
        stop.set()
        threads[0].join()
    assert all(status == 302 for burst in bursts for status in burst)
    assert refreshes[0] > 1
    db = app.extensions["touchpoint"].db()
    human = db.execute("SELECT count(*) FROM events WHERE is_bot = 0").fetchone()[0]
    assert human == 4 * 40 + 40 - len(range(3, 40, 7))
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    check_exact(db, start=today, span_s=2 * 86400)
    counted = from_report(db, *WIDE)
    assert sum(counts[0] for counts in counted.values()) == human


def people_recount(db) -> dict:
    """{visitor id: (its number or None, its lead or None)} straight from the source tables."""
    numbers = dict(db.execute("SELECT visitor_id, n FROM report_visitors"))
    leads = dict(db.execute("SELECT visitor_id, lead_id FROM lead_visitors"))
    return {v: (numbers.get(v), leads.get(v)) for v in {*numbers, *leads, "nobody"}}


def test_browsers_linked_after_the_last_refresh_count_too(tmp_path):
    """report_leads is as of the last refresh; a report's snapshot may hold later links."""
    db = fresh_db(str(tmp_path))
    for n, visitor in enumerate(("v1", "v2", "v3")):
        insert_event(db, n, "click", 3600 * n, 1, visitor, 0, None)
    stitch(db, "v1", "L1")
    storage.refresh_report_tables(db)
    stitch(db, "v2", "L1")  # numbered already, linked since
    stitch(db, "v9", "L2")  # never seen: no number
    with storage.report_snapshot(db):
        expected = people_recount(db)
        assert storage.people_of(db, set(expected)) == expected
        numbers = {v: n for v, (n, _) in expected.items() if n}
        assert sorted(storage.lead_visitor_numbers(db, ["L1", "L2"])) == [
            ("L1", numbers["v1"]),
            ("L1", numbers["v2"]),
        ]
        assert storage.stitched_visitor_numbers(db) == {numbers["v1"]: "L1", numbers["v2"]: "L1"}
    storage.refresh_report_tables(db)
    assert leads_stored(db) == leads_recount(db)
    with storage.report_snapshot(db):
        assert storage.people_of(db, set(expected)) == people_recount(db)


def test_rollups_follow_the_apps_own_updates(app, api, fake_clock):
    """Scanner re-flags, booth scans replayed late and matched later, on a live database."""
    db = app.extensions["touchpoint"].db()
    location(api, "BOOTH-1", kind="booth")
    booth = staff(api, "BOOTH-1")
    campaign = api.campaign()
    links = [api.link(campaign["id"]) for _ in range(2)]
    body = {"recipients": [{"email": "ann@example.com"}]}
    paths = [
        api.post(f"/api/v1/links/{link['id']}/recipients", json=body).get_json()["recipients"][0]
        for link in links
    ]
    browser = app.test_client()
    browser.get(
        paths[0]["tracked_url"].replace("http://localhost", ""), headers={"User-Agent": BROWSER_UA}
    )
    storage.refresh_report_tables(db)
    touches_before = rows_by_key(attribution(api, **around(fake_clock)))[campaign["id"]]["touches"]
    assert touches_before == 1
    # A second link of the same mail clicked within seconds: both hits become a scanner's.
    browser.get(
        paths[1]["tracked_url"].replace("http://localhost", ""), headers={"User-Agent": BROWSER_UA}
    )
    row = rows_by_key(attribution(api, **around(fake_clock)))[campaign["id"]]
    assert row["touches"] == 0 and row["bot_clicks"] == 2
    # A booth scan sent days late by an offline phone, then matched to a lead by hand.
    fake_clock.advance(days=3)
    scan = {
        "scan_id": "6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
        "code": "???",
        "scanned_at": iso(fake_clock.now - 2 * DAY),
        "location": "BOOTH-1",
    }
    assert booth.post("/api/v1/scans", json=scan).status_code == 201
    storage.refresh_report_tables(db)
    assigned = api.patch(f"/api/v1/scans/{scan['scan_id']}", json={"email": "bob@example.com"})
    assert assigned.status_code == 200 and assigned.get_json()["matched"]
    check_exact(db)
    stores = rows_by_key(attribution(api, group_by="location", **around(fake_clock)))
    assert stores["BOOTH-1"]["touches"] == 1


@backends.sqlite_only  # PostgreSQL's rowids never move; its marks carry no id to check
def test_a_vacuum_that_renumbers_events_triggers_a_rebuild(app, api, fake_clock):
    db = app.extensions["touchpoint"].db()
    click(app.test_client(), api.link())
    storage.refresh_report_tables(db)
    db.execute("UPDATE report_state SET last_event_id = 'gone'")
    db.execute("INSERT INTO report_days VALUES ('2000-01-01', 0, 0, '', 9, 9, 9, 9, 9, x'')")
    check_exact(db)
    # The same for lead_visitors, whose rowids a VACUUM may also move.
    db.execute("INSERT INTO leads (id, first_seen, last_seen) VALUES ('L9', 'x', 'x')")
    stitch(db, "v-late", "L9")
    storage.refresh_report_tables(db)
    db.execute("UPDATE report_state SET last_lead_visitor_id = 'gone'")
    db.execute("INSERT INTO report_leads VALUES (999999, 'L9')")
    check_exact(db)
    assert (
        db.execute("SELECT count(*) FROM report_days WHERE day = '2000-01-01'").fetchone()[0] == 0
    )


# The command line --------------------------------------------------------------------------


def cli_env(app) -> tuple[str, dict]:
    """The touchpoint command and an environment that points it at the app's database."""
    env = {
        **os.environ,
        **backends.environment(app),
        "TOUCHPOINT_SECRET_KEY": "cli-report-secret-key-0123456789",
    }
    env.pop("FLASK_APP", None)
    return str(Path(sys.executable).parent / "touchpoint"), env


@pytest.mark.slow
def test_cli_writes_the_same_table(app, api, fake_clock, worked_example):
    command, env = cli_env(app)
    period = around(fake_clock)
    result = subprocess.run(
        [
            command,
            "report",
            "attribution",
            "--model",
            "linear",
            "--window",
            "30d",
            "--format",
            "csv",
            "--from",
            period["from"],
            "--to",
            period["to"],
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    table = list(csv.reader(io.StringIO(result.stdout)))
    assert table[0] == list(reports.COLUMNS) and table[-1][0] == "total"
    assert sorted(r[table[0].index("revenue")] for r in table[1:-1]) == ["33.33", "33.33", "33.34"]
    bad = subprocess.run(
        [command, "report", "attribution", "--window", "7x"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "--window" in bad.stderr and "Traceback" not in bad.stderr
    as_json = subprocess.run(
        [
            command,
            "report",
            "attribution",
            "--format",
            "json",
            "--model",
            "position_based",
            "--weights",
            "30,0,70",
            "--window",
            "30d",
            "--from",
            period["from"],
            "--to",
            period["to"],
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(as_json.stdout)["totals"]["revenue"] == "100.00"
    refreshed = subprocess.run(
        [command, "report", "refresh", "--rebuild"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refreshed.returncode == 0 and "up to date" in refreshed.stdout


@backends.sqlite_only  # PostgreSQL's snapshot: tests/test_report_marks.py
def test_the_reports_read_one_consistent_snapshot(tmp_path):
    db = dbmod.open_database(str(tmp_path / "s.db"))
    migrations.apply(db)
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    with storage.report_snapshot(db):
        before = db.execute("SELECT count(*) FROM campaigns").fetchone()[0]
        other.execute(
            "INSERT INTO campaigns (name, channel, utm_source, utm_medium, utm_campaign,"
            " created_at, updated_at) VALUES ('c', 'email', 's', 'm', 'c', 'now', 'now')"
        )
        assert db.execute("SELECT count(*) FROM campaigns").fetchone()[0] == before
    assert db.execute("SELECT count(*) FROM campaigns").fetchone()[0] == before + 1


# Counting visitors -------------------------------------------------------------------------


def packed(numbers) -> bytes:
    return array("I", sorted(set(numbers))).tobytes()


buckets_by_key = st.dictionaries(
    st.integers(0, 5), st.lists(st.lists(st.integers(1, 3000), max_size=40), max_size=4)
)


@settings(max_examples=60, deadline=None)
@given(groups=buckets_by_key)
def test_visitor_counts_equal_set_counts(groups):
    blobs = {key: [packed(b) for b in buckets] for key, buckets in groups.items()}
    counts, everyone = visitor_counts(blobs)
    assert counts == {key: len({n for b in buckets for n in b}) for key, buckets in groups.items()}
    assert everyone == len({n for buckets in groups.values() for b in buckets for n in b})
    assert marked(packed([]), 7) == bytearray(7)
