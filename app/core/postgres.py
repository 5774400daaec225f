"""PostgreSQL connections that the storage layer uses exactly like its SQLite ones.

The storage functions call `db.execute(sql, params)` and `db.conn.execute(...)` with
SQLite's `?` and `:name` placeholders and read tuples, `rowcount` and `description` back. A
`PgDatabase` offers that same small surface over one psycopg 3 connection, so one statement
text serves both backends wherever both accept it; where they differ, the storage function
holds both variants side by side and picks one with `is_postgres(db)`.

The only work between the caller and psycopg is rewriting placeholders (`?` -> `%s`, `:name`
-> `%(name)s`, a literal `%` -> `%%`), done once per distinct statement text and cached: on
the click path that is one dict lookup (bench/multihost measures the whole path).

Connections run in autocommit, as the SQLite ones do (isolation_level=None): a statement
outside BEGIN ... COMMIT is durable when it returns, so a click is committed before its 302.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
from psycopg import adapt, pq, waiting
from psycopg.abc import Buffer
from psycopg.types.string import StrDumperUnknown

# One 64-bit key for the advisory lock `immediate()` takes (db.py): the PostgreSQL stand-in
# for SQLite's single write lock. "TPWRITE1" in ASCII, so it is recognisable in pg_locks.
WRITE_LOCK_KEY = 0x5450575249544531

# psycopg's errors that mean "the database cannot take this now" (db.py's DATABASE_ERRORS).
Error = psycopg.Error
IntegrityError = psycopg.IntegrityError
OperationalError = psycopg.OperationalError
# A standby, or a database set read-only: writes fail as on a full SQLite disk.
ReadOnly = psycopg.errors.ReadOnlySqlTransaction


class PoolTimeout(OperationalError):
    """Every connection this process may hold is in use and none came free in time
    (db.py thread_database): the database is as unavailable as an unreachable one."""


_TOKEN = re.compile(
    r"""
    '(?:[^']|'')*'          # a string literal: no placeholder inside (but % is doubled)
  | "(?:[^"]|"")*"          # a quoted identifier
  | --[^\n]*                # a comment
  | ::                      # a PostgreSQL cast, not a named placeholder
  | :(?P<name>[A-Za-z_]\w*) # :name
  | (?P<mark>\?)            # ?
  | (?P<percent>%)          # psycopg reads % itself
    """,
    re.VERBOSE,
)
_translated: dict[str, str] = {}


def translate(sql: str) -> str:
    """A statement with SQLite placeholders as psycopg expects it (cached per text)."""
    found = _translated.get(sql)
    if found is None:

        def replace(match: re.Match[str]) -> str:
            if match["name"]:
                return f"%({match['name']})s"
            if match["mark"]:
                return "%s"
            if match["percent"]:
                return "%%"
            # psycopg reads % everywhere, string literals included.
            return match[0].replace("%", "%%")

        found = _translated[sql] = _TOKEN.sub(replace, sql)
    return found


class _NumericLoader(adapt.Loader):
    """numeric as int when it has no fraction, else float: what SQLite gives for sum(),
    avg() and integer arithmetic. (PostgreSQL's sum(bigint) is numeric; a Decimal in a JSON
    answer or a CSV cell would print differently from the SQLite backend.)"""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        if "." in text or "e" in text or "N" in text:  # NaN, Infinity
            return float(text)
        return int(text)


class _TextDumper(StrDumperUnknown):
    """str as psycopg sends it, except NUL: PostgreSQL text cannot hold one (SQLite can), and
    psycopg would raise on it, so a NUL a client sent (a generated `?location=%00`, a note)
    would make a 500 or lose a click. It is stored as U+FFFD, the replacement character; a
    lookup for a value with a NUL finds nothing, as on SQLite, where no stored code has one."""

    def dump(self, obj: str) -> Buffer | None:
        return super().dump(obj.replace("\x00", NUL_STAND_IN) if "\x00" in obj else obj)


NUL_STAND_IN = "\ufffd"


class _TextBoolLoader(adapt.Loader):
    """bool as 0/1, as SQLite answers a comparison: `SELECT a = b` reads the same."""

    def load(self, data: Any) -> int:
        return 1 if bytes(data) == b"t" else 0


class PgDatabase:
    """One PostgreSQL connection with the surface of a sqlite_utils Database that the storage
    layer uses. `conn` is the object itself, so `db.conn.execute` works on both backends."""

    dialect = "postgresql"
    write_timeout_s = 5.0

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn
        self._trace: Callable[[str], object] | None = None

    def set_trace_callback(self, trace: Callable[[str], object] | None) -> None:
        """Call `trace` with every statement run, as sqlite3's connection does (tests count
        the statements a page costs with it)."""
        self._trace = trace

    @property
    def conn(self) -> PgDatabase:
        # A property, not `self.conn = self`: no reference cycle, so a dropped connection
        # is closed at once (__del__) rather than by a later garbage collection.
        return self

    @property
    def raw(self) -> psycopg.Connection:
        return self._conn

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = ()) -> Any:
        if self._trace is not None:
            self._trace(sql)
        return self._conn.execute(translate(sql), params or None)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any] | dict[str, Any]]) -> Any:
        if self._trace is not None:
            self._trace(sql)
        cursor = self._conn.cursor()
        cursor.executemany(translate(sql), rows)
        return cursor

    def query(
        self, sql: str, params: Sequence[Any] | dict[str, Any] | None = ()
    ) -> Iterator[dict[str, Any]]:
        cursor = self.execute(sql, params)
        keys = [d.name for d in cursor.description or ()]
        for row in cursor:
            yield dict(zip(keys, row, strict=True))

    @property
    def in_transaction(self) -> bool:
        return self._conn.info.transaction_status != pq.TransactionStatus.IDLE

    def rollback(self) -> None:
        self._conn.rollback()

    def close(self) -> None:
        self._conn.close()

    def __del__(self) -> None:
        # A pooled connection of a finished thread is dropped with it; close it quietly
        # rather than have psycopg warn about it.
        conn = getattr(self, "_conn", None)
        if conn is not None and not conn.closed:
            conn.close()


def is_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def _wait_cooperatively_under_gevent() -> None:
    # psycopg picks how it waits for the server once, when imported: its C wait unless gevent
    # has patched `select` by then. gunicorn's master imports the app (so psycopg) before a
    # gevent worker patches, so each worker would block on every query, and one slow report
    # would hold up every click on its worker. Pick what psycopg picks under gevent instead.
    if waiting.wait is not getattr(waiting, "wait_c", None) or "gevent.monkey" not in sys.modules:
        return
    from gevent import monkey

    if monkey.is_module_patched("select"):
        waiting.wait = waiting.wait_poll


def connect(url: str, *, connect_timeout_s: int = 5) -> PgDatabase:
    """Open one connection for Touchpoint: autocommit, UTC, numbers and flags read back as
    SQLite reads them."""
    _wait_cooperatively_under_gevent()
    conn = psycopg.connect(
        url,
        autocommit=True,
        connect_timeout=connect_timeout_s,
        # Statements the app repeats (the redirect's read, the click's INSERT) are prepared
        # on the server after two runs: less parsing per click.
        prepare_threshold=2,
        options="-c timezone=UTC",
    )
    conn.adapters.register_loader("numeric", _NumericLoader)
    conn.adapters.register_loader("bool", _TextBoolLoader)
    conn.adapters.register_dumper(str, _TextDumper)
    return PgDatabase(conn)


def describe(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or parse_qs(parts.query).get("host", [""])[0]
    user = f"{parts.username}@" if parts.username else ""
    return f"postgresql://{user}{host}{f':{parts.port}' if parts.port else ''}{parts.path}"
