"""The report page of the dashboard, against the reports API on the same database.

Histories are built as in tests/test_reports.py: clicks through /r/, claims through the offer
page, redemptions at a till, conversions through the API. The page must show what the API
answers for the same settings; its `to` is the last day shown, the API's the day after.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from markupsafe import escape

from app.access import users
from app.views import charts
from app.views.dashboard import report as report_view

from .conftest import BROWSER_UA, api_for, make_app
from .coupon_helpers import location, offer, redeem, staff
from .test_reports import click, form_token, sale

PASSWORD = "correct horse battery"


def signed_in(app, role: str = "marketer", email: str = "mia@example.com"):
    """A browser signed in to the dashboard with a new account of that role."""
    with app.app_context():
        users.create(
            app.extensions["touchpoint"].db(),
            email,
            role,
            password=PASSWORD,
            hash_method="scrypt:1024:8:1",
        )
    browser = app.test_client()
    token = form_token(browser.get("/dashboard/sign-in").get_data(as_text=True))
    response = browser.post(
        "/dashboard/sign-in", data={"csrf_token": token, "email": email, "password": PASSWORD}
    )
    assert response.status_code == 303
    return browser


def default_period(fake_clock) -> dict:
    """The page's default period as the API takes it: the last 30 days, today included."""
    today = fake_clock.now.date()
    return {
        "from": (today - timedelta(days=29)).isoformat(),
        "to": (today + timedelta(days=1)).isoformat(),
    }


def text(page) -> str:
    return page.get_data(as_text=True)


def cells(row_html: str) -> dict[str, str]:
    """{data-label: shown text} of one table row."""
    return {
        html.unescape(label): html.unescape(re.sub(r"<[^>]+>", "", value)).strip()
        for label, value in re.findall(r'<td data-label="([^"]*)"[^>]*>(.*?)</td>', row_html, re.S)
    }


def table_rows(page_text: str, css_class: str = "report-table") -> list[dict[str, str]]:
    """The body rows of the first table with that class, then its footer row."""
    table = page_text.split(f'class="stack {css_class}"', 1)[1].split("</table>", 1)[0]
    return [cells(row) for row in table.split("<tr")[2:]]


def shown(value, kind: str) -> str:
    """How the page writes an API figure (the rules the page promises, written out again)."""
    if value is None:
        return "—"
    if kind == "count":
        return f"{value:,}"
    if kind == "conversions":
        return f"{value:,.2f}"
    if kind == "roi":
        return f"{value * 100:+.0f}%"
    if kind == "duration":
        return report_view.human_duration(value)
    return f"{Decimal(value):,}"  # money, with thousands separators


COLUMNS = {
    "Touches": ("touches", "count"),
    "Human clicks": ("human_clicks", "count"),
    "Scans": ("scans", "count"),
    "Bot clicks": ("bot_clicks", "count"),
    "Unique visitors": ("unique_visitors", "count"),
    "Claims": ("claims", "count"),
    "Booth scans": ("booth_scans", "count"),
    "Redemptions": ("redemptions", "count"),
    "Conversions": ("conversions", "conversions"),
    "Revenue": ("revenue", "money"),
    "Pipeline value": ("pipeline_value", "money"),
    "Cost": ("cost", "money"),
    "Cost per conversion": ("cost_per_conversion", "money"),
    "ROI": ("roi", "roi"),
    "Median time to convert": ("median_time_to_convert_s", "duration"),
}


def expected(figures: dict) -> dict[str, str]:
    """The cells the page should show for an API row or totals (the label aside)."""
    return {heading: shown(figures[name], kind) for heading, (name, kind) in COLUMNS.items()}


def check_table(body: str, report: dict, label_heading: str) -> None:
    """The page's attribution table is the API's report, row by row, then the totals."""
    *rows, total = table_rows(body)
    assert len(rows) == len(report["rows"])
    for row, want in zip(rows, report["rows"], strict=True):
        assert row.pop(label_heading).startswith(want["label"])  # special rows add a note
        assert row == expected(want)
    assert total.pop("") == "Total"
    assert total == expected(report["totals"])


# A history -----------------------------------------------------------------------------------

SCRIPT_NAME = "<script>alert('x')</script>"


