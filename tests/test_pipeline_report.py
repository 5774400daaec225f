"""The pipeline report (GET /api/v1/reports/pipeline) on a cohort built through the real API:
leads from conversions, clicks on tracked links, losses, reopenings, sales activities and a
voided sale, every figure checked by hand."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from . import backends
from .conftest import api_for, make_app
from .test_openapi import DOC_PATH, assert_matches
from .test_reports import click

NOV_1, NOV_8 = "2026-11-01", "2026-11-08"
REASONS = (
    "competitor",
    "no_budget",
    "no_decision",
    "no_approval",
    "no_response",
    "bad_fit",
    "timing",
    "other",
)


def at(day: int, hour: int = 9, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def post(api, kind: str, email: str, when: datetime, **extra) -> dict:
    body = {"type": kind, "email": email, "occurred_at": when.isoformat(), **extra}
    response = api.post("/api/v1/conversions", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def pipeline(api, **params) -> dict:
    response = api.get("/api/v1/reports/pipeline?" + urlencode(params))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def by_stage(report: dict) -> dict[str, dict]:
    return {stage["stage"]: stage for stage in report["stages"]}


def column(report: dict, name: str) -> list:
    """One figure of every stage, in order (lead, mql, sql, opportunity, sale)."""
    return [stage[name] for stage in report["stages"]]


@pytest.fixture(name="cohort")
def cohort_fixture(app, api, fake_clock):
    """Eleven leads created from 2 to 7 November 2026 (plus one before and one after), the
    report asked on 10 December. Who they are:

    ann  (A)  lead 2 Nov, mql 3, sql 5, opportunity 7 (1000.00), sale 9 Nov (1200.00): won
    bob  (B)  created 2 Nov by a sign-up; the CRM posts only a sale, 6 Nov (500.00): won
    cy   (A)  lead 3 Nov, mql 4; worth 300.00; lost 5 Nov, no_budget
    di   (B)  lead 3 Nov, mql 3 Nov 22:00, opportunity 6 Nov (800.00) and 7 Nov (900.00);
              lost 8 Nov, competitor (worth its latest opportunity: 900.00)
    ed        mql 4 Nov, nothing since: uncontacted and stalled
    fi        lead 4 Nov 10:00, mql 11:00, a call 20 Nov: neither
    gu        lead 5 Nov; lost 10 Nov, reopened 12 Nov, a note 15 Nov: open, not stalled
    ha        lead 5 Nov 10:00, nothing since: stalled
    io        a sign-up 6 Nov, no stage; worth 50.00; lost 6 Nov, timing
    jo        a newsletter sign-up 6 Nov 10:00, no stage: stalled
    ka        sql 7 Nov; a sale 8 Nov (700.00) voided: open at sql, uncontacted, stalled
    """
    spring = api.campaign(name="Spring Webinar", channel="email")
    expo = api.campaign(name="Expo Ads", channel="social")
    link_a, link_b = api.link(spring["id"]), api.link(expo["id"])
    browsers = {}

    def first_click(name: str, link: dict) -> str | None:
        browsers[name] = app.test_client()
        return click(browsers[name], link)

    def now(when: datetime) -> None:
        fake_clock.now = when

    def lead_id(email: str) -> str:
        return api.get(f"/api/v1/leads?email={email}").get_json()["items"][0]["id"]

    now(at(31, 12, month=10))
    post(api, "lead", "old@example.com", at(31, 12, month=10))  # created before the period
    now(at(2))
    post(api, "lead", "ann@example.com", at(2), click_id=first_click("ann", link_a))
    now(at(2, 10))
    post(api, "signup", "bob@example.com", at(2, 10), click_id=first_click("bob", link_b))
    now(at(3))
    post(api, "mql", "ann@example.com", at(3))
    post(api, "lead", "cy@example.com", at(3), click_id=first_click("cy", link_a))
    now(at(3, 10))
    post(api, "lead", "di@example.com", at(3, 10), click_id=first_click("di", link_b))
    now(at(3, 22))
    post(api, "mql", "di@example.com", at(3, 22))
    now(at(4))
    post(api, "mql", "cy@example.com", at(4))
    post(api, "mql", "ed@example.com", at(4))
    now(at(4, 10))
    post(api, "lead", "fi@example.com", at(4, 10))
    click(browsers["di"], link_a)  # a later touch: di's first touch stays Expo Ads
    now(at(4, 11))
    post(api, "mql", "fi@example.com", at(4, 11))
    now(at(5))
    post(api, "sql", "ann@example.com", at(5))
    post(api, "lead", "gu@example.com", at(5))
    now(at(5, 10))
    post(api, "lead", "ha@example.com", at(5, 10))
    cy = lead_id("cy@example.com")
    api.patch(f"/api/v1/leads/{cy}", json={"value": "300.00", "currency": "USD"})
    assert api.post(f"/api/v1/leads/{cy}/lost", json={"reason": "no_budget"}).status_code == 200
    now(at(6))
    post(api, "signup", "io@example.com", at(6))
    io_ = lead_id("io@example.com")
    api.patch(
        f"/api/v1/leads/{io_}",
        json={
            "value": "50.00",
            "currency": "USD",
            "origin": "partner",
            "source": "=cmd|'/c calc'!A1",
        },
    )
    assert api.post(f"/api/v1/leads/{io_}/lost", json={"reason": "timing"}).status_code == 200
    now(at(6, 10))
    post(api, "sale", "bob@example.com", at(6, 10), value="500.00")
    post(api, "opportunity", "di@example.com", at(6, 10), value="800.00")
    post(api, "newsletter", "jo@example.com", at(6, 10))
    now(at(7))
    post(api, "opportunity", "ann@example.com", at(7), value="1000.00")
    post(api, "sql", "ka@example.com", at(7))
    now(at(7, 10))
    post(api, "opportunity", "di@example.com", at(7, 10), value="900.00")
    now(at(8, 0))
    post(api, "lead", "late@example.com", at(8, 0))  # created at the end of the period: out
    now(at(8))
    voided = post(api, "sale", "ka@example.com", at(8), value="700.00")
    di = lead_id("di@example.com")
    assert api.post(f"/api/v1/leads/{di}/lost", json={"reason": "competitor"}).status_code == 200
    now(at(8, 10))
    assert (
        api.post(f"/api/v1/conversions/{voided['id']}/void", json={"reason": "refund"}).status_code
        == 200
    )
    now(at(9))
    post(api, "sale", "ann@example.com", at(9), value="1200.00")
    now(at(10))
    gu = lead_id("gu@example.com")
    assert api.post(f"/api/v1/leads/{gu}/lost", json={"reason": "timing"}).status_code == 200
    now(at(12))
    assert api.post(f"/api/v1/leads/{gu}/reopen", json={}).status_code == 200
    now(at(15))
    api.post(f"/api/v1/leads/{gu}/activities", json={"kind": "note", "note": "call in Dec"})
    now(at(20))
    api.post(f"/api/v1/leads/{lead_id('fi@example.com')}/activities", json={"kind": "call"})
    owners = {"ann": "rep-a@x.io", "bob": "rep-a@x.io", "cy": "rep-b@x.io", "di": "rep-b@x.io"}
    owners["ka"] = "rep-b@x.io"
    for name, owner in owners.items():
        api.patch(f"/api/v1/leads/{lead_id(f'{name}@example.com')}", json={"owner": owner})
    api.patch(f"/api/v1/leads/{lead_id('ann@example.com')}", json={"source": "var:acme"})
    api.patch(f"/api/v1/leads/{lead_id('bob@example.com')}", json={"origin": "sales"})
    api.patch(f"/api/v1/leads/{di}", json={"source": "trade_show:expo-2026"})
    now(at(10, month=12))
    return {"spring": spring["id"], "expo": expo["id"]}


# The whole cohort --------------------------------------------------------------------------


def test_every_figure_of_the_cohort(api, cohort):
    report = pipeline(api, **{"from": NOV_1, "to": NOV_8})
    assert report["params"] == {
        "from": "2026-11-01T00:00:00.000Z",
        "to": "2026-11-08T00:00:00.000Z",
        "campaign_id": None,
        "currency": "USD",
        "currencies": ["USD"],
        "group_by": None,
        "stages": ["lead", "mql", "sql", "opportunity", "sale"],
        "handoff_stage": "mql",
        "won_stages": ["sale"],
        "lost_reasons": list(REASONS),
        "stall_days": 30,
        "follow_up_hours": 48,
        "as_of": "2026-12-10T09:00:00.000Z",
    }
    # Furthest stage: gu, ha at lead; cy, ed, fi at mql; ka at sql; di at opportunity; ann
    # and bob at sale (bob's CRM posted only the sale); io and jo at none.
    assert column(report, "reached") == [9, 7, 4, 3, 2]
    assert column(report, "advanced") == [7, 4, 3, 2, 0]
    assert column(report, "open_here") == [2, 2, 1, 0, 0]  # gu ha / ed fi / ka
    assert column(report, "stalled") == [1, 1, 1, 0, 0]  # ha / ed / ka
    assert column(report, "uncontacted") == [None, 2, None, None, None]  # ed, ka
    assert column(report, "lost") == [0, 1, 0, 1, 0]  # cy at mql, di at opportunity
    assert column(report, "conversion_rate") == ["0.7778", "0.5714", "0.7500", "0.6667", None]
    # lead->mql: ann 1 d, bob 0, cy 1 d, di 12 h, ed 0, fi 1 h, ka 0 -> median 1 h;
    # mql->sql: ann 2 d, bob 0, di 2.5 d (its opportunity passed sql), ka 0 -> 1 d;
    # sql->opportunity: ann 2 d, bob 0, di 0 -> 0; opportunity->sale: ann 2 d, bob 0 -> 1 d.
    assert column(report, "median_days_to_next") == [0.04, 1.0, 0.0, 1.0, None]
    assert column(report, "value_lost") == ["0.00", "300.00", "0.00", "900.00", "0.00"]
    assert column(report, "by_reason") == [
        {},
        {"no_budget": {"count": 1, "value": "300.00"}},  # cy's own value
        {},
        {"competitor": {"count": 1, "value": "900.00"}},  # di's latest opportunity
        {},
    ]
    assert report["no_stage"] == {
        "leads": 2,
        "open": 1,
        "stalled": 1,
        "lost": 1,
        "by_reason": {"timing": {"count": 1, "value": "50.00"}},
        "value_lost": "50.00",
    }
    assert report["totals"] == {
        "leads": 11,
        "open": 6,
        "won": 2,
        "lost": 3,
        "stalled": 4,
        "uncontacted": 2,
        "win_rate": "0.4000",  # 2 won of 5 closed
        "handoff_ratio": "0.5714",  # 4 reached sql of 7 at mql
        "median_cycle_days": 5.5,  # ann 7 days, bob 4
        "value_won": "1700.00",  # sales only: not ann's opportunity, not ka's voided sale
        "value_lost": "1250.00",
    }
    assert "groups" not in report


def test_voided_conversions_count_for_no_stage_and_no_value(api, cohort):
    """ka's 700.00 sale was voided: ka is open at sql and the sale is in no figure."""
    report = pipeline(api, **{"from": "2026-11-07", "to": NOV_8})
    assert report["totals"]["leads"] == 1  # ka, created 7 November
    assert column(report, "reached") == [1, 1, 1, 0, 0]
    assert column(report, "open_here") == [0, 0, 1, 0, 0]
    assert report["totals"]["won"] == 0 and report["totals"]["value_won"] == "0.00"
    assert report["totals"]["median_cycle_days"] is None


