"""touchpoint demo: an empty database becomes a full, consistent season; the same for a seed.

One default-size season is built through the command (click's CliRunner) and shared by the
tests that read it, the way a newcomer would look at it: through the reports API, link
stats and lead timelines. Small seasons check refusing, determinism and the API token rule.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from click.testing import CliRunner

from app import demo, storage
from app.access import api_tokens
from app.cli import cli
from app.clicks import campaigns

from . import backends
from .browser import browser_fixture, new_page  # noqa: F401
from .conftest import api_for, make_app
from .dashboard_helpers import create_user
from .live import gunicorn
from .test_dashboard_browser import Live, sign_in
from .test_reports import check_exact, iso

pytestmark = pytest.mark.slow

SECRET = "demo-test-secret-key-0123456789-abcdef"
CHANNELS = {"email", "search", "social", "display", "print", "in_store", "trade_show", "referral"}
STAGES = ("lead", "mql", "sql", "opportunity", "sale")
EXAMPLE_DOMAINS = (".example.com", ".example.org", ".example.net")


def run_cli(database, *args):
    """`touchpoint demo` on a SQLite file or a PostgreSQL URL."""
    name = (
        "TOUCHPOINT_DATABASE_URL"
        if str(database).startswith("postgresql")
        else "TOUCHPOINT_DATABASE"
    )
    env = {name: str(database), "TOUCHPOINT_SECRET_KEY": SECRET}
    return CliRunner().invoke(cli, ["demo", *args], env=env, catch_exceptions=False)


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    """The default season, built by `touchpoint demo` into a fresh database; (app, output)."""
    folder = tmp_path_factory.mktemp("demo")
    if backends.POSTGRES:
        url = backends.empty_database_url()
        result = run_cli(url)
        assert result.exit_code == 0, result.output
        return make_app(folder, SECRET_KEY=SECRET, DATABASE_URL=url), result.output
    result = run_cli(folder / "touchpoint.db")
    assert result.exit_code == 0, result.output
    return make_app(folder, SECRET_KEY=SECRET), result.output


@pytest.fixture(scope="module")
def db(season):
    return season[0].extensions["touchpoint"].db()


@pytest.fixture(scope="module")
def api(season):
    return api_for(season[0])


def one(db, sql: str, params=()):
    return db.execute(sql, params).fetchone()[0]


def column(db, sql: str, params=()) -> list:
    return [row[0] for row in db.execute(sql, params)]


# The command ------------------------------------------------------------------------------


def test_the_command_says_what_it_made_and_refuses_to_run_again(season, db, tmp_path):
    app, output = season
    assert "90-day demo season (seed 2026)" in output and " s:" in output
    events = one(db, "SELECT count(*) FROM events")
    assert 20_000 <= events <= 200_000  # tens of thousands: pages stay fast
    assert f"events          {events:,}" in output
    assert "by bots" in output and "email scanners" in output
    assert "tps_" not in output  # staff keys are made, never shown
    path = app.extensions["touchpoint"].database_path
    again = run_cli(path)
    assert again.exit_code == 1
    assert "already holds data" in again.output and "9 campaigns" in again.output
    assert one(db, "SELECT count(*) FROM events") == events


def test_help_says_it_only_fills_an_empty_database():
    result = CliRunner().invoke(cli, ["demo", "--help"])
    assert result.exit_code == 0
    assert "EMPTY database" in result.output and "--seed" in result.output
    assert "--days" in result.output and "exit status is 1" in result.output


def test_days_out_of_range_are_refused_before_anything_is_written(tmp_path):
    result = run_cli(tmp_path / "x.db", "--days", "3")
    assert result.exit_code == 2 and "--days" in result.output
    assert not (tmp_path / "x.db").exists()


# What a dashboard shows --------------------------------------------------------------------


def test_campaigns_cover_every_channel_with_costs_dates_and_links(db):
    assert set(column(db, "SELECT channel FROM campaigns")) == CHANNELS
    for cost, starts, ends, links in db.execute(
        "SELECT cost_minor, starts_at, ends_at,"
        " (SELECT count(*) FROM links l WHERE l.campaign_id = c.id) FROM campaigns c"
    ):
        assert cost > 0 and starts < ends and 2 <= links <= 6
    hosts = {
        urlsplit(url).hostname
        for url in column(db, "SELECT destination FROM links WHERE destination IS NOT NULL")
        + column(db, "SELECT fallback_url FROM links WHERE fallback_url IS NOT NULL")
    }
    assert hosts and all(h.endswith(EXAMPLE_DOMAINS) for h in hosts)
    # One currency everywhere, so every report adds up without a currency= choice.
    currencies = set(column(db, "SELECT currency FROM campaigns"))
    currencies |= set(column(db, "SELECT currency FROM conversions WHERE value_minor IS NOT NULL"))
    currencies |= set(column(db, "SELECT currency FROM redemptions WHERE amount_minor IS NOT NULL"))
    assert currencies == {"USD"}


def test_people_places_and_keys(db):
    stores = column(db, "SELECT code FROM locations WHERE kind = 'store'")
    assert len(stores) == 3 and one(db, "SELECT count(*) FROM locations WHERE kind = 'booth'") == 1
    used = column(db, "SELECT DISTINCT location_code FROM staff_keys WHERE last_used_at > ''")
    assert sorted(used) == sorted(column(db, "SELECT code FROM locations"))
    assert one(db, "SELECT count(*) FROM api_tokens") == 0
    assert one(db, "SELECT count(*) FROM recipients") >= 1000
    named = one(db, "SELECT count(*) FROM leads WHERE name IS NOT NULL AND attributes IS NOT NULL")
    assert named >= 1000
    # Browsers stitched across devices: leads with two browsers that both made human touches.
    assert (
        one(
            db,
            "SELECT count(*) FROM (SELECT lv.lead_id FROM lead_visitors lv WHERE EXISTS ("
            " SELECT 1 FROM events e WHERE e.visitor_id = lv.visitor_id AND e.is_bot = 0)"
            " GROUP BY lv.lead_id HAVING count(*) >= 2) AS stitched",
        )
        >= 10
    )


def test_coupons_booth_scans_and_conversions(db):
    assert set(column(db, "SELECT kind FROM offers")) == {"unique", "shared"}
    assert one(db, "SELECT count(*) FROM codes WHERE recipient_id IS NOT NULL") >= 1000
    assert one(db, "SELECT count(*) FROM claims") >= 100
    redeemed, voided, with_amount, claimed = db.execute(
        "SELECT count(*), count(voided_at), count(amount_minor), count(claim_id) FROM redemptions"
    ).fetchone()
    assert redeemed >= 100 and 0 < voided < redeemed / 5 and with_amount == redeemed
    assert 0 < claimed < redeemed  # printed and shared codes are redeemed without a claim
    matched, unmatched = db.execute(
        "SELECT count(lead_id), count(*) - count(lead_id) FROM booth_scans"
    ).fetchone()
    assert matched >= 100 and unmatched >= 1
    types = dict(db.execute("SELECT type, count(*) FROM conversions GROUP BY type"))
    assert all(types.get(stage, 0) > 0 for stage in STAGES) and types["purchase"] > 100
    assert types["lead"] > types["mql"] > types["sql"] > types["sale"]
    assert one(db, "SELECT count(*) FROM conversions WHERE type = 'opportunity'") == one(
        db, "SELECT count(value_minor) FROM conversions WHERE type = 'opportunity'"
    )


def test_bots_scanners_and_outcomes_as_the_redirect_records_them(db, api):
    reasons = set(column(db, "SELECT DISTINCT bot_reason FROM events WHERE is_bot = 1"))
    assert {"scanner:burst", "scanner:multi_network", "head_request", "no_user_agent"} <= reasons
    assert any(r.startswith("ua:") for r in reasons)
    assert {"redirect", "landing", "fallback", "claimed", "redeemed", "voided", "scanned"} <= set(
        column(db, "SELECT DISTINCT outcome FROM events")
    )
    assert one(db, "SELECT count(*) FROM orphan_hits") > 0
    mail_link = one(
        db,
        "SELECT min(l.id) FROM links l JOIN campaigns c ON c.id = l.campaign_id"
        " WHERE c.channel = 'email'",
    )
    stats = api.get(f"/api/v1/links/{mail_link}/stats").get_json()
    assert stats["bots"] > 0 and stats["scanners"] > 0 and stats["human"] > 0


def test_trends_have_a_weekly_rhythm_and_launches(db):
    """Weekend shoppers in brand search; the social drop's first days above its later ones."""

    def daily(channel: str, name: str | None = None) -> dict[str, int]:
        sql = (
            "SELECT d.day, sum(d.human_clicks + d.scans) FROM report_days d"
            " JOIN campaigns c ON c.id = d.campaign_id WHERE c.channel = ? GROUP BY d.day"
        )
        return dict(db.execute(sql, (channel,)))

    brand = daily("search")
    weekend = [n for day, n in brand.items() if datetime.fromisoformat(day).weekday() >= 5]
    weekdays = [n for day, n in brand.items() if datetime.fromisoformat(day).weekday() < 4]
    assert statistics.mean(weekend) > 1.15 * statistics.mean(weekdays)
    drop = [n for _, n in sorted(daily("social").items())]
    assert statistics.mean(drop[:3]) > 1.5 * statistics.mean(drop[-10:])


