"""Overview, campaigns and their links: QR codes, recipients, signage."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import timedelta
from typing import Any

import werkzeug
from flask import Response, redirect, request, url_for

from app import storage
from app.clicks import campaigns, link_lists, links
from app.core import clock
from app.core.csv_cells import inert, inert_row
from app.core.error_codes import ErrorCode
from app.core.errors import TouchpointError, ValidationError
from app.coupons import locations
from app.people import partners, recipients, ref_codes
from app.views import charts, qr

from ..common import base_url, qr_response, revenue_types, runtime
from ..jobs import take_upload
from . import bp, field_errors, form_values, page, upload_limit
from .report import (
    attribution_table,
    currency_options,
    excluded_note,
    report_form,
    report_query,
    row_note,
)

PERIODS = (
    ("7", "Last 7 days"),
    ("30", "Last 30 days"),
    ("90", "Last 90 days"),
    ("365", "Last year"),
)
CAMPAIGN_FIELDS = campaigns.FIELDS
CHANNEL_OPTIONS = [(c, c.replace("_", " ")) for c in campaigns.CHANNELS]
LINK_FIELDS = (
    "destination",
    "label",
    "slug",
    "domain",
    "tags",
    "store_code",
    "partner_code",
    "utm_content",
    "utm_term",
    "expires_at",
)
LINK_EDIT_FIELDS = ("destination", "label", "expires_at", "fallback_url")


def _period_days() -> int:
    raw = request.args.get("days", "30")
    return int(raw) if raw in {p for p, _ in PERIODS} else 30


# Overview ----------------------------------------------------------------------------------


@bp.get("/")
def overview() -> Response:
    """Every campaign with its figures for the period and a daily trend."""
    rt = runtime()
    db = rt.db()
    days = _period_days()
    now = clock.utcnow()
    end = (now + timedelta(days=1)).date()
    start = end - timedelta(days=days)
    finder = {k: (request.args.get(k) or "").strip() for k in ("q", "tag", "archived", "sort")}
    filtered = any(finder[k] for k in ("q", "tag")) or finder["archived"] in ("true", "any")
    finder_error = None
    try:
        rows, _ = link_lists.search_campaigns(
            db,
            {**{k: v for k, v in finder.items() if v}, "limit": "1000"},
            now=clock.utcnow(),
        )
    except ValidationError as exc:
        rows, finder_error = [], exc.message
    figures: dict[int, dict] = {}
    others: list[dict] = []
    totals = None
    error = None
    # The report page's defaults for the same days (last touch, 7-day window, the revenue
    # types), so both pages show the same revenue.
    form = report_form(
        {
            "from": start.isoformat(),
            "to": (end - timedelta(days=1)).isoformat(),
            "currency": request.args.get("currency") or "",
        }
    )
    report = None
    try:
        report = attribution_table(form)
        figures = {row["key"]: row for row in report["rows"] if isinstance(row["key"], int)}
        # What is credited to no campaign, so the rows add up to the total.
        others = [
            {**row, "note": row_note("campaign", row["key"])}
            for row in report["rows"]
            if not isinstance(row["key"], int)
        ]
        totals = report["totals"]
        currency = report["params"]["currency"]
    except ValidationError as exc:
        error, currency = exc.message, None
    series = storage.daily_touches(db, start.isoformat(), end.isoformat())
    day_list = [(start + timedelta(days=i)).isoformat() for i in range(days)]
    for row in rows:
        counts = series.get(row["id"], {})
        values = [counts.get(day, 0) for day in day_list]
        row["trend"] = charts.sparkline(values, label=f"Daily touches of {row['name']}")
        row["figures"] = figures.get(row["id"])
    return page(
        "dashboard/overview.html",
        campaigns=rows,
        finder=finder,
        filtered=filtered,
        finder_error=finder_error,
        campaign_tags=[("", "Any tag")]
        + [(t, f"{t} ({n})") for t, n in storage.all_tags(db, "campaign")],
        others=others,
        totals=totals,
        currency=currency,
        error=error,
        days=days,
        periods=PERIODS,
        revenue_types=", ".join(revenue_types(rt.config)),
        currency_options=currency_options(report, form["currency"]),
        excluded_note=excluded_note(report) if report else None,
        report_url=url_for("dash.report", **report_query(form)),
        start=start,
        end=end - timedelta(days=1),
    )


# Campaigns ---------------------------------------------------------------------------------


def _campaign_form(campaign: dict | None = None) -> dict:
    if campaign is None:
        return {}
    form = {k: campaign.get(k) or "" for k in CAMPAIGN_FIELDS}
    form["cost"] = campaigns.to_json(campaign)["cost"] or ""
    for name in ("starts_at", "ends_at"):
        form[name] = _input_time(campaign.get(name))
    return form


def _input_time(stored: str | None) -> str:
    """A stored UTC time as a datetime-local input value (minutes)."""
    return stored[:16] if stored else ""


def _payload(names: tuple[str, ...], *, blank_as_null: bool) -> dict:
    """Form fields as an API payload. Editing sends blanks as null (clear the field)."""
    values: dict[str, Any] = form_values(*names)
    if blank_as_null:
        for name in names:
            values.setdefault(name, None)
    return values


@bp.route("/campaigns/new", methods=["GET", "POST"])
def campaign_new() -> werkzeug.Response:
    rt = runtime()
    if request.method == "GET":
        form = {"currency": rt.config["DEFAULT_CURRENCY"]}
        return page("dashboard/campaign_form.html", form=form, errors={}, channels=CHANNEL_OPTIONS)
    payload = _payload(CAMPAIGN_FIELDS, blank_as_null=False)
    try:
        row = campaigns.create(rt.db(), payload, default_currency=rt.config["DEFAULT_CURRENCY"])
    except TouchpointError as exc:
        return page(
            "dashboard/campaign_form.html",
            exc.status,
            form=request.form,
            errors=field_errors(exc),
            channels=CHANNEL_OPTIONS,
        )
    return redirect(url_for("dash.campaign", campaign_id=row["id"], m="created"), 303)


@bp.route("/campaigns/<id:campaign_id>/edit", methods=["GET", "POST"])
def campaign_edit(campaign_id: int) -> werkzeug.Response:
    rt = runtime()
    db = rt.db()
    campaign = campaigns.get(db, campaign_id)
    if request.method == "GET":
        return page(
            "dashboard/campaign_form.html",
            campaign=campaign,
            form=_campaign_form(campaign),
            errors={},
            channels=CHANNEL_OPTIONS,
        )
    payload = _payload(CAMPAIGN_FIELDS, blank_as_null=True)
    for required in ("name", "channel", "utm_source", "utm_medium", "utm_campaign"):
        if payload.get(required) is None:
            payload[required] = ""  # "is required", not a silent keep
    try:
        campaigns.update(db, campaign_id, payload, default_currency=rt.config["DEFAULT_CURRENCY"])
    except TouchpointError as exc:
        return page(
            "dashboard/campaign_form.html",
            exc.status,
            campaign=campaign,
            form=request.form,
            errors=field_errors(exc),
            channels=CHANNEL_OPTIONS,
        )
    return redirect(url_for("dash.campaign", campaign_id=campaign_id, m="saved"), 303)


_MESSAGES = {
    "created": "Campaign created. Next: add a link below.",
    "saved": "Saved.",
    "link_created": "Link created. Copy its URL or download its QR code.",
    "link_saved": "Link saved.",
    "logo_saved": "Logo saved: the preview below shows it (error correction is H with a logo).",
    "logo_removed": "Logo removed.",
}


@bp.get("/campaigns/<id:campaign_id>")
def campaign(campaign_id: int) -> Response:
    return _campaign_page(campaign_id, notice=_MESSAGES.get(request.args.get("m", "")))


def _campaign_page(
    campaign_id: int, status: int = 200, *, form=None, errors=None, notice=None, bulk=None
) -> Response:
    """The campaign with its links and their counts; a rejected new link keeps what was typed."""
    rt = runtime()
    db = rt.db()
    row = campaigns.get(db, campaign_id)
    storage.refresh_report_tables(db)
    totals = storage.link_totals(db, campaign_id)
    base = base_url(rt)
    link_rows = []
    for link in storage.campaign_links(db, campaign_id):
        item = links.to_json(link, rt.link_tokens, base, row)
        item["counts"] = totals.get(link["id"], {})
        link_rows.append(item)
    return page(
        "dashboard/campaign.html",
        status,
        campaign=campaigns.to_json(row),
        links=link_rows,
        audience=charts.audience(links.audience_of(db, "campaign_id", campaign_id)),
        bulk=bulk,
        domain_choices=[("", "Default domain")]
        + [(h, h) for h in sorted(storage.domain_hosts(db))],
        form=form or {},
        errors=errors or {},
        notice=notice,
        # Pickers: a store-specific link names a location, a partner's link a partner.
        store_choices=[("", "Any store (not store-specific)")]
        + [(r["code"], f"{r['name']} ({r['code']})") for r in locations.list_all(db)],
        partner_choices=[("", "No partner")]
        + [(r["code"], f"{r['name']} ({r['kind']})") for r in partners.list_all(db, {})],
    )


@bp.post("/campaigns/<id:campaign_id>/links")
def link_new(campaign_id: int) -> werkzeug.Response:
    payload = {"campaign_id": campaign_id, **_payload(LINK_FIELDS, blank_as_null=False)}
    try:
        rt = runtime()
        link = links.create(rt.db(), payload, public_base_url=rt.config["PUBLIC_BASE_URL"])
    except TouchpointError as exc:
        return _campaign_page(campaign_id, exc.status, form=request.form, errors=field_errors(exc))
    return redirect(url_for("dash.link", link_id=link["id"], m="link_created"), 303)


@bp.post("/campaigns/<id:campaign_id>/links/bulk")
def links_bulk(campaign_id: int) -> Response:
    """Upload a CSV of links for this campaign (campaign_id may be left out of the file):
    the created links as a CSV download, or the page with every bad row listed."""
    from app.clicks import bulk_links

    rt = runtime()
    db = rt.db()
    campaigns.get(db, campaign_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _campaign_page(
            campaign_id, 422, bulk={"message": "Choose a CSV file of links.", "invalid": []}
        )
    skip_invalid = request.form.get("skip_invalid") == "1"
    try:
        rows = bulk_links.rows_from_csv(upload.read())
        for _, row in rows:
            row.setdefault("campaign_id", campaign_id)
        result = bulk_links.create(
            db, rows, public_base_url=rt.config["PUBLIC_BASE_URL"], skip_invalid=skip_invalid
        )
    except TouchpointError as exc:
        invalid = exc.extra.get("invalid", [])
        message = (
            exc.message
            if not invalid
            else (
                f"{len(invalid)} rows are invalid, so no link was created. Fix them, or tick "
                "“Create the good rows” and upload the file again."
            )
        )
        return _campaign_page(
            campaign_id, exc.status, bulk={"message": message, "invalid": invalid}
        )
    shape = bulk_links.shaper(db, rt.link_tokens, base_url(rt))
    body = "".join(bulk_links.csv_rows(result, shape))
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="campaign-{campaign_id}-links.csv"'},
    )


# Links -------------------------------------------------------------------------------------


def _link_context(link_id: int) -> dict:
    rt = runtime()
    db = rt.db()
    link = links.get(db, link_id)
    campaign = campaigns.get(db, link["campaign_id"])
    item = links.to_json(link, rt.link_tokens, base_url(rt), campaign)
    stats = links.stats(db, link_id)
    by_day = stats.pop("by_day")
    trend = charts.sparkline(
        [d["human"] for d in by_day[-60:]],
        label="Human clicks and scans per day",
        width=320,
        height=48,
    )
    return {
        "link": item,
        "campaign": campaigns.to_json(campaign),
        "stats": stats,
        "trend": trend,
        "audience": charts.audience(stats),
        "recipients": storage.recipient_count(db, link_id),
        "qr_options": _qr_options(),
        "qr_logo": storage.get_qr_logo(db, link_id) is not None,
        "form": {},
        "errors": {},
    }


QR_FIELDS = ("size", "border", "ecc", "fg", "bg", "style", "logo", "logo_size")


def _qr_options() -> dict:
    """The QR options as typed in the preview form (checked when the image is made)."""
    return {n: request.args.get(n, "") for n in QR_FIELDS}


def _link_logo(db: Any, link_id: int) -> qr.Logo | None:
    found = storage.get_qr_logo(db, link_id)
    return None if found is None else qr.Logo(*found)


@bp.get("/links/<id:link_id>")
def link(link_id: int) -> Response:
    context = _link_context(link_id)
    error = None
    try:
        qr.parse_options({k: v for k, v in context["qr_options"].items() if v}, logo_allowed=True)
    except ValidationError as exc:
        error = exc.message
    return page(
        "dashboard/link.html",
        qr_error=error,
        notice=_MESSAGES.get(request.args.get("m", "")),
        **context,
    )


@bp.route("/links/<id:link_id>/edit", methods=["GET", "POST"])
def link_edit(link_id: int) -> werkzeug.Response:
    db = runtime().db()
    current = links.get(db, link_id)
    if request.method == "GET":
        form = {k: current.get(k) or "" for k in LINK_EDIT_FIELDS}
        form["expires_at"] = _input_time(current.get("expires_at"))
        form["active"] = "1" if current["active"] else ""
        form["archived"] = "1" if current["archived_at"] else ""
        form["tags"] = ", ".join(current["tags"])
        return page("dashboard/link_form.html", link=current, form=form, errors={})
    payload = _payload(LINK_EDIT_FIELDS, blank_as_null=True)
    payload["active"] = request.form.get("active") == "1"
    payload["archived"] = request.form.get("archived") == "1"
    payload["tags"] = request.form.get("tags", "")
    if payload.get("destination") is None and current.get("offer_id") is None:
        payload["destination"] = ""
    elif payload.get("destination") is None:
        payload.pop("destination")
    try:
        links.update(db, link_id, payload)
    except TouchpointError as exc:
        return page(
            "dashboard/link_form.html",
            exc.status,
            link=current,
            form=request.form,
            errors=field_errors(exc),
        )
    return redirect(url_for("dash.link", link_id=link_id, m="link_saved"), 303)


@bp.get("/links/<id:link_id>/qr.<fmt>")
def link_qr(link_id: int, fmt: str) -> Response:
    """The QR image (preview and download) with the options from the query string."""
    rt = runtime()
    db = rt.db()
    link = links.get(db, link_id)
    if fmt not in qr.FORMATS:
        raise ValidationError("The format must be svg or png.", field="format")
    args = {k: v for k, v in request.args.items() if k != "download" and v}
    options = qr.parse_options(args, logo_allowed=True)
    logo = _link_logo(db, link_id) if options.logo_percent else None
    if logo is None:  # no logo uploaded: nothing to make room for
        options = dataclasses.replace(options, logo_percent=0)
    item = links.to_json(link, rt.link_tokens, base_url(rt))
    response = qr_response(item["qr_url"], fmt, options, public=False, logo=logo)
    if request.args.get("download"):
        name = f"touchpoint-link-{link_id}.{fmt}"
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.post("/links/<id:link_id>/qr-logo")
def link_qr_logo(link_id: int) -> werkzeug.Response:
    """Upload (or, with remove=1, remove) the link's QR centre logo."""
    db = runtime().db()
    links.get(db, link_id)
    if request.form.get("remove") == "1":
        storage.delete_qr_logo(db, link_id)
        return redirect(url_for("dash.link", link_id=link_id, m="logo_removed"), 303)
    upload = request.files.get("logo")
    try:
        logo = qr.check_logo(
            upload.mimetype if upload else "", upload.read(qr.MAX_LOGO_BYTES + 1) if upload else b""
        )
    except TouchpointError as exc:
        context = _link_context(link_id)
        return page("dashboard/link.html", 422, **{**context, "errors": {"logo": exc.message}})
    storage.set_qr_logo(db, link_id, logo.media_type, logo.data, clock.now_iso())
    return redirect(url_for("dash.link", link_id=link_id, m="logo_saved", logo="1"), 303)