def test_the_period_is_when_leads_were_created(api, cohort):
    # 31 Oct (old) is in, 8 Nov 00:00 (late) is not: [from, to).
    report = pipeline(api, **{"from": "2026-10-31", "to": "2026-11-08T00:00:00Z"})
    assert report["totals"]["leads"] == 12
    report = pipeline(api, **{"from": "2026-10-31", "to": "2026-11-08T00:00:00.001Z"})
    assert report["totals"]["leads"] == 13
    assert pipeline(api, **{"from": "2026-12-01", "to": "2026-12-02"})["totals"] == {
        "leads": 0,
        "open": 0,
        "won": 0,
        "lost": 0,
        "stalled": 0,
        "uncontacted": 0,
        "win_rate": None,
        "handoff_ratio": None,
        "median_cycle_days": None,
        "value_won": "0.00",
        "value_lost": "0.00",
    }


# Groups ------------------------------------------------------------------------------------


def groups(report: dict) -> dict:
    return {(g["key"], g["label"]): g for g in report["groups"]}


def test_by_first_touch_campaign(api, cohort):
    report = pipeline(api, **{"from": NOV_1, "to": NOV_8, "group_by": "campaign"})
    assert report["totals"]["leads"] == 11 and report["params"]["group_by"] == "campaign"
    # Two leads each; then by name; the leads that never clicked last.
    assert [(g["key"], g["label"]) for g in report["groups"]] == [
        (cohort["expo"], "Expo Ads"),
        (cohort["spring"], "Spring Webinar"),
        ("(no touch)", "(no touch)"),
    ]
    expo, spring, untouched = report["groups"]
    # Spring Webinar: ann (won) and cy (lost at mql, 300.00).
    assert column(spring, "reached") == [2, 2, 1, 1, 1]
    assert column(spring, "advanced") == [2, 1, 1, 1, 0]
    assert column(spring, "lost") == [0, 1, 0, 0, 0]
    assert column(spring, "conversion_rate") == ["1.0000", "0.5000", "1.0000", "1.0000", None]
    assert column(spring, "median_days_to_next") == [1.0, 2.0, 2.0, 2.0, None]
    assert column(spring, "uncontacted") == [None, 0, None, None, None]
    assert spring["totals"] == {
        "leads": 2,
        "open": 0,
        "won": 1,
        "lost": 1,
        "stalled": 0,
        "uncontacted": 0,
        "win_rate": "0.5000",
        "handoff_ratio": "0.5000",
        "median_cycle_days": 7.0,
        "value_won": "1200.00",
        "value_lost": "300.00",
    }
    # Expo Ads: bob (won, only a sale) and di (lost at opportunity, 900.00); di's later click
    # on Spring Webinar does not move it.
    assert column(expo, "reached") == [2, 2, 2, 2, 1]
    assert column(expo, "advanced") == [2, 2, 2, 1, 0]
    assert column(expo, "median_days_to_next") == [0.25, 1.25, 0.0, 0.0, None]
    assert expo["stages"][3]["by_reason"] == {"competitor": {"count": 1, "value": "900.00"}}
    assert expo["totals"] == {
        "leads": 2,
        "open": 0,
        "won": 1,
        "lost": 1,
        "stalled": 0,
        "uncontacted": 0,
        "win_rate": "0.5000",
        "handoff_ratio": "1.0000",
        "median_cycle_days": 4.0,
        "value_won": "500.00",
        "value_lost": "900.00",
    }
    # Never clicked: ed, fi, gu, ha, io, jo, ka.
    assert column(untouched, "reached") == [5, 3, 1, 0, 0]
    assert column(untouched, "open_here") == [2, 2, 1, 0, 0]
    assert column(untouched, "stalled") == [1, 1, 1, 0, 0]
    assert column(untouched, "conversion_rate") == ["0.6000", "0.3333", "0.0000", None, None]
    assert column(untouched, "median_days_to_next") == [0.0, 0.0, None, None, None]
    assert untouched["no_stage"]["leads"] == 2 and untouched["no_stage"]["lost"] == 1
    assert untouched["totals"] == {
        "leads": 7,
        "open": 6,
        "won": 0,
        "lost": 1,
        "stalled": 4,
        "uncontacted": 2,
        "win_rate": "0.0000",
        "handoff_ratio": "0.3333",
        "median_cycle_days": None,
        "value_won": "0.00",
        "value_lost": "50.00",
    }


