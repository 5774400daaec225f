"""The attribution report page (being built)."""

from __future__ import annotations

from flask import Response

from . import bp, page


@bp.get("/report")
def report() -> Response:
    return page("dashboard/message.html", 503, title="Report", exc=None)
