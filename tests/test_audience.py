"""Audience breakdowns (issue 17): device, browser, OS from real user-agent strings, country
from real addresses, on a link's and a campaign's stats."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.clicks import audience

from .conftest import events

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1"
)
GALAXY = (
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)
GALAXY_TAB = (
    "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15"
)
LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.mark.parametrize(
    ("user_agent", "device", "browser", "os"),
    [
        (IPHONE, "mobile", "Mobile Safari", "iOS"),
        (IPAD, "tablet", "Mobile Safari", "iOS"),
        (GALAXY, "mobile", "Chrome Mobile", "Android"),
        (GALAXY_TAB, "tablet", "Chrome", "Android"),
        (WINDOWS, "desktop", "Chrome", "Windows"),
        (MAC, "desktop", "Safari", "Mac OS X"),
        (LINUX, "desktop", "Firefox", "Linux"),
        (GOOGLEBOT, "bot", "Googlebot", "unknown"),
        (None, "unknown", "unknown", "unknown"),
    ],
)
def test_user_agents_are_classified_by_the_parser_rules(user_agent, device, browser, os):
    assert audience.classify(user_agent) == (device, browser, os)


@pytest.mark.parametrize(
    ("address", "country"),
    [
        ("81.2.69.142", "GB"),  # MaxMind's own test address
        ("8.8.8.8", "US"),
        ("2a02:8108::1", "DE"),
        ("2001:4860:4860::8888", "US"),
        ("192.168.1.4", None),
        ("127.0.0.1", None),
        ("::1", None),
        ("not an address", None),
        (None, None),
    ],
)
def test_a_country_comes_from_the_full_address(address, country):
    assert audience.country_of(address) == country


def test_the_top_twenty_are_listed_and_the_rest_is_other():
    counts = {f"v{n:02d}": 100 - n for n in range(25)}
    shown = audience.top(counts)
    assert len(shown) == 21 and shown[0] == {"value": "v00", "count": 100}
    assert shown[-1] == {"value": "other", "count": sum(100 - n for n in range(20, 25))}


def test_link_and_campaign_stats_break_human_hits_down(app, api):
    campaign = api.campaign()
    first = api.link(campaign["id"])
    second = api.link(campaign["id"])
    hits = [
        (first, IPHONE, "81.2.69.142", "https://l.instagram.com/?u=x"),
        (first, IPHONE, "81.2.69.142", None),
        (first, WINDOWS, "8.8.8.8", "https://www.google.com/search?q=x"),
        (first, GALAXY_TAB, "2a02:8108::1", None),
        (first, GOOGLEBOT, "8.8.8.8", None),  # a bot: not in any breakdown
        (second, MAC, "10.0.0.1", None),  # a private address: country unknown
    ]
    for link, agent, address, referrer in hits:
        headers = {"User-Agent": agent, **({"Referer": referrer} if referrer else {})}
        answer = api.client.get(
            f"/r/{link['token']}", headers=headers, environ_base={"REMOTE_ADDR": address}
        )
        assert answer.status_code == 302
    stored = {e["ip"]: e["country"] for e in events(app)}
    assert stored["81.2.69.0"] == "GB" and stored["2a02:8108::"] == "DE"  # address anonymised

    stats = api.get(f"/api/v1/links/{first['id']}/stats").get_json()
    assert stats["by_device"] == [
        {"value": "mobile", "count": 2},
        {"value": "desktop", "count": 1},
        {"value": "tablet", "count": 1},
    ]
    assert stats["by_browser"] == [  # ties by name
        {"value": "Chrome", "count": 2},
        {"value": "Mobile Safari", "count": 2},
    ]
    assert {r["value"]: r["count"] for r in stats["by_os"]} == {
        "iOS": 2,
        "Windows": 1,
        "Android": 1,
    }
    assert stats["by_country"] == [
        {"value": "GB", "count": 2},
        {"value": "DE", "count": 1},
        {"value": "US", "count": 1},
    ]
    assert stats["by_referrer"] == [
        {"value": "(direct)", "count": 2},
        {"value": "l.instagram.com", "count": 1},
        {"value": "www.google.com", "count": 1},
    ]
    whole = api.get(f"/api/v1/campaigns/{campaign['id']}/stats").get_json()
    assert whole["human"] == 5 and whole["bots"] == 1
    assert {"value": "unknown", "count": 1} in whole["by_country"]
    assert {r["value"]: r["count"] for r in whole["by_device"]}["desktop"] == 2
    assert api.get("/api/v1/campaigns/999/stats").status_code == 404


def test_the_attribution_report_credits_touches_by_device_and_country(app, api, fake_clock):
    """A phone in Britain clicks and later buys; a desktop in the US only clicks; a coupon
    is redeemed at a till. By device and by country the sale's credit goes to the phone's
    row, clicks are counted where they were made, and the redemption is in store."""
    from urllib.parse import parse_qs, urlencode, urlsplit

    from app.core import clock

    link = api.link(api.campaign()["id"])
    start = fake_clock.now

    def hit(agent: str, address: str) -> str:
        answer = app.test_client().get(
            f"/r/{link['token']}",
            headers={"User-Agent": agent},
            environ_base={"REMOTE_ADDR": address},
        )
        return parse_qs(urlsplit(answer.headers["Location"]).query)["tp_cid"][0]

    phone = hit(IPHONE, "81.2.69.142")
    hit(WINDOWS, "8.8.8.8")
    hit(WINDOWS, "8.8.8.8")
    fake_clock.advance(hours=2)
    sale = api.post(
        "/api/v1/conversions", json={"type": "sale", "click_id": phone, "value": "80.00"}
    )
    assert sale.status_code == 201, sale.get_json()
    window = {
        "from": clock.to_iso(start - timedelta(days=1)),
        "to": clock.to_iso(fake_clock.now + timedelta(seconds=1)),
    }
    for group_by, phone_key, desktop_key in (
        ("device", "mobile", "desktop"),
        ("country", "GB", "US"),
    ):
        answer = api.get(
            "/api/v1/reports/attribution?" + urlencode({**window, "group_by": group_by})
        )
        assert answer.status_code == 200, answer.get_json()
        rows = {r["key"]: r for r in answer.get_json()["rows"]}
        assert rows[phone_key]["revenue"] == "80.00" and rows[phone_key]["conversions"] == 1.0
        assert rows[phone_key]["human_clicks"] == 1 and rows[phone_key]["unique_visitors"] == 1
        assert rows[desktop_key]["human_clicks"] == 2 and rows[desktop_key]["revenue"] == "0.00"
        assert answer.get_json()["totals"]["revenue"] == "80.00"