def test_by_channel_and_one_campaign(api, cohort):
    by_campaign = pipeline(api, **{"from": NOV_1, "to": NOV_8, "group_by": "campaign"})
    report = pipeline(api, **{"from": NOV_1, "to": NOV_8, "group_by": "channel"})
    assert [(g["key"], g["label"]) for g in report["groups"]] == [
        ("email", "email"),
        ("social", "social"),
        ("(no touch)", "(no touch)"),
    ]
    expo, spring, untouched = by_campaign["groups"]
    for channel, campaign in zip(report["groups"], (spring, expo, untouched), strict=True):
        assert {k: channel[k] for k in ("stages", "no_stage", "totals")} == {
            k: campaign[k] for k in ("stages", "no_stage", "totals")
        }
    # campaign_id: the cohort is the leads whose first touch is that campaign.
    only = pipeline(api, **{"from": NOV_1, "to": NOV_8, "campaign_id": cohort["spring"]})
    assert only["params"]["campaign_id"] == cohort["spring"]
    assert {k: only[k] for k in ("stages", "no_stage", "totals")} == {
        k: spring[k] for k in ("stages", "no_stage", "totals")
    }
    grouped = pipeline(
        api, **{"from": NOV_1, "to": NOV_8, "campaign_id": cohort["expo"], "group_by": "owner"}
    )
    assert [(g["label"], g["totals"]["leads"]) for g in grouped["groups"]] == [
        ("rep-a@x.io", 1),
        ("rep-b@x.io", 1),
    ]


