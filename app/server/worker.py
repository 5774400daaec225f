"""The `touchpoint worker` loop: claim a job, run it with a heartbeat, repeat; upkeep between.

Run one or more next to gunicorn. SIGTERM or SIGINT stops the loop: the current job stops
at its next step and goes back to the queue (its committed steps are kept), so a restart
or another worker continues it.
"""

from __future__ import annotations

import signal
import sys
import threading
import time

from app.core import db as dbmod
from app.core.runtime import Runtime
from app.people import recipients_job  # noqa: F401 (registers its kind)
from app.server import jobs, maintenance

# Upkeep (maintenance.tick) runs between jobs at most this often.
TICK_SECONDS = 30.0


def _heartbeat(rt: Runtime, job_id: int, token: str, lease: float, done: threading.Event) -> None:
    """Extend the lease every third of it until the job ends, on a connection of its own."""
    db = dbmod.open_database(
        rt.database_path, rt.config["SYNCHRONOUS"], rt.config["BUSY_TIMEOUT_MS"]
    )
    try:
        while not done.wait(lease / 3):
            if not jobs.heartbeat(db, job_id, token, lease):
                return  # taken over: the handler's next commit finds out and stops
    finally:
        db.conn.close()


def run(rt: Runtime, *, poll_seconds: float = 1.0, once: bool = False, log=print) -> int:
    """Work until told to stop (or, with `once`, until the queue is empty)."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    db = dbmod.open_database(
        rt.database_path, rt.config["SYNCHRONOUS"], rt.config["BUSY_TIMEOUT_MS"]
    )
    lease = float(rt.config["JOB_LEASE_SECONDS"])
    last_tick = 0.0
    log(f"touchpoint worker: waiting for jobs in {rt.database_label}")
    while not stop.is_set():
        now = time.time()
        if now - last_tick >= TICK_SECONDS:
            last_tick = now
            try:
                maintenance.tick(db, rt.config, now)
            except Exception as exc:  # upkeep must never stop the jobs
                log(f"touchpoint worker: maintenance failed: {exc!r}")
        claimed = jobs.claim(db, lease)
        if claimed is None:
            if once:
                break
            stop.wait(poll_seconds)
            continue
        row, token = claimed
        log(
            f"touchpoint worker: job {row['id']} ({row['kind']}) claimed, attempt {row['attempts']}"
        )
        done = threading.Event()
        beat = threading.Thread(
            target=_heartbeat, args=(rt, row["id"], token, lease, done), daemon=True
        )
        beat.start()
        try:
            outcome = jobs.resume(jobs.Run(db, row, token, rt, stop))
        except Exception as exc:
            # A bug, not bad input: give the job back so it is retried, and keep serving.
            log(f"touchpoint worker: job {row['id']} crashed: {exc!r}")
            jobs.release(jobs.Run(db, row, token, rt))
            outcome = "released"
            stop.wait(poll_seconds)
        finally:
            done.set()
            beat.join()
        log(f"touchpoint worker: job {row['id']} {outcome}")
    db.conn.close()
    log("touchpoint worker: stopped")
    sys.stdout.flush()
    return 0
