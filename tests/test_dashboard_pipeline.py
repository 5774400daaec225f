"""The dashboard's pipeline page, against the pipeline report API on the same database (the
cohort of tests/test_pipeline_report.py): the figures, the chart, the groups, the errors at
their controls, the CSV, and names someone typed shown as text."""

from __future__ import annotations

import html
import re
from urllib.parse import urlencode

from .dashboard_helpers import errors_at_fields, visible
from .test_dashboard_report import cells, signed_in, text
from .test_pipeline_report import cohort_fixture, pipeline  # noqa: F401

PERIOD = {"from": "2026-11-01", "to": "2026-11-07"}  # the page's `to` is the last day shown
API_PERIOD = {"from": "2026-11-01", "to": "2026-11-08"}
OWNER = "<script>alert('owner')</script>"


def table_rows(body: str, css_class: str) -> list[dict[str, str]]:
    """{column: shown text} of each body row of the table with that class."""
    table = re.search(rf'<table class="[^"]*\b{css_class}\b.*?</table>', body, re.S).group(0)
    return [cells(row) for row in table.split("<tr")[2:]]


def stage_rows(body: str) -> list[dict[str, str]]:
    return table_rows(body, "pipeline-table")


def test_the_page_shows_the_reports_figures(app, api, cohort):
    browser = signed_in(app)
    page = browser.get("/dashboard/pipeline?" + urlencode(PERIOD))
    assert page.status_code == 200
    body = text(page)
    report = pipeline(api, **API_PERIOD)
    assert report["totals"]["leads"] == 11
    rows = stage_rows(body)
    assert [row["Stage"] for row in rows[:5]] == ["lead", "mql", "sql", "opportunity", "sale"]
    assert rows[:5] == [
        {
            "Stage": "lead",
            "Reached": "9",
            "Advanced": "7",
            "Conversion rate": "78%",
            "Open here": "2",
            "Stalled": "1",
            "Uncontacted": "—",
            "Lost": "0",
            "Lost by reason (USD)": "—",
            "Value lost": "0.00",
            "Median time to next": "1 h",
        },
        {
            "Stage": "mql",
            "Reached": "7",
            "Advanced": "4",
            "Conversion rate": "57%",
            "Open here": "2",
            "Stalled": "1",
            "Uncontacted": "2",
            "Lost": "1",
            "Lost by reason (USD)": "no_budget 1 (300.00)",
            "Value lost": "300.00",
            "Median time to next": "1 d",
        },
        {
            "Stage": "sql",
            "Reached": "4",
            "Advanced": "3",
            "Conversion rate": "75%",
            "Open here": "1",
            "Stalled": "1",
            "Uncontacted": "—",
            "Lost": "0",
            "Lost by reason (USD)": "—",
            "Value lost": "0.00",
            "Median time to next": "0 d",
        },
        {
            "Stage": "opportunity",
            "Reached": "3",
            "Advanced": "2",
            "Conversion rate": "67%",
            "Open here": "0",
            "Stalled": "0",
            "Uncontacted": "—",
            "Lost": "1",
            "Lost by reason (USD)": "competitor 1 (900.00)",
            "Value lost": "900.00",
            "Median time to next": "1 d",
        },
        {
            "Stage": "sale",
            "Reached": "2",
            "Advanced": "0",
            "Conversion rate": "—",
            "Open here": "0",
            "Stalled": "0",
            "Uncontacted": "—",
            "Lost": "0",
            "Lost by reason (USD)": "—",
            "Value lost": "0.00",
            "Median time to next": "—",
        },
    ]
    no_stage = rows[5]
    assert no_stage["Stage"].startswith("(no stage)")
    assert (no_stage["Reached"], no_stage["Open here"], no_stage["Lost"]) == ("2", "1", "1")
    assert no_stage["Lost by reason (USD)"] == "timing 1 (50.00)"
    shown = visible(body)
    for figure in (
        "11 leads",
        "2 won",
        "3 lost",
        "40% win rate",
        "57% mql → sql",
        "5.5 d median time to win",
        "1,700.00 won (USD)",
        "1,250.00 lost (USD)",
        "4 stalled",
        "2 uncontacted",
    ):
        assert figure in shown, figure
    assert "where they stand on 2026-12-10 09:00 UTC" in shown
    assert "2 open leads are past mql for more than 48 hours" in shown
    # The uncontacted leads are one click away: the figure, the note and the mql row.
    assert body.count('href="/dashboard/leads?uncontacted=true"') == 3
    nav = re.search(r'<a href="/dashboard/pipeline"[^>]*>Pipeline</a>', body)
    assert nav and 'aria-current="page"' in nav.group(0)


