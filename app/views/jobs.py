"""Background jobs in the API: `GET /api/v1/jobs/<id>` and its result file, and the hand-off
of a big recipients upload to a job (202 with Location)."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from flask import Blueprint, Response, g, jsonify, send_file

from app.core.error_codes import ErrorCode
from app.core.errors import Conflict
from app.people import recipients_job
from app.server import jobs

from .api import no_store
from .common import runtime
from .permissions import ANY_TOKEN, allow, guard

bp = Blueprint("jobs", __name__, url_prefix="/api/v1")
bp.before_request(guard)
bp.after_request(no_store)


def jobs_folder() -> Path:
    """Uploads waiting for their job and results (TOUCHPOINT_JOBS_DIR)."""
    return Path(runtime().config["JOBS_DIR"])


def creator() -> str | None:
    """Who queued a job, as the jobs table records it."""
    if g.get("api_token"):
        return f"token:{g.api_token['id']}"
    if g.get("user"):
        return f"user:{g.user['id']}"
    return None


def take_upload(
    stream: IO[bytes], link_id: int, base_url: str, *, skip_invalid: bool
) -> dict | IO[bytes]:
    """Save a CSV upload; a queued job (dict) when it is over RECIPIENTS_JOB_ROWS lines,
    else the saved file, open for the synchronous import (already unlinked)."""
    rt = runtime()
    path, lines = recipients_job.save_upload(
        stream, jobs_folder(), rt.config["RECIPIENTS_MAX_BYTES"]
    )
    if lines > rt.config["RECIPIENTS_JOB_ROWS"]:
        return recipients_job.enqueue(
            rt.db(), path, link_id, base_url, skip_invalid=skip_invalid, created_by=creator()
        )
    handle = path.open("rb")
    path.unlink()
    return handle


def accepted(job: dict) -> Response:
    response = jsonify(jobs.to_json(job))
    response.status_code = 202
    response.headers["Location"] = f"/api/v1/jobs/{job['id']}"
    return response


@bp.get("/jobs/<id:job_id>")
@allow(*ANY_TOKEN)
def get_job(job_id: int) -> Response:
    return jsonify(jobs.to_json(jobs.get(runtime().db(), job_id)))


@bp.get("/jobs/<id:job_id>/result")
@allow(*ANY_TOKEN)
def job_result(job_id: int) -> Response:
    """The merge CSV of a finished import (or the error report of a failed one)."""
    return result_file(jobs.get(runtime().db(), job_id))


def result_file(row: dict) -> Response:
    path = recipients_job.result_path(row) if row["status"] in ("done", "failed") else None
    if path is None:
        raise Conflict(
            f"Job {row['id']} is {row['status']}; its file is ready when it is done.",
            code=ErrorCode.JOB_NOT_FINISHED,
        )
    body = jobs.to_json(row)
    failed = row["status"] == "failed"
    suffix = "-errors" if failed else ""
    response = send_file(
        path,
        mimetype="text/csv",
        as_attachment=True,
        download_name=f"link-{body['link_id']}-recipients{suffix}.csv",
        max_age=0,
    )
    if failed:
        response.status_code = 422
    else:
        response.headers["X-Touchpoint-Imported"] = str(body["imported"] or 0)
        response.headers["X-Touchpoint-Invalid"] = str(len(body["errors"]))
    return response