def test_by_owner_source_and_origin(api, cohort):
    period = {"from": NOV_1, "to": NOV_8}
    owners = pipeline(api, **period, group_by="owner")
    assert [(g["key"], g["label"], g["totals"]["leads"]) for g in owners["groups"]] == [
        ("rep-b@x.io", "rep-b@x.io", 3),
        ("rep-a@x.io", "rep-a@x.io", 2),
        (None, "(none)", 6),
    ]
    rep_b, rep_a, nobody = owners["groups"]
    assert (rep_a["totals"]["won"], rep_a["totals"]["value_won"]) == (2, "1700.00")
    assert rep_b["totals"]["lost"] == 2 and rep_b["totals"]["value_lost"] == "1200.00"
    assert rep_b["totals"]["uncontacted"] == 1  # ka
    assert column(rep_b, "open_here") == [0, 0, 1, 0, 0]
    assert nobody["totals"]["uncontacted"] == 1 and nobody["no_stage"]["leads"] == 2
    sources = pipeline(api, **period, group_by="source")
    assert [(g["key"], g["totals"]["leads"]) for g in sources["groups"]] == [
        ("=cmd|'/c calc'!A1", 1),
        ("trade_show:expo-2026", 1),
        ("var:acme", 1),
        (None, 8),
    ]
    origins = pipeline(api, **period, group_by="origin")
    assert [(g["key"], g["totals"]["leads"]) for g in origins["groups"]] == [
        ("marketing", 9),
        ("partner", 1),
        ("sales", 1),
    ]
    partner = origins["groups"][1]
    assert partner["no_stage"]["by_reason"] == {"timing": {"count": 1, "value": "50.00"}}
    # Groups always add up to the whole.
    for report in (owners, sources, origins):
        total = [sum(g["stages"][i]["reached"] for g in report["groups"]) for i in range(5)]
        assert total == column(report, "reached")


