"""Writing a hit so that a valid link always redirects: the database first, the spool
(app/clicks/spool.py) when the database refuses, and a drain once it accepts again."""

from __future__ import annotations

import logging
import time

from sqlite_utils import Database

from app import storage
from app.clicks import scanners, spool
from app.clicks.hit import Hit
from app.core import db as dbmod
from app.core.runtime import Runtime, ScannerRules

DRAIN_EVERY_S = 5.0  # a worker looks for spooled hits at most this often after a write

log = logging.getLogger(__name__)
_next_look = 0.0


def save(db: Database, hit: Hit, rules: ScannerRules) -> None:
    """Store a hit: one INSERT, or for a recipient's hit the INSERT and its scanner
    consequences in one transaction (app/clicks/scanners.py)."""
    if hit.of_recipient:
        scanners.record(db, hit, rules)
    else:
        storage.insert_hit(db, hit)


def refused(exc: Exception) -> bool:
    """Whether a failed write is the storage refusing it for now (so the hit is spooled)."""
    # A constraint failure is a bug a replay would repeat forever; everything else (full,
    # locked, readonly, I/O error, PostgreSQL gone) is storage that may recover.
    return not isinstance(exc, dbmod.PERMANENT_ERRORS)


def write(rt: Runtime, db: Database, hit: Hit) -> None:
    """`save`, or spool the hit (with the scanner rules it is to be judged by) when the
    database cannot take it."""
    rules = rt.scanner_rules
    try:
        save(db, hit, rules)
    except dbmod.DATABASE_ERRORS as exc:
        if not refused(exc):
            raise
        _spooled(rt, spool.keep_hit(rt.config["SPOOL_DIR"], hit, rules), exc)
        return
    written(rt)


def record_orphan(
    rt: Runtime,
    db: Database,
    at: str,
    path: str,
    ip: str | None,
    user_agent: str | None,
    referrer: str | None,
) -> None:
    """Store (or only count, past the per-address threshold) a hit on an unknown token.

    The values are bounded already (app/clicks/hit.py Visitor)."""
    args = (at, path, ip, user_agent, referrer)
    try:
        storage.record_orphan_hit(db, *args, rt.config["ORPHAN_HITS_PER_HOUR"])
    except dbmod.DATABASE_ERRORS as exc:
        if not refused(exc):
            raise
        _spooled(rt, spool.keep_orphan(rt.config["SPOOL_DIR"], args), exc)
        return
    written(rt)


def _spooled(rt: Runtime, where: str, exc: Exception) -> None:
    log.warning("database refused a hit (%s); kept in %s", exc, where)


def written(rt: Runtime) -> None:
    """After a hit went into the database: drain the spool now and then."""
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
    except dbmod.DATABASE_ERRORS as exc:
        log.warning("spooled hits still wait: %s", exc)
