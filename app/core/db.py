"""Database connections: one per request at a time, pooled per process and reused.

The target is a SQLite file path or, with TOUCHPOINT_DATABASE_URL, a PostgreSQL URL
(app/core/postgres.py gives those connections the same surface).

Opening a connection per request costs more than the whole redirect, so connections are kept.
A request (a thread, or a greenlet under gunicorn's gevent worker: `_request_local`) holds
its own from first use until `release_connections()` at the end of its
response, then the next request takes it from the pool: two requests never share one (one
could be inside a transaction), and a worker with a thousand idle keep-alive connections
still holds only as many as it serves at once. Keys include the process id so a connection
opened before gunicorn forks is never shared with a child. PostgreSQL connections are
bounded per process (`pool_size`, TOUCHPOINT_DATABASE_POOL_SIZE): requests beyond it wait.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from sqlite_utils import Database

from app.core import postgres

_locals: dict[int, threading.local] = {}  # per process: see _request_local
_idle: dict[tuple, list[Database]] = {}  # per process: the pool requests take from
# Per process and PostgreSQL URL: how many connections its requests may hold at once. A
# gevent worker serves up to a thousand requests at a time; without a bound a burst of
# clicks would open as many server connections and run into max_connections.
_slots: dict[tuple, threading.BoundedSemaphore] = {}
T = TypeVar("T")

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")

# What "the database refused" means on either backend: `except DATABASE_ERRORS`.
DATABASE_ERRORS: tuple[type[Exception], ...] = (sqlite3.DatabaseError, postgres.Error)
# A constraint or a statement the database will refuse every time (a bug, not an outage).
PERMANENT_ERRORS: tuple[type[Exception], ...] = (
    sqlite3.IntegrityError,
    sqlite3.ProgrammingError,
    postgres.IntegrityError,
    postgres.psycopg.ProgrammingError,
)


def is_postgres(db: Database) -> bool:
    """Whether `db` is a PostgreSQL connection (the storage layer's one switch between the
    two variants of a statement)."""
    return getattr(db, "dialect", "sqlite") == "postgresql"


def open_database(path: str, synchronous: str = "NORMAL", busy_timeout_ms: int = 5000) -> Database:
    """Open a new connection with the pragmas every Touchpoint connection needs (or, for a
    postgresql:// URL, a PostgreSQL connection: app/core/postgres.py)."""
    if postgres.is_url(path):
        return postgres.connect(path)  # type: ignore[return-value]
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
    # After a checkpoint the WAL is cut back to 64 MiB: a burst must not keep its disk space.
    conn.execute("PRAGMA journal_size_limit = 67108864")
    return Database(conn, execute_plugins=False)


def thread_database(
    path: str,
    synchronous: str,
    busy_timeout_ms: int,
    *,
    hot: bool = False,
    pool_size: int = 0,
) -> Database:
    """Return this thread's connection to `path`, opening it on first use.

    `hot=True` gives the redirect path its own connection without SQLite's busy handler:
    its writes go through `retry_locked` instead (see there for why).

    For PostgreSQL, `pool_size` (0: no bound) is how many connections this process's
    requests hold at once; a request beyond it waits up to `busy_timeout_ms` for one to be
    released, then gets postgres.PoolTimeout (an OperationalError: a 503, as an unreachable
    server is). SQLite connections are not bounded: they cost the database nothing.
    """
    slot = None
    if postgres.is_url(path):
        hot = False  # no busy handler to leave out: one pool serves every request
    pid = os.getpid()
    key = (pid, path, hot)
    local = _request_local(pid)
    cache = getattr(local, "dbs", None)
    if cache is None:
        cache = local.dbs = {}
    db = cache.get(key)
    if db is None:
        if pool_size > 0 and postgres.is_url(path):
            slot = _slots.get(key) or _slots.setdefault(key, threading.BoundedSemaphore(pool_size))
            if not slot.acquire(timeout=busy_timeout_ms / 1000):
                raise postgres.PoolTimeout(
                    f"all {pool_size} connections of this process are in use"
                    f" (TOUCHPOINT_DATABASE_POOL_SIZE) after {busy_timeout_ms} ms"
                )
        try:
            pool = _idle.get(key)
            if pool:
                db = pool.pop()
            else:
                db = open_database(path, synchronous, 0 if hot else busy_timeout_ms)
                # retry_locked's deadline rides on the connection: it has no busy handler.
                db.write_timeout_s = busy_timeout_ms / 1000  # type: ignore[attr-defined]
        except BaseException:
            if slot is not None:
                slot.release()
            raise
        db.pool_slot = slot  # type: ignore[attr-defined]
        cache[key] = db
    return db


def _request_local(pid: int) -> threading.local:
    """This process's per-request storage, made on first use in the process.

    gunicorn's master imports this module before a gevent worker patches `threading`; a
    `threading.local` made at import would be one per thread, shared by every greenlet of
    the worker, so concurrent requests would share connections (and transactions). Made in
    the worker, it is gevent's local: one per greenlet.
    """
    local = _locals.get(pid)
    if local is None:
        local = _locals.setdefault(pid, threading.local())
    return local


def release_connections() -> None:
    """Give the connections this thread or greenlet holds back to the process's pool."""
    cache = getattr(_request_local(os.getpid()), "dbs", None)
    if not cache:
        return
    for key, db in cache.items():
        slot = getattr(db, "pool_slot", None)
        try:
            _give_back(key, db)
        finally:
            if slot is not None:  # only now: the connection is idle in the pool again
                db.pool_slot = None
                slot.release()
    cache.clear()


def _give_back(key: tuple, db: Any) -> None:
    """Put a request's connection back in the pool, unless it is broken or closed."""
    if is_postgres(db) and db.raw.closed:
        return  # the server went away (a restart, a failover): the next request reconnects
    try:
        if db.conn.in_transaction:  # an exception skipped a ROLLBACK: never pass that on
            db.conn.rollback()
    except DATABASE_ERRORS:
        db.conn.close()
        return
    _idle.setdefault(key, []).append(db)


def close_connections() -> None:
    """Close this thread's connections and the pool's (tests: one database per test)."""
    release_connections()
    for pool in _idle.values():
        for db in pool:
            db.conn.close()
    _idle.clear()
    _slots.clear()


class ReleasingIterable:
    """A WSGI response body that releases the request's connections when the server closes it
    (after the last byte of a streamed body, or when the client went away)."""

    __slots__ = ("_body",)

    def __init__(self, body: Iterable[bytes]) -> None:
        self._body = body

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            release_connections()


def retry_locked(db: Database, write: Callable[[], T]) -> T:
    """Run a write on a hot connection, retrying "database is locked" with short sleeps.

    SQLite's own busy handler sleeps 1 ms, then 2, 5, 10 ms... between tries. With several
    workers appending clicks the lock is free again within tens of microseconds, so those
    sleeps cost more than the writes: sleeps of 50 µs growing to 2 ms instead gave
    bench/redirect more throughput and a lower p99.
    """
    deadline = time.monotonic() + db.write_timeout_s  # type: ignore[attr-defined]
    delay = 0.00005
    while True:
        try:
            return write()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        _blocking_sleep()(delay)
        delay = min(delay * 1.5, 0.002)


def _blocking_sleep() -> Callable[[float], None]:
    """time.sleep as it was before gevent patched it.

    Under gevent a patched sleep hands the turn to every other connection of the worker, so a
    click waiting a few microseconds for the write lock waits a whole round and then often
    loses the lock again: bench/redirect's p99 was several times higher. Blocking the worker
    for those microseconds keeps the click's turn, as with sync workers.
    """
    try:
        from gevent import monkey
    except ImportError:
        return time.sleep
    if monkey.is_module_patched("time"):
        return monkey.get_original("time", "sleep")
    return time.sleep


@contextlib.contextmanager
def immediate(db: Database) -> Iterator[Database]:
    """A write transaction that takes the write lock up front.

    A deferred transaction that reads then writes fails with "database is locked" when another
    process wrote in between; BEGIN IMMEDIATE waits for the lock (busy_timeout) instead.

    On PostgreSQL the same promise is one transaction-scoped advisory lock that every such
    transaction takes first, on every host: the read-then-write steps (a redemption, a
    claim, an idempotent replay) run one at a time exactly as under SQLite's write lock,
    while clicks, which never take it, keep flowing. It is released by COMMIT or ROLLBACK.
    """
    begin(db)
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    else:
        db.conn.execute("COMMIT")


@contextlib.contextmanager
def waiting_at_most(db: Database, ms: int, usual_ms: int) -> Iterator[None]:
    """Statements inside give up after `ms` waiting for a lock (SQLite's busy_timeout,
    PostgreSQL's lock_timeout), then the connection's usual `usual_ms` is back."""
    if is_postgres(db):
        db.execute(f"SET lock_timeout = {int(ms)}")
        try:
            yield
        finally:
            db.execute("RESET lock_timeout")
        return
    db.conn.execute(f"PRAGMA busy_timeout = {int(ms)}")
    try:
        yield
    finally:
        db.conn.execute(f"PRAGMA busy_timeout = {int(usual_ms)}")


def begin(db: Database) -> None:
    """BEGIN IMMEDIATE on SQLite; BEGIN and the write lock (see `immediate`) on PostgreSQL."""
    if is_postgres(db):
        db.conn.execute("BEGIN")
        try:
            db.conn.execute("SELECT pg_advisory_xact_lock(?)", (postgres.WRITE_LOCK_KEY,))
        except BaseException:
            db.conn.execute("ROLLBACK")
            raise
    else:
        db.conn.execute("BEGIN IMMEDIATE")