@pytest.fixture
def history(app, api, fake_clock):
    """A newsletter (named like an attack) and a poster with a coupon offer at a store.

    Ann clicks the newsletter, becomes a lead and buys for 100.00 a day later; Bob clicks it
    and does nothing more; Cy opens the poster's offer page, claims a code and redeems it for
    25.00 two days later; Dee scans the poster's QR code and becomes an opportunity worth
    500.00 that never closes; someone redeems the newsletter's shared code SPRING20 for 20.00
    and a walk-in sale of 30.00 names nobody who clicked.
    """
    mail = api.campaign(name=SCRIPT_NAME, channel="email", cost="50.00")
    poster = api.campaign(name="Poster", channel="print", cost="20.00")
    location(api, "NYC-5TH")
    till = staff(api, "NYC-5TH")
    mail_link = api.link(mail["id"])
    poster_offer = offer(api, poster["id"])
    offer_link = api.post(
        "/api/v1/links",
        json={"campaign_id": poster["id"], "offer_id": poster_offer["id"], "store_code": "NYC-5TH"},
    ).get_json()
    poster_link = api.link(poster["id"], store_code="NYC-5TH")

    ann, bob, cy, dee = (app.test_client() for _ in range(4))
    ann_click = click(ann, mail_link)
    click(bob, mail_link)
    landing = cy.get(f"/r/{offer_link['token']}", headers={"User-Agent": BROWSER_UA})
    click(dee, poster_link, kind="q")
    fake_clock.advance(minutes=3)
    coupon = cy.post(
        f"/r/{offer_link['token']}",
        data={"csrf_token": form_token(text(landing))},
        headers={"User-Agent": BROWSER_UA},
    )
    code = re.search(r'class="code"[^>]*>([^<]+)<', text(coupon)).group(1)
    api.post(
        "/api/v1/conversions",
        json={"type": "lead", "visitor_id": ann.get_cookie("tp_vid").value},
    )
    api.post(
        "/api/v1/conversions",
        json={
            "type": "opportunity",
            "visitor_id": dee.get_cookie("tp_vid").value,
            "value": "500.00",
        },
    )
    fake_clock.advance(days=1)
    sale(api, click_id=ann_click, value="100.00")
    fake_clock.advance(days=1)
    assert redeem(till, code, "T-1", amount="25.00").status_code == 201
    offer(api, mail["id"], kind="shared", shared_code="SPRING20")
    assert redeem(till, "SPRING20", "T-2", amount="20.00").status_code == 201
    sale(api, email="walk-in@example.com", value="30.00")
    return {"mail": mail, "poster": poster}


# The page and the API agree ------------------------------------------------------------------


def test_the_default_report_shows_what_the_api_gives(app, api, fake_clock, history):
    page = signed_in(app).get("/dashboard/report")
    assert page.status_code == 200
    body = text(page)
    answer = api.get("/api/v1/reports/attribution?" + urlencode(default_period(fake_clock)))
    report = answer.get_json()
    # The default settings are filled in on the form.
    today = fake_clock.now.date()
    assert f'value="{(today - timedelta(days=29)).isoformat()}"' in body
    assert f'value="{today.isoformat()}"' in body
    assert '<option value="last_touch" selected>' in body
    assert 'id="f-window" name="window" type="text" value="7d"' in body

    check_table(body, report, "Campaign")
    # 100.00 + 25.00 + 20.00 + 30.00 in sales and redemptions; the 500.00 opportunity is
    # pipeline, not money, and only counts when asked for.
    assert report["totals"]["revenue"] == "175.00"
    assert report["params"]["type"] == ["sale", "purchase", "store_sale", "redemption"]
    every = api.get(
        "/api/v1/reports/attribution?" + urlencode({**default_period(fake_clock), "type": "all"})
    ).get_json()
    assert every["totals"]["revenue"] == "675.00"
    # The opportunity is the pipeline value, in its own column and figure.
    assert report["totals"]["pipeline_value"] == "500.00"
    figure = re.search(r'<div class="value">([^<]*)</div><div class="label">pipeline value', body)
    assert figure.group(1) == "500.00"


def test_names_are_escaped(app, fake_clock, history):
    body = text(signed_in(app).get("/dashboard/report"))
    assert "<script>alert" not in body
    assert str(escape(SCRIPT_NAME)) in body  # in the table and the campaign menu


