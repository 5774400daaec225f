"""Headers of public responses that cannot be turned against their readers: cacheable QR
images never encode a Host header, X-Forwarded-Proto counts only from our proxies (in
gunicorn too), the session cookie lives as long as the sign-in, and the coupon pages have
the dashboard's Content-Security-Policy."""

from __future__ import annotations

import http.client
import json
import time
from email.utils import parsedate_to_datetime

import pytest
from gunicorn.config import validate_string_to_addr_list

from app.access import api_tokens
from app.clicks import visits
from app.views import sessions
from app.views.common import content_security_policy

from . import backends, live
from .conftest import BROWSER_UA, api_for, make_app
from .coupon_helpers import form_token, offer_link
from .dashboard_helpers import PASSWORD, Dash, create_user, csrf_of
from .test_qr import decode_png

CONFIGURED = "https://go.example.com"


# QR images and the Host header ---------------------------------------------------------------


def test_with_public_base_url_a_forged_host_gets_the_configured_url_cacheable(tmp_path):
    app = make_app(tmp_path, PUBLIC_BASE_URL=CONFIGURED)
    link = api_for(app).link()
    response = app.test_client().get(f"/q/{link['token']}.png", headers={"Host": "evil.example"})
    assert response.status_code == 200
    assert decode_png(response.data) == [f"{CONFIGURED}/q/{link['token']}"]
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_without_public_base_url_a_public_image_is_not_cacheable(tmp_path):
    app = make_app(tmp_path)
    link = api_for(app).link()
    client = app.test_client()
    for fmt in ("png", "svg"):
        response = client.get(f"/q/{link['token']}.{fmt}", headers={"Host": "evil.example"})
        assert response.status_code == 200
        # What a shared cache would have handed every later scanner:
        if fmt == "png":
            assert decode_png(response.data) == [f"http://evil.example/q/{link['token']}"]
        assert response.headers["Cache-Control"] == "private, no-cache"
        again = client.get(
            f"/q/{link['token']}.{fmt}",
            headers={"Host": "evil.example", "If-None-Match": response.headers["ETag"]},
        )
        assert again.status_code == 304  # the browser's own copy still revalidates cheaply


# X-Forwarded-Proto -------------------------------------------------------------------------


def _link_url(client, token: str, remote: str, proto: str = "https") -> str:
    response = client.post(
        "/api/v1/links",
        json={"campaign_id": 1, "destination": "https://shop.example.com/"},
        headers={"Authorization": f"Bearer {token}", "X-Forwarded-Proto": proto},
        environ_base={"REMOTE_ADDR": remote},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["url"]


def test_forwarded_proto_counts_only_from_a_trusted_proxy(tmp_path):
    app = make_app(tmp_path, TRUSTED_PROXIES="10.0.0.0/24")
    api = api_for(app)
    api.campaign()
    token = api.headers["Authorization"].removeprefix("Bearer ")
    client = app.test_client()
    assert _link_url(client, token, "10.0.0.7").startswith("https://")
    assert _link_url(client, token, "127.0.0.1").startswith("http://")
    assert _link_url(client, token, "203.0.113.9").startswith("http://")


@pytest.mark.parametrize(
    ("trusted", "expected"),
    [
        ("", ""),
        ("10.0.0.1", "10.0.0.1/32"),
        (" 10.0.0.5/24 , ::1", "10.0.0.0/24,::1/128"),  # gunicorn refuses host bits set
    ],
)
def test_gunicorn_allow_list_is_the_trusted_proxies(trusted, expected):
    value = visits.forwarded_allow_ips(trusted)
    assert value == expected
    assert [str(visits.parse_networks(v)[0]) for v in validate_string_to_addr_list(value)] == [
        str(n) for n in visits.parse_networks(trusted)
    ]


def _gunicorn(app, trusted: str):
    """One gunicorn worker as `make run` starts it, its allow list from TRUSTED_PROXIES."""
    env = {
        **backends.environment(app),
        "TOUCHPOINT_SECRET_KEY": "s" * 32,
        "TOUCHPOINT_TRUSTED_PROXIES": trusted,
    }
    return live.gunicorn(env, workers=1, forwarded_allow_ips=visits.forwarded_allow_ips(trusted))


@pytest.mark.slow
@pytest.mark.parametrize(("trusted", "scheme"), [("", "http"), ("127.0.0.1", "https")])
def test_gunicorn_and_the_app_believe_the_same_proxies(tmp_path, trusted, scheme):
    app = make_app(tmp_path, SECRET_KEY="s" * 32)
    token, _ = api_tokens.create(app.extensions["touchpoint"].db(), "tests", "admin")
    api_for(app).campaign()
    with _gunicorn(app, trusted) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        body = json.dumps({"campaign_id": 1, "destination": "https://shop.example.com/"})
        conn.request(
            "POST",
            "/api/v1/links",
            body,
            {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "X-Forwarded-Proto": "https",
            },
        )
        answer = conn.getresponse()
        assert answer.status == 201
        url = json.loads(answer.read())["url"]
        conn.close()
    # gunicorn's own default (127.0.0.1) would have made the first one https as well.
    assert url.startswith(f"{scheme}://127.0.0.1:{port}/r/")


# The session cookie ------------------------------------------------------------------------


def _cookie_expiry(response) -> float:
    (cookie,) = [v for v in response.headers.getlist("Set-Cookie") if v.startswith("session=")]
    expires = next(p for p in cookie.split("; ") if p.lower().startswith("expires="))
    return parsedate_to_datetime(expires.split("=", 1)[1]).timestamp()


def test_the_session_cookie_lives_as_long_as_the_sign_in(app):
    create_user(app, "mark@example.com", "marketer")
    browser = app.test_client()
    form = {"email": "mark@example.com", "password": PASSWORD}
    form["csrf_token"] = csrf_of(browser.get("/dashboard/sign-in"))
    started = time.time()
    response = browser.post("/dashboard/sign-in", data=form)
    assert response.status_code == 303
    lifetime = _cookie_expiry(response) - started
    assert abs(lifetime - sessions.LIFETIME.total_seconds()) < 5
    assert app.permanent_session_lifetime == sessions.LIFETIME


# Content-Security-Policy -------------------------------------------------------------------


def test_coupon_pages_have_the_dashboard_csp(app, api):
    create_user(app, "mark@example.com", "marketer")
    dashboard = Dash(app, "mark@example.com").get("/dashboard/")
    policy = dashboard.headers["Content-Security-Policy"]
    assert policy == content_security_policy()
    _, link = offer_link(api)
    browser = app.test_client()
    landing = browser.get(f"/r/{link['token']}", headers={"User-Agent": BROWSER_UA})
    assert landing.status_code == 200
    coupon = browser.post(
        f"/r/{link['token']}",
        data={"csrf_token": form_token(landing.get_data(as_text=True))},
        headers={"User-Agent": BROWSER_UA},
    )
    assert coupon.status_code == 200 and 'data-chars="' in coupon.get_data(as_text=True)
    assert "style=" not in coupon.get_data(as_text=True)  # the CSP would block it
    for response in (landing, coupon):
        csp = response.headers["Content-Security-Policy"]
        assert csp.startswith("default-src 'self'; img-src 'self' data:; style-src 'self' ")
        assert csp.replace(csp[csp.index("; style-src") : csp.index("; object-src")], "") == (
            policy
        )
    missing = browser.get("/c/not-a-coupon")
    assert missing.status_code == 404
    assert missing.headers["Content-Security-Policy"] == coupon.headers["Content-Security-Policy"]