# The reports, as the dashboard asks for them ------------------------------------------------


def report(api, name: str, **params) -> dict:
    response = api.get(f"/api/v1/reports/{name}?" + urlencode(params))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_attribution_by_default_has_channels_revenue_and_roi(api):
    by_channel = report(api, "attribution", group_by="channel")
    active = [r for r in by_channel["rows"] if r["touches"] > 0 and r["key"] in CHANNELS]
    assert len(active) >= 5
    campaigns_report = report(api, "attribution")
    credited = [r for r in campaigns_report["rows"] if isinstance(r["key"], int)]
    assert sum(float(r["revenue"]) > 0 and r["roi"] > 0 for r in credited) >= 4
    assert any(r["bot_clicks"] > 0 for r in credited)
    totals = campaigns_report["totals"]
    assert float(totals["revenue"]) > 0 and float(totals["cost"]) > 0
    assert totals["redemptions"] > 0 and totals["claims"] > 0


@pytest.mark.browser
def test_the_overview_and_the_report_page_show_the_same_revenue(season, api, browser):
    """The figure a marketer shows the CFO: the same on both pages, in a real browser, and
    it is money received (the API's default), not pipeline values."""
    app, _ = season
    create_user(app, "ada@example.com", "admin")
    env = {
        **backends.environment(app),
        "TOUCHPOINT_SECRET_KEY": SECRET,
    }
    with gunicorn(env, workers=2) as port, new_page(browser) as page:
        live = Live(app, f"http://127.0.0.1:{port}")
        sign_in(page, live)
        for days in (30, 90):
            page.goto(f"{live.base}/dashboard/?days={days}")
            on_overview = page.locator("#overview-revenue").inner_text()
            page.get_by_role("link", name="report for the same days").click()
            figure = page.locator(".figure").filter(has_text="revenue").locator(".value")
            assert figure.inner_text() == on_overview
            # The report page's period: its `to` is the last day shown, included.
            shown = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
            last = datetime.fromisoformat(shown["to"]).date()
            money = report(
                api, "attribution", **{"from": shown["from"], "to": str(last + timedelta(days=1))}
            )
            assert money["params"]["type"] == ["sale", "purchase", "store_sale", "redemption"]
            assert on_overview == f"{float(money['totals']['revenue']):,.2f}"
            every = report(
                api,
                "attribution",
                **{"from": shown["from"], "to": str(last + timedelta(days=1)), "type": "all"},
            )
            assert float(every["totals"]["revenue"]) > float(money["totals"]["revenue"])


