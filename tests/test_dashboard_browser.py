"""The dashboard's main journeys in a real browser against a real gunicorn.

A marketer signs in, creates a campaign and a link, downloads its QR code, a customer follows
the link in another browser, and the click shows on the overview; recipients are uploaded and
the merge file downloaded. Screenshots of the main pages go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from . import backends
from .browser import browser_fixture, new_page, page_fixture, screenshot  # noqa: F401
from .conftest import make_app
from .dashboard_helpers import PASSWORD, create_user
from .live import gunicorn
from .test_qr import decode_png

pytestmark = pytest.mark.browser

SECRET = "dashboard-browser-test-secret-0123456789abcdef"
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@dataclass
class Live:
    app: object
    base: str

    def rows(self, sql: str) -> list[dict]:
        return list(self.app.extensions["touchpoint"].db().query(sql))


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    folder = tmp_path_factory.mktemp("dashboard-browser")
    app = make_app(folder, SECRET_KEY=SECRET)
    create_user(app, "ada@example.com", "admin")
    env = {**backends.environment(app), "TOUCHPOINT_SECRET_KEY": SECRET}
    with gunicorn(env, workers=2) as port:
        yield Live(app, f"http://127.0.0.1:{port}")


def sign_in(page, live: Live) -> None:
    from playwright.sync_api import expect

    page.goto(f"{live.base}/dashboard/")
    expect(page).to_have_url(re.compile(r"/dashboard/sign-in"))
    expect(page.get_by_label("Email")).to_be_focused()
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()


def test_campaign_link_qr_and_a_click_on_the_overview(browser, page, live, tmp_path):
    from playwright.sync_api import expect

    page.goto(f"{live.base}/dashboard/sign-in")
    screenshot(page, "dashboard-sign-in")
    sign_in(page, live)
    expect(page.get_by_text("No campaigns yet")).to_be_visible()
    screenshot(page, "dashboard-overview-empty")

    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Name").fill("Window poster")
    page.get_by_label("Channel").select_option("print")
    page.get_by_label("utm_source").fill("poster")
    page.get_by_label("utm_medium").fill("print")
    page.get_by_label("Cost").fill("80,00")  # a typo the API refuses: the error sits by Cost
    page.get_by_role("button", name="Create campaign").click()
    expect(page.locator("#e-cost")).to_be_visible()
    expect(page.get_by_label("Name")).to_have_value("Window poster")
    screenshot(page, "dashboard-campaign-form-error")
    page.get_by_label("Cost").fill("80.00")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.get_by_role("heading", name=re.compile("Window poster"))).to_be_visible()

    destination = f"{live.base}/static/public.css"  # a page that exists, on this server
    page.get_by_label("Destination").fill(destination)
    page.get_by_label("Label").fill("Shop window")
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_role("heading", name="Shop window")).to_be_visible()
    screenshot(page, "dashboard-link")

    tracked = page.locator("[data-copy^='http']").first.get_attribute("data-copy")
    page.get_by_label("Error correction").select_option("H")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download PNG").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".png")
    saved = tmp_path / "qr.png"
    download.save_as(saved)
    assert decode_png(saved.read_bytes()) == [tracked.replace("/r/", "/q/")]

    # The customer: another browser, no cookies of ours. Headless Chromium says so in its
    # User-Agent and would be counted as a bot, so it presents a desktop Chrome's.
    with new_page(browser, user_agent=CHROME) as customer:
        customer.goto(tracked)
        assert customer.url.startswith(destination + "?utm_source=poster&utm_medium=print")

    page.get_by_role("link", name="Campaigns").click()
    row = page.get_by_role("row", name=re.compile("Window poster"))
    expect(row.locator("td").nth(3)).to_have_text("1")  # one human click
    screenshot(page, "dashboard-overview")
    for path in ("/dashboard/", "/dashboard/links/1", "/dashboard/campaigns/1"):
        page.goto(live.base + path)
        assert page.evaluate(OVERFLOW) <= 1, path  # nothing sticks out to the right


def test_recipients_upload_and_merge_file(page, live, tmp_path):
    from playwright.sync_api import expect

    sign_in(page, live)
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Name").fill("November newsletter")
    page.get_by_label("Channel").select_option("email")
    page.get_by_label("utm_source").fill("newsletter")
    page.get_by_label("utm_medium").fill("email")
    page.get_by_role("button", name="Create campaign").click()
    page.get_by_label("Destination").fill("https://shop.example.com/november")
    page.get_by_role("button", name="Create link").click()

    upload = tmp_path / "list.csv"
    upload.write_text("email,first_name\nann@example.com,Ann\nbob@example.com,Bob\nnope,Cy\n")
    page.get_by_label("CSV file").set_input_files(str(upload))
    page.get_by_role("button", name="Upload recipients").click()
    expect(page.get_by_text("nothing was imported")).to_be_visible()
    expect(page.get_by_role("table", name="Rows with problems")).to_contain_text("4")
    page.get_by_label("CSV file").set_input_files(str(upload))
    page.get_by_label("Import the good rows even if some are invalid").check()
    page.get_by_role("button", name="Upload recipients").click()
    expect(page.get_by_text("2 rows imported, 1 skipped")).to_be_visible()
    screenshot(page, "dashboard-recipients-uploaded")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the mail-merge CSV").first.click()
    merge = Path(download_info.value.path()).read_text()
    rows = list(csv.DictReader(io.StringIO(merge)))
    assert [(r["email"], r["first_name"]) for r in rows] == [
        ("ann@example.com", "Ann"),
        ("bob@example.com", "Bob"),
    ]
    assert all(r["tracked_url"].startswith(f"{live.base}/r/") for r in rows)


def test_pages_fit_a_phone_and_keyboard_users_can_skip_to_content(browser, live):
    from playwright.sync_api import expect

    with new_page(browser, **PHONE) as phone:
        sign_in(phone, live)
        for path, name in (
            ("/dashboard/", "phone-overview"),
            ("/dashboard/events", "phone-events"),
            ("/dashboard/links/1", "phone-link"),
            ("/dashboard/locations", "phone-locations"),
            ("/dashboard/account", "phone-account"),
        ):
            phone.goto(live.base + path)
            assert phone.evaluate(OVERFLOW) <= 1, path
            screenshot(phone, f"dashboard-{name}")
        phone.keyboard.press("Tab")
        expect(phone.get_by_role("link", name="Skip to content")).to_be_focused()


def test_offer_claimed_online_redeemed_in_store_and_attributed(browser, page, live):
    """Create an offer, a customer claims a code on its landing page, the till redeems it,
    and the report credits the redemption to the campaign."""
    from playwright.sync_api import expect

    from app.access import staff_keys
    from app.coupons import locations

    db = live.app.extensions["touchpoint"].db()
    locations.create(db, {"code": "BER", "name": "Berlin", "kind": "store", "timezone": "UTC"})
    staff_key, _ = staff_keys.create(db, "BER", {"label": "till"})

    sign_in(page, live)
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Name").fill("Boot week")
    page.get_by_label("Channel").select_option("social")
    page.get_by_label("utm_source").fill("instagram")
    page.get_by_label("utm_medium").fill("social")
    page.get_by_label("Cost").fill("5.00")
    page.get_by_role("button", name="Create campaign").click()
    campaign_url = page.url
    page.get_by_role("link", name="New offer").click()
    page.get_by_label("Title").fill("10% off boots")
    page.get_by_label("Discount").fill("10%")
    page.get_by_role("button", name="Create offer").click()
    expect(page.get_by_role("heading", name=re.compile("10% off boots"))).to_be_visible()
    screenshot(page, "dashboard-offer")
    page.get_by_role("button", name="Create a tracked link").click()
    tracked = page.locator("[data-copy^='http']").first.get_attribute("data-copy")

    with new_page(browser, user_agent=CHROME, **PHONE) as customer:
        customer.goto(tracked)
        customer.get_by_role("button", name="Get my code").click()
        code = customer.locator("p.code").inner_text().strip()
        screenshot(customer, "customer-coupon")

    with new_page(browser) as till:
        till.goto(f"{live.base}/staff")
        till.keyboard.type(staff_key)
        with till.expect_navigation():
            till.keyboard.press("Enter")
        till.locator("#code").fill(code)
        till.locator("#amount").fill("20.00")
        with till.expect_navigation():
            till.keyboard.press("Enter")
        expect(till.locator("#result")).to_contain_text("REDEEMED")

    page.goto(campaign_url)
    page.get_by_role("link", name="Report").first.click()
    row = page.locator("table.report-table tbody tr", has_text="Boot week")
    expect(row).to_be_visible()
    cells = row.locator("td")
    headings = page.locator("table.report-table thead th").all_inner_texts()
    values = dict(zip(headings, cells.all_inner_texts(), strict=True))
    assert values["Redemptions"] == "1"
    assert values["Revenue"] == "20.00"
    assert values["Claims"] == "1"
    screenshot(page, "dashboard-report")
    page.get_by_role("link", name="Events").click()
    expect(page.locator("table").first).to_contain_text("redemption")
    screenshot(page, "dashboard-events")