# CSV ---------------------------------------------------------------------------------------


def test_csv_one_row_per_group_and_stage(api, cohort):
    response = api.get(f"/api/v1/reports/pipeline?from={NOV_1}&to={NOV_8}&format=csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="pipeline-2026-11-01-to-2026-11-07-USD.csv"'
    )
    text = response.get_data(as_text=True)
    assert text.endswith("\r\n")
    rows = list(csv.reader(io.StringIO(text)))
    reasons = [name for reason in REASONS for name in (f"lost_{reason}", f"value_lost_{reason}")]
    assert rows[0] == [
        "group_key",
        "group_label",
        "stage",
        "reached",
        "advanced",
        "open_here",
        "stalled",
        "uncontacted",
        "lost",
        "conversion_rate",
        "median_days_to_next",
        "value_lost",
        *reasons,
    ]

    def lost(**found) -> list[str]:
        cells = []
        for reason in REASONS:
            count, value = found.get(reason, (0, "0.00"))
            cells += [str(count), value]
        return cells

    assert rows[1:] == [
        [
            "all",
            "All leads",
            "lead",
            "9",
            "7",
            "2",
            "1",
            "",
            "0",
            "0.7778",
            "0.04",
            "0.00",
            *lost(),
        ],
        [
            "all",
            "All leads",
            "mql",
            "7",
            "4",
            "2",
            "1",
            "2",
            "1",
            "0.5714",
            "1.0",
            "300.00",
            *lost(no_budget=(1, "300.00")),
        ],
        ["all", "All leads", "sql", "4", "3", "1", "1", "", "0", "0.7500", "0.0", "0.00", *lost()],
        [
            "all",
            "All leads",
            "opportunity",
            "3",
            "2",
            "0",
            "0",
            "",
            "1",
            "0.6667",
            "1.0",
            "900.00",
            *lost(competitor=(1, "900.00")),
        ],
        ["all", "All leads", "sale", "2", "0", "0", "0", "", "0", "", "", "0.00", *lost()],
        [
            "all",
            "All leads",
            "(no stage)",
            "2",
            "",
            "1",
            "1",
            "",
            "1",
            "",
            "",
            "50.00",
            *lost(timing=(1, "50.00")),
        ],
    ]