def test_rows_without_a_campaign_touch_are_labelled(app, api, fake_clock, history):
    body = text(signed_in(app).get("/dashboard/report?group_by=channel"))
    special = [cells(row) for row in re.findall(r'<tr class="special">(.*?)</tr>', body, re.S)]
    assert [row["Channel"] for row in special] == [
        "direct (code)shared or unclaimed coupon codes, credited to the offer's campaign",
        "(unattributed)no touch within the window",
    ]
    assert [row["Revenue"] for row in special] == ["20.00", "30.00"]
    report = api.get(
        "/api/v1/reports/attribution?"
        + urlencode({"group_by": "channel", **default_period(fake_clock)})
    ).get_json()
    check_table(body, report, "Channel")


def test_other_settings_match_the_api_too(app, api, fake_clock, history):
    browser = signed_in(app)
    query = {"model": "linear", "window": "30d", "group_by": "location", "type": "sale,redemption"}
    body = text(browser.get("/dashboard/report?" + urlencode(query)))
    report = api.get(
        "/api/v1/reports/attribution?" + urlencode({**query, **default_period(fake_clock)})
    ).get_json()
    check_table(body, report, "Location")
    assert report["totals"]["revenue"] == "175.00"
    assert "Linear model" in body and "30d window" in body


def test_a_campaign_page_links_to_its_report(app, api, fake_clock, history):
    browser = signed_in(app)
    poster = history["poster"]["id"]
    campaign_page = text(browser.get(f"/dashboard/campaigns/{poster}"))
    assert f'href="/dashboard/report?campaign_id={poster}"' in campaign_page
    body = text(browser.get(f"/dashboard/report?campaign_id={poster}"))
    assert "<h1>Report: Poster</h1>" in body
    assert f'<option value="{poster}" selected>Poster</option>' in body
    report = api.get(
        "/api/v1/reports/attribution?"
        + urlencode({"campaign_id": poster, **default_period(fake_clock)})
    ).get_json()
    check_table(body, report, "Campaign")
    # The poster's 25.00 redemption; the 500.00 opportunity is pipeline, not revenue.
    assert report["totals"]["revenue"] == "25.00"


# Errors next to their control ----------------------------------------------------------------


def field_html(body: str, name: str) -> str:
    """The form field (label, error, control) whose control is named `name`."""
    fields = re.findall(r'<div class="field[^"]*">.*?</div>', body, re.S)
    return next(f for f in fields if f'id="f-{name}"' in f)


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"model": "last_click"}, "model", "Model must be one of"),
        ({"window": "7x"}, "window", "Window is a number and a unit"),
        ({"from": "2026-11-10", "to": "2026-11-01"}, "from", "From must be before To"),
        (
            {"model": "position_based", "weights": "50,50,10"},
            "weights",
            "Weights must add up to 100",
        ),
        ({"model": "time_decay", "half_life": "0s"}, "half_life", "Half-life is a number"),
        ({"group_by": "store"}, "group_by", "Grouping must be one of"),
        ({"campaign_id": "999"}, "campaign_id", "No campaign with id 999"),
        ({"type": "big sale"}, "type", "Conversion types must be a comma-separated list"),
        ({"currency": "EURO"}, "currency", "Currency must be a three-letter"),
        ({"to": "2026-13-01"}, "to", "To is not an ISO 8601 time"),
    ],
)
def test_a_bad_setting_is_shown_at_its_control_and_everything_typed_is_kept(
    app, fake_clock, query, field, message
):
    typed = {"window": "30d", "type": "sale", **query}
    response = signed_in(app).get("/dashboard/report?" + urlencode(typed))
    assert response.status_code == 422
    body = text(response)
    at_field = field_html(body, field)
    assert "has-error" in at_field
    error = re.search(rf'<p class="error" id="e-{field}">(.*?)</p>', at_field).group(1)
    assert html.unescape(error).startswith(message)
    assert 'aria-invalid="true"' in at_field and f'aria-describedby="e-{field}' in at_field
    assert body.count('class="error"') == 1  # only the control at fault
    for name, value in typed.items():
        control = field_html(body, name)
        value = html.escape(value)
        assert f'value="{value}"' in control and (
            "<select" not in control or f'value="{value}" selected' in control
        )
    assert 'class="error-summary"' in body and f'href="#f-{field}"' in body
    assert "Attribution</h2>" not in body


