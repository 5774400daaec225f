"""Background jobs: work too long for a request, run by `touchpoint worker` processes.

A job is a row: a kind (which handler runs it), JSON params, and a resume state the handler
writes in the same transaction as its work, so a job whose worker was killed continues after
the last committed step instead of starting again. Claiming is one conditional UPDATE (one
winner among workers) that sets a lease; a worker's heartbeat extends it, and a job whose
lease ran out (the process died) is claimed again. Every write a handler makes goes through
`Run.commit()`, which checks that this worker still holds the job: a worker that was frozen
past its lease cannot commit over the one that took the job over.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from app import storage
from app.core import clock
from app.core import db as dbmod
from app.core.error_codes import ErrorCode
from app.core.errors import NotFound, TouchpointError

STATUSES = ("queued", "running", "done", "failed")


class LeaseLost(Exception):
    """Another worker holds the job now; stop without writing anything more."""


class Stopping(Exception):
    """The worker was asked to stop (SIGTERM); the job goes back to the queue."""


@dataclass
class Run:
    """One claimed job as its handler sees it; `rt` is the process's Runtime."""

    db: Database
    job: dict
    token: str
    rt: Any
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def params(self) -> dict:
        return params_of(self.job)

    @property
    def state(self) -> dict | None:
        return state_of(self.job) or None

    def check_stop(self) -> None:
        if self.stop.is_set():
            raise Stopping

    def step(self) -> contextlib.AbstractContextManager[Database]:
        """A write transaction for one step of the job; end it with save()."""
        return dbmod.immediate(self.db)

    def save(
        self,
        *,
        progress: float,
        rows_done: int | None = None,
        rows_total: int | None = None,
        state: dict | None = None,
    ) -> None:
        """Record progress and the resume state inside step()'s transaction; LeaseLost (and
        so a rollback of the whole step) if another worker took the job meanwhile."""
        saved = storage.save_progress(
            self.db,
            self.job["id"],
            self.token,
            progress=progress,
            rows_done=rows_done,
            rows_total=rows_total,
            state=json.dumps(state) if state is not None else None,
        )
        if not saved:
            raise LeaseLost
        if state is not None:
            self.job = {**self.job, "state": json.dumps(state)}


def params_of(row: dict) -> dict:
    return json.loads(row["params"])


def state_of(row: dict) -> dict:
    return json.loads(row["state"]) if row["state"] else {}


Handler = Callable[[Run], dict | None]
# kind -> handler; a handler returns extra result fields or None, and raises TouchpointError
# for a failure the user should see (stored as the job's error, same body as the API's).
HANDLERS: dict[str, Handler] = {}
# kind -> what to tidy once a job of that kind has ended (its input files, say).
ENDED: dict[str, Callable[[dict], None]] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the function that runs jobs of `kind`."""

    def register(function: Handler) -> Handler:
        HANDLERS[kind] = function
        return function

    return register


def enqueue(db: Database, kind: str, params: dict, *, created_by: str | None = None) -> dict:
    if kind not in HANDLERS:
        raise ValueError(f"no handler for job kind {kind!r}")
    return storage.insert_job(db, kind, json.dumps(params), created_by, clock.now_iso())


def get(db: Database, job_id: int) -> dict:
    row = storage.get_job(db, job_id)
    if row is None:
        raise NotFound(f"No job with id {job_id}.", code=ErrorCode.JOB_NOT_FOUND)
    return row


def claim(db: Database, lease_seconds: float, now: float | None = None) -> tuple[dict, str] | None:
    """The oldest runnable job, now ours for `lease_seconds`, with its claim token."""
    now = time.time() if now is None else now
    token = secrets.token_hex(8)
    row = storage.claim_job(db, token, now, now + lease_seconds, clock.now_iso())
    return (row, token) if row else None


def heartbeat(db: Database, job_id: int, token: str, lease_seconds: float) -> bool:
    return storage.extend_lease(db, job_id, token, time.time() + lease_seconds)


def finish(run: Run, result: dict | None) -> bool:
    errors = json.dumps(result["errors"]) if result and "errors" in result else None
    return storage.end_job(
        run.db, run.job["id"], run.token, "done", clock.now_iso(), errors=errors, error=None
    )


def fail(run: Run, error: TouchpointError) -> bool:
    body = error.body()["error"]
    errors = json.dumps(body["invalid"]) if "invalid" in body else None
    return storage.end_job(
        run.db,
        run.job["id"],
        run.token,
        "failed",
        clock.now_iso(),
        errors=errors,
        error=json.dumps(body),
    )


def release(run: Run) -> bool:
    return storage.release_job(run.db, run.job["id"], run.token)


def resume(run: Run) -> str:
    """Run a claimed job to its end: 'done', 'failed', 'released' or 'lost'."""
    try:
        result = HANDLERS[run.job["kind"]](run)
    except Stopping:
        release(run)
        return "released"
    except LeaseLost:
        return "lost"
    except TouchpointError as exc:
        outcome = "failed" if fail(run, exc) else "lost"
    else:
        outcome = "done" if finish(run, result) else "lost"
    if outcome != "lost" and run.job["kind"] in ENDED:
        ENDED[run.job["kind"]](run.job)
    return outcome


def to_json(row: dict) -> dict:
    """The job as GET /api/v1/jobs/<id> shows it."""
    params = json.loads(row["params"])
    state = json.loads(row["state"]) if row["state"] else {}
    body: dict[str, Any] = {
        "id": row["id"],
        "kind": row["kind"],
        "status": row["status"],
        "progress": round(row["progress"], 4),
        "rows_done": row["rows_done"],
        "rows_total": row["rows_total"],
        "imported": state.get("imported"),
        "errors": json.loads(row["errors"]) if row["errors"] else [],
        "error": json.loads(row["error"]) if row["error"] else None,
        "link_id": params.get("link_id"),
        "attempts": row["attempts"],
        "created_at": row["created_at"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "result_url": None,
    }
    if row["status"] in ("done", "failed"):
        body["result_url"] = f"/api/v1/jobs/{row['id']}/result"
    return body
