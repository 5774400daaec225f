"""Web coupons (GET never mints, one code per visitor), booth scans and lead badges."""

from __future__ import annotations

import io
import re
import uuid

import zxingcpp
from PIL import Image

from .conftest import BROWSER_UA, Api, events, row_count
from .coupon_helpers import (
    claim,
    form_token,
    location,
    offer,
    offer_link,
    press,
    redeem,
    shown_code,
    staff,
)
from .dashboard_helpers import visible

SAFE_LINKS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120 Safari/537"


def codes_count(app) -> int:
    return row_count(app, "codes")


def test_landing_page_shows_the_offer_and_get_never_mints(app, api):
    location(api, "NYC-5TH", address="5th Avenue 1, New York")
    created, link = offer_link(
        api, location_codes=["NYC-5TH"], terms="One per customer.", ends_at="2030-01-31T00:00:00Z"
    )
    scanner = app.test_client()
    for user_agent in (BROWSER_UA, SAFE_LINKS, "Slackbot-LinkExpanding 1.0"):
        page = scanner.get(f"/r/{link['token']}", headers={"User-Agent": user_agent})
        assert page.status_code == 200 and page.mimetype == "text/html"
        html = page.get_data(as_text=True)
        assert created["title"] in html and "20% off" in html and "Get my code" in html
        assert "Store NYC-5TH" in html and "5th Avenue 1" in html
        # Midnight UTC is the evening before on the store's clock.
        assert "until 30 Jan 2030, 19:00 EST" in visible(html)
    assert scanner.head(f"/r/{link['token']}").status_code == 200
    assert codes_count(app) == 0
    assert [e["outcome"] for e in events(app)] == ["landing"] * 4


def test_the_button_mints_once_per_visitor(app, api):
    _, link = offer_link(api)
    browser = app.test_client()
    landing = browser.get(f"/r/{link['token']}", headers={"User-Agent": BROWSER_UA})
    status, html = press(browser, link, landing.get_data(as_text=True))
    assert status == 200
    code = shown_code(html)
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", code)
    assert "<svg" in html and "window.print()" in html
    # The same page's button pressed again (a double tap, a second tab) gives the same code.
    status, again = press(browser, link, landing.get_data(as_text=True))
    assert shown_code(again) == code
    other_status, other = claim(app.test_client(), link)
    assert shown_code(other) != code
    assert codes_count(app) == 2
    claim_events = [e for e in events(app) if e["type"] == "claim"]
    assert len(claim_events) == 2 and all(e["visitor_id"] for e in claim_events)
    # The saved coupon link shows the same code later.
    permalink = re.search(r'href="(/c/[^"]+)"', html).group(1)
    assert shown_code(browser.get(permalink).get_data(as_text=True)) == code
    assert browser.get("/c/forged").status_code == 404


def test_a_browser_that_claimed_sees_its_code_when_it_comes_back(app, api):
    """Back on the landing page (the link or the QR code again): the code, not the button,
    and still nothing minted by a GET."""
    _, link = offer_link(api)
    phone = app.test_client()
    _, html = claim(phone, link)
    code = shown_code(html)
    permalink = re.search(r'href="(/c/[^"]+)"', html).group(1)
    for path in (f"/r/{link['token']}", f"/q/{link['token']}"):
        back = phone.get(path, headers={"User-Agent": BROWSER_UA})
        assert back.status_code == 200
        html = back.get_data(as_text=True)
        assert shown_code(html) == code and f'href="{permalink}"' in html
        assert "Get my code" not in html and 'name="csrf_token"' not in html
    other = app.test_client().get(f"/r/{link['token']}", headers={"User-Agent": BROWSER_UA})
    assert "Get my code" in other.get_data(as_text=True)
    assert 'class="code"' not in other.get_data(as_text=True)
    assert codes_count(app) == 1
    assert [e["type"] for e in events(app)].count("claim") == 1


def test_times_are_shown_on_the_clock_of_the_offers_stores(app, api, fake_clock):
    """One zone: its abbreviation (EST in winter, EDT in summer). Several: each, with its
    place. No locations: UTC, said so."""
    nobody = offer_link(api, ends_at="2030-07-01T04:00:00Z")[1]
    html = visible(app.test_client().get(f"/r/{nobody['token']}").get_data(as_text=True))
    assert "until 1 Jul 2030, 04:00 UTC" in html

    location(api, "NYC-5TH")  # America/New_York
    window = {"starts_at": "2026-01-10T14:00:00Z", "ends_at": "2030-07-01T04:00:00Z"}
    _, new_york = offer_link(api, location_codes=["NYC-5TH"], **window)
    browser = app.test_client()
    landing = visible(browser.get(f"/r/{new_york['token']}").get_data(as_text=True))
    assert "from 10 Jan 2026, 09:00 EST until 1 Jul 2030, 00:00 EDT" in landing
    assert "UTC" not in landing
    _, coupon = claim(browser, new_york)
    coupon = visible(coupon)
    assert "Claimed 2 Nov 2026, 04:00 EST" in coupon  # 09:00 UTC
    assert "Valid until 1 Jul 2030, 00:00 EDT" in coupon

    location(api, "BER", timezone="Europe/Berlin")
    for codes in (["BER", "NYC-5TH"], []):  # both named, or valid everywhere
        _, both = offer_link(api, location_codes=codes, **window)
        browser = app.test_client()
        landing = visible(browser.get(f"/r/{both['token']}").get_data(as_text=True))
        assert "from 10 Jan 2026, 15:00 CET until 1 Jul 2030, 06:00 CEST (Berlin)" in landing
        assert "from 10 Jan 2026, 09:00 EST until 1 Jul 2030, 00:00 EDT (New York)" in landing
        _, coupon = claim(browser, both)
        assert "Claimed 2 Nov 2026, 10:00 CET (Berlin) 2 Nov 2026, 04:00 EST (New York)" in (
            visible(coupon)
        )


