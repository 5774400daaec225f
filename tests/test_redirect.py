"""The public hot path as customers, scanners and bots meet it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from . import backends
from .conftest import BROWSER_UA, api_for, events, make_app, row_count


def hit(client, link: dict, path: str = "r", **kw):
    headers = {"User-Agent": BROWSER_UA, **kw.pop("headers", {})}
    return client.get(f"/{path}/{link['token']}", headers=headers, **kw)


def test_click_redirects_with_utm_and_click_id_and_logs_one_row(app, client, api):
    link = api.link(utm_content="hero", utm_term="shoes")
    response = hit(client, link)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == (
        "https",
        "shop.example.com",
        "/spring",
    )
    query = parse_qs(location.query)
    assert query["utm_source"] == ["newsletter"]
    assert query["utm_medium"] == ["email"]
    assert query["utm_campaign"] == ["spring-sale"]
    assert query["utm_content"] == ["hero"]
    assert query["utm_term"] == ["shoes"]
    [row] = events(app)
    assert query["tp_cid"] == [row["id"]]
    assert row["type"] == "click"
    assert row["link_id"] == link["id"] and row["campaign_id"] == link["campaign_id"]
    assert row["outcome"] == "redirect" and row["is_bot"] == 0
    assert row["at"].endswith("Z") and len(row["at"]) == 24
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_scan_is_logged_as_scan(app, client, api):
    link = api.link()
    assert hit(client, link, "q").status_code == 302
    assert [r["type"] for r in events(app)] == ["scan"]


def test_click_ids_are_unique_per_hit(app, client, api):
    link = api.link()
    ids = {
        parse_qs(urlsplit(hit(client, link).headers["Location"]).query)["tp_cid"][0]
        for _ in range(20)
    }
    assert len(ids) == 20
    assert {r["id"] for r in events(app)} == ids


def test_destination_query_and_fragment_are_kept(client, api):
    link = api.link(destination="https://shop.example.com/p?color=red&utm_source=partner#top")
    location = hit(client, link).headers["Location"]
    assert location.startswith("https://shop.example.com/p?color=red&utm_source=partner&")
    assert location.endswith("#top")
    assert parse_qs(urlsplit(location).query)["utm_source"] == ["partner"]


def test_new_visitor_gets_a_year_long_cookie(app, client, api):
    response = hit(client, api.link())
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("tp_vid=")
    assert "Max-Age=31536000" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here
    vid = cookie.split(";")[0].split("=", 1)[1]
    assert events(app)[0]["visitor_id"] == vid


def test_returning_visitor_keeps_the_same_guid(app, client, api):
    link = api.link()
    hit(client, link)
    hit(client, link)
    hit(client, link, "q")
    visitors = {r["visitor_id"] for r in events(app)}
    assert len(visitors) == 1 and None not in visitors


def test_forged_cookie_value_is_replaced(app, client, api):
    client.set_cookie("tp_vid", "'; DROP TABLE events; --")
    hit(client, api.link())
    vid = events(app)[0]["visitor_id"]
    assert len(vid) == 36 and vid.count("-") == 4


def test_secure_cookie_over_https(client, api):
    response = hit(client, api.link(), base_url="https://go.example.com")
    assert "Secure" in response.headers["Set-Cookie"]


@pytest.mark.parametrize("header", [{"Sec-GPC": "1"}, {"DNT": "1"}])
def test_privacy_signals_mean_no_cookie_but_the_hit_is_logged(app, client, api, header):
    client.set_cookie("tp_vid", "6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b")
    response = hit(client, api.link(), headers=header)
    assert response.status_code == 302
    assert "Set-Cookie" not in response.headers
    [row] = events(app)
    assert row["visitor_id"] is None


def test_tampered_token_is_404_page_and_orphan_hit(app, client, api):
    link = api.link()
    bad = link["token"][:-1] + ("A" if link["token"][-1] != "A" else "B")
    response = client.get(f"/r/{bad}", headers={"User-Agent": BROWSER_UA})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Location" not in response.headers
    assert b"link" in response.data
    db = app.extensions["touchpoint"].db()
    [orphan] = list(db.query("SELECT * FROM orphan_hits"))
    assert orphan["path"] == f"/r/{bad}"
    assert orphan["ip"] == "127.0.0.0"
    assert events(app) == []


def test_garbage_paths_under_r_and_q_are_orphans_too(app, client):
    for path in ["/r/x", "/q/abc.def", "/r/a/b/c"]:
        assert client.get(path).status_code == 404
    assert row_count(app, "orphan_hits") == 3


def test_token_of_another_install_is_404(app, client, api, tmp_path):
    other = make_app(tmp_path / "other", SECRET_KEY="another-secret-key-" * 3)
    token = other.extensions["touchpoint"].link_tokens.mint(api.link()["id"])
    assert client.get(f"/r/{token}").status_code == 404


def test_valid_token_for_missing_link_is_404(app, client):
    token = app.extensions["touchpoint"].link_tokens.mint(999)
    assert client.get(f"/r/{token}").status_code == 404
    assert row_count(app, "orphan_hits") == 1


def _past() -> str:
    return (datetime.now(UTC) - timedelta(minutes=1)).isoformat()


def test_expired_link_without_fallback_is_410(app, client, api):
    link = api.link(expires_at=_past())
    response = hit(client, link)
    assert response.status_code == 410
    assert response.mimetype == "text/html"
    assert events(app)[0]["outcome"] == "gone"


def test_expired_link_with_fallback_redirects_there(app, client, api):
    link = api.link(expires_at=_past(), fallback_url="https://shop.example.com/offers")
    response = hit(client, link)
    assert response.status_code == 302
    assert response.headers["Location"] == "https://shop.example.com/offers"
    assert events(app)[0]["outcome"] == "fallback"


def test_deactivated_link_follows_the_same_rules(app, client, api):
    link = api.link()
    api.patch(f"/api/v1/links/{link['id']}", json={"active": False})
    assert hit(client, link).status_code == 410
    api.patch(f"/api/v1/links/{link['id']}", json={"fallback_url": "https://example.com/x"})
    assert hit(client, link).headers["Location"] == "https://example.com/x"
    api.patch(f"/api/v1/links/{link['id']}", json={"active": True})
    assert hit(client, link).headers["Location"].startswith("https://shop.example.com/spring?")


_FALLBACK = "https://shop.example.com/offers"


@pytest.mark.parametrize(
    ("fields", "patch", "status", "outcome"),
    [
        ({}, {}, 302, "redirect"),
        ({"store_code": "NYC-5TH"}, {}, 302, "redirect"),
        ({"expires_at": "future"}, {}, 302, "redirect"),
        ({"expires_at": "past"}, {}, 410, "gone"),
        ({"expires_at": "past", "fallback_url": _FALLBACK}, {}, 302, "fallback"),
        ({}, {"active": False}, 410, "gone"),
        ({"fallback_url": _FALLBACK}, {"active": False}, 302, "fallback"),
        ({"offer": True}, {}, 200, "landing"),
        ({"offer": True}, {"active": False}, 410, "gone"),
    ],
)
def test_every_state_of_a_link_logs_the_outcome_its_answer_shows(
    app, client, api, fields, patch, status, outcome
):
    """The liveness rule is kept twice (links.target in Python, and in SQL for PostgreSQL's
    one-statement click): the row a hit leaves must say what the visitor got."""
    from .coupon_helpers import location, offer_link

    fields = dict(fields)
    if "store_code" in fields:
        location(api, fields["store_code"])
    when = fields.pop("expires_at", None)
    if when is not None:
        delta = timedelta(days=1) if when == "future" else -timedelta(minutes=1)
        fields["expires_at"] = (datetime.now(UTC) + delta).isoformat()
    if fields.pop("offer", False):
        _, link = offer_link(api)
    else:
        link = api.link(**fields)
    if patch:
        assert api.patch(f"/api/v1/links/{link['id']}", json=patch).status_code == 200
    response = hit(client, link)
    assert response.status_code == status
    if outcome == "fallback":
        assert response.headers["Location"] == _FALLBACK
    [row] = events(app)
    assert row["outcome"] == outcome
    assert (row["link_id"], row["campaign_id"]) == (link["id"], link["campaign_id"])
    assert row["store_code"] == fields.get("store_code")
    assert (row["type"], row["is_bot"], row["recipient_id"]) == ("click", 0, None)


def test_a_click_is_one_statement_on_postgresql_and_two_on_sqlite(app, client, api):
    """PostgreSQL reads the link and logs the click in one round trip (storage/core.py)."""
    link = api.link()
    assert hit(client, link).status_code == 302  # the hot connection exists now
    statements: list[str] = []
    connection = app.extensions["touchpoint"].hot_db().conn
    connection.set_trace_callback(statements.append)
    try:
        response = hit(client, link)
    finally:
        connection.set_trace_callback(None)
    assert response.status_code == 302
    assert len(statements) == (1 if backends.POSTGRES else 2), statements
    assert row_count(app, "events") == 2


def test_future_expiry_still_redirects(client, api):
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert hit(client, api.link(expires_at=future)).status_code == 302


def test_patched_destination_takes_effect_at_once(client, api):
    link = api.link()
    api.patch(f"/api/v1/links/{link['id']}", json={"destination": "https://new.example.com/"})
    assert hit(client, link).headers["Location"].startswith("https://new.example.com/?utm_")


@pytest.mark.parametrize(
    ("user_agent", "referrer", "reason"),
    [
        ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", None, "ua:slackbot"),
        (
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            None,
            "ua:facebookexternalhit",
        ),
        (
            "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
            None,
            "ua:linkedinbot",
        ),
        ("Twitterbot/1.0", None, "ua:twitterbot"),
        ("WhatsApp/2.23.20.0", None, "ua:whatsapp"),
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            None,
            "ua:googlebot",
        ),
        (
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            None,
            "ua:bingbot",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 BingPreview/1.0b",
            None,
            "ua:bingpreview",
        ),
        (
            "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
            None,
            "ua:skypeuripreview",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0.0.0 Safari/537.36",
            None,
            "ua:headlesschrome",
        ),
        ("curl/8.5.0", None, "ua:curl/"),
        ("python-requests/2.32.3", None, "ua:python-requests"),
        ("", None, "no_user_agent"),
        (
            BROWSER_UA,
            "https://nam02.safelinks.protection.outlook.com/?url=x",
            "referrer:safelinks.protection.outlook.com",
        ),
    ],
)
def test_bots_are_flagged_logged_and_still_redirected(
    app, client, api, user_agent, referrer, reason
):
    headers = {"User-Agent": user_agent}
    if referrer:
        headers["Referer"] = referrer
    response = client.get(f"/r/{api.link()['token']}", headers=headers)
    assert response.status_code == 302
    [row] = events(app)
    assert (row["is_bot"], row["bot_reason"]) == (1, reason)


def test_head_request_redirects_and_is_flagged(app, client, api):
    response = client.head(f"/r/{api.link()['token']}", headers={"User-Agent": BROWSER_UA})
    assert response.status_code == 302
    [row] = events(app)
    assert row["bot_reason"] == "head_request"


@pytest.mark.parametrize(
    "user_agent",
    [
        BROWSER_UA,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:132.0) Gecko/20100101 Firefox/132.0",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.6778.81 Mobile Safari/537.36",
    ],
)
def test_real_browsers_are_human(app, client, api, user_agent):
    client.get(f"/r/{api.link()['token']}", headers={"User-Agent": user_agent})
    assert events(app)[0]["is_bot"] == 0


def test_ip_is_anonymised_and_forwarded_for_ignored_without_trusted_proxy(app, client, api):
    hit(
        client,
        api.link(),
        environ_base={"REMOTE_ADDR": "203.0.113.77"},
        headers={"X-Forwarded-For": "198.51.100.9"},
    )
    assert events(app)[0]["ip"] == "203.0.113.0"


def test_ipv6_is_cut_to_48_bits(app, client, api):
    hit(client, api.link(), environ_base={"REMOTE_ADDR": "2001:db8:abcd:12:1:2:3:4"})
    assert events(app)[0]["ip"] == "2001:db8:abcd::"


def test_forwarded_for_is_believed_from_a_trusted_proxy(tmp_path):
    app = make_app(tmp_path, TRUSTED_PROXIES="10.0.0.0/8")
    api = api_for(app)
    client = api.client
    link = api.link()
    response = hit(
        client,
        link,
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
        headers={
            "X-Forwarded-For": "1.2.3.4, 198.51.100.9, 10.9.9.9",
            "X-Forwarded-Proto": "https",
        },
    )
    assert events(app)[0]["ip"] == "198.51.100.0"
    assert "Secure" in response.headers["Set-Cookie"]


def test_stats_count_clicks_scans_humans_bots_and_unique_visitors(client, api):
    link = api.link()
    hit(client, link)  # visitor A
    hit(client, link)  # A again
    hit(client, link, "q")  # A scans
    other = client.application.test_client()
    hit(other, link)  # visitor B
    hit(other, link, headers={"User-Agent": "Twitterbot/1.0"})  # a bot
    hit(other, link, headers={"DNT": "1"})  # anonymous human
    stats = api.get(f"/api/v1/links/{link['id']}/stats").get_json()
    assert stats["clicks"] == 5 and stats["scans"] == 1
    assert stats["human"] == 5 and stats["bots"] == 1
    assert stats["unique_visitors"] == 2
    assert stats["first_at"] <= stats["last_at"]
    [day] = stats["by_day"]
    assert day["clicks"] == 5 and day["scans"] == 1 and day["human"] == 5 and day["bots"] == 1


@pytest.mark.skipif(not backends.POSTGRES, reason="the pool bound is PostgreSQL's")
def test_a_click_when_every_pooled_connection_is_busy_is_asked_to_try_again(tmp_path):
    """TOUCHPOINT_DATABASE_POOL_SIZE bounds the connections a worker holds; a click that
    waited BUSY_TIMEOUT_MS for one gets a 503 page with Retry-After, never a stack trace."""
    from concurrent.futures import ThreadPoolExecutor

    from app.core import db as dbmod

    app = make_app(tmp_path, DATABASE_POOL_SIZE=1, BUSY_TIMEOUT_MS=200)
    link = api_for(app).link()
    app.extensions["touchpoint"].db()  # this thread holds the worker's one connection

    def click_elsewhere():
        try:
            return hit(app.test_client(), link)
        finally:
            dbmod.release_connections()

    with ThreadPoolExecutor(max_workers=1) as other:
        busy = other.submit(click_elsewhere).result()
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "30"
        assert "try the link again" in busy.get_data(as_text=True)
        dbmod.release_connections()
        assert other.submit(click_elsewhere).result().status_code == 302
    assert row_count(app, "events") == 1


@pytest.mark.skipif(not backends.POSTGRES, reason="the pool bound is PostgreSQL's")
def test_requests_of_one_process_hold_at_most_the_pool_size_of_connections(tmp_path):
    """Eight requests at once (threads here; greenlets under gevent) with a pool of 3: three
    hold connections, the others wait their turn, and the server never sees more than 3."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from app.core import db as dbmod

    app = make_app(tmp_path, DATABASE_POOL_SIZE=3, BUSY_TIMEOUT_MS=5000)
    rt = app.extensions["touchpoint"]
    dbmod.close_connections()  # make_app's own connection is not one of the pool's requests
    gate = threading.Barrier(3, timeout=10)
    busiest = []

    def request(n: int) -> int:
        try:
            db = rt.db()
            if n < 3:
                gate.wait()  # the first three hold theirs at once
            busiest.append(
                db.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                ).fetchone()[0]
            )
            return db.execute("SELECT 1").fetchone()[0]
        finally:
            dbmod.release_connections()

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(request, range(8)))
    assert answers == [1] * 8
    assert max(busiest) == 3, busiest