def test_every_bad_setting_is_shown_at_its_control_at_once(app, fake_clock):
    typed = {
        "from": "last week",
        "window": "7x",
        "group_by": "store",
        "type": "big sale",
        "model": "time_decay",
        "half_life": "soon",
    }
    response = signed_in(app).get("/dashboard/report?" + urlencode(typed))
    assert response.status_code == 422
    body = text(response)
    wanted = {
        "from": "From is not an ISO 8601 time or date",
        "window": "Window is a number and a unit",
        "group_by": "Grouping must be one of",
        "type": "Conversion types must be a comma-separated list",
        "half_life": "Half-life is a number and a unit",
    }
    for name, message in wanted.items():
        at_field = field_html(body, name)
        error = re.search(rf'<p class="error" id="e-{name}">(.*?)</p>', at_field).group(1)
        assert html.unescape(error).startswith(message), (name, error)
        assert f'href="#f-{name}"' in body  # listed in the summary
    assert body.count('class="error"') == len(wanted)
    for name, value in typed.items():
        assert f'value="{html.escape(value)}"' in field_html(body, name)


def test_mixed_currencies_show_the_most_used_and_say_what_was_left_out(app, api, fake_clock):
    campaign = api.campaign()
    click_id = click(app.test_client(), api.link(campaign["id"]))
    sale(api, click_id=click_id, value="10.00", currency="EUR")
    sale(api, click_id=click_id, value="20.00", currency="EUR")
    sale(api, click_id=click_id, value="1000", currency="JPY")
    browser = signed_in(app)
    page = browser.get("/dashboard/report?model=linear")
    assert page.status_code == 200
    body = text(page)
    assert '<option value="linear" selected>' in body
    assert table_rows(body)[-1]["Revenue"] == "30.00"
    assert "money in EUR" in body
    note = re.search(r'<p class="caution" role="status" id="currency-note">(.*?)</p>', body)
    assert html.unescape(note.group(1)) == (
        "Figures are in EUR. Left out: 1 conversion in JPY. Pick JPY under Currency to see it."
    )
    # A picker of the currencies in use, not a free-text box.
    picker = field_html(body, "currency")
    assert "<select" in picker and "<input" not in picker
    assert re.findall(r'<option value="([^"]*)"', picker) == ["", "EUR", "JPY"]
    assert "Most used (EUR)" in picker
    chosen = text(browser.get("/dashboard/report?model=linear&currency=JPY"))
    assert table_rows(chosen)[-1]["Revenue"] == "1,000"
    assert "Left out: 2 conversions in EUR." in html.unescape(chosen)
    assert '<option value="JPY" selected>JPY</option>' in chosen
    # The API keeps refusing a mixed report and names what it found.
    refused = api.get("/api/v1/reports/attribution?" + urlencode(default_period(fake_clock)))
    assert refused.status_code == 422
    error = refused.get_json()["error"]
    assert (error["code"], error["field"]) == ("mixed_currencies", "currency")
    assert error["currencies"] == ["EUR", "JPY"] and "EUR, JPY" in error["message"]


def test_weights_and_half_life_only_go_with_their_model(app, api, fake_clock, history):
    """The form shows both fields always; another model ignores them instead of a 422."""
    browser = signed_in(app)
    page = browser.get("/dashboard/report?model=linear&weights=30,0,70&half_life=2d")
    assert page.status_code == 200
    assert 'value="30,0,70"' in field_html(text(page), "weights")  # still as typed
    assert "weights=" not in re.search(r'href="([^"]*report\.csv[^"]*)"', text(page)).group(1)
    weighted = text(browser.get("/dashboard/report?model=position_based&weights=30,0,70"))
    assert "Position based model (30/0/70)" in weighted
    shaped = browser.get("/dashboard/report?model=w_shaped&weights=40,30,20,10")
    assert "W shaped model (40/30/20/10)" in text(shaped)
    assert "weights=40" in re.search(r'href="([^"]*report\.csv[^"]*)"', text(shaped)).group(1)
    fixed = text(browser.get("/dashboard/report?model=full_path"))
    assert "Full path model (22.5/22.5/22.5/22.5/10)" in fixed
    wrong = browser.get("/dashboard/report?model=w_shaped&weights=30,30,30")
    assert wrong.status_code == 422
    assert "Weights must be four whole percentages" in field_html(text(wrong), "weights")