def test_csv_by_group_makes_typed_text_inert(api, cohort):
    response = api.get(
        f"/api/v1/reports/pipeline?from={NOV_1}&to={NOV_8}&format=csv&group_by=source"
    )
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="pipeline-by-source-2026-11-01-to-2026-11-07-USD.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))[1:]
    assert len(rows) == 4 * 6  # four groups, five stages and (no stage) each
    assert [(r[0], r[1]) for r in rows[::6]] == [
        ("'=cmd|'/c calc'!A1", "'=cmd|'/c calc'!A1"),  # a formula someone typed, now text
        ("trade_show:expo-2026", "trade_show:expo-2026"),
        ("var:acme", "var:acme"),
        ("", "(none)"),
    ]
    by_campaign = api.get(
        f"/api/v1/reports/pipeline?from={NOV_1}&to={NOV_8}&format=csv&group_by=campaign"
        f"&campaign_id={cohort['spring']}"
    )
    disposition = by_campaign.headers["Content-Disposition"]
    assert disposition.endswith(
        f'pipeline-by-campaign-2026-11-01-to-2026-11-07-campaign-{cohort["spring"]}-USD.csv"'
    )
    rows = list(csv.reader(io.StringIO(by_campaign.get_data(as_text=True))))[1:]
    assert {(r[0], r[1]) for r in rows} == {(str(cohort["spring"]), "Spring Webinar")}


# The rules at their boundaries --------------------------------------------------------------


