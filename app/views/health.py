"""GET /healthz for monitoring: no token, no secrets; 200 when the database takes writes."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app.server import maintenance

from .common import runtime

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    rt = runtime()
    report = maintenance.health(rt.db(), rt.config)
    response = jsonify(report)
    response.status_code = 200 if report["database"]["writable"] else 503
    response.headers["Cache-Control"] = "no-store"
    return response
