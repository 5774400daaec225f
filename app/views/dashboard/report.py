"""The report page: attribution with its controls, the funnel, time to convert, CSV export.

The form's fields are the reports API's parameters (README "Reports"), so every error the
report functions raise names a control of this form and the CSV link is the same query.
One difference: a date in `to` is the last day shown, as people read "1 to 30 November";
the report functions take an exclusive end, so the page adds a day before calling them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from flask import Response, request, url_for

from app import reports, storage
from app.core import clock, money
from app.core.errors import ValidationError
from app.reports import attribution
from app.views import charts

from ..common import funnel_stages, revenue_types, runtime
from . import bp, field_errors, page

FIELDS = (
    "from",
    "to",
    "campaign_id",
    "group_by",
    "model",
    "window",
    "weights",
    "half_life",
    "type",
    "currency",
)
FUNNEL_FIELDS = ("from", "to", "campaign_id", "currency")
TIME_TO_CONVERT_FIELDS = ("from", "to", "campaign_id", "type")
MODEL_OPTIONS = [(m, m.replace("_", " ").capitalize()) for m in attribution.MODELS]
GROUP_OPTIONS = [(g, g.capitalize()) for g in reports.GROUP_BYS]
WINDOW_PRESETS = ("1h", "1d", "7d", "30d", "90d")
DEFAULT_DAYS = 30
# The share of conversions a suggested window should credit (the time-to-convert hint).
WINDOW_COVERAGE = 0.8
FUNNEL_LABEL = "People at each stage of the funnel"
HISTOGRAM_LABEL = "Time from the latest touch to the conversion"
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_day(text: str) -> date | None:
    """A YYYY-MM-DD control's date, None when it is not one (the report names the error)."""
    if not _DATE_RE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def report_form(query: Mapping[str, str]) -> dict[str, str]:
    """The controls as typed, with the defaults the page shows filled in (the last 30 days)."""
    form = {name: (query.get(name) or "").strip() for name in FIELDS}
    today = clock.utcnow().date()
    form["to"] = form["to"] or today.isoformat()
    if not form["from"]:
        last = parse_day(form["to"]) or today
        form["from"] = (last - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
    form["model"] = form["model"] or "last_touch"
    form["window"] = form["window"] or attribution.format_duration(reports.DEFAULT_WINDOW_S)
    form["group_by"] = form["group_by"] or "campaign"
    return form


def report_query(form: dict[str, str]) -> dict[str, Any]:
    """The form as the page's own query string (links to the CSV and to this page)."""
    query = {name: value for name, value in form.items() if value}
    # Weights and half-life stay on the form whatever the model (showing them needs no
    # script); only the model that uses them gets them, instead of a 422 for the others.
    if form["model"] not in ("position_based", "w_shaped"):
        query.pop("weights", None)
    if form["model"] != "time_decay":
        query.pop("half_life", None)
    return query


def _report_args(form: dict[str, str], names: tuple[str, ...] = FIELDS) -> dict[str, str]:
    """The report functions' parameters: the page's query with `to` as an exclusive end."""
    args = {k: v for k, v in report_query(form).items() if k in names}
    last = parse_day(args["to"])
    if last is not None:
        args["to"] = (last + timedelta(days=1)).isoformat()
    return args  # anything but a date goes as typed: the report names it if it is wrong


def human_duration(seconds: float | None) -> str:
    """A median time to convert as people say it: 45 s, 12 min, 5.5 h, 3.2 days."""
    if seconds is None:
        return "—"
    for limit, unit, size in ((90, "s", 1), (5_400, "min", 60), (129_600, "h", 3_600)):
        if seconds < limit:
            return f"{_decimal(seconds / size)} {unit}"
    return f"{_decimal(seconds / 86_400)} days"


def _decimal(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}".removesuffix(".0")


def _count(value: int) -> str:
    return f"{value:,}"


def _money(value: str | None) -> str:
    return "—" if value is None else money.grouped(value)


def _roi(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:+.0f}%"


# The attribution table after its label column: (field, heading, how a value is shown).
# Shaped here rather than in template macros: a report by day or by link has hundreds of
# rows, and a Jinja macro call per cell was half the page's render time.
COLUMNS = (
    ("touches", "Touches", _count),
    ("human_clicks", "Human clicks", _count),
    ("scans", "Scans", _count),
    ("bot_clicks", "Bot clicks", _count),
    ("unique_visitors", "Unique visitors", _count),
    ("claims", "Claims", _count),
    ("booth_scans", "Booth scans", _count),
    ("redemptions", "Redemptions", _count),
    ("conversions", "Conversions", lambda value: f"{value:,.2f}"),
    ("revenue", "Revenue", _money),
    ("pipeline_value", "Pipeline value", _money),
    ("cost", "Cost", _money),
    ("cost_per_conversion", "Cost per conversion", _money),
    ("roi", "ROI", _roi),
    ("median_time_to_convert_s", "Median time to convert", lambda value: human_duration(value)),
)
# Rows that are not a campaign, link, place or day, and what they hold.
SPECIAL_ROWS = {
    reports.UNATTRIBUTED: "no touch within the window",
    reports.DIRECT: "shared or unclaimed coupon codes, credited to the offer's campaign",
}
# The (sales) row: sales activities credited to no campaign, by group_by.
SALES_NOTES = {
    "campaign": "calls, meetings, demos, emails and chats that name no campaign",
    "link": "calls, meetings, demos, emails and chats: they have no link",
    "location": "calls, meetings, demos, emails and chats: they have no place",
}
# The row of touches with no campaign, link or place (key null), by group_by.
NO_KEY_NOTES = {
    "campaign": "touches that belong to no campaign: booth scans of a badge or a typed email",
    "channel": "touches that belong to no campaign: booth scans of a badge or a typed email",
    "link": "touches without a link: booth scans",
    "location": "touches of links that name no store or booth",
}


def _cells(figures: dict) -> list[tuple[str, str, str]]:
    return [(name, heading, show(figures[name])) for name, heading, show in COLUMNS]


def _href(group_by: str, key: object) -> str | None:
    if group_by == "campaign" and isinstance(key, int):
        return url_for("dash.campaign", campaign_id=key)
    if group_by == "link" and isinstance(key, int):
        return url_for("dash.link", link_id=key)
    if group_by == "location" and key and key not in SPECIAL_ROWS and key != reports.SALES:
        return url_for("dash.location", code=key)
    return None


def row_note(group_by: str, key: object) -> str | None:
    """What a row that is no campaign, link, place or day holds; None for the others."""
    if key is None:
        return NO_KEY_NOTES.get(group_by)
    if key == reports.SALES:
        return SALES_NOTES.get(group_by)
    return SPECIAL_ROWS.get(key) if isinstance(key, str) else None


def table_rows(table: dict) -> list[dict]:
    """The attribution report's rows as the page shows them: label, link, note, cells."""
    group_by = table["params"]["group_by"]
    return [
        {
            "label": row["label"],
            "href": _href(group_by, row["key"]),
            "note": row_note(group_by, row["key"]),
            "cells": _cells(row),
        }
        for row in table["rows"]
    ]


def window_hint(totals: dict, window: str) -> str | None:
    """One line from the time-to-convert totals to the window: the shortest bucket limit
    that covers most conversions, beside the window this report uses."""
    with_touch = totals["with_touch"]
    if not with_touch:
        return None
    covered = 0
    for name, limit in reports.TIME_BUCKETS:
        covered += totals["counts"][name]
        if covered >= WINDOW_COVERAGE * with_touch:
            suggested = attribution.format_duration(limit)
            return (
                f"{covered * 100 // with_touch}% of conversions came less than {name[2:]} after "
                f"their latest touch: a {suggested} window credits them (this report uses "
                f"{window})."
            )
    share = covered * 100 // with_touch
    return (
        f"Only {share}% of conversions came within 30 days of their latest touch: a longer "
        f"window (up to 365d) credits more of them (this report uses {window})."
    )


def _reports(form: dict[str, str]) -> tuple[dict, dict, dict]:
    """Attribution, funnel (with its by-location part) and time to convert for the form.

    Each raises ValidationError naming the bad parameter, which is a control of the form.
    """
    rt = runtime()
    db = rt.db()
    now = clock.utcnow()
    table = attribution_table(form)
    # The funnel's values are shown in the currency the attribution table settled on.
    funnel_args = {
        **_report_args(form, FUNNEL_FIELDS),
        "group_by": "location",
        "currency": table["params"]["currency"],
    }
    funnel = reports.funnel(
        db,
        reports.funnel_params(db, funnel_args, now),
        stages=funnel_stages(rt.config),
        default_currency=rt.config["DEFAULT_CURRENCY"],
        pick_currency=True,
        reader=rt.reports_db(),
    )
    ttc_args = _report_args(form, TIME_TO_CONVERT_FIELDS)
    times = reports.time_to_convert(
        db,
        reports.time_to_convert_params(db, ttc_args, now, revenue_types=revenue_types(rt.config)),
        reader=rt.reports_db(),
    )
    return table, funnel, times


def attribution_table(form: dict[str, str]) -> dict:
    """The attribution report for the page's settings. With values in several currencies
    and none chosen, it is in the currency most conversions use (the page says what was
    left out) rather than a refusal: a dashboard never goes blank."""
    rt = runtime()
    db = rt.db()
    params = reports.attribution_params(
        db, _report_args(form), clock.utcnow(), revenue_types=revenue_types(rt.config)
    )
    return reports.attribute(
        db,
        params,
        default_currency=rt.config["DEFAULT_CURRENCY"],
        pick_currency=True,
        rules=rt.pipeline_rules,
        reader=rt.reports_db(),
    )


def _options(options: list[tuple], typed: str) -> list[tuple]:
    """A select's options, plus the value in the query when it is none of them: the page
    keeps what was asked for beside its error instead of quietly showing the first option."""
    if typed and typed not in {str(value) for value, _ in options}:
        return [*options, (typed, typed)]
    return options


def currency_options(table: dict | None, typed: str) -> list[tuple[str, str]]:
    """The currency picker: the currencies in use in the period (never a free-text box),
    blank meaning the one most conversions use."""
    currencies = table["params"]["currencies"] if table else []
    picked = table["params"]["currency"] if table else None
    most_used = f"Most used ({picked})" if picked and len(currencies) > 1 else "Most used"
    return _options([("", most_used), *((c, c) for c in currencies)], typed.upper())


def excluded_note(table: dict) -> str | None:
    """What a one-currency report left out, said plainly, e.g. "Figures are in USD. Left
    out: 3 conversions in EUR, 1 in GBP. Pick EUR or GBP under Currency to see them."."""
    left_out = table["totals"].get("excluded_by_currency") or {}
    if not left_out:
        return None
    counts = [f"{n:,} in {c}" for c, n in left_out.items()]
    first_n = next(iter(left_out.values()))
    counts[0] = counts[0].replace(" in ", f" conversion{'' if first_n == 1 else 's'} in ", 1)
    return (
        f"Figures are in {table['params']['currency']}. Left out: {', '.join(counts)}. "
        f"Pick {' or '.join(left_out)} under Currency to see "
        f"{'it' if sum(left_out.values()) == 1 else 'them'}."
    )


@bp.get("/report")
def report() -> Response:
    """Attribution, funnel and time to convert for the settings in the query.

    A bad setting is a 422 page with the message next to its control and every value kept.
    """
    rt = runtime()
    db = rt.db()
    form = report_form(request.args)
    campaigns = storage.campaign_names(db)
    context: dict[str, Any] = {
        "form": form,
        "errors": {},
        "campaigns": campaigns,
        "campaign_options": _options(
            [("", "All campaigns"), *((c["id"], c["name"]) for c in campaigns)],
            form["campaign_id"],
        ),
        "campaign": next((c for c in campaigns if str(c["id"]) == form["campaign_id"]), None),
        "models": _options(MODEL_OPTIONS, form["model"]),
        "group_bys": _options(GROUP_OPTIONS, form["group_by"]),
        "window_presets": WINDOW_PRESETS,
        "types": tuple(
            dict.fromkeys((*revenue_types(rt.config), *funnel_stages(rt.config), "all"))
        ),
        "revenue_types": ", ".join(revenue_types(rt.config)),
        "pipeline_types": ", ".join(rt.pipeline_rules.pipeline_types),
        "duration": human_duration,
        "currency_options": currency_options(None, form["currency"]),
    }
    try:
        table, funnel, times = _reports(form)
    except ValidationError as exc:
        return page("dashboard/report.html", exc.status, **{**context, "errors": field_errors(exc)})
    context["currency_options"] = currency_options(table, form["currency"])
    totals = times["totals"]
    total_cells = _cells(table["totals"])
    return page(
        "dashboard/report.html",
        table=table,
        rows=table_rows(table),
        total_cells=total_cells,
        shown={name: text for name, _, text in total_cells},
        columns=COLUMNS,
        funnel=funnel,
        funnel_chart=charts.funnel(
            funnel["stages"], label=FUNNEL_LABEL, currency=funnel["params"]["currency"]
        ),
        times=times,
        histogram=charts.histogram(
            [(name, totals["counts"][name]) for name in times["buckets"]], label=HISTOGRAM_LABEL
        ),
        window_hint=window_hint(totals, table["params"]["window"]),
        excluded_note=excluded_note(table),
        csv_url=url_for("dash.report_csv", **report_query(form)),
        **context,
    )


@bp.get("/report.csv")
def report_csv() -> Response:
    """The attribution table as the API's CSV (`format=csv`), for the page's settings."""
    table = attribution_table(report_form(request.args))
    return Response(
        reports.to_csv(table),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{reports.csv_filename(table)}"'},
    )
