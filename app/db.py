"""SQLite connections: one per worker thread, reused across requests.

Opening a connection per request costs more than the whole redirect, so each thread keeps
its own. Keys include the process id so a connection opened before gunicorn forks is never
shared with a child.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator

from sqlite_utils import Database

_local = threading.local()

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


def open_database(path: str, synchronous: str = "NORMAL", busy_timeout_ms: int = 5000) -> Database:
    """Open a new connection with the pragmas every Touchpoint connection needs."""
    mode = synchronous.upper()
    if mode not in SYNCHRONOUS_MODES:
        raise SystemExit(f"TOUCHPOINT_SYNCHRONOUS must be one of {', '.join(SYNCHRONOUS_MODES)}")
    # isolation_level=None: every statement commits on its own unless we BEGIN explicitly,
    # so a click's INSERT is durable before the response is built.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA synchronous = {mode}")
    # Checkpoint every ~40 MB of WAL instead of every ~4 MB: each click rewrites the same few
    # tail pages, which a later checkpoint copies once instead of many times (bench/redirect).
    conn.execute("PRAGMA wal_autocheckpoint = 10000")
    return Database(conn, execute_plugins=False)


def thread_database(path: str, synchronous: str, busy_timeout_ms: int) -> Database:
    """Return this thread's connection to `path`, opening it on first use."""
    key = (os.getpid(), path)
    cache = getattr(_local, "dbs", None)
    if cache is None:
        cache = _local.dbs = {}
    db = cache.get(key)
    if db is None:
        db = cache[key] = open_database(path, synchronous, busy_timeout_ms)
    return db


@contextlib.contextmanager
def immediate(db: Database) -> Iterator[Database]:
    """A write transaction that takes the write lock up front.

    A deferred transaction that reads then writes fails with "database is locked" when another
    process wrote in between; BEGIN IMMEDIATE waits for the lock (busy_timeout) instead.
    """
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    else:
        db.conn.execute("COMMIT")