def test_claim_needs_the_form_token(app, api):
    _, link = offer_link(api)
    browser = app.test_client()
    assert browser.post(f"/r/{link['token']}", data={}).status_code == 400
    assert browser.post(f"/r/{link['token']}", data={"csrf_token": "forged"}).status_code == 400
    # A token from another browser's page does not work with this browser's cookie.
    other = app.test_client()
    page = other.get(f"/r/{link['token']}", headers={"User-Agent": BROWSER_UA})
    browser.get(f"/r/{link['token']}", headers={"User-Agent": BROWSER_UA})
    stolen = form_token(page.get_data(as_text=True))
    assert browser.post(f"/r/{link['token']}", data={"csrf_token": stolen}).status_code == 400
    assert codes_count(app) == 0


def test_ended_offer_shows_a_notice_and_refuses_claims(app, api):
    created, link = offer_link(api)
    browser = app.test_client()
    page = browser.get(f"/r/{link['token']}", headers={"User-Agent": BROWSER_UA})
    token = form_token(page.get_data(as_text=True))
    api.patch(
        f"/api/v1/offers/{created['id']}",
        json={"starts_at": "2019-01-01T00:00:00Z", "ends_at": "2020-01-01T00:00:00Z"},
    )
    # A page left open while the offer ended: the button no longer mints.
    late = browser.post(f"/r/{link['token']}", data={"csrf_token": token})
    assert late.status_code == 410
    html = browser.get(f"/r/{link['token']}", headers={"User-Agent": BROWSER_UA}).get_data(
        as_text=True
    )
    assert "has ended" in html and "Get my code" not in html
    assert codes_count(app) == 0


def test_a_page_left_open_on_a_link_switched_off_claims_nothing(app, api):
    """The button of a page opened before the link was deactivated goes where the link now
    sends everyone: its fallback page, or "gone"."""
    _, link = offer_link(api)
    browser = app.test_client()
    page = browser.get(f"/r/{link['token']}", headers={"User-Agent": BROWSER_UA})
    token = form_token(page.get_data(as_text=True))
    api.patch(f"/api/v1/links/{link['id']}", json={"active": False})
    assert browser.post(f"/r/{link['token']}", data={"csrf_token": token}).status_code == 410
    api.patch(f"/api/v1/links/{link['id']}", json={"fallback_url": "https://shop.example.com/"})
    late = browser.post(f"/r/{link['token']}", data={"csrf_token": token})
    assert late.status_code == 302 and late.headers["Location"] == "https://shop.example.com/"
    assert codes_count(app) == 0
    # A link to a plain destination has no claim button at all.
    plain = api.link()
    assert browser.post(f"/r/{plain['token']}", data={"csrf_token": token}).status_code == 404


def test_claimed_code_redeems_with_claim_time_and_campaign(app, api):
    location(api)
    created, link = offer_link(api)
    _, html = claim(app.test_client(), link)
    response = redeem(staff(api), shown_code(html), amount="20.00")
    assert response.status_code == 201
    body = response.get_json()
    assert body["claimed_at"] is not None and body["campaign_id"] == created["campaign_id"]
    redemption_event = [e for e in events(app) if e["type"] == "redemption"][0]
    claim_event = [e for e in events(app) if e["type"] == "claim"][0]
    assert redemption_event["visitor_id"] == claim_event["visitor_id"]


def test_a_code_claimed_from_a_shared_offer_redeems_once(app, api):
    """The shared code itself is multi-use; a personal code minted on its landing page is not."""
    location(api)
    _, link = offer_link(api, kind="shared", shared_code="DROP15")
    _, html = claim(app.test_client(), link)
    till = staff(api)
    code = shown_code(html)
    assert [redeem(till, code, f"T-{n}").status_code for n in range(2)] == [201, 409]
    assert [redeem(till, "DROP15", f"S-{n}").status_code for n in range(2)] == [201, 201]


