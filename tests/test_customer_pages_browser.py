"""The customer's pages in a real browser against a real gunicorn: the claimed code fits a
small phone on one line, and coming back to the offer shows the code instead of the button."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from .browser import browser_fixture, new_page, screenshot  # noqa: F401
from .conftest import BROWSER_UA, Api, api_for
from .coupon_helpers import location, offer
from .live import served_app

pytestmark = pytest.mark.browser

SECRET = "customer-browser-test-secret-0123456789abcdef"
# The narrowest phone in use (iPhone SE 1st generation, small Androids).
SMALL_PHONE = {
    "viewport": {"width": 320, "height": 568},
    "is_mobile": True,
    "has_touch": True,
    "user_agent": BROWSER_UA,
}
# The code's text box against its dashed box, and the page against the screen.
MEASURE_CODE = """code => {
  const text = document.createRange();
  text.selectNodeContents(code);
  const lines = new Set([...text.getClientRects()].map(r => Math.round(r.top))).size;
  const inner = text.getBoundingClientRect(), box = code.getBoundingClientRect();
  return {
    lines,
    inside: inner.left >= box.left && inner.right <= box.right,
    overflow: code.scrollWidth - code.clientWidth,
    page_overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    font_px: parseFloat(getComputedStyle(code).fontSize),
  };
}"""


@dataclass
class Live:
    api: Api
    base: str

    def landing(self, **offer_fields) -> str:
        """The tracked URL of a new offer's landing page."""
        created = offer(self.api, **offer_fields)
        response = self.api.post(
            "/api/v1/links",
            json={"campaign_id": created["campaign_id"], "offer_id": created["id"]},
        )
        assert response.status_code == 201, response.get_json()
        return f"{self.base}/r/{response.get_json()['token']}"


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    with served_app(tmp_path_factory.mktemp("customer-browser"), SECRET) as (app, base):
        api = api_for(app)
        location(api, "BER", timezone="Europe/Berlin")
        yield Live(api, base)


def claim_code(phone, url: str) -> str:
    phone.goto(url)
    phone.get_by_role("button", name="Get my code").click()
    return phone.locator("p.code").inner_text().strip()


@pytest.mark.parametrize(
    ("prefix", "smallest_px"),
    [
        ("BOOT", 18),  # BOOT-7KQ4-X9M2-HT6C: still large type
        ("WINTERSALE26", 13),  # the longest prefix there can be: 27 characters
    ],
)
def test_the_code_stays_on_one_line_and_fits_a_320_px_phone(browser, live, prefix, smallest_px):
    url = live.landing(title="10% off trail shoes", code_prefix=prefix, location_codes=["BER"])
    with new_page(browser, **SMALL_PHONE) as phone:
        code = claim_code(phone, url)
        assert code.startswith(f"{prefix}-") and len(code) == len(prefix) + 15
        shown = phone.locator("p.code").evaluate(MEASURE_CODE)
        screenshot(phone, f"customer-coupon-320-{prefix.lower()}")
    assert shown["lines"] == 1, shown
    assert shown["inside"] and shown["overflow"] <= 0 and shown["page_overflow"] <= 0, shown
    assert shown["font_px"] >= smallest_px, shown


def test_coming_back_shows_the_code_and_other_browsers_the_button(browser, live):
    from playwright.sync_api import expect

    url = live.landing(
        title="A free water bottle",
        location_codes=["BER"],
        starts_at="2026-01-10T14:00:00Z",
        ends_at="2030-07-01T04:00:00Z",
    )
    with new_page(browser, **SMALL_PHONE) as phone:
        code = claim_code(phone, url)
        permalink = phone.get_by_role("link", name="Link to this coupon").get_attribute("href")
        phone.goto("about:blank")
        phone.goto(url)  # the same flyer QR code or email link, days later
        expect(phone.locator("p.code")).to_have_text(code)
        expect(phone.get_by_role("button", name="Get my code")).to_have_count(0)
        expect(phone.get_by_role("link", name="Link to this coupon")).to_have_attribute(
            "href", permalink
        )
        expect(phone.get_by_text("Claimed")).to_be_visible()
        screenshot(phone, "customer-coupon-again")
    with new_page(browser, **SMALL_PHONE) as other:
        other.goto(url)
        expect(other.get_by_role("button", name="Get my code")).to_be_visible()
        expect(other.locator("p.code")).to_have_count(0)
        expect(other.get_by_text("until 1 Jul 2030, 06:00 CEST")).to_be_visible()
        screenshot(other, "customer-landing-320")