def test_stalled_after_exactly_stall_days_and_uncontacted_after_follow_up_hours(api, fake_clock):
    post(api, "mql", "lu@example.com", fake_clock.now)
    start = fake_clock.now
    period = {"from": "2026-11-01", "to": "2026-11-03"}
    fake_clock.now = start + timedelta(hours=48)
    assert pipeline(api, **period)["totals"]["uncontacted"] == 0  # exactly 48 h: not yet
    fake_clock.now = start + timedelta(hours=48, seconds=1)
    assert pipeline(api, **period)["totals"]["uncontacted"] == 1
    fake_clock.now = start + timedelta(days=30)
    assert pipeline(api, **period)["totals"]["stalled"] == 0  # exactly 30 days: not yet
    fake_clock.now = start + timedelta(days=30, milliseconds=1)
    report = pipeline(api, **period)
    assert report["totals"]["stalled"] == 1 and report["stages"][1]["stalled"] == 1


def test_settings_decide_stages_handoff_and_stall(tmp_path, fake_clock):
    app = make_app(
        tmp_path,
        FUNNEL_STAGES="trial, paid",
        WON_STAGES="paid",
        HANDOFF_STAGE="demo",  # not a stage: the follow-up rule is off
        STALL_DAYS="1",
        LOST_REASONS="price, silence",
    )
    api = api_for(app)
    post(api, "trial", "ma@example.com", fake_clock.now)
    lost = post(api, "trial", "ni@example.com", fake_clock.now)["lead_id"]
    api.post(f"/api/v1/leads/{lost}/lost", json={"reason": "silence"})
    post(api, "paid", "ol@example.com", fake_clock.now, value="20.00")
    fake_clock.advance(days=2)
    report = pipeline(api, **{"from": "2026-11-01", "to": "2026-11-03"})
    assert report["params"]["stages"] == ["trial", "paid"]
    assert report["params"]["handoff_stage"] is None
    assert report["params"]["lost_reasons"] == ["price", "silence"]
    assert column(report, "reached") == [3, 1]
    assert column(report, "stalled") == [1, 0]
    assert column(report, "uncontacted") == [None, None]
    assert report["stages"][0]["by_reason"] == {"silence": {"count": 1, "value": "0.00"}}
    assert report["totals"]["handoff_ratio"] is None
    assert report["totals"]["value_won"] == "20.00"


def test_currencies(api, fake_clock):
    lead = post(api, "mql", "pa@example.com", fake_clock.now)["lead_id"]
    api.patch(f"/api/v1/leads/{lead}", json={"value": "80.00", "currency": "EUR"})
    api.post(f"/api/v1/leads/{lead}/lost", json={"reason": "timing"})
    post(api, "sale", "qu@example.com", fake_clock.now, value="10.00", currency="USD")
    period = {"from": "2026-11-01", "to": "2026-11-03"}
    refused = api.get("/api/v1/reports/pipeline?" + urlencode(period))
    assert refused.status_code == 422
    error = refused.get_json()["error"]
    assert (error["code"], error["field"], error["currencies"]) == (
        "mixed_currencies",
        "currency",
        ["EUR", "USD"],
    )
    eur = pipeline(api, **period, currency="EUR")
    assert (eur["totals"]["value_lost"], eur["totals"]["value_won"]) == ("80.00", "0.00")
    assert eur["params"]["currencies"] == ["EUR", "USD"]
    usd = pipeline(api, **period, currency="usd")
    assert (usd["totals"]["value_lost"], usd["totals"]["value_won"]) == ("0.00", "10.00")
    assert usd["stages"][1]["by_reason"] == {"timing": {"count": 1, "value": "0.00"}}


# Bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ({"from": "yesterday"}, "from", "validation_error"),
        ({"to": "2026-13-01"}, "to", "validation_error"),
        ({"from": "2026-11-08", "to": "2026-11-01"}, "from", "validation_error"),
        ({"group_by": "link"}, "group_by", "invalid_choice"),
        ({"group_by": ""}, "group_by", "validation_error"),
        ({"campaign_id": "abc"}, "campaign_id", "validation_error"),
        ({"campaign_id": "999"}, "campaign_id", "unknown_campaign"),
        ({"currency": "EURO"}, "currency", "validation_error"),
        ({"format": "xml"}, "format", "invalid_choice"),
        ({"model": "linear"}, "model", "unknown_parameter"),
        ({"window": "7d"}, "window", "unknown_parameter"),
    ],
)
def test_every_bad_parameter_is_422_naming_it(api, query, field, code):
    response = api.get("/api/v1/reports/pipeline?" + urlencode(query))
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert (error["field"], error["code"]) == (field, code)
    assert error["message"]