def test_recipient_gets_their_personal_code_and_the_lead_limit_holds(app, api):
    campaign = api.campaign()
    created = offer(api, campaign["id"], per_lead_limit=1)
    link = api.post(
        "/api/v1/links", json={"campaign_id": campaign["id"], "offer_id": created["id"]}
    ).get_json()
    [row] = api.post(
        f"/api/v1/links/{link['id']}/recipients",
        json={"recipients": [{"email": "ann@example.com"}]},
    ).get_json()["recipients"]
    api.post(f"/api/v1/offers/{created['id']}/codes", json={"recipients_link_id": link["id"]})
    [personal] = api.get(f"/api/v1/offers/{created['id']}/codes").get_json()["items"]
    path = row["tracked_url"].replace("http://localhost", "")
    phone, laptop = app.test_client(), app.test_client()
    _, html = claim(phone, {"token": path.rsplit("/", 1)[1]})
    assert shown_code(html) == personal["code"]
    _, html = claim(laptop, {"token": path.rsplit("/", 1)[1]})
    assert shown_code(html) == personal["code"]  # same person on a second device
    assert codes_count(app) == 1


# Booth scans -------------------------------------------------------------------------------


def scan(booth: Api, code: str, scan_id: str | None = None, **extra):
    return booth.post(
        "/api/v1/scans",
        json={
            "code": code,
            "scan_id": scan_id or str(uuid.uuid4()),
            "scanned_at": "2026-11-20T10:15:00+01:00",
            **extra,
        },
    )


def test_replayed_scan_id_is_stored_once(app, api):
    location(api, "EXPO-1", "booth")
    booth = staff(api, "EXPO-1")
    scan_id = str(uuid.uuid4())
    first = scan(booth, "hello from a badge", scan_id, rating=4, note="wants a demo\nnext week")
    second = scan(booth, "hello from a badge", scan_id, rating=4)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.get_json() == second.get_json()
    body = first.get_json()
    assert body["matched"] is False and body["code"] == "hello from a badge"
    assert body["scanned_at"] == "2026-11-20T09:15:00.000Z"  # the device's clock, kept
    assert body["received_at"] != body["scanned_at"]
    assert row_count(app, "booth_scans") == 1


def test_scans_match_badges_personal_links_and_emails(app, api):
    location(api, "EXPO-1", "booth")
    booth = staff(api, "EXPO-1")
    link = api.link()
    [row] = api.post(
        f"/api/v1/links/{link['id']}/recipients",
        json={"recipients": [{"email": "ann@example.com"}]},
    ).get_json()["recipients"]
    lead = api.get(f"/api/v1/leads/{row['lead_id']}").get_json()["lead"]
    assert scan(booth, lead["badge_code"]).get_json()["lead_id"] == lead["id"]
    assert scan(booth, row["tracked_url"]).get_json()["lead_id"] == lead["id"]
    assert scan(booth, "ANN@example.com").get_json()["lead_id"] == lead["id"]
    forged = lead["badge_code"][:-1] + ("A" if lead["badge_code"][-1] != "A" else "B")
    assert scan(booth, forged).get_json()["matched"] is False
    timeline = api.get(f"/api/v1/leads/{lead['id']}").get_json()["events"]
    assert [e["type"] for e in timeline] == ["booth_scan"] * 3


def test_unmatched_scans_can_be_matched_later(api):
    location(api, "EXPO-1", "booth")
    booth = staff(api, "EXPO-1")
    body = scan(booth, "VCARD:Bob Builder").get_json()
    unmatched = api.get("/api/v1/scans?unmatched=true").get_json()["items"]
    assert [s["id"] for s in unmatched] == [body["id"]]
    matched = api.patch(f"/api/v1/scans/{body['id']}", json={"email": "bob@example.com"})
    assert matched.status_code == 200 and matched.get_json()["matched"] is True
    assert api.get("/api/v1/scans?unmatched=true").get_json()["items"] == []
    lead = api.get("/api/v1/leads?email=bob@example.com").get_json()["items"][0]
    timeline = api.get(f"/api/v1/leads/{lead['id']}").get_json()["events"]
    assert [e["type"] for e in timeline] == ["booth_scan"]


def test_scan_validation(api):
    location(api, "EXPO-1", "booth")
    booth = staff(api, "EXPO-1")
    for body, field in [
        ({"scan_id": "nope"}, "scan_id"),
        ({"code": ""}, "code"),
        ({"scanned_at": None}, "scanned_at"),
        ({"rating": 6}, "rating"),
        ({"rating": 0}, "rating"),
        ({"location": "ELSEWHERE"}, "location"),
    ]:
        full = {
            "code": "x",
            "scan_id": str(uuid.uuid4()),
            "scanned_at": "2026-11-20T10:00:00Z",
            **body,
        }
        response = booth.post("/api/v1/scans", json=full)
        assert response.status_code in (403, 422), body
        assert response.get_json()["error"]["field"] == field


def test_badge_qr_decodes_to_the_badge_code(api):
    link = api.link()
    [row] = api.post(
        f"/api/v1/links/{link['id']}/recipients",
        json={"recipients": [{"email": "ann@example.com"}]},
    ).get_json()["recipients"]
    lead = api.get(f"/api/v1/leads/{row['lead_id']}").get_json()["lead"]
    png = api.get(f"/api/v1/leads/{lead['id']}/badge.png").data
    decoded = [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("L"))]
    assert decoded == [lead["badge_code"]]
    assert api.get(f"/api/v1/leads/{lead['id']}/badge.svg").mimetype == "image/svg+xml"