def test_the_sales_row_says_what_it_holds(app, api, fake_clock, history):
    ann = api.post("/api/v1/conversions", json={"type": "lead", "email": "zed@example.com"})
    lead_id = ann.get_json()["lead_id"]
    fake_clock.advance(hours=1)
    call = api.post(f"/api/v1/leads/{lead_id}/activities", json={"kind": "call"})
    assert call.status_code == 201
    fake_clock.advance(hours=1)
    api.post("/api/v1/conversions", json={"type": "sale", "lead_id": lead_id, "value": "40.00"})
    browser = signed_in(app)
    body = text(browser.get("/dashboard/report"))
    special = [cells(row) for row in re.findall(r'<tr class="special">(.*?)</tr>', body, re.S)]
    sales = [row for row in special if row["Campaign"].startswith("(sales)")]
    assert sales[0]["Campaign"] == (
        "(sales)calls, meetings, demos, emails and chats that name no campaign"
    )
    assert (sales[0]["Revenue"], sales[0]["Touches"]) == ("40.00", "1")
    # The overview lists it among what no campaign earned, so its rows still add up.
    overview = browser.get("/dashboard/?days=30")
    assert overview.status_code == 200
    assert "(sales)" in text(overview) and "that name no campaign" in text(overview)


# CSV -----------------------------------------------------------------------------------------


def test_the_csv_export_is_the_apis_csv(app, api, fake_clock, history):
    browser = signed_in(app)
    query = {"model": "time_decay", "half_life": "2d", "window": "30d", "group_by": "link"}
    body = text(browser.get("/dashboard/report?" + urlencode(query)))
    href = html.unescape(re.search(r'<a class="button" href="([^"]+)" download>', body).group(1))
    assert href.startswith("/dashboard/report.csv?")
    exported = browser.get(href)
    assert exported.status_code == 200
    assert exported.mimetype == "text/csv"
    assert exported.headers["Content-Disposition"].startswith("attachment;")
    from_api = api.get(
        "/api/v1/reports/attribution?"
        + urlencode({**query, **default_period(fake_clock), "format": "csv"})
    )
    assert text(exported) == text(from_api)
    # The header, three links, the shared code, (unattributed) and the totals.
    assert text(exported).count("\r\n") == 7


# Funnel and time to convert ------------------------------------------------------------------


def test_the_funnel_chart_and_table_show_the_apis_funnel(app, api, fake_clock, history):
    body = text(signed_in(app).get("/dashboard/report"))
    funnel = api.get(
        "/api/v1/reports/funnel?"
        + urlencode({**default_period(fake_clock), "group_by": "location"})
    ).get_json()
    svg = charts.funnel(
        funnel["stages"], label=report_view.FUNNEL_LABEL, currency=funnel["params"]["currency"]
    )
    assert svg in body
    people = {s["stage"]: s["people"] for s in funnel["stages"]}
    assert (people["click"], people["claim"], people["redemption"]) == (4, 1, 1)
    # Ann's sale counts her at every stage before it too.
    assert (people["lead"], people["opportunity"], people["sale"]) == (2, 2, 1)
    assert "claim 1 (25% of click · 3 dropped off)" in svg
    assert "sale 1 (50% of opportunity · 1 dropped off · 500.00 USD lost)" in svg
    stages = table_rows(body, css_class="funnel-table")
    assert [(s["Stage"], s["People"]) for s in stages] == [
        (s["stage"], str(s["people"])) for s in funnel["stages"]
    ]
    sale_row = next(s for s in stages if s["Stage"] == "sale")
    assert sale_row["Value lost"] == "500.00 USD"
    assert sale_row["Dropped off"] == "1" and sale_row["Conversion rate"] == "50%"


