"""The lead pipeline in a real browser against a real gunicorn: a lead that reached mql three
days ago shows up as uncontacted, Sales logs a call and marks it lost with a reason, and the
pipeline page shows it under that reason with its value."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from . import backends
from .browser import browser_fixture, page_fixture, screenshot  # noqa: F401
from .conftest import api_for, make_app
from .dashboard_helpers import create_user
from .live import gunicorn
from .test_dashboard_browser import OVERFLOW, Live, sign_in

pytestmark = pytest.mark.browser

SECRET = "pipeline-browser-test-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    folder = tmp_path_factory.mktemp("pipeline-browser")
    app = make_app(folder, SECRET_KEY=SECRET)
    create_user(app, "ada@example.com", "admin")
    env = {**backends.environment(app), "TOUCHPOINT_SECRET_KEY": SECRET}
    with gunicorn(env, workers=2) as port:
        yield Live(app, f"http://127.0.0.1:{port}")


def test_an_uncontacted_mql_is_called_lost_and_counted_under_its_reason(page, live):
    from playwright.sync_api import expect

    api = api_for(live.app)
    three_days_ago = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    posted = api.post(
        "/api/v1/conversions",
        json={"type": "mql", "email": "dana@example.com", "occurred_at": three_days_ago},
    )
    assert posted.status_code == 201, posted.get_json()
    lead_id = posted.get_json()["lead_id"]
    api.patch(f"/api/v1/leads/{lead_id}", json={"name": "Dana Kim", "value": "4200.00"})

    sign_in(page, live)
    page.get_by_role("link", name="Leads").first.click()
    page.get_by_label("Uncontacted only").check()
    page.get_by_role("button", name="Show").click()
    row = page.get_by_role("row", name=re.compile("Dana Kim"))
    expect(row).to_contain_text("mql")
    expect(row).to_contain_text("3 d 0 h")
    screenshot(page, "dashboard-leads-uncontacted")
    row.get_by_role("link", name="Dana Kim").click()
    expect(page.locator("#lead-waiting")).to_contain_text("uncontacted for 3 d")

    page.get_by_label("What").select_option("call")
    page.get_by_label("Note", exact=True).first.fill("Left a voicemail")
    page.get_by_role("button", name="Log it").click()
    expect(page.get_by_role("status")).to_have_text("Activity logged.")
    expect(page.locator("#lead-waiting")).to_have_count(0)
    expect(page.locator("#timeline")).to_contain_text("call by ada@example.com — Left a voicemail")

    page.get_by_role("button", name="Mark lost").click()  # no reason chosen: refused, at Why
    expect(page.locator("#e-l-reason")).to_be_visible()
    page.locator("#f-l-reason").select_option("competitor")
    page.get_by_role("button", name="Mark lost").click()
    expect(page.locator("#lead-status")).to_have_text("lost")
    expect(page.locator("#stage-history")).to_contain_text("competitor at mql")
    screenshot(page, "dashboard-lead-lost")
    assert page.evaluate(OVERFLOW) <= 1

    page.get_by_role("link", name="Pipeline").click()
    expect(page.get_by_role("heading", name="Pipeline")).to_be_visible()
    mql = page.locator(".pipeline-table tbody tr").filter(has_text=re.compile(r"^\s*mql"))
    expect(mql.locator("td[data-label='Lost']")).to_have_text("1")
    expect(mql.locator("td[data-label^='Lost by reason']")).to_have_text("competitor 1 (4,200.00)")
    expect(mql.locator("td[data-label='Value lost']")).to_have_text("4,200.00")
    expect(page.locator(".chart-box svg")).to_contain_text("competitor")
    screenshot(page, "dashboard-pipeline")
