"""The reports API under /api/v1/reports: attribution, funnel, pipeline and time to convert.

Admin and marketer tokens; every parameter is checked by app.reports, which names the bad one.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from app import reports
from app.core import clock

from .common import funnel_stages, revenue_types, runtime
from .permissions import ANY_TOKEN, allow, guard

bp = Blueprint("reports", __name__, url_prefix="/api/v1/reports")


bp.before_request(guard)


@bp.after_request
def no_store(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.get("/attribution")
@allow(*ANY_TOKEN)
def attribution() -> Response:
    rt = runtime()
    db = rt.db()
    params = reports.attribution_params(
        db, request.args, clock.utcnow(), revenue_types=revenue_types(rt.config)
    )
    report = reports.attribute(
        db,
        params,
        default_currency=rt.config["DEFAULT_CURRENCY"],
        rules=rt.pipeline_rules,
        reader=rt.reports_db(),
    )
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
@allow(*ANY_TOKEN)
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
            reader=rt.reports_db(),
        )
    )


@bp.get("/pipeline")
@allow(*ANY_TOKEN)
def pipeline() -> Response:
    rt = runtime()
    db = rt.db()
    now = clock.utcnow()
    params = reports.pipeline_params(db, request.args, now)
    report = reports.pipeline_report(
        db,
        params,
        rules=rt.pipeline_rules,
        now=now,
        default_currency=rt.config["DEFAULT_CURRENCY"],
        reader=rt.reports_db(),
    )
    if params.format == "csv":
        filename = reports.pipeline_csv_filename(report)
        return Response(
            reports.pipeline_csv(report),
            content_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return jsonify(report)


@bp.get("/time-to-convert")
@allow(*ANY_TOKEN)
def time_to_convert() -> Response:
    rt = runtime()
    db = rt.db()
    params = reports.time_to_convert_params(
        db, request.args, clock.utcnow(), revenue_types=revenue_types(rt.config)
    )
    return jsonify(reports.time_to_convert(db, params, reader=rt.reports_db()))