def test_the_histogram_shows_time_to_convert(app, api, fake_clock, history):
    body = text(signed_in(app).get("/dashboard/report"))
    times = api.get(
        "/api/v1/reports/time-to-convert?" + urlencode(default_period(fake_clock))
    ).get_json()
    totals = times["totals"]
    svg = charts.histogram(
        [(name, totals["counts"][name]) for name in times["buckets"]],
        label=report_view.HISTOGRAM_LABEL,
    )
    assert svg in body
    # Money received only: Ann's sale a day after her touch and Cy's redemption two days
    # after the claim: < 7 d. The walk-in sale has no touch, the shared code no journey.
    assert times["params"]["type"] == ["sale", "purchase", "store_sale", "redemption"]
    assert totals["counts"] == {"< 1 h": 0, "< 1 d": 0, "< 7 d": 2, "< 30 d": 0, "later": 0}
    assert (totals["without_touch"], totals["direct"]) == (1, 1)
    assert "&lt; 7 d 2 (100%)" in svg
    # Every type: Ann's lead and Dee's opportunity 3 minutes after their touch too.
    every = api.get(
        "/api/v1/reports/time-to-convert?"
        + urlencode({**default_period(fake_clock), "type": "all"})
    ).get_json()
    assert every["params"]["type_all"] is True
    assert every["totals"]["counts"] == {
        "< 1 h": 2,
        "< 1 d": 0,
        "< 7 d": 2,
        "< 30 d": 0,
        "later": 0,
    }
    assert "100% of conversions came less than 7 d after their latest touch: a 7d window" in body
    assert "Not in the chart: 1 with no touch at all, 1 redeemed with a shared" in body
    rows = table_rows(body, css_class="times-table")
    assert [r["Campaign"] for r in rows[:-1]] == [r["label"] for r in times["rows"]]
    assert rows[-1]["Conversions"] == "2"


# Who can see it ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["marketer", "admin"])
def test_marketers_and_admins_see_the_report(app, fake_clock, history, role):
    page = signed_in(app, role=role).get("/dashboard/report")
    assert page.status_code == 200
    assert 'aria-current="page">Report</a>' in text(page)


def test_signed_out_browsers_are_sent_to_sign_in(app):
    for path in ("/dashboard/report?model=linear", "/dashboard/report.csv"):
        response = app.test_client().get(path)
        assert response.status_code == 303
        assert response.headers["Location"].startswith("/dashboard/sign-in?next=")


def test_an_empty_database_explains_the_next_step(app):
    page = signed_in(app).get("/dashboard/report")
    assert page.status_code == 200
    body = text(page)
    assert "Nothing to report yet." in body
    assert 'href="/dashboard/campaigns/new"' in body
    assert "Attribution</h2>" not in body


def test_clicks_without_conversions_say_how_conversions_arrive(app, api, fake_clock):
    click(app.test_client(), api.link(api.campaign()["id"]))
    body = text(signed_in(app).get("/dashboard/report"))
    assert "No conversions in this period yet." in body and "POST /api/v1/conversions" in body
    assert "No conversions with a touch in this period: nothing to chart yet." in body
    assert 'aria-label="People at each stage of the funnel: click 1; lead 0' in body


def test_a_quiet_period_says_what_to_try(app, api, fake_clock, history):
    body = text(signed_in(app).get("/dashboard/report?from=2025-01-01&to=2025-01-31"))
    assert "Nothing happened from 2025-01-01 to 2025-01-31." in body
    assert "Choose a longer period" in body


# Cost of a render ----------------------------------------------------------------------------


def statements_per_render(app, browser, path: str = "/dashboard/report") -> int:
    assert browser.get(path).status_code == 200  # the report tables catch up here
    connection = app.extensions["touchpoint"].db().conn  # the test client's thread's
    seen: list[str] = []
    connection.set_trace_callback(seen.append)
    try:
        assert browser.get(path).status_code == 200
    finally:
        connection.set_trace_callback(None)
    return len(seen)


# Three reports, each reading one snapshot after bringing the report tables up to date (the
# first refresh after new data runs its chunks; the others find nothing new in one read),
# the account and the campaign list.
MAX_STATEMENTS = 64


def test_a_render_issues_a_fixed_small_number_of_statements(tmp_path, fake_clock):
    app = make_app(tmp_path)
    api = api_for(app)
    browser = signed_in(app)
    campaign = api.campaign()
    click_id = click(app.test_client(), api.link(campaign["id"]))
    sale(api, click_id=click_id, value="10.00")
    few = statements_per_render(app, browser)
    # Ten times the campaigns, links, visitors and sales: not one statement more.
    for n in range(10):
        more = api.campaign(name=f"More {n}")
        for _ in range(3):
            more_click = click(app.test_client(), api.link(more["id"]))
            sale(api, click_id=more_click, value="5.00")
    many = statements_per_render(app, browser)
    assert few == many <= MAX_STATEMENTS
    assert statements_per_render(app, browser, "/dashboard/report?group_by=link") <= (
        MAX_STATEMENTS
    )
