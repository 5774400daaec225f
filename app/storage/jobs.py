"""Storage for background jobs (`touchpoint worker`): enqueue, claim with a lease, progress."""

from __future__ import annotations

from sqlite_utils import Database

from .core import _one
from .dialect import greatest, skip_locked


def insert_job(db: Database, kind: str, params: str, created_by: str | None, now: str) -> dict:
    cursor = db.execute(
        "INSERT INTO jobs (kind, params, created_by, created_at) VALUES (?, ?, ?, ?) RETURNING id",
        (kind, params, created_by, now),
    )
    job = get_job(db, cursor.fetchone()[0])
    assert job is not None
    return job


def get_job(db: Database, job_id: int) -> dict | None:
    return _one(db, "SELECT * FROM jobs WHERE id = ?", (job_id,))


def claim_job(
    db: Database, token: str, now: float, lease_until: float, now_iso: str
) -> dict | None:
    """Take the oldest queued job, or a running one whose lease ran out, in one statement.

    A single conditional UPDATE is atomic in SQLite, so of several workers exactly one wins
    a job; the others see no row (or the next job). On PostgreSQL two workers can pick the
    same id in the subquery; the one that waited for the other's row lock re-checks the
    outer WHERE on the row as committed, finds it running with a fresh lease and updates
    nothing; SKIP LOCKED lets it take the next job instead of waiting.
    """
    claimable = "(status = 'queued' OR (status = 'running' AND lease_until < :now))"
    return _one(
        db,
        f"""
        UPDATE jobs SET status = 'running', claim_token = :token, lease_until = :lease,
            attempts = attempts + 1, started_at = coalesce(started_at, :now_iso)
        WHERE {claimable} AND id = (
            SELECT id FROM jobs WHERE {claimable} ORDER BY id LIMIT 1{skip_locked(db)}
        )
        RETURNING *
        """,
        {"token": token, "lease": lease_until, "now_iso": now_iso, "now": now},
    )


def extend_lease(db: Database, job_id: int, token: str, lease_until: float) -> bool:
    """Keep the job; False when another worker took it over (our lease had expired)."""
    cursor = db.execute(
        "UPDATE jobs SET lease_until = ? WHERE id = ? AND claim_token = ? AND status = 'running'",
        (lease_until, job_id, token),
    )
    return cursor.rowcount == 1


def save_progress(
    db: Database,
    job_id: int,
    token: str,
    *,
    progress: float,
    rows_done: int | None,
    rows_total: int | None,
    state: str | None,
) -> bool:
    """Record progress if we still hold the job; call it inside the transaction of the work."""
    cursor = db.execute(
        f"""
        UPDATE jobs SET progress = {greatest(db, "progress", "?")},
            rows_done = coalesce(?, rows_done),
            rows_total = coalesce(?, rows_total), state = coalesce(?, state)
        WHERE id = ? AND claim_token = ? AND status = 'running'
        """,
        (progress, rows_done, rows_total, state, job_id, token),
    )
    return cursor.rowcount == 1


def end_job(
    db: Database,
    job_id: int,
    token: str,
    status: str,
    now_iso: str,
    *,
    errors: str | None,
    error: str | None,
) -> bool:
    cursor = db.execute(
        """
        UPDATE jobs SET status = ?, finished_at = ?, errors = coalesce(?, errors), error = ?,
            progress = CASE WHEN ? = 'done' THEN 1 ELSE progress END,
            claim_token = NULL, lease_until = NULL
        WHERE id = ? AND claim_token = ? AND status = 'running'
        """,
        (status, now_iso, errors, error, status, job_id, token),
    )
    return cursor.rowcount == 1


def release_job(db: Database, job_id: int, token: str) -> bool:
    """Give a running job back to the queue (the worker is stopping); its state is kept."""
    cursor = db.execute(
        "UPDATE jobs SET status = 'queued', claim_token = NULL, lease_until = NULL "
        "WHERE id = ? AND claim_token = ? AND status = 'running'",
        (job_id, token),
    )
    return cursor.rowcount == 1
