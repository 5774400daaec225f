"""What is happening: the latest events, and leads with their timelines."""

from __future__ import annotations

from typing import Any

import werkzeug
from flask import Response, redirect, render_template, request, url_for

from app import storage
from app.core import money
from app.core.errors import ValidationError
from app.people import leads

from ..common import runtime
from . import bp, page, require_admin

EVENT_LIMIT = 100
TYPE_CHOICES = (*storage.EVENT_TYPES, "conversion")
BOT_CHOICES = (("human", "People only"), ("bots", "Bots and scanners only"), ("all", "Everything"))


def _event_filters() -> dict:
    args = request.args
    chosen = tuple(t for t in args.getlist("type") if t in TYPE_CHOICES) or TYPE_CHOICES
    campaign_raw = args.get("campaign_id", "")
    campaign_id = int(campaign_raw) if campaign_raw.isdigit() and len(campaign_raw) < 19 else None
    location = args.get("location") or None
    bots = args.get("bots", "all")
    if bots not in {b for b, _ in BOT_CHOICES}:
        bots = "all"
    return {"types": chosen, "campaign_id": campaign_id, "location": location, "bots": bots}


@bp.get("/events")
def events() -> Response:
    """The newest events; the table reloads itself (static/dashboard.js) every 10 s."""
    db = runtime().db()
    filters = _event_filters()
    rows = storage.latest_events(
        db,
        types=tuple(t for t in filters["types"] if t != "conversion"),
        campaign_id=filters["campaign_id"],
        location=filters["location"],
        bots=filters["bots"],
        limit=EVENT_LIMIT,
        include_conversions="conversion" in filters["types"],
    )
    for row in rows:
        if row["type"] == "conversion":
            row["value"] = money.to_decimal_string(row.get("value_minor"), row.get("currency"))
    context: dict[str, Any] = {"rows": rows, "filters": filters}
    if request.args.get("partial"):
        return Response(render_template("dashboard/_events_table.html", **context))
    return page(
        "dashboard/events.html",
        campaigns=storage.campaign_names(db),
        locations=storage.location_names(db),
        types=TYPE_CHOICES,
        bot_choices=BOT_CHOICES,
        **context,
    )


@bp.get("/leads")
def leads_page() -> Response:
    text = request.args.get("q", "").strip()[:254]
    found = storage.find_leads(runtime().db(), text, 50) if text else []
    return page("dashboard/leads.html", q=text, found=found)


@bp.get("/leads/<lead_id>")
def lead(lead_id: str) -> Response:
    db = runtime().db()
    row = leads.to_json(leads.get(db, lead_id), db)
    names = {c["id"]: c["name"] for c in storage.campaign_names(db)}
    items = leads.timeline(db, lead_id)
    for item in items:
        item["campaign"] = names.get(item["campaign_id"])
    erased = request.args.get("m") == "erased"
    return page(
        "dashboard/lead.html", lead=row, timeline=items, errors={}, notice=erased and "Erased."
    )


@bp.post("/leads/<lead_id>/erase")
def lead_erase(lead_id: str) -> werkzeug.Response:
    """Erase a person's data (a data-protection request). Admins only, typed confirmation."""
    require_admin()
    db = runtime().db()
    row = leads.get(db, lead_id)
    typed = request.form.get("confirm", "").strip().lower()
    expected = (row["email"] or lead_id).lower()
    if typed != expected:
        error = ValidationError(
            "Type the lead's email address exactly to confirm.", field="confirm"
        )
        names = {c["id"]: c["name"] for c in storage.campaign_names(db)}
        items = leads.timeline(db, lead_id)
        for item in items:
            item["campaign"] = names.get(item["campaign_id"])
        return page(
            "dashboard/lead.html",
            422,
            lead=leads.to_json(row, db),
            timeline=items,
            errors={"confirm": error.message},
        )
    leads.erase(db, lead_id)
    return redirect(url_for("dash.lead", lead_id=lead_id, m="erased"), 303)
