"""Leads: the list with the pipeline filters, and a lead's page where Sales works it (owner
and value, activities, lost and reopen, voiding a conversion), over the API's domain functions
so the page and the API answer bad input with the same messages."""

from __future__ import annotations

from typing import Any

import werkzeug
from flask import Response, g, redirect, request, url_for

from app import storage
from app.core import clock
from app.core.error_codes import ErrorCode
from app.core.errors import NotFound, TouchpointError, ValidationError
from app.people import conversions, leads, pipeline

from ..common import runtime
from . import bp, field_errors, page, require_admin

PAGE_SIZE = 50
LIST_FILTERS = ("q", "stage", "status", "owner", "campaign_id", "uncontacted", "sort")
SORT_CHOICES = (
    ("created", "Newest first"),
    ("-created", "Oldest first"),
    ("last_touch", "Last touch"),
    ("value", "Value"),
)
# The lead page's forms, each with its own field-id prefix so two forms can both have a
# `note` or a `reason`; a form's errors are shown in that form only.
FORMS = {"edit": "", "activity": "a-", "lost": "l-"}
_NOTICES = {
    "erased": "Erased.",
    "saved": "Saved.",
    "activity": "Activity logged.",
    "lost": "Marked lost.",
    "reopened": "Reopened.",
    "voided": "Conversion voided: it counts nowhere now.",
}


def _actor() -> str:
    return str(g.user["email"])


@bp.get("/leads")
def leads_page() -> werkzeug.Response:
    rt = runtime()
    db = rt.db()
    rules = rt.pipeline_rules
    args = {k: request.args.get(k, "").strip() for k in LIST_FILTERS if request.args.get(k)}
    text = args.get("q", "")
    if text and storage.get_lead(db, text) is not None:
        return redirect(url_for("dash.lead", lead_id=text), 303)  # a lead id was pasted
    # The checkbox: ticked is any value but "false"; unticked sends nothing.
    if args.pop("uncontacted", "false") != "false":
        args["uncontacted"] = "true"
    number = request.args.get("page", "1")
    page_number = int(number) if number.isdigit() and 0 < len(number) < 6 else 1
    page_number = max(page_number, 1)
    errors: dict[str, str] = {}
    items: list[dict] = []
    pipeline.ensure_current(db, rules)
    try:
        items = leads.list_page(
            db,
            args,
            rules,
            clock.utcnow(),
            offset=(page_number - 1) * PAGE_SIZE,
            limit=PAGE_SIZE + 1,
            default_country=rt.config["DEFAULT_COUNTRY"],
        )
    except ValidationError as exc:
        errors = field_errors(exc)
    return page(
        "dashboard/leads.html",
        422 if errors else 200,
        form=args,
        errors=errors,
        found=items[:PAGE_SIZE],
        page_number=page_number,
        has_next=len(items) > PAGE_SIZE,
        stage_options=[("", "Any stage"), *((s, s) for s in rules.stages), ("none", "No stage")],
        status_options=[("", "Any status"), *((s, s) for s in leads.STATUSES)],
        campaign_options=[("", "Any campaign")]
        + [(str(c["id"]), c["name"]) for c in storage.campaign_names(db)],
        sort_options=SORT_CHOICES,
        follow_up_hours=rules.follow_up_s // 3600,
        query=args,
    )


def _lead_page(lead_id: str, status: int = 200, **extra: Any) -> Response:
    rt = runtime()
    db = rt.db()
    rules = rt.pipeline_rules
    pipeline.ensure_current(db, rules)
    row = leads.to_json(leads.get(db, lead_id), db, rules=rules)
    campaign_list = storage.campaign_names(db)
    names = {c["id"]: c["name"] for c in campaign_list}
    items = leads.timeline(db, row["id"])
    for item in items:
        item["campaign"] = names.get(item["campaign_id"])
    context: dict[str, Any] = {
        "lead": row,
        "timeline": items,
        "errors": {},
        "form_errors": {name: {} for name in FORMS},
        "form_of": {name: {} for name in FORMS},
        "summary": {},
        "void_errors": {},
        "notice": _NOTICES.get(request.args.get("m", "")),
        "origins": [(o, o) for o in leads.ORIGINS],
        "reasons": [
            ("", "Choose a reason"),
            *((r, r.replace("_", " ")) for r in rules.lost_reasons),
        ],
        "kinds": [(k, k) for k in pipeline.ACTIVITY_KINDS],
        "activity_campaigns": [("", "No campaign (sales)")]
        + [(str(c["id"]), c["name"]) for c in campaign_list],
        "follow_up_hours": rules.follow_up_s // 3600,
    }
    context.update(extra)
    return page("dashboard/lead.html", status, **context)