@bp.get("/links/<id:link_id>/signage")
def link_signage(link_id: int) -> Response:
    """A printable booth or counter sign: a big QR code, a headline and the short URL."""
    context = _link_context(link_id)
    headline = request.args.get("headline", "").strip()[:80] or context["campaign"]["name"]
    subline = request.args.get("subline", "").strip()[:140] or "Scan with your phone camera"
    paper = request.args.get("paper", "a4")
    paper = paper if paper in ("a4", "letter") else "a4"
    return page(
        "dashboard/signage.html", headline=headline, subline=subline, paper=paper, **context
    )


# Recipients --------------------------------------------------------------------------------


@bp.post("/links/<id:link_id>/recipients")
@upload_limit("RECIPIENTS_MAX_BYTES")
def link_recipients(link_id: int) -> werkzeug.Response:
    """Upload a CSV of recipients: a summary of good and bad rows, then the merge file."""
    rt = runtime()
    db = rt.db()
    links.get(db, link_id)
    context = _link_context(link_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        errors = {"file": "Choose a CSV file with an email column."}
        return page("dashboard/link.html", 422, **{**context, "errors": errors})
    skip_invalid = request.form.get("skip_invalid") == "1"
    try:
        saved = take_upload(upload.stream, link_id, base_url(rt), skip_invalid=skip_invalid)
        if isinstance(saved, dict):  # a big file: imported by touchpoint worker
            return redirect(url_for("dash.job", job_id=saved["id"]), 303)
        with saved:
            parsed = recipients.parse_csv(saved)
        result = recipients.import_parsed(
            db, link_id, parsed, rt.link_tokens, base_url(rt), skip_invalid=skip_invalid
        )
    except TouchpointError as exc:
        if exc.code != ErrorCode.INVALID_ROWS:
            return page(
                "dashboard/link.html", exc.status, **{**context, "errors": field_errors(exc)}
            )
        invalid = exc.extra.get("invalid", [])
        message = (
            f"{len(invalid)} of {parsed.rows} rows are invalid, so nothing was imported. Fix "
            "them, or tick “Import the good rows” and upload the file again."
        )
        summary = {"imported": 0, "invalid": invalid, "rows": parsed.rows, "message": message}
        return page("dashboard/link.html", exc.status, **{**context, "upload": summary})
    result.spool.close()
    context["recipients"] = storage.recipient_count(db, link_id)
    summary = {"imported": result.imported, "invalid": result.invalid, "rows": parsed.rows}
    return page("dashboard/link.html", **{**context, "upload": summary})


@bp.get("/links/<id:link_id>/recipients.csv")
def link_merge_file(link_id: int) -> Response:
    """The mail-merge file for every recipient of the link: their columns and tracked URL."""
    rt = runtime()
    db = rt.db()
    links.get(db, link_id)
    base = base_url(rt)
    rows = storage.recipients_of_link(db, link_id)
    attribute_names: list[str] = []
    for row in rows:
        row["attributes"] = json.loads(row["attributes"]) if row["attributes"] else {}
        for name in row["attributes"]:
            if name not in attribute_names:
                attribute_names.append(name)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    header = ["email", "name", *attribute_names, "lead_id", "tracked_url", "ref_code"]
    writer.writerow(inert_row(header))
    for row in rows:
        if row["email"] is None:
            continue  # erased: nothing to send to
        url = f"{base}/r/{rt.link_tokens.mint(link_id, row['id'])}"
        attrs = [_cell(inert(row["attributes"].get(n))) for n in attribute_names]
        cells = inert_row([row["email"], row["name"] or ""])
        ref_code = ref_codes.display(row["ref_code"]) if row["ref_code"] else ""
        writer.writerow([*cells, *attrs, row["lead_id"], url, ref_code])
    return Response(
        buffer.getvalue(),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="link-{link_id}-recipients.csv"'},
    )


def _cell(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
