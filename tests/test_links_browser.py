"""Link management in a real browser against a real gunicorn (issue 17): a marketer makes a
branded short link with a slug on the campaign page, a phone follows it, and the link's page
shows the click by device and country; the Links page finds it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from app.access import api_tokens

from . import backends
from .browser import launch_chromium, new_page, screenshot
from .conftest import Api, make_app
from .dashboard_helpers import PASSWORD, create_user
from .live import gunicorn
from .test_qr import decode_png
from .test_qr_design import LOGO_SVG

pytestmark = pytest.mark.browser

SECRET = "links-browser-test-secret-0123456789abcdef"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
BRANDED = "go.fernway.example"


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[tuple[object, int]]:
    folder = tmp_path_factory.mktemp("links-browser")
    # Loopback is the trusted proxy, so the phone's X-Forwarded-For is its address.
    app = make_app(folder, SECRET_KEY=SECRET, TRUSTED_PROXIES="127.0.0.1/32")
    create_user(app, "ada@example.com", "admin")
    env = {
        **backends.environment(app),
        "TOUCHPOINT_SECRET_KEY": SECRET,
        "TOUCHPOINT_TRUSTED_PROXIES": "127.0.0.1/32",
    }
    with gunicorn(env, workers=2) as port:
        yield app, port


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    # The branded host resolves to loopback, as its DNS would point at the server.
    with launch_chromium(f"--host-resolver-rules=MAP {BRANDED} 127.0.0.1") as instance:
        yield instance


def test_a_branded_slug_link_is_made_clicked_and_charted(live, browser):
    from playwright.sync_api import expect

    app, port = live
    base = f"http://127.0.0.1:{port}"
    secret, _ = api_tokens.create(app.extensions["touchpoint"].db(), "admin", "admin")
    api = Api(app.test_client(), secret)
    host = f"{BRANDED}:{port}"  # links are served on this port in the test
    assert api.post("/api/v1/domains", json={"host": host}).status_code == 201
    campaign = api.campaign(name="Fernway spring")

    with new_page(browser) as page:
        page.goto(f"{base}/dashboard/")
        page.get_by_label("Email").fill("ada@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto(f"{base}/dashboard/campaigns/{campaign['id']}")
        form = page.locator("form", has=page.get_by_role("button", name="Create link"))
        form.get_by_label("Destination").fill(f"{base}/healthz")
        form.get_by_label("Custom back-half (slug)").fill("Spring-Sale")
        form.get_by_label("Domain").select_option(host)
        form.get_by_label("Tags").fill("spring, flyer")
        form.get_by_label("Label").fill("Window poster")
        form.get_by_role("button", name="Create link").click()
        expect(page.get_by_text("Link created.")).to_be_visible()
        short = f"http://{host}/Spring-Sale"
        expect(page.get_by_text(short).first).to_be_visible()
        link_page = page.url.split("#")[0].split("?")[0]  # a real load, not a jump to #links

        with new_page(
            browser, user_agent=IPHONE, extra_http_headers={"X-Forwarded-For": "81.2.69.142"}
        ) as phone:
            phone.goto(f"http://{host}/spring-sale")
            expect(phone).to_have_url(re.compile(r"/healthz\?utm_source="))

        hits = list(
            app.extensions["touchpoint"]
            .db()
            .query("SELECT is_bot, bot_reason, country FROM events")
        )
        assert hits == [{"is_bot": 0, "bot_reason": None, "country": "GB"}], hits
        page.goto(link_page)
        devices = page.locator("svg[aria-label^='Devices']")
        expect(devices).to_have_attribute("aria-label", "Devices: mobile 1")
        expect(page.locator("svg[aria-label^='Countries']")).to_have_attribute(
            "aria-label", "Countries: GB 1"
        )
        screenshot(page, "link-audience")

        # The QR designer: an SVG logo and dot modules; the preview Chromium draws decodes.
        page.locator("#f-logo").set_input_files(
            files=[{"name": "logo.svg", "mimeType": "image/svg+xml", "buffer": LOGO_SVG}]
        )
        page.get_by_role("button", name="Upload logo").click()
        expect(page.get_by_text("Logo saved")).to_be_visible()
        options = page.locator("form[data-qr-options]")
        options.get_by_label("Modules", exact=True).select_option("dots")
        options.get_by_label("Size (px)").fill("400")
        options.get_by_role("button", name="Preview").click()
        preview = page.locator("img[data-qr-preview]")
        expect(preview).to_have_attribute(
            "src", re.compile(r"style=dots.*logo=1|logo=1.*style=dots")
        )
        page.set_viewport_size({"width": 1280, "height": 1800})
        picture = preview.screenshot()
        assert decode_png(picture) == [f"http://{host}/q/Spring-Sale"]
        page.goto(f"{base}/dashboard/links?tag=flyer")
        row = page.get_by_role("row", name=re.compile("Window poster"))
        expect(row).to_be_visible()
        expect(row.get_by_text(short)).to_be_visible()
        screenshot(page, "links-page")