def test_funnel_stages_are_all_reached(api):
    stages = report(api, "funnel", group_by="location")
    people = {s["stage"]: s["people"] for s in stages["stages"]}
    assert list(people) == ["click", "claim", "redemption", *STAGES]
    assert all(n > 0 for n in people.values())
    assert {row["key"] for row in stages["by_location"]} >= {"NYC-SOHO", "BOS-BACKBAY", "CHI-LOOP"}


def test_time_to_convert_spreads_over_the_buckets(api, db):
    first = one(db, "SELECT min(at) FROM events")
    histogram = report(api, "time-to-convert", **{"from": first})
    counts = histogram["totals"]["counts"]
    assert sum(n > 0 for n in counts.values()) >= 4
    assert len(histogram["rows"]) >= 6 and histogram["totals"]["direct"] > 0


def test_a_lead_timeline_spans_devices_campaigns_and_conversions(api, db):
    lead_id = one(
        db,
        "SELECT lv.lead_id FROM lead_visitors lv JOIN conversions c ON c.lead_id = lv.lead_id"
        " WHERE EXISTS (SELECT 1 FROM events e WHERE e.visitor_id = lv.visitor_id"
        " AND e.is_bot = 0) GROUP BY lv.lead_id HAVING count(DISTINCT lv.visitor_id) >= 2"
        " ORDER BY lv.lead_id LIMIT 1",
    )
    body = api.get(f"/api/v1/leads/{lead_id}").get_json()
    assert body["lead"]["email"].endswith(tuple(d[1:] for d in EXAMPLE_DOMAINS))
    hits = ("click", "scan", "claim", "redemption", "void", "booth_scan")
    touches = [e for e in body["events"] if e["type"] in hits and not e["is_bot"]]
    assert len({e["visitor_id"] for e in touches}) >= 2
    assert any(e["type"] == "conversion" for e in body["events"])