def test_the_chart_shows_where_each_stages_leads_went(app, api, cohort):
    body = text(signed_in(app).get("/dashboard/pipeline?" + urlencode(PERIOD)))
    svg = re.search(r'<svg class="chart".*?</svg>', body, re.S).group(0)
    assert "<script" not in svg
    summary = html.unescape(re.search(r'aria-label="([^"]*)"', svg).group(1))
    assert summary == (
        "Where the leads of each stage went: "
        "lead 9 reached (7 advanced · 1 open · 1 stalled); "
        "mql 7 reached (4 advanced · 1 open · 1 stalled · 1 lost; "
        "lost: no_budget 1 · 300.00 USD lost); "
        "sql 4 reached (3 advanced · 1 stalled); "
        "opportunity 3 reached (2 advanced · 1 lost; lost: competitor 1 · 900.00 USD lost); "
        "sale 2 reached (2 won here)."
    )
    # Every part of a bar carries its number, the lost part one piece per reason.
    titles = re.findall(r"<title>([^<]*)</title>", svg)
    assert titles[1:] == [
        "7 advanced",
        "1 open",
        "1 stalled",
        "4 advanced",
        "1 open",
        "1 stalled",
        "1 lost: no_budget",
        "3 advanced",
        "1 stalled",
        "2 advanced",
        "1 lost: competitor",
        "2 won",
    ]
    # Bars as long as the leads that reached the stage: lead's 9 fill the width.
    bars = re.findall(r'<rect x="[^"]+" y="\d+" width="([^"]+)" height="14"', svg)
    widths = [float(width) for width in bars]
    assert round(sum(widths[:3]) + 3, 1) == 398.0  # 7 + 1 + 1 of 9, less a 1-unit gap each


def test_grouped_by_owner_the_names_are_text(app, api, cohort):
    ann = api.get("/api/v1/leads?email=ann@example.com").get_json()["items"][0]["id"]
    assert api.patch(f"/api/v1/leads/{ann}", json={"owner": OWNER}).status_code == 200
    page = signed_in(app).get("/dashboard/pipeline?" + urlencode({**PERIOD, "group_by": "owner"}))
    body = text(page)
    assert OWNER not in body
    assert "&lt;script&gt;alert(&#39;owner&#39;)&lt;/script&gt;" in body
    groups = table_rows(body, "pipeline-groups")
    assert [(row["Owner"], row["Leads"], row["Won"], row["Value won"]) for row in groups] == [
        ("rep-b@x.io", "3", "0", "0.00"),
        (OWNER, "1", "1", "1,200.00"),
        ("rep-a@x.io", "1", "1", "500.00"),
        ("(none)", "6", "0", "0.00"),
    ]
    assert groups[0]["mql"] == "3 67%"
    assert '<option value="owner" selected>' in body


def test_grouped_by_campaign_links_each_campaign(app, api, cohort):
    body = text(
        signed_in(app).get("/dashboard/pipeline?" + urlencode({**PERIOD, "group_by": "campaign"}))
    )
    groups = table_rows(body, "pipeline-groups")
    assert [(row["First-touch campaign"], row["Leads"]) for row in groups] == [
        ("Expo Ads", "2"),
        ("Spring Webinar", "2"),
        ("(no touch)", "7"),
    ]
    assert f'href="/dashboard/campaigns/{cohort["spring"]}">Spring Webinar</a>' in body


def test_the_csv_is_the_apis_for_the_same_settings(app, api, cohort):
    browser = signed_in(app)
    body = text(browser.get("/dashboard/pipeline?" + urlencode({**PERIOD, "group_by": "source"})))
    csv_url = html.unescape(re.search(r'href="([^"]+)" download>Download CSV', body).group(1))
    assert csv_url.startswith("/dashboard/pipeline.csv?")
    download = browser.get(csv_url)
    assert download.status_code == 200
    assert download.mimetype == "text/csv"
    answer = api.get(
        "/api/v1/reports/pipeline?"
        + urlencode({**API_PERIOD, "group_by": "source", "currency": "USD", "format": "csv"})
    )
    assert download.get_data() == answer.get_data()
    assert download.headers["Content-Disposition"] == answer.headers["Content-Disposition"]
    assert download.headers["Content-Disposition"].endswith(
        'pipeline-by-source-2026-11-01-to-2026-11-07-USD.csv"'
    )


def test_bad_settings_are_shown_at_their_controls_with_the_apis_messages(app, api, cohort):
    browser = signed_in(app)
    query = {"from": "soon", "to": "2026-11-07", "group_by": "link", "campaign_id": "999"}
    page = browser.get("/dashboard/pipeline?" + urlencode(query))
    assert page.status_code == 422
    shown = errors_at_fields(page)
    api_errors = api.get("/api/v1/reports/pipeline?" + urlencode(query)).get_json()["error"]
    assert shown == {e["field"]: e["message"] for e in api_errors["errors"]}
    assert set(shown) == {"from", "group_by", "campaign_id"}
    body = text(page)
    assert '<option value="link" selected>link</option>' in body  # kept beside its error
    assert "Download CSV" not in body
    later = browser.get("/dashboard/pipeline?from=2026-11-08&to=2026-11-01")
    assert later.status_code == 422 and errors_at_fields(later) == {
        "from": "From must be before To."
    }


def test_an_empty_period_says_so(app, api, cohort):
    page = signed_in(app).get("/dashboard/pipeline?from=2026-12-01&to=2026-12-05")
    assert page.status_code == 200
    assert "No leads were created from 2026-12-01 to 2026-12-05" in visible(text(page))
    assert "<svg" not in text(page).split("</form>", 1)[1]


def test_the_default_period_is_the_last_30_days(app, api, cohort):
    # The report is asked on 10 December: 11 to 40 days ago holds nobody of the cohort.
    body = text(signed_in(app).get("/dashboard/pipeline"))
    assert 'value="2026-11-11"' in body and 'value="2026-12-10"' in body
    assert "No leads were created from 2026-11-11 to 2026-12-10" in visible(body)


def test_signed_out_browsers_are_sent_to_sign_in(app):
    response = app.test_client().get("/dashboard/pipeline")
    assert response.status_code == 303
    assert "/dashboard/sign-in" in response.headers["Location"]
    assert app.test_client().get("/dashboard/pipeline.csv").status_code == 303
