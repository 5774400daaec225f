"""static/touchpoint.js in a real browser, on a customer's website, served by a real gunicorn.

Two loopback hosts stand for two sites: Touchpoint (gunicorn) on 127.0.0.1 serves the script
and the /r/ redirects; the customer's shop on 127.0.0.2 (a tiny http.server) has a landing page,
a contact page with a form that includes the script, and a form handler that records what it
was posted. Different addresses, not only ports, because cookies ignore ports: this way the
shop's click-id cookie and Touchpoint's visitor cookie really live on different hosts.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from . import backends
from .browser import browser_fixture, new_page, page_fixture, screenshot  # noqa: F401
from .conftest import BROWSER_UA, api_for, events, make_app
from .live import gunicorn

pytestmark = pytest.mark.browser

SECRET = "touchpoint-js-browser-test-secret-0123456789"
SHOP_HOST = "127.0.0.2"  # all of 127.0.0.0/8 is loopback on Linux
CLICK = "AbCdEfGh0123-_xyz"  # the shape Touchpoint mints: URL-safe base64, 8 to 64 chars


@dataclass
class Touchpoint:
    app: object
    base: str


@pytest.fixture(scope="module")
def touchpoint(tmp_path_factory) -> Iterator[Touchpoint]:
    """A real gunicorn on a migrated database; `app` opens the same file for the API and asserts."""
    folder = tmp_path_factory.mktemp("touchpoint-js")
    app = make_app(folder, SECRET_KEY=SECRET)
    env = {**backends.environment(app), "TOUCHPOINT_SECRET_KEY": SECRET}
    with gunicorn(env, workers=2) as port:
        yield Touchpoint(app=app, base=f"http://127.0.0.1:{port}")


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - Example Shop</title>
<style>
  body {{ font-family: sans-serif; max-width: 36rem; margin: 2rem auto; color: #222; }}
  label {{ display: block; margin: .8rem 0 .2rem; }}
  input, textarea {{ width: 100%; padding: .4rem; box-sizing: border-box; }}
  button {{ margin-top: 1rem; padding: .5rem 1.5rem; }}
</style>
<script src="{script}" defer{attrs}></script>
</head><body>
<nav><a href="/landing">Home</a> | <a href="/contact">Contact us</a></nav>
<h1>{title}</h1>
{body}
</body></html>
"""

CONTACT_FORM = """<form id="contact" method="post" action="/submit">
  <label for="name">Name</label><input id="name" name="name" required>
  <label for="email">Email</label><input id="email" name="email" type="email" required>
  <label for="message">Message</label><textarea id="message" name="message"></textarea>
  <button type="submit">Send</button>
</form>"""


