"""Email security scanners must not inflate clicks: replayed sequences and their flags."""

from __future__ import annotations

from .conftest import BROWSER_UA, events

SAFE_LINKS_UA = BROWSER_UA  # gateways fetch with ordinary browser user agents


def recipient_urls(api, links: list[dict], email: str = "ann@example.com") -> list[str]:
    urls = []
    for link in links:
        body = {"recipients": [{"email": email}]}
        response = api.post(f"/api/v1/links/{link['id']}/recipients", json=body)
        urls.append(
            response.get_json()["recipients"][0]["tracked_url"].replace("http://localhost", "")
        )
    return urls


def click(app, path: str, ip: str, ua: str = BROWSER_UA) -> int:
    client = app.test_client()
    return client.get(
        path, headers={"User-Agent": ua}, environ_base={"REMOTE_ADDR": ip}
    ).status_code


def flags(app) -> list[tuple[int, str | None]]:
    return [(e["is_bot"], e["bot_reason"]) for e in events(app)]


def test_scanner_burst_then_the_real_click_minutes_later(app, api, fake_clock):
    campaign = api.campaign()
    links = [api.link(campaign["id"]) for _ in range(3)]
    urls = recipient_urls(api, links)
    # The gateway fetches every link of the message within two seconds of delivery.
    for i, url in enumerate(urls):
        assert click(app, url, f"40.94.{i}.10", SAFE_LINKS_UA) == 302
        fake_clock.advance(milliseconds=700)
    # Minutes later the person opens the mail and clicks the first link.
    fake_clock.advance(minutes=4)
    assert click(app, urls[0], "85.167.3.77") == 302
    assert flags(app) == [(1, "scanner:burst")] * 3 + [(0, None)]
    stats = api.get(f"/api/v1/links/{links[0]['id']}/stats").get_json()
    assert stats["clicks"] == 2  # the raw total stays visible
    assert stats["human"] == 1 and stats["scanners"] == 1 and stats["unique_visitors"] == 1


def test_a_person_clicking_two_links_twenty_seconds_apart_is_human(app, api, fake_clock):
    campaign = api.campaign()
    urls = recipient_urls(api, [api.link(campaign["id"]), api.link(campaign["id"])])
    click(app, urls[0], "85.167.3.77")
    fake_clock.advance(seconds=20)
    click(app, urls[1], "85.167.3.77")
    assert flags(app) == [(0, None), (0, None)]


def test_repeat_within_a_second_from_different_networks_is_a_scanner(app, api, fake_clock):
    [url] = recipient_urls(api, [api.link()])
    click(app, url, "52.100.1.1")
    fake_clock.advance(milliseconds=400)
    click(app, url, "104.47.2.2")
    assert flags(app) == [(1, "scanner:multi_network")] * 2


def test_same_network_repeat_is_a_person_double_clicking(app, api, fake_clock):
    [url] = recipient_urls(api, [api.link()])
    click(app, url, "85.167.3.77")
    fake_clock.advance(milliseconds=400)
    click(app, url, "85.167.3.78")  # same /24
    assert flags(app) == [(0, None), (0, None)]


def test_links_of_different_campaigns_do_not_make_a_burst(app, api, fake_clock):
    urls = recipient_urls(api, [api.link(), api.link()])  # each link in its own campaign
    click(app, urls[0], "85.167.3.77")
    fake_clock.advance(seconds=2)
    click(app, urls[1], "85.167.3.77")
    assert flags(app) == [(0, None), (0, None)]


def test_other_recipients_are_not_touched_by_a_burst(app, api, fake_clock):
    campaign = api.campaign()
    links = [api.link(campaign["id"]), api.link(campaign["id"])]
    ann = recipient_urls(api, links, "ann@example.com")
    bob = recipient_urls(api, links, "bob@example.com")
    click(app, bob[0], "85.1.1.1")
    click(app, ann[0], "40.94.0.1")
    click(app, ann[1], "40.94.0.1")
    assert flags(app) == [(0, None), (1, "scanner:burst"), (1, "scanner:burst")]


def test_a_private_browser_on_a_recipient_link_is_logged_anonymously(app, api, fake_clock):
    """Sec-GPC on a personal link: the hit keeps no recipient or lead, so it is never tied
    to the person nor judged with their other hits."""
    [url] = recipient_urls(api, [api.link()])
    client = app.test_client()
    for ip in ("52.100.1.1", "104.47.2.2"):
        response = client.get(
            url,
            headers={"User-Agent": BROWSER_UA, "Sec-GPC": "1"},
            environ_base={"REMOTE_ADDR": ip},
        )
        assert response.status_code == 302 and "Set-Cookie" not in response.headers
        fake_clock.advance(milliseconds=400)
    rows = [(e["recipient_id"], e["lead_id"], e["visitor_id"]) for e in events(app)]
    assert rows == [(None, None, None)] * 2
    assert flags(app) == [(0, None), (0, None)]
    db = app.extensions["touchpoint"].db()
    assert db.execute("SELECT count(*) FROM lead_visitors").fetchone()[0] == 0