def test_the_offline_channels_are_alive(api, db):
    """Calls on tracking numbers, a reseller with referred deals and commission, till sales
    with and without "customer mentioned", web orders picked up in stores, booth scans with
    ratings and notes: every new report row and page has something to show."""
    calls = api.get("/api/v1/calls?limit=1000").get_json()["items"]
    assert len(calls) >= 20 and any(not c["answered"] for c in calls)
    flyers = {c["campaign_id"] for c in calls} - {None}
    assert len(flyers) == 1 and any(c["campaign_id"] is None for c in calls)  # the sales line
    assert set(column(db, "SELECT DISTINCT kind FROM lead_activities")) >= {"missed_call"}
    by_partner = api.get(
        "/api/v1/reports/attribution?group_by=partner&type=all&from=2000-01-01"
    ).get_json()
    [reseller] = [r for r in by_partner["rows"] if r["key"] == "fleetfoot-sports"]
    assert reseller["touches"] >= 10
    sales = one(db, "SELECT count(*) FROM conversions WHERE type = 'store_sale'")
    mentioned = one(db, "SELECT count(*) FROM offline_touches WHERE kind = 'mentioned'")
    assert sales >= 50 and 0 < mentioned < sales
    assert one(db, "SELECT count(*) FROM conversions WHERE picked_up_at IS NOT NULL") >= 5
    rated = one(
        db, "SELECT count(*) FROM booth_scans WHERE rating IS NOT NULL AND note IS NOT NULL"
    )
    assert rated >= 5
    by_store = api.get("/api/v1/reports/attribution?group_by=location&from=2000-01-01").get_json()
    stores = {r["key"] for r in by_store["rows"] if r["revenue"] != "0.00"}
    assert {"NYC-SOHO", "BOS-BACKBAY", "CHI-LOOP"} <= stores


