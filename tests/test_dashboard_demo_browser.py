"""The dashboard on a demo season (`touchpoint demo`, 30 days) in a real browser: the report
printed on A4 and on Letter without cutting the attribution table, and the offers index.

The demo's campaign names, link labels and figures are what a marketer's own data looks
like, so the widths measured here are the widths that matter.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from app import demo
from app.views.dashboard import report as report_view

from .browser import browser_fixture, new_page, page_fixture, screenshot  # noqa: F401
from .dashboard_helpers import create_user
from .live import served_app
from .test_dashboard_browser import OVERFLOW, PHONE, sign_in

pytestmark = pytest.mark.browser

SECRET = "dashboard-demo-browser-test-secret-0123456789abcdef"
PX_PER_MM = 96 / 25.4
PT_PER_MM = 72 / 25.4
# Paper (short side, long side) in mm, and the report's page margin (@page report in
# static/dashboard.css).
PAPERS = {"A4": (210, 297), "Letter": (215.9, 279.4)}
MARGIN_MM = 10
MEDIA_BOX = re.compile(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]")
# How much of the attribution table reaches past the printable width, and whether its
# wrapper would clip it (on paper nothing scrolls).
MEASURE_TABLE = """width => {
  const table = document.querySelector("table.report-table");
  const wrap = table.closest(".table-wrap");
  const cells = [...table.querySelectorAll("th, td")];
  return {
    right: table.getBoundingClientRect().right,
    widest_cell: Math.max(...cells.map(c => c.getBoundingClientRect().right)),
    clipped: wrap.scrollWidth - wrap.clientWidth,
    page: document.documentElement.scrollWidth,
    columns: table.querySelectorAll("thead th").length,
  };
}"""


@dataclass
class Live:
    base: str


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    folder = tmp_path_factory.mktemp("dashboard-demo-browser")
    with served_app(folder, SECRET, workers=1) as (app, base):
        demo.build(app.extensions["touchpoint"].db(), app.extensions["touchpoint"], days=30)
        create_user(app, "ada@example.com", "admin")
        yield Live(base)


def printable_px(side_mm: float) -> int:
    return int((side_mm - 2 * MARGIN_MM) * PX_PER_MM)


@pytest.mark.parametrize("group_by", ["campaign", "link"])
def test_the_report_prints_on_a4_and_letter_without_cutting_the_table(page, live, group_by):
    from playwright.sync_api import expect

    sign_in(page, live)
    page.goto(f"{live.base}/dashboard/report?group_by={group_by}")
    expect(page.locator("table.report-table tbody tr").first).to_be_visible()
    assert page.locator("table.report-table tbody tr").count() >= 8  # a full season's rows

    # The browser's own print: the report asks for landscape, on whichever paper.
    for paper, (short, long) in PAPERS.items():
        pdf = page.pdf(format=paper, prefer_css_page_size=True)
        sizes = {(float(w), float(h)) for w, h in MEDIA_BOX.findall(pdf)}
        assert sizes, paper
        for w, h in sizes:  # Playwright names A4 in inches (8.27 x 11.7): a point or two over
            assert abs(w - long * PT_PER_MM) < 2 and abs(h - short * PT_PER_MM) < 2, (paper, w, h)

    page.emulate_media(media="print")
    for control in ("header.top", "form.report-form", "a[download]", "button[data-print]"):
        expect(page.locator(control)).to_be_hidden()
    # Landscape as asked, and portrait too, for a browser that ignores the page size.
    for paper, (short, long) in PAPERS.items():
        for orientation, side in (("landscape", long), ("portrait", short)):
            width = printable_px(side)
            page.set_viewport_size({"width": width, "height": 1000})
            shown = page.evaluate(MEASURE_TABLE, width)
            where = f"{paper} {orientation} ({width} px)"
            # The label column and every figure the page shows.
            assert shown["columns"] == 1 + len(report_view.COLUMNS), where
            assert shown["right"] <= width + 0.5 and shown["widest_cell"] <= width + 0.5, (
                where,
                shown,
            )
            assert shown["clipped"] <= 0 and shown["page"] <= width, (where, shown)
            if group_by == "campaign":
                screenshot(page, f"report-print-{paper}-{orientation}".lower())


def test_the_offers_index_on_a_season_of_offers(browser, page, live):
    from playwright.sync_api import expect

    sign_in(page, live)
    page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="Offers").click()
    expect(page.get_by_role("heading", name="Offers")).to_be_visible()
    rows = page.locator("table.offers tbody tr")
    assert rows.count() >= 2
    assert page.evaluate(OVERFLOW) <= 1
    screenshot(page, "dashboard-offers")
    first = rows.first.locator("td").first.get_by_role("link")
    title = first.inner_text()
    first.click()
    expect(page.get_by_role("heading", name=re.compile(re.escape(title)))).to_be_visible()
    expect(page.get_by_role("link", name="Offers")).to_have_attribute("aria-current", "page")
    with new_page(browser, **PHONE) as phone:
        sign_in(phone, live)
        phone.goto(f"{live.base}/dashboard/offers")
        assert phone.evaluate(OVERFLOW) <= 1
        screenshot(phone, "dashboard-phone-offers")
