"""Housekeeping that keeps storage bounded and complete: drain the spool, prune once a day,
and the health report monitoring reads (GET /healthz).

`tick` is called often by `touchpoint worker`'s loop; the daily part runs in one process a
day, whichever claims the day first (the claim is a row in the database).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlite_utils import Database

from app import storage
from app.clicks import spool
from app.core import clock
from app.core import db as dbmod

log = logging.getLogger(__name__)
PROBE_BUSY_TIMEOUT_MS = 1000  # health answers fast: a lock held longer is reported as such


def tick(db: Database, config: dict, now: float) -> None:
    """Drain spooled hits; once per UTC day (of `now`, epoch seconds) prune old rows."""
    spool_dir = spool.directory(config)
    try:
        if spool.waiting(spool_dir):
            added = spool.drain(db, spool_dir, config["ORPHAN_HITS_PER_HOUR"])
            log.warning("%d spooled hits written to the database", added)
        day = datetime.fromtimestamp(now, UTC).date().isoformat()
        if storage.maintenance_claim(db, "last_prune_day", day):
            removed = prune(db, config, now)
            log.info("daily prune: %s", removed)
    except dbmod.DATABASE_ERRORS as exc:
        log.warning("maintenance skipped, the database refused: %s", exc)


def prune(db: Database, config: dict, now: float) -> dict[str, int]:
    """Delete orphan hits and bot hits older than their retention settings (0 keeps all).

    Human hits are never deleted. Returns how many rows went, by kind.
    """
    removed = {"orphan_hits": 0, "orphan_counts": 0, "bot_hits": 0}
    orphan_days = int(config["ORPHAN_RETENTION_DAYS"])
    bot_days = int(config["BOT_HIT_RETENTION_DAYS"])
    if orphan_days > 0:
        removed["orphan_hits"], removed["orphan_counts"] = storage.prune_orphans(
            db, _days_before(now, orphan_days)
        )
    if bot_days > 0:
        removed["bot_hits"] = storage.prune_bot_events(db, _days_before(now, bot_days))
    return removed


def _days_before(now: float, days: int) -> str:
    return clock.to_iso(datetime.fromtimestamp(now, UTC) - timedelta(days=days))


def health(db: Database, config: dict) -> dict:
    """Whether the database takes a write now (a real one-row write), and the spool's size."""
    writable, problem = True, None
    try:
        with dbmod.waiting_at_most(db, PROBE_BUSY_TIMEOUT_MS, int(config["BUSY_TIMEOUT_MS"])):
            storage.health_probe(db, clock.now_iso())
    except dbmod.DATABASE_ERRORS as exc:
        writable, problem = False, str(exc)
    report: dict = {"database": {"writable": writable}}
    if problem:
        report["database"]["problem"] = problem
    report["spool"] = spool.status(spool.directory(config))
    return report
