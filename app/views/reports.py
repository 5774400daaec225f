"""The reports API under /api/v1/reports: attribution, funnel and time to convert.

Admin and marketer tokens; every parameter is checked by app.reports, which names the bad one.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request

from app import reports
from app.core import clock
from app.core.error_codes import ErrorCode
from app.core.errors import Forbidden

from .common import authenticate_request, funnel_stages, revenue_types, runtime

bp = Blueprint("reports", __name__, url_prefix="/api/v1/reports")


@bp.before_request
def authenticate() -> None:
    authenticate_request()
    if g.actor.staff_key_id is not None:
        raise Forbidden(
            "Staff keys can only validate, redeem, void and scan at their own location.",
            code=ErrorCode.STAFF_KEY_NOT_ALLOWED,
        )


@bp.after_request
def no_store(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.get("/attribution")
def attribution() -> Response:
    rt = runtime()
    db = rt.db()
    params = reports.attribution_params(
        db, request.args, clock.utcnow(), revenue_types=revenue_types(rt.config)
    )
    report = reports.attribute(db, params, default_currency=rt.config["DEFAULT_CURRENCY"])
    if params.format == "csv":
        return Response(
            reports.to_csv(report),
            content_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{reports.csv_filename(report)}"'
            },
        )
    return jsonify(report)


@bp.get("/funnel")
def funnel() -> Response:
    rt = runtime()
    db = rt.db()
    params = reports.funnel_params(db, request.args, clock.utcnow())
    return jsonify(
        reports.funnel(
            db,
            params,
            stages=funnel_stages(rt.config),
            default_currency=rt.config["DEFAULT_CURRENCY"],
        )
    )


@bp.get("/time-to-convert")
def time_to_convert() -> Response:
    rt = runtime()
    db = rt.db()
    params = reports.time_to_convert_params(
        db, request.args, clock.utcnow(), revenue_types=revenue_types(rt.config)
    )
    return jsonify(reports.time_to_convert(db, params))