@dataclass
class Shop:
    """The customer's website. Tests set `script_attrs` and read `submissions`."""

    base: str
    script_src: str
    script_attrs: dict[str, str] = field(default_factory=dict)
    submissions: list[dict[str, list[str]]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path

    def render(self, title: str, body: str) -> bytes:
        attrs = "".join(
            f' {name}="{html.escape(value)}"' for name, value in self.script_attrs.items()
        )
        return PAGE.format(title=title, script=self.script_src, attrs=attrs, body=body).encode()

    def last_submission(self) -> dict[str, list[str]]:
        assert self.submissions, "the shop's form handler received nothing"
        return self.submissions[-1]


def _handler(shop: Shop) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/landing":
                self._send(200, shop.render("Spring Sale", "<p>Everything half price.</p>"))
            elif path == "/contact":
                self._send(200, shop.render("Contact us", CONTACT_FORM))
            else:
                self._send(404, b"not found")

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/submit":
                self._send(404, b"not found")
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            shop.submissions.append(parse_qs(body, keep_blank_values=True))
            self._send(200, shop.render("Thank you", "<p>We will be in touch.</p>"))

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
            pass

    return Handler


@pytest.fixture(scope="module")
def shop_server(touchpoint) -> Iterator[Shop]:
    shop = Shop(base="", script_src=f"{touchpoint.base}/static/touchpoint.js")
    server = ThreadingHTTPServer((SHOP_HOST, 0), _handler(shop))
    server.daemon_threads = True
    shop.base = f"http://{SHOP_HOST}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="shop", daemon=True)
    thread.start()
    try:
        yield shop
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def shop(shop_server) -> Shop:
    shop_server.script_attrs = {}
    shop_server.submissions.clear()
    return shop_server


def submit_contact_form(page, shop: Shop) -> dict[str, list[str]]:
    page.fill("#name", "Ada Lovelace")
    page.fill("#email", "ada@example.com")
    page.click("#contact button")
    page.wait_for_url(shop.url("/submit"))
    return shop.last_submission()


def site_cookie(page, shop: Shop, name: str) -> dict | None:
    found = [c for c in page.context.cookies(shop.base) if c["name"] == name]
    return found[0] if found else None


def test_click_id_from_the_landing_url_reaches_a_form_on_a_later_page(page, shop):
    page.goto(shop.url(f"/landing?tp_cid={CLICK}"))
    assert page.evaluate("window.Touchpoint.clickId()") == CLICK

    page.click("text=Contact us")
    page.wait_for_url(shop.url("/contact"))
    assert page.evaluate("window.Touchpoint.clickId()") == CLICK  # from the cookie now
    hidden = page.locator('#contact input[type="hidden"][name="tp_cid"]')
    assert hidden.input_value() == CLICK  # stamped when the page loaded

    posted = submit_contact_form(page, shop)
    assert posted["tp_cid"] == [CLICK]
    assert posted["email"] == ["ada@example.com"]


def test_a_form_added_after_load_gets_the_field_when_submitted(page, shop):
    page.goto(shop.url(f"/landing?tp_cid={CLICK}"))
    page.goto(shop.url("/landing"))  # a later page of the visit: the id comes from the cookie
    page.evaluate(
        """() => {
            const form = document.createElement("form");
            form.id = "popup";
            form.method = "post";
            form.action = "/submit";
            form.innerHTML = '<input name="email" value="late@example.com">' +
                '<button type="submit">Subscribe</button>';
            document.body.appendChild(form);
        }"""
    )
    assert page.locator('#popup input[name="tp_cid"]').count() == 0

    page.click("#popup button")
    page.wait_for_url(shop.url("/submit"))
    posted = shop.last_submission()
    assert posted == {"email": ["late@example.com"], "tp_cid": [CLICK]}


@pytest.mark.parametrize(
    "value",
    [
        "<script>alert(1)</script>",
        "short",  # under 8 characters
        "x" * 65,  # over 64
        "has spaces in it",
        "dots.are.not.ok",
        "",
    ],
    ids=["markup", "too-short", "too-long", "spaces", "dots", "empty"],
)
def test_an_invalid_click_id_in_the_url_is_ignored(page, shop, value):
    page.goto(shop.url(f"/landing?tp_cid={quote(value)}"))
    assert page.evaluate("window.Touchpoint.clickId()") is None
    assert site_cookie(page, shop, "tp_cid") is None

    page.goto(shop.url(f"/contact?tp_cid={quote(value)}"))
    assert page.locator('input[name="tp_cid"]').count() == 0
    posted = submit_contact_form(page, shop)
    assert "tp_cid" not in posted


def test_an_invalid_click_id_does_not_replace_the_remembered_one(page, shop):
    page.goto(shop.url(f"/landing?tp_cid={CLICK}"))
    page.goto(shop.url(f"/contact?tp_cid={quote('<b>nope</b>')}"))
    assert submit_contact_form(page, shop)["tp_cid"] == [CLICK]


def test_malformed_percent_escapes_are_ignored_without_breaking_the_script(page, shop):
    """A mangled link or a stray cookie must not throw (the page fixture fails on JS errors)."""
    page.goto(shop.url(f"/landing?tp_cid={CLICK}"))
    page.goto(shop.url("/contact?tp_cid=%E0%A4%A"))  # not valid UTF-8 percent-encoding
    assert page.evaluate("window.Touchpoint.clickId()") == CLICK  # the remembered one
    assert submit_contact_form(page, shop)["tp_cid"] == [CLICK]

    page.evaluate("document.cookie = 'tp_cid=%zz; Path=/'")
    page.goto(shop.url("/contact"))
    assert page.evaluate("window.Touchpoint.clickId()") is None
    assert page.locator('input[name="tp_cid"]').count() == 0


def test_data_param_renames_the_query_parameter_cookie_and_field(page, shop):
    shop.script_attrs = {"data-param": "cid"}
    page.goto(shop.url(f"/landing?tp_cid=IgnoredValue123&cid={CLICK}"))
    assert page.evaluate("window.Touchpoint.clickId()") == CLICK
    assert site_cookie(page, shop, "cid")["value"] == CLICK
    assert site_cookie(page, shop, "tp_cid") is None

    page.goto(shop.url("/contact"))
    posted = submit_contact_form(page, shop)
    assert posted["cid"] == [CLICK]
    assert "tp_cid" not in posted


@pytest.mark.parametrize(
    ("days_attr", "seconds"),
    [(None, 30 * 86400), ("7", 7 * 86400), ("0.5", 43200), ("-3", 30 * 86400)],
    ids=["default-30", "7-days", "half-day", "invalid-falls-back"],
)
def test_the_cookie_is_first_party_and_lives_data_days(page, shop, touchpoint, days_attr, seconds):
    if days_attr is not None:
        shop.script_attrs = {"data-days": days_attr}
    before = time.time()
    page.goto(shop.url(f"/landing?tp_cid={CLICK}"))
    after = time.time()

    cookie = site_cookie(page, shop, "tp_cid")
    assert cookie is not None, page.context.cookies()
    assert cookie["value"] == CLICK
    assert cookie["domain"] == SHOP_HOST  # host-only, on the shop's own host
    assert cookie["path"] == "/"
    assert cookie["sameSite"] == "Lax"
    assert cookie["httpOnly"] is False  # the script itself reads it back
    assert cookie["secure"] is False  # plain http here; the script adds Secure on https
    assert before + seconds - 5 <= cookie["expires"] <= after + seconds + 5
    # Touchpoint's own host never sees it: the script makes no network requests of its own.
    assert not [c for c in page.context.cookies(touchpoint.base) if c["name"] == "tp_cid"]


def test_end_to_end_from_a_tracked_link_to_the_shops_form(browser, shop, touchpoint):
    """A marketer's link, a person's click, the shop's form: the posted id is the click row."""
    api = api_for(touchpoint.app)
    campaign = api.campaign(name="Browser end to end")
    link = api.link(campaign["id"], destination=shop.url("/landing?ref=newsletter"))

    with new_page(browser, user_agent=BROWSER_UA) as tab:
        response = tab.goto(f"{touchpoint.base}/r/{link['token']}")
        assert response is not None and response.status == 200
        assert response.request.redirected_from is not None  # Touchpoint's 302
        assert response.request.redirected_from.url == f"{touchpoint.base}/r/{link['token']}"
        landed = urlsplit(tab.url)
        assert f"{landed.scheme}://{landed.netloc}{landed.path}" == shop.url("/landing")
        query = parse_qs(landed.query)
        click_id = query["tp_cid"][0]
        assert query["ref"] == ["newsletter"]
        assert query["utm_source"] == ["newsletter"]

        tab.click("text=Contact us")
        tab.wait_for_url(shop.url("/contact"))
        tab.fill("#message", "Do you ship to Lisbon?")
        tab.fill("#name", "Ada Lovelace")
        tab.fill("#email", "ada@example.com")
        shot = screenshot(tab, "touchpoint-js-contact-form")
        assert shot.stat().st_size > 1000
        tab.click("#contact button")
        tab.wait_for_url(shop.url("/submit"))

        # Two first-party cookies, each on its own site's host.
        cookies = {(c["name"], c["domain"]) for c in tab.context.cookies()}
        assert ("tp_cid", SHOP_HOST) in cookies
        assert ("tp_vid", "127.0.0.1") in cookies

    posted = shop.last_submission()
    assert posted["tp_cid"] == [click_id]
    assert posted["message"] == ["Do you ship to Lisbon?"]

    rows = [r for r in events(touchpoint.app) if r["id"] == click_id]
    assert len(rows) == 1, click_id
    row = rows[0]
    assert row["type"] == "click"
    assert row["link_id"] == link["id"]
    assert row["campaign_id"] == campaign["id"]
    assert row["is_bot"] == 0
    assert row["user_agent"] == BROWSER_UA

    # The shop's form handler hands the id to Touchpoint, and the conversion is attributed.
    response = api.post("/api/v1/conversions", json={"type": "lead", "click_id": click_id})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["click_id"] == click_id
