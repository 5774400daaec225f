"""What is happening: the latest events (leads are leads.py)."""

from __future__ import annotations

from typing import Any

from flask import Response, render_template, request

from app import storage
from app.core import money

from ..common import runtime
from . import bp, page

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