def test_the_b2b_leads_have_owners_activities_and_losses(api, db):
    """The pipeline page has something to show: reps own the CRM leads, call them (some
    never), meet and demo, and mark the ones that went nowhere lost with varied reasons."""
    owned = one(db, "SELECT count(*) FROM leads WHERE owner IS NOT NULL")
    assert owned >= 100
    assert set(column(db, "SELECT DISTINCT origin FROM leads")) == {"marketing", "sales", "partner"}
    kinds = set(column(db, "SELECT DISTINCT kind FROM lead_activities"))
    assert kinds >= {"call", "meeting", "demo"}
    late = api.get("/api/v1/leads?uncontacted=true&limit=1000").get_json()["items"]
    assert len(late) >= 3 and all(item["waiting_s"] > 48 * 3600 for item in late)
    lost = api.get("/api/v1/leads?status=lost&limit=1000").get_json()["items"]
    assert len({item["lost_reason"] for item in lost}) >= 5
    assert len({item["lost_stage"] for item in lost}) >= 2
    assert sum(item["value"] is not None for item in lost) >= 5
    won = api.get("/api/v1/leads?status=won&limit=1000").get_json()["items"]
    assert won and all(item["stage"] == "sale" for item in won)


def test_the_report_tables_equal_a_recount(db):
    first = datetime.fromisoformat(one(db, "SELECT min(at) FROM events"))
    start = first.replace(hour=0, minute=0, second=0, microsecond=0)
    wide = (iso(start - timedelta(days=1)), iso(datetime.now(UTC) + timedelta(days=1)))
    check_exact(db, wide, start, span_s=90 * 86_400)


# Small seasons ------------------------------------------------------------------------------

END = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def build(tmp_path, name: str, seed: int, token: bool = False):
    app = make_app(tmp_path / name, SECRET_KEY=SECRET)
    rt = app.extensions["touchpoint"]
    db = rt.db()
    if token:  # what `make run` leaves before anyone runs the demo
        api_tokens.create(db, "first admin", "admin")
    demo.build(db, rt, seed=seed, days=7, end=END)
    return db


def contents(db) -> dict[str, list]:
    """Every table the demo writes, row by row; staff keys without their random secrets."""
    found = {}
    for table in demo.DATA_TABLES:
        cursor = db.execute(f"SELECT * FROM {table}")
        # PostgreSQL's tx (the inserting transaction) differs between two databases by nature.
        keep = [i for i, column in enumerate(cursor.description) if column[0] != "tx"]
        rows = sorted((tuple(row[i] for i in keep) for row in cursor.fetchall()), key=repr)
        if table == "staff_keys":
            rows = [row[:3] + row[5:] for row in rows]  # not prefix, key_hash
        found[table] = rows
    return found


def test_a_seed_gives_the_same_season_and_tokens_do_not_stop_it(tmp_path):
    first = build(tmp_path, "a", seed=7, token=True)
    second = build(tmp_path, "b", seed=7)
    other = build(tmp_path, "c", seed=8)
    assert contents(first) == contents(second)
    assert one(first, "SELECT count(*) FROM api_tokens") == 1
    assert storage.count_rows(first, demo.DATA_TABLES) != storage.count_rows(
        other, demo.DATA_TABLES
    )
    assert max(column(first, "SELECT at FROM events")) < iso(END)


def test_a_database_with_data_is_left_alone(tmp_path):
    app = make_app(tmp_path)
    rt = app.extensions["touchpoint"]
    db = rt.db()
    campaigns.create(db, {"name": "Mine", "channel": "email", "utm_source": "a", "utm_medium": "b"})
    with pytest.raises(demo.NotEmpty) as refused:
        demo.build(db, rt, days=7, end=END)
    assert refused.value.found == {"campaigns": 1}
    assert storage.count_rows(db, demo.DATA_TABLES) == {
        t: int(t == "campaigns") for t in demo.DATA_TABLES
    }
