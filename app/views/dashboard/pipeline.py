"""The pipeline page: the pipeline report for a period and a grouping, its chart and table,
the way to the uncontacted leads, and CSV export.

The form's fields are the pipeline report's parameters (README "GET
/api/v1/reports/pipeline"), so every error the report raises names a control of this form,
and the CSV is the API's for the same settings. As on the report page, a date in `to` is the
last day shown ("1 to 30 November") and the page adds a day for the report's exclusive end.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import Response, request, url_for

from app import reports, storage
from app.core import clock, money
from app.core.errors import ValidationError
from app.views import charts

from ..common import runtime
from . import bp, field_errors, page
from .report import currency_options, parse_day

FIELDS = ("from", "to", "group_by", "campaign_id", "currency")
GROUP_OPTIONS = [
    ("", "Nothing (the whole cohort)"),
    ("campaign", "First-touch campaign"),
    ("channel", "First-touch channel"),
    ("source", "Source"),
    ("owner", "Owner"),
    ("origin", "Origin"),
]
DEFAULT_DAYS = 30
CHART_LABEL = "Where the leads of each stage went"


def pipeline_form(query: Mapping[str, str]) -> dict[str, str]:
    """The controls as typed, the default period (the last 30 days, today included) filled in."""
    form = {name: (query.get(name) or "").strip() for name in FIELDS}
    today = clock.utcnow().date()
    form["to"] = form["to"] or today.isoformat()
    if not form["from"]:
        last = parse_day(form["to"]) or today
        form["from"] = (last - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
    return form


def _report_args(form: dict[str, str]) -> dict[str, str]:
    """The report's parameters: the filled-in controls, `to` as the day after the last."""
    args = {name: value for name, value in form.items() if value}
    last = parse_day(args["to"])
    if last is not None:
        args["to"] = (last + timedelta(days=1)).isoformat()
    return args  # anything but a date goes as typed: the report names it if it is wrong


def pipeline_for(form: dict[str, str], fmt: str = "json") -> dict:
    """The pipeline report for the page's settings. With values in several currencies and
    none chosen, in the one most used (a dashboard never goes blank)."""
    rt = runtime()
    db = rt.db()
    now = clock.utcnow()
    params = reports.pipeline_params(db, {**_report_args(form), "format": fmt}, now)
    return reports.pipeline_report(
        db,
        params,
        rules=rt.pipeline_rules,
        now=now,
        default_currency=rt.config["DEFAULT_CURRENCY"],
        pick_currency=True,
        reader=rt.reports_db(),
    )


def _options(options: list[tuple], typed: str) -> list[tuple]:
    """A select's options, plus the value asked for when it is none of them, so the page
    keeps it beside its error."""
    if typed and typed not in {str(value) for value, _ in options}:
        return [*options, (typed, typed)]
    return options


def percent(rate: str | None) -> str:
    """A report's decimal rate as people read it: "0.5714" -> "57%"; — for none."""
    return "—" if rate is None else f"{float(rate) * 100:.0f}%"


def days(value: float | None) -> str:
    """A median in days as people say it: 0 d, 5 h (under a day), 2.5 d, 12 d; — for none."""
    if value is None:
        return "—"
    if value == 0:
        return "0 d"
    if value < 1:
        return f"{max(round(value * 24), 1)} h"
    return f"{value:.1f} d".replace(".0 d", " d") if value < 10 else f"{value:.0f} d"


def reasons_text(by_reason: dict, currency: str) -> str:
    """{reason: {count, value}} as one line: "no_budget 2 (1,200.00), timing 1 (0.00)"."""
    return ", ".join(
        f"{reason} {found['count']:,} ({money.grouped(found['value'])})"
        for reason, found in by_reason.items()
    )


@bp.get("/pipeline")
def pipeline() -> Response:
    """The pipeline report for the settings in the query; a bad one is a 422 page with the
    message next to its control and every value kept."""
    db = runtime().db()
    form = pipeline_form(request.args)
    campaigns = storage.campaign_names(db)
    context: dict[str, Any] = {
        "form": form,
        "errors": {},
        "campaign_options": _options(
            [("", "All campaigns"), *((c["id"], c["name"]) for c in campaigns)],
            form["campaign_id"],
        ),
        "group_options": _options(GROUP_OPTIONS, form["group_by"]),
        "currency_options": currency_options(None, form["currency"]),
        "percent": percent,
        "days": days,
        "reasons_text": reasons_text,
        "uncontacted_url": url_for("dash.leads_page", uncontacted="true"),
    }
    try:
        report = pipeline_for(form)
    except ValidationError as exc:
        return page(
            "dashboard/pipeline.html", exc.status, **{**context, "errors": field_errors(exc)}
        )
    shown = report["params"]
    csv_query = {**{k: v for k, v in form.items() if v}, "currency": shown["currency"]}
    return page(
        "dashboard/pipeline.html",
        report=report,
        chart=charts.pipeline(
            report["stages"],
            label=CHART_LABEL,
            currency=shown["currency"],
            won_stages=shown["won_stages"],
        ),
        csv_url=url_for("dash.pipeline_csv", **csv_query),
        **{**context, "currency_options": currency_options(report, form["currency"])},
    )


@bp.get("/pipeline.csv")
def pipeline_csv() -> Response:
    """The API's CSV of the pipeline report (`format=csv`) for the page's settings."""
    report = pipeline_for(pipeline_form(request.args), fmt="csv")
    return Response(
        reports.pipeline_csv(report),
        content_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": (
                f'attachment; filename="{reports.pipeline_csv_filename(report)}"'
            )
        },
    )