def test_bad_parameters_are_reported_together(api):
    response = api.get("/api/v1/reports/pipeline?from=soon&group_by=day&format=pdf")
    assert response.status_code == 422
    fields = [e["field"] for e in response.get_json()["error"]["errors"]]
    assert fields == ["from", "group_by", "format"]


def test_tokens_only(app, api):
    assert app.test_client().get("/api/v1/reports/pipeline").status_code == 401
    assert api.get("/api/v1/reports/pipeline").status_code == 200


def test_the_answer_is_the_documented_schema(api, cohort):
    doc = json.loads(DOC_PATH.read_text(encoding="utf-8"))
    report = pipeline(api, **{"from": NOV_1, "to": NOV_8, "group_by": "campaign"})
    assert_matches(doc, "PipelineReport", report)
    assert_matches(doc, "PipelineParams", report["params"])
    assert_matches(doc, "PipelineTotals", report["totals"])
    assert_matches(doc, "PipelineNoStage", report["no_stage"])
    for stage in report["stages"]:
        assert_matches(doc, "PipelineStage", stage)
    for group in report["groups"]:
        assert_matches(doc, "PipelineGroup", group)


@pytest.mark.slow
def test_the_command_line_writes_the_same_report(app, cohort, tmp_path):
    from .test_cli import SECRET, run

    database = app.extensions["touchpoint"].database_label
    env = {**backends.environment(app), "TOUCHPOINT_SECRET_KEY": SECRET}
    result = run(tmp_path, "report", "pipeline", "--from", NOV_1, "--to", NOV_8, **env)
    assert result.stderr == f"Read {database} (11 leads in the cohort).\n"
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert [row[:5] for row in rows[1:3]] == [
        ["all", "All leads", "lead", "9", "7"],
        ["all", "All leads", "mql", "7", "4"],
    ]
    result = run(
        tmp_path,
        "report",
        "pipeline",
        "--from",
        NOV_1,
        "--to",
        NOV_8,
        "--format",
        "json",
        "--group-by",
        "campaign",
        "--campaign-id",
        str(cohort["spring"]),
        **env,
    )
    report = json.loads(result.stdout)
    assert report["totals"]["leads"] == 2 and report["totals"]["value_won"] == "1200.00"
    assert [g["label"] for g in report["groups"]] == ["Spring Webinar"]
    refused = run(
        tmp_path, "report", "pipeline", "--from", "soon", "--currency", "EURO", check=False, **env
    )
    assert refused.returncode == 2 and refused.stdout == ""
    assert "--from" in refused.stderr and "--currency" in refused.stderr


def test_times_before_the_year_1000_are_times_not_errors(api, fake_clock):
    """ISO 8601 allows year 0369; stored text must keep four digits (it sorts and parses)."""
    old = pipeline(api, **{"from": "0369-06-14", "to": "0400-01-01"})
    assert old["params"]["from"] == "0369-06-14T00:00:00.000Z"
    assert old["totals"]["leads"] == 0
    later = api.get("/api/v1/reports/pipeline?from=0369-06-14&to=2026-11-03").get_json()
    assert later["params"]["from"] == "0369-06-14T00:00:00.000Z"
    lead = post(api, "lead", "ve@example.com", fake_clock.now)["lead_id"]
    activity = api.post(
        f"/api/v1/leads/{lead}/activities", json={"kind": "note", "at": "0369-06-14T00:10:29Z"}
    )
    assert activity.status_code == 201, activity.get_json()
    assert activity.get_json()["at"] == "0369-06-14T00:10:29.000Z"