def _form_failed(lead_id: str, name: str, exc: TouchpointError) -> Response:
    """The lead page again with this form's errors at its fields and what was typed kept."""
    errors = field_errors(exc)
    prefix = FORMS[name]
    return _lead_page(
        lead_id,
        exc.status,
        form_errors={**{n: {} for n in FORMS}, name: errors},
        form_of={**{n: {} for n in FORMS}, name: request.form},
        summary={f"{prefix}{field}" if field else "": msg for field, msg in errors.items()},
    )


def _done(lead_id: str, notice: str) -> werkzeug.Response:
    return redirect(url_for("dash.lead", lead_id=lead_id, m=notice), 303)


def _typed(*names: str) -> dict[str, str | None]:
    """The named form fields as typed; a blank one is None (it clears the value)."""
    return {name: request.form.get(name, "").strip() or None for name in names}


@bp.get("/leads/<lead_id>")
def lead(lead_id: str) -> Response:
    return _lead_page(lead_id)


@bp.post("/leads/<lead_id>/edit")
def lead_edit(lead_id: str) -> werkzeug.Response:
    rt = runtime()
    payload: dict[str, Any] = _typed("owner", "source", "origin", "value", "currency")
    if payload["origin"] is None:
        payload.pop("origin")
    if payload["value"] is None and payload["currency"] is None:
        payload["currency"] = None
    try:
        leads.update(
            rt.db(),
            lead_id,
            payload,
            default_currency=rt.config["DEFAULT_CURRENCY"],
            default_country=rt.config["DEFAULT_COUNTRY"],
        )
    except TouchpointError as exc:
        return _form_failed(lead_id, "edit", exc)
    return _done(lead_id, "saved")


@bp.post("/leads/<lead_id>/activities")
def lead_activity(lead_id: str) -> werkzeug.Response:
    rt = runtime()
    payload: dict[str, Any] = {
        k: v for k, v in _typed("kind", "at", "by", "note", "campaign_id").items() if v
    }
    if "campaign_id" in payload:
        raw = payload["campaign_id"]
        payload["campaign_id"] = int(raw) if raw.isdigit() and len(raw) < 19 else raw
    payload.setdefault("by", _actor())
    try:
        pipeline.add_activity(rt.db(), lead_id, payload, rt.pipeline_rules, _actor())
    except TouchpointError as exc:
        return _form_failed(lead_id, "activity", exc)
    return _done(lead_id, "activity")


@bp.post("/leads/<lead_id>/lost")
def lead_lost(lead_id: str) -> werkzeug.Response:
    rt = runtime()
    payload = {k: v for k, v in _typed("reason", "note").items() if v}
    try:
        pipeline.mark_lost(rt.db(), lead_id, payload, rt.pipeline_rules, _actor())
    except TouchpointError as exc:
        return _form_failed(lead_id, "lost", exc)
    return _done(lead_id, "lost")


@bp.post("/leads/<lead_id>/reopen")
def lead_reopen(lead_id: str) -> werkzeug.Response:
    rt = runtime()
    pipeline.reopen(rt.db(), lead_id, rt.pipeline_rules, _actor())
    return _done(lead_id, "reopened")


@bp.post("/leads/<lead_id>/conversions/<int:conversion_id>/void")
def lead_void_conversion(lead_id: str, conversion_id: int) -> werkzeug.Response:
    rt = runtime()
    db = rt.db()
    row = leads.get(db, lead_id)
    own = {t["id"] for t in leads.timeline(db, row["id"]) if t["type"] == "conversion"}
    if conversion_id not in own:
        # Only this lead's own conversions: a form cannot void someone else's by its id.
        raise NotFound(
            f"No conversion with id {conversion_id} on this lead.",
            code=ErrorCode.CONVERSION_NOT_FOUND,
        )
    payload = {k: v for k, v in _typed("reason").items() if v}
    try:
        conversions.void(db, conversion_id, payload, rt.pipeline_rules, _actor())
    except TouchpointError as exc:
        return _lead_page(
            lead_id,
            exc.status,
            void_errors={conversion_id: field_errors(exc)},
            summary={f"v{conversion_id}-{f}" if f else "": m for f, m in field_errors(exc).items()},
        )
    return _done(lead_id, "voided")


@bp.post("/leads/<lead_id>/erase")
def lead_erase(lead_id: str) -> werkzeug.Response:
    """Erase a person's data (a data-protection request). Admins only, typed confirmation."""
    require_admin()
    db = runtime().db()
    row = leads.get(db, lead_id)
    typed = request.form.get("confirm", "").strip().lower()
    expected = (row["email"] or lead_id).lower()
    if typed != expected:
        return _lead_page(
            lead_id, 422, errors={"confirm": "Type the lead's email address exactly to confirm."}
        )
    leads.erase(db, lead_id)
    return _done(lead_id, "erased")


@bp.app_template_filter("waited")
def waited_filter(seconds: int | None) -> str:
    """How long an uncontacted lead has waited: "3 d 4 h", "5 h 10 min"."""
    if seconds is None:
        return ""
    days, rest = divmod(int(seconds), 86_400)
    hours, rest = divmod(rest, 3_600)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {rest // 60} min"
