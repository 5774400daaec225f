"""A background job's page: status and rows done, refreshing itself, then the merge file."""

from __future__ import annotations

from typing import Any

from flask import Response, render_template, request

from app.clicks import links
from app.server import jobs

from ..common import runtime
from ..jobs import result_file
from . import bp, page

REFRESH_SECONDS = 2


@bp.get("/jobs/<id:job_id>")
def job(job_id: int) -> Response:
    """A recipients import in the background; the status block reloads until it ends."""
    db = runtime().db()
    row = jobs.get(db, job_id)
    context: dict[str, Any] = {"job": jobs.to_json(row), "refresh": REFRESH_SECONDS}
    if request.args.get("partial"):
        return Response(render_template("dashboard/_job_status.html", **context))
    link_id = context["job"]["link_id"]
    link = links.get(db, link_id) if link_id else None
    return page("dashboard/job.html", link=link, **context)


@bp.get("/jobs/<id:job_id>/result.csv")
def job_result(job_id: int) -> Response:
    """The finished import's merge CSV (the error report if it failed)."""
    return result_file(jobs.get(runtime().db(), job_id))
