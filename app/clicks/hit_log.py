"""Writing a hit so that a valid link always redirects: bounded values, the database first,
the spool (app/clicks/spool.py) when the database refuses, and a drain once it accepts again."""

from __future__ import annotations

import logging
import sqlite3
import time

from sqlite_utils import Database

from app import storage
from app.clicks import spool
from app.core.runtime import Runtime

# Stored per hit at most (characters). Real browsers send user agents of 100-300 characters
# and referrers are page URLs; 8 KB headers are a flood filling the disk (issue 12), and
# bot classification only needs the start of a user agent.
MAX_USER_AGENT = 512
MAX_REFERRER = 1024
DRAIN_EVERY_S = 5.0  # a worker looks for spooled hits at most this often after a write

log = logging.getLogger(__name__)
_next_look = 0.0


def cut(value: str | None, limit: int) -> str | None:
    """`value` shortened to `limit` characters (None stays None)."""
    return value if value is None or len(value) <= limit else value[:limit]


def _refused(exc: sqlite3.DatabaseError) -> bool:
    # A constraint failure is a bug a replay would repeat forever; everything else (full,
    # locked, readonly, I/O error) is storage that may recover.
    return not isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError)


def record_event(rt: Runtime, db: Database, event: tuple) -> None:
    """Store one click or scan, or spool it when the database cannot take it."""
    try:
        storage.insert_event(db, event)
    except sqlite3.DatabaseError as exc:
        if not _refused(exc):
            raise
        _spool(rt, "event", event, None, exc)
        return
    _after_write(rt)


def record_recipient_hit(rt: Runtime, db: Database, event: tuple, **kw: object) -> None:
    """storage.record_recipient_hit, spooled (with its consequences) when the database refuses."""
    try:
        storage.record_recipient_hit(db, event, **kw)
    except sqlite3.DatabaseError as exc:
        if not _refused(exc):
            raise
        _spool(rt, "recipient", event, kw, exc)
        return
    _after_write(rt)


def record_orphan(
    rt: Runtime,
    db: Database,
    at: str,
    path: str,
    ip: str | None,
    user_agent: str | None,
    referrer: str | None,
) -> None:
    """Store (or only count, past the per-address threshold) a hit on an unknown token."""
    args = (at, path, ip, cut(user_agent, MAX_USER_AGENT), cut(referrer, MAX_REFERRER))
    try:
        storage.record_orphan_hit(db, *args, rt.config["ORPHAN_HITS_PER_HOUR"])
    except sqlite3.DatabaseError as exc:
        if not _refused(exc):
            raise
        _spool(rt, "orphan", args, None, exc)
        return
    _after_write(rt)


def _spool(rt: Runtime, op: str, args: tuple, kw: dict | None, exc: Exception) -> None:
    where = spool.keep(rt.config["SPOOL_DIR"], op, args, kw)
    log.warning("database refused a hit (%s); kept in %s", exc, where)


def _after_write(rt: Runtime) -> None:
    # The database took a write, so spooled hits may go in now. One clock read per hit; the
    # directory is listed at most every DRAIN_EVERY_S per process.
    global _next_look
    now = time.monotonic()
    if now < _next_look:
        return
    _next_look = now + DRAIN_EVERY_S
    spool_dir = rt.config["SPOOL_DIR"]
    if not spool.waiting(spool_dir):
        return
    try:
        added = spool.drain(rt.db(), spool_dir, rt.config["ORPHAN_HITS_PER_HOUR"])
        log.warning("%d spooled hits written to the database", added)
    except sqlite3.DatabaseError as exc:
        log.warning("spooled hits still wait: %s", exc)
