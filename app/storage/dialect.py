"""The few SQL fragments that SQLite and PostgreSQL spell differently, side by side.

A storage function writes one statement for both backends and asks here for the pieces that
differ: each function returns the SQLite text first, the PostgreSQL text second, so a reader
sees both. Everything else (ON CONFLICT upserts, RETURNING, CASE, coalesce, window
functions, CTEs) is the same text on both.
"""

from __future__ import annotations

import json
from typing import Any

from sqlite_utils import Database

from app.core.db import is_postgres
from app.core.postgres import NUL_STAND_IN


def epoch_ms(db: Database, expr: str) -> str:
    """A stored UTC ISO time (`2026-11-23T13:48:04.123Z`) as integer epoch milliseconds."""
    if not is_postgres(db):
        # Exact: julianday keeps whole milliseconds.
        return f"CAST(round((julianday({expr}) - 2440587.5) * 86400000.0) AS INTEGER)"
    return f"CAST(round(extract(epoch FROM CAST({expr} AS timestamptz)) * 1000) AS bigint)"


def json_texts(db: Database, param: str = "?") -> str:
    """`(SELECT ...)` of the text values of a JSON array bound at `param`: `x IN <this>`."""
    if not is_postgres(db):
        return f"(SELECT value FROM json_each({param}))"
    return f"(SELECT value FROM json_array_elements_text(CAST({param} AS json)))"


def json_ints(db: Database, param: str = "?") -> str:
    """As json_texts, for a JSON array of integers compared with integer columns."""
    if not is_postgres(db):
        return f"(SELECT value FROM json_each({param}))"
    return f"(SELECT CAST(value AS bigint) FROM json_array_elements_text(CAST({param} AS json)))"


def json_rows(db: Database, param: str, alias: str) -> str:
    """A FROM item with one row per element of a JSON array of arrays bound at `param`; read
    its items with json_item(alias, i)."""
    if not is_postgres(db):
        return f"json_each({param}) AS {alias}"
    return f"json_array_elements(CAST({param} AS json)) AS {alias}(value)"


def json_item(db: Database, alias: str, index: int, sql_type: str = "bigint") -> str:
    """Item `index` of the current row of json_rows(alias), as `sql_type` (bigint or text)."""
    if not is_postgres(db):
        return f"json_extract({alias}.value, '$[{index}]')"
    return f"CAST({alias}.value ->> {index} AS {sql_type})"


def false(db: Database) -> str:
    """The false of a condition's result (SQLite's conditions are 0 and 1; PostgreSQL's are
    booleans that coalesce() will not mix with integers)."""
    return "false" if is_postgres(db) else "0"


def jsonb_safe(db: Database, text: str | None) -> str | None:
    """JSON text that PostgreSQL's jsonb accepts: it refuses the escape of NUL (\\u0000), so
    a client's NUL inside a string becomes U+FFFD, as every text column stores it there
    (app/core/postgres.py); SQLite's JSON functions take the text as it is."""
    if text is None or not is_postgres(db) or "\\u0000" not in text:
        return text
    return json.dumps(_without_nul(json.loads(text)), ensure_ascii=False)


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", NUL_STAND_IN)
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def json_merge_patch(db: Database, target: str, patch: str) -> str:
    """JSON object text `target` with the keys of object text `patch` set, and those `patch`
    sets to null removed (RFC 7396 for flat objects, as SQLite's json_patch does)."""
    if not is_postgres(db):
        return f"json_patch({target}, {patch})"
    nulls = f"ARRAY(SELECT key FROM jsonb_each(CAST({patch} AS jsonb)) WHERE value = 'null')"
    return f"CAST((CAST({target} AS jsonb) || CAST({patch} AS jsonb)) - {nulls} AS text)"


def greatest(db: Database, *exprs: str) -> str:
    """The largest of several values (SQLite's scalar max(), PostgreSQL's greatest()).

    Only for values that are never NULL (wrap them in coalesce): SQLite's max() is NULL
    when any argument is, PostgreSQL's greatest() skips NULLs."""
    return f"{'greatest' if is_postgres(db) else 'max'}({', '.join(exprs)})"


def least(db: Database, *exprs: str) -> str:
    """The smallest of several values (SQLite's scalar min(), PostgreSQL's least()); NULLs
    as for greatest()."""
    return f"{'least' if is_postgres(db) else 'min'}({', '.join(exprs)})"


def contains(db: Database, haystack: str, needle: str) -> str:
    """Whether text `needle` occurs in `haystack` (no LIKE wildcards to escape)."""
    return f"{'strpos' if is_postgres(db) else 'instr'}({haystack}, {needle}) > 0"


def joined(db: Database, expr: str, separator: str) -> str:
    """The aggregate that joins a group's texts with `separator` (a SQL literal), in the
    order of `expr` (SQLite: read from a subquery already in that order)."""
    if not is_postgres(db):
        return f"group_concat({expr}, {separator})"
    return f"string_agg({expr}, {separator} ORDER BY {expr})"


def unindexed(db: Database, expr: str) -> str:
    """`expr` in a WHERE term that must not be looked up through an index (SQLite's unary +;
    PostgreSQL's planner decides from statistics, and + is not defined on text)."""
    return expr if is_postgres(db) else f"+{expr}"


def skip_locked(db: Database) -> str:
    """The end of a queue's SELECT: on PostgreSQL, lock the row and pass over rows another
    transaction holds (SQLite has one writer at a time, and no such clause)."""
    return " FOR UPDATE SKIP LOCKED" if is_postgres(db) else ""


def full_scan(db: Database) -> str:
    """What to put after a table name to read it whole rather than by index.

    SQLite's planner can be told (NOT INDEXED); PostgreSQL's chooses a sequential scan
    itself from its statistics, and has no such clause."""
    return "" if is_postgres(db) else " NOT INDEXED"


def join_in_order(db: Database) -> str:
    """The join keyword that keeps the left table as the outer loop, for joins with ON.

    SQLite's planner takes CROSS JOIN as that order (its documented hint: the key list first,
    read in key order); PostgreSQL's CROSS JOIN takes no ON, and its planner picks the
    order itself."""
    return "JOIN" if is_postgres(db) else "CROSS JOIN"
