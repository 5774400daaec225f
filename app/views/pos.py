"""The point-of-sale and booth API: what tills and booth phones call with a staff key.

Admin tokens may call these too (naming any location); staff keys only at their own.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request

from app.core.errors import ValidationError
from app.coupons import booth_scans, redemptions, till_sales

from .common import json_body, runtime
from .permissions import TILL, allow, guard

bp = Blueprint("pos", __name__, url_prefix="/api/v1")


bp.before_request(guard)


@bp.after_request
def no_store(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.get("/codes/<path:code>")
@allow(*TILL)
def check_code(code: str) -> Response:
    """Validate without redeeming: status, offer, valid here or not."""
    rt = runtime()
    return jsonify(
        redemptions.check(
            rt.db(),
            g.actor,
            code,
            request.args.get("location"),
            rt.config["GUESS_LIMIT_PER_MINUTE"],
        )
    )


@bp.post("/redemptions")
@allow(*TILL)
def redeem() -> Response:
    rt = runtime()
    status, body = redemptions.redeem(
        rt.db(),
        g.actor,
        json_body(),
        request.headers.get("Idempotency-Key"),
        limit=rt.config["GUESS_LIMIT_PER_MINUTE"],
        default_currency=rt.config["DEFAULT_CURRENCY"],
    )
    response = jsonify(body)
    response.status_code = status
    return response


@bp.post("/sales")
@allow(*TILL)
def record_sale() -> Response:
    """A sale without a code, at a till (optionally who, and which campaign they mentioned)."""
    rt = runtime()
    status, body = till_sales.record_sale(
        rt.db(),
        g.actor,
        json_body(),
        request.headers.get("Idempotency-Key"),
        default_currency=rt.config["DEFAULT_CURRENCY"],
        default_country=rt.config["DEFAULT_COUNTRY"],
        rules=rt.pipeline_rules,
    )
    response = jsonify(body)
    response.status_code = status
    return response


@bp.post("/pickups")
@allow(*TILL)
def pickup() -> Response:
    """A web order collected in store: recorded on the order, no new revenue."""
    return jsonify(till_sales.pickup(runtime().db(), g.actor, json_body()))


@bp.get("/redemptions")
@allow(*TILL)
def recent_redemptions() -> Response:
    """The latest redemptions at a location (the till's list, with void buttons)."""
    rt = runtime()
    db = rt.db()
    location = redemptions.resolve_location(db, g.actor, request.args.get("location"))
    try:
        limit = int(request.args.get("limit", 20))
    except ValueError:
        raise ValidationError("'limit' must be a whole number.", field="limit") from None
    if not 1 <= limit <= 200:
        raise ValidationError("'limit' must be between 1 and 200.", field="limit")
    return jsonify({"items": redemptions.recent(db, location["code"], limit), "next_cursor": None})


@bp.post("/redemptions/<id:redemption_id>/void")
@allow(*TILL)
def void(redemption_id: int) -> Response:
    return jsonify(redemptions.void(runtime().db(), g.actor, redemption_id, json_body()))


@bp.post("/scans")
@allow(*TILL)
def booth_scan() -> Response:
    rt = runtime()
    row, created = booth_scans.record(
        rt.db(), g.actor, json_body(), rt.link_tokens, rt.badge_tokens
    )
    response = jsonify(booth_scans.to_json(row))
    response.status_code = 201 if created else 200
    return response
