"""Storage for reports: the derived tables behind them and every report query.

A report over a million events cannot afford to group raw events (SQLite sorts them) or to
fetch converters' journeys through the events_visitor index (one random row per touch), so
tables are derived from events (migration m006) and from lead_visitors (m009):

- report_days and report_months: per UTC day (and month), campaign, link and store, the
  counts a report shows and the set of human visitors (numbered through report_visitors,
  packed as 32-bit integers), so six months of activity is a few thousand rows;
- report_touches: every human touch in a few bytes, clustered by visitor (then lead, by
  a covering index), so a journey is one range read;
- report_leads: lead_visitors by visitor number, so the browsers of the people behind
  thousands of conversions are one pass over a small index, not two GUID lookups each.

They are brought up to date lazily, before each report, by reading events and lead_visitors
past the mark of the last row summed (refresh_report_tables; see Mark): the redirect hot
path pays nothing on SQLite, since no index or trigger fires on INSERT. The UPDATE and
DELETE triggers of m006 queue the old values of events already summed (scanner flags, a
booth scan matched later), and the refresh recounts the buckets they touched from raw
events; lead_visitors is only appended to. All of them can be rebuilt from the source
tables at any time.

Every lookup a report makes for many keys is one query over the keys in sorted order, so
each B-tree page is read once however many keys fall on it: a report's cost follows the
rows it asks for, not the size of the tables (random lookups cost more each as tables
outgrow the caches).
"""

from __future__ import annotations

import contextlib
import json
import time
from array import array
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlite_utils import Database

from app.core.db import immediate, is_postgres

from . import dialect

__all__ = [
    "ACTIVITY_KIND",
    "Mark",
    "TOUCH_KINDS",
    "claims_between",
    "conversions_between",
    "click_touches",
    "first_touches",
    "lead_first_reached",
    "lead_visitor_numbers",
    "next_month",
    "offer_count",
    "people_of",
    "AUDIENCE_COLUMNS",
    "event_values",
    "raw_activity",
    "rebuild_report_tables",
    "redemptions_between",
    "refresh_report_tables",
    "replica_caught_up",
    "report_campaigns",
    "report_days_between",
    "report_links",
    "report_locations",
    "report_months_between",
    "report_snapshot",
    "report_state",
    "sales_activities_between",
    "offline_touches_between",
    "link_partners",
    "report_partners",
    "OFFLINE_KINDS",
    "stitched_visitor_numbers",
    "touches_of_leads",
    "touches_of_visitors",
    "unpack_visitors",
    "visitor_numbers_of",
]

TOUCH_KINDS = {"click": 1, "scan": 2, "claim": 3, "booth_scan": 4}
# A sales activity (lead_activities) as a touch. Not in report_touches: activities are read
# from their own small table, and their touch ids are the activity ids negated, so they never
# meet an event rowid when a journey drops duplicates.
ACTIVITY_KIND = 5
# Offline touches (offline_touches) as touches: a partner bringing the lead or sale, and a
# customer at the till naming the campaign they saw. Their touch ids are -(id + 2**40), apart
# from both event rowids and activity ids.
OFFLINE_KINDS = {"partner": 6, "mentioned": 7}
OFFLINE_ID_OFFSET = 2**40
# A note records no contact with the person: it is no touch.
_CONTACT = "kind != 'note'"
_EVENT_COLUMNS = "rowid, type, at, link_id, campaign_id, store_code, visitor_id, is_bot, lead_id"
REFRESH_CHUNK = 10_000
REFRESH_CACHE_KIB = -65_536  # negative: KiB, as PRAGMA cache_size takes it


@contextlib.contextmanager
def report_snapshot(db: Database) -> Iterator[None]:
    """One read transaction: every query of a report sees the same state of the database.

    SQLite's read transaction is a snapshot by nature; PostgreSQL's READ COMMITTED would
    give each statement its own, so a report asks for REPEATABLE READ (one snapshot)."""
    db.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ" if is_postgres(db) else "BEGIN")
    try:
        yield
    finally:
        db.conn.execute("COMMIT")


def _pack(numbers: Iterable[int]) -> bytes:
    # Machine byte order: derived data, rebuilt (`touchpoint report refresh --rebuild`) rather
    # than carried to a machine of the other endianness.
    return array("I", sorted(numbers)).tobytes()


def unpack_visitors(blob: bytes) -> array:
    numbers = array("I")
    numbers.frombytes(blob)
    return numbers


def _next_day(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}"


# Keeping the derived tables up to date -----------------------------------------------------


# The mark of the last row summed, so the next refresh starts after it and a report reads raw
# events up to it (never one the tables hold, never one they miss).
#
# SQLite has one writer at a time: rowids become visible in order, and the mark is the last
# rowid summed. PostgreSQL's writers commit in any order: a transaction that inserted rowid 1
# may commit after one that inserted rowid 2 was summed, so a rowid mark would skip rowid 1
# for ever. There every row records the transaction that inserted it (tx, m001's baseline),
# and a refresh only sums rows of transactions older than the oldest one still running
# (pg_snapshot_xmin): those have all committed or rolled back, so no row can appear below
# the mark later. The mark is (tx, rowid) of the last row summed, rows are taken in that
# order (the events_tx index), and a row of a younger transaction waits for a later refresh
# even if it is already visible, the price of never skipping one.
Mark = int | tuple[str, int]
_SETTLED = "tx < pg_snapshot_xmin(pg_current_snapshot())"


def _past(db: Database, mark: Mark) -> tuple[str, list]:
    """(SQL condition, params): the rows of events or lead_visitors after `mark`."""
    if not is_postgres(db):
        return "rowid > ?", [mark]
    tx, rowid = mark  # type: ignore[misc]
    return "(tx, rowid) > (CAST(? AS xid8), ?)", [tx, rowid]


def _summed(db: Database, mark: Mark) -> tuple[str, list]:
    """(SQL condition, params): the events at or before `mark`, those the tables hold."""
    if not is_postgres(db):
        return "rowid <= ?", [mark]
    tx, rowid = mark  # type: ignore[misc]
    return "(tx, rowid) <= (CAST(? AS xid8), ?)", [tx, rowid]


def _marks(db: Database, lock: bool = False) -> tuple[Mark, str | None, Mark, str | None]:
    """(events mark, id of that event, lead_visitors mark, visitor id of that row); `lock`:
    a refresh's, holding report_state until it commits."""
    if not is_postgres(db):
        return db.execute(
            "SELECT last_event_rowid, last_event_id, last_lead_rowid, last_lead_visitor_id "
            "FROM report_state"
        ).fetchone()
    # FOR UPDATE in a refresh: the events trigger reads the mark FOR SHARE, so an UPDATE of
    # an event either finishes before this refresh reads events or sees its new mark. Never
    # in a report: its REPEATABLE READ snapshot would fail on a row a refresh changed since,
    # and a standby refuses row locks.
    tx, rowid, event_id, lead_tx, lead_rowid, visitor_id = db.execute(
        "SELECT CAST(last_event_tx AS text), last_event_rowid, last_event_id, "
        "CAST(last_lead_tx AS text), last_lead_rowid, last_lead_visitor_id FROM report_state"
        + (" FOR UPDATE" if lock else "")
    ).fetchone()
    return (tx, rowid), event_id, (lead_tx, lead_rowid), visitor_id


def _set_mark(db: Database, table: str, mark: Mark, key: str | None) -> None:
    """Record the last row of `table` (events or lead_visitors) summed, and its key."""
    prefix = "last_event" if table == "events" else "last_lead"
    key_column = "last_event_id" if table == "events" else "last_lead_visitor_id"
    if not is_postgres(db):
        db.execute(f"UPDATE report_state SET {prefix}_rowid = ?, {key_column} = ?", (mark, key))
        return
    tx, rowid = mark  # type: ignore[misc]
    db.execute(
        f"UPDATE report_state SET {prefix}_tx = CAST(? AS xid8), {prefix}_rowid = ?, "
        f"{key_column} = ?",
        (tx, rowid, key),
    )


def _mark_of(db: Database, row: tuple) -> Mark:
    """The mark of a row read with _after (rowid first, tx last on PostgreSQL)."""
    return (row[-1], row[0]) if is_postgres(db) else row[0]


def _after(db: Database, table: str, columns: str, mark: Mark, chunk: int) -> list[tuple]:
    """Up to `chunk` rows of `table` after `mark` in mark order; on PostgreSQL only those of
    settled transactions, each row ending with its tx as text."""
    where, params = _past(db, mark)
    if not is_postgres(db):
        return db.execute(
            f"SELECT {columns} FROM {table} WHERE {where} ORDER BY rowid LIMIT ?",
            (*params, chunk),
        ).fetchall()
    # The text is named tx_text: an output column named tx would be what ORDER BY tx sorts
    # by, and as text '999' comes after '1000'.
    return db.execute(
        f"SELECT {columns}, CAST(tx AS text) AS tx_text FROM {table} "
        f"WHERE {where} AND {_SETTLED} ORDER BY {table}.tx, {table}.rowid LIMIT ?",
        (*params, chunk),
    ).fetchall()


def report_state(db: Database) -> tuple[Mark, str | None]:
    """(mark of the last event summed, its id): what raw reads of a report stop at."""
    mark, event_id, _, _ = _marks(db)
    return mark, event_id


def refresh_report_tables(db: Database, chunk: int = REFRESH_CHUNK) -> int:
    """Sum the events written since the last refresh, and recount changed ones; return how many.

    Each chunk is one IMMEDIATE transaction (on PostgreSQL: the write lock every host
    takes), so two reports never sum the same rows, and a redirect worker waits at most one
    chunk (tens of milliseconds) for the write lock.
    """
    if _nothing_new(db):
        return 0
    done = 0
    # Summing inserts all over the clustered touches table; a bigger page cache meanwhile
    # keeps those pages in memory (the connection's own setting comes back afterwards).
    with _big_cache(db):
        while True:
            counts = _refresh_chunk(db, chunk)
            done += sum(counts)
            if max(counts) < chunk:
                return done


@contextlib.contextmanager
def _big_cache(db: Database) -> Iterator[None]:
    """SQLite: a bigger page cache while summing (the connection's own comes back after).
    PostgreSQL's shared buffers serve every connection; nothing to set per connection."""
    if is_postgres(db):
        yield
        return
    cache_size = db.execute("PRAGMA cache_size").fetchone()[0]
    db.execute(f"PRAGMA cache_size = {REFRESH_CACHE_KIB}")
    try:
        yield
    finally:
        db.execute(f"PRAGMA cache_size = {int(cache_size)}")


def _nothing_new(db: Database) -> bool:
    """True when the report tables are up to date: one read, no write lock.

    A page runs several reports, each refreshing first; without this check every one of them
    took the write lock and ran its statements only to find nothing to do. Rowids that moved
    (a VACUUM) fail the id checks, so the full refresh below deals with them.
    """
    if is_postgres(db):
        # Rowids never move here; rows past the marks count once their transaction settled.
        row = db.execute(
            "SELECT NOT EXISTS (SELECT 1 FROM events WHERE (tx, rowid) > "
            f"(s.last_event_tx, s.last_event_rowid) AND {_SETTLED})"
            " AND NOT EXISTS (SELECT 1 FROM report_changes)"
            " AND NOT EXISTS (SELECT 1 FROM lead_visitors WHERE (tx, rowid) > "
            f"(s.last_lead_tx, s.last_lead_rowid) AND {_SETTLED})"
            " FROM report_state s"
        ).fetchone()
        return bool(row and row[0])
    row = db.execute(
        "SELECT s.last_event_rowid = coalesce((SELECT max(rowid) FROM events), 0)"
        " AND coalesce((SELECT id FROM events WHERE rowid = s.last_event_rowid), '')"
        " = coalesce(s.last_event_id, '')"
        " AND NOT EXISTS (SELECT 1 FROM report_changes)"
        " AND s.last_lead_rowid = coalesce((SELECT max(rowid) FROM lead_visitors), 0)"
        " AND coalesce((SELECT visitor_id FROM lead_visitors WHERE rowid = s.last_lead_rowid), '')"
        " = coalesce(s.last_lead_visitor_id, '')"
        " FROM report_state s"
    ).fetchone()
    return bool(row and row[0])


def _refresh_chunk(db: Database, chunk: int) -> tuple[int, int, int]:
    """Sum one chunk of new events, of queued changes and of new lead_visitors rows; return
    how many of each."""
    with immediate(db):
        last, last_id, lead_mark, lead_visitor = _marks(db, lock=True)
        if not is_postgres(db) and last and _event_id_at(db, last) != last_id:
            # Rowids moved (a VACUUM after deletions): what was summed cannot be trusted.
            _clear(db)
            last = lead_mark = 0
        rows = _after(db, "events", f"{_EVENT_COLUMNS}, id", last, chunk)
        if rows:
            _add_events(db, rows)
            last = _mark_of(db, rows[-1])
            _set_mark(db, "events", last, rows[-1][9])
        changes = db.execute(
            "SELECT id, event_rowid, at, visitor_id, campaign_id, link_id, store_code "
            "FROM report_changes ORDER BY id LIMIT ?",
            (chunk,),
        ).fetchall()
        if changes:
            _apply_changes(db, changes, last)
            # By id, not `id <= the last`: on PostgreSQL a smaller id may commit later.
            db.execute(
                f"DELETE FROM report_changes WHERE id IN {dialect.json_ints(db)}",
                (json.dumps([c[0] for c in changes]),),
            )
        stitched = _add_stitches(db, chunk, lead_mark, lead_visitor)
    return len(rows), len(changes), stitched


def _add_stitches(db: Database, chunk: int, last: Mark, last_visitor: str | None) -> int:
    """Copy browsers linked to a lead since the last refresh into report_leads, by number."""
    if not is_postgres(db) and last and _stitch_at(db, last) != last_visitor:
        # Rowids moved (a VACUUM): copy them all again. Only ever appended to otherwise.
        db.execute("DELETE FROM report_leads")
        last = 0
    rows = _after(db, "lead_visitors", "rowid, visitor_id, lead_id", last, chunk)
    if rows:
        numbers = _number_visitors(db, {row[1] for row in rows})
        db.conn.executemany(
            "INSERT INTO report_leads (visitor_n, lead_id) VALUES (?, ?) "
            "ON CONFLICT (visitor_n) DO UPDATE SET lead_id = excluded.lead_id",
            sorted((numbers[row[1]], row[2]) for row in rows),
        )
        _set_mark(db, "lead_visitors", _mark_of(db, rows[-1]), rows[-1][1])
    return len(rows)


def _stitch_at(db: Database, rowid: Mark) -> str | None:
    row = db.execute("SELECT visitor_id FROM lead_visitors WHERE rowid = ?", (rowid,)).fetchone()
    return row[0] if row else None


def replica_caught_up(db: Database, reader: Database, wait_s: float) -> bool:
    """Wait up to `wait_s` for the standby `reader` to replay what the primary `db` has
    written so far (a refresh just committed); whether it did. A report then shows the sums
    of its own refresh unless the standby lags by more than that.

    The insert position, not pg_current_wal_lsn (the write position): with
    synchronous_commit=off a commit returns while its record is still in WAL buffers, so the
    write position can be short of it and a standby "caught up" to it lacks the refresh."""
    lsn = db.execute("SELECT CAST(pg_current_wal_insert_lsn() AS text)").fetchone()[0]
    deadline = time.monotonic() + wait_s
    while True:
        done = reader.execute(
            "SELECT coalesce(pg_last_wal_replay_lsn() >= CAST(? AS pg_lsn), true)", (lsn,)
        ).fetchone()[0]
        if done or time.monotonic() >= deadline:
            return bool(done)
        time.sleep(0.02)


def rebuild_report_tables(db: Database) -> int:
    """Empty the derived tables and sum every event again."""
    with immediate(db):
        _clear(db)
    return refresh_report_tables(db)


def _clear(db: Database) -> None:
    # report_visitors stays: it only names visitors, and stable numbers keep rebuilds equal.
    for table in ("report_days", "report_months", "report_touches", "report_changes"):
        db.execute(f"DELETE FROM {table}")
    db.execute("DELETE FROM report_leads")
    db.execute(
        "UPDATE report_state SET last_event_rowid = 0, last_event_id = NULL, "
        "last_lead_rowid = 0, last_lead_visitor_id = NULL"
        + (", last_event_tx = '0', last_lead_tx = '0'" if is_postgres(db) else "")
    )


def _event_id_at(db: Database, rowid: Mark) -> str | None:
    row = db.execute("SELECT id FROM events WHERE rowid = ?", (rowid,)).fetchone()
    return row[0] if row else None


def _number_visitors(db: Database, visitor_ids: set[str]) -> dict[str, int]:
    """Give each visitor id a small number (kept forever), creating the missing ones."""
    if not visitor_ids:
        return {}
    ordered = sorted(visitor_ids)
    if is_postgres(db):
        # One statement over a JSON array: psycopg's executemany costs ~20 us a row in
        # Python, a third of catching up 1,000,000 events (bench/report --postgresql).
        db.execute(
            "INSERT INTO report_visitors (visitor_id) SELECT v FROM "
            "json_array_elements_text(CAST(? AS json)) WITH ORDINALITY AS j(v, i) ORDER BY i "
            "ON CONFLICT DO NOTHING",
            (json.dumps(ordered),),
        )
    else:
        db.conn.executemany(
            "INSERT INTO report_visitors (visitor_id) VALUES (?) ON CONFLICT DO NOTHING",
            [(v,) for v in ordered],
        )
    return visitor_numbers_of(db, visitor_ids)


def _bucket_of(row: tuple) -> tuple[str, int, int, str]:
    # NULLs would never compare equal in the primary key; 0 and '' stand for "none".
    _, _, at, link_id, campaign_id, store_code = row[:6]
    return at[:10], campaign_id or 0, link_id or 0, store_code or ""


def _by_value_bucket(row: tuple) -> tuple[str, int, int, str]:
    # raw_activity(by=...): the audience value read after the usual columns, then as above.
    return row[9] or "", row[4] or 0, row[3] or 0, row[5] or ""


def _count(
    rows: Iterable[tuple], numbers: dict[str, int], bucket_of=_bucket_of
) -> tuple[dict, list[tuple]]:
    """Bucket counts [clicks, scans, bots, claims, booth scans, visitor set] and touch rows."""
    buckets: dict[tuple, list] = {}
    touches = []
    for row in rows:
        rowid, kind, at, link_id, campaign_id, store_code, visitor_id, is_bot, lead_id = row[:9]
        if kind not in TOUCH_KINDS:
            continue  # redemptions and voids are read from their own table
        key = bucket_of(row)
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = [0, 0, 0, 0, 0, set()]
        if is_bot:
            if kind in ("click", "scan"):
                bucket[2] += 1
            continue
        bucket[(0, 1, 3, 4)[TOUCH_KINDS[kind] - 1]] += 1
        number = numbers.get(visitor_id, 0) if visitor_id else 0
        if number:
            bucket[5].add(number)
        touches.append(
            (number, at, rowid, lead_id, TOUCH_KINDS[kind], campaign_id, link_id, store_code)
        )
    return buckets, touches


def _human_visitors(rows: Iterable[tuple]) -> set[str]:
    return {r[6] for r in rows if r[6] and not r[7] and r[1] in TOUCH_KINDS}


def _add_events(db: Database, rows: list[tuple]) -> None:
    buckets, touches = _count(rows, _number_visitors(db, _human_visitors(rows)))
    months = _by_month(buckets)
    _merge(db, "report_days", buckets)
    _merge(db, "report_months", months)
    _insert_touches(db, touches)


def _by_month(buckets: dict[tuple, list]) -> dict[tuple, list]:
    months: dict[tuple, list] = {}
    for (day, *rest), counts in buckets.items():
        month = months.get((day[:7], *rest))
        if month is None:
            months[(day[:7], *rest)] = [*counts[:5], set(counts[5])]
        else:
            for i in range(5):
                month[i] += counts[i]
            month[5] |= counts[5]
    return months


# report_days is keyed by day (YYYY-MM-DD), report_months by month (YYYY-MM).
_UNITS = {"report_days": "day", "report_months": "month"}
_COUNTS = "human_clicks, scans, bot_hits, claims, booth_scans, visitors"


def _merge(db: Database, table: str, buckets: dict[tuple, list]) -> None:
    """Add these buckets' counts and visitors to what `table` holds under the same keys."""
    unit = _UNITS[table]
    for *key, clicks, scans, bots, claims, booths, visitors in db.execute(
        f"SELECT t.{unit}, t.campaign_id, t.link_id, t.store_code, {_COUNTS} "
        f"FROM {dialect.json_rows(db, '?', 'k')} {dialect.join_in_order(db)} {table} AS t "
        f"ON t.{unit} = {dialect.json_item(db, 'k', 0, 'text')} "
        f"AND t.campaign_id = {dialect.json_item(db, 'k', 1)} "
        f"AND t.link_id = {dialect.json_item(db, 'k', 2)} "
        f"AND t.store_code = {dialect.json_item(db, 'k', 3, 'text')}",
        (json.dumps(list(buckets)),),
    ):
        bucket = buckets[tuple(key)]
        for i, old in enumerate((clicks, scans, bots, claims, booths)):
            bucket[i] += old
        bucket[5].update(unpack_visitors(visitors))
    rows = [
        (*key, *counts[:5], _pack(counts[5])) for key, counts in buckets.items() if any(counts[:5])
    ]
    if is_postgres(db):
        # One statement for the chunk (see _number_visitors); the visitor sets travel as hex.
        db.execute(
            _put_bucket(table, db),
            (json.dumps([(*row[:9], row[9].hex()) for row in rows]),),
        )
    else:
        db.conn.executemany(_put_bucket(table), rows)


def _write_bucket(db: Database, table: str, key: tuple, counts: list | tuple) -> None:
    unit = _UNITS[table]
    where = f"{unit} = ? AND campaign_id = ? AND link_id = ? AND store_code = ?"
    if not any(counts[:5]):
        db.execute(f"DELETE FROM {table} WHERE {where}", key)
        return
    db.execute(_put_bucket(table), (*key, *counts[:5], _pack(counts[5])))


def _put_bucket(table: str, db: Database | None = None) -> str:
    """The statement that stores one bucket of `table`, replacing what its key held; with
    `db` (PostgreSQL): every bucket of a JSON array of rows, visitors in hex."""
    unit = _UNITS[table]
    counts = [c.strip() for c in _COUNTS.split(",")]
    values = "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    if db is not None:
        items = [
            dialect.json_item(db, "k", i, "text" if i in (0, 3, 9) else "bigint") for i in range(10)
        ]
        items[9] = f"decode({items[9]}, 'hex')"
        values = f"SELECT {', '.join(items)} FROM {dialect.json_rows(db, '?', 'k')}"
    return (
        f"INSERT INTO {table} ({unit}, campaign_id, link_id, store_code, {_COUNTS}) {values} "
        f"ON CONFLICT ({unit}, campaign_id, link_id, store_code) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in counts)
    )


_PUT_TOUCH = (
    "INSERT INTO report_touches (visitor_n, at_ms, event_rowid, lead_id, kind, campaign_id, "
    "link_id, store_code) {} ON CONFLICT (visitor_n, at_ms, event_rowid) DO UPDATE SET "
    "lead_id = excluded.lead_id, kind = excluded.kind, campaign_id = excluded.campaign_id, "
    "link_id = excluded.link_id, store_code = excluded.store_code"
)


def _insert_touches(db: Database, touches: list[tuple]) -> None:
    touches.sort(key=lambda t: (t[0], t[1]))  # in key order: neighbouring pages, fewer reads
    if is_postgres(db):
        # One statement for the chunk (see _number_visitors): executemany spent 31 of the 83 s
        # that catching up 1,000,000 events took.
        db.execute(
            _PUT_TOUCH.format(
                "SELECT "
                + ", ".join(
                    dialect.epoch_ms(db, dialect.json_item(db, "k", i, "text"))
                    if i == 1
                    else dialect.json_item(db, "k", i, "text" if i in (3, 7) else "bigint")
                    for i in range(8)
                )
                + f" FROM {dialect.json_rows(db, '?', 'k')}"
            ),
            (json.dumps(touches),),
        )
        return
    db.conn.executemany(
        _PUT_TOUCH.format(f"VALUES (?, {dialect.epoch_ms(db, '?')}, ?, ?, ?, ?, ?, ?)"), touches
    )


def _apply_changes(db: Database, changes: list[tuple], last: Mark) -> None:
    """Recount every bucket a changed event left or entered; re-derive its touch row."""
    buckets = set()
    old_numbers = visitor_numbers_of(db, {c[3] for c in changes if c[3]})
    for _, rowid, at, visitor_id, campaign_id, link_id, store_code in changes:
        if at is not None:
            buckets.add(_bucket_of((None, None, at, link_id, campaign_id, store_code)))
            db.execute(
                "DELETE FROM report_touches WHERE visitor_n = ? "
                f"AND at_ms = {dialect.epoch_ms(db, '?')} "
                "AND event_rowid = ?",
                (old_numbers.get(visitor_id, 0) if visitor_id else 0, at, rowid),
            )
    rowids = json.dumps(sorted({c[1] for c in changes}))
    current = db.execute(
        f"SELECT {_EVENT_COLUMNS} FROM events WHERE rowid IN {dialect.json_ints(db)}",
        (rowids,),
    ).fetchall()
    buckets.update(_bucket_of(row) for row in current)
    _, touches = _count(current, _number_visitors(db, _human_visitors(current)))
    _insert_touches(db, touches)
    for key in buckets:
        _recount_day(db, key, last)
    months = {
        (day[:7], campaign_id, link_id, store) for day, campaign_id, link_id, store in buckets
    }
    for month_key in months:
        _recount_month(db, month_key)


def _recount_day(db: Database, key: tuple[str, int, int, str], last: Mark) -> None:
    """A day bucket counted again from raw events (through the events_link_at index)."""
    day, campaign_id, link_id, store_code = key
    # `= ?` or `IS NULL` spelled out: PostgreSQL has no index lookup for a NULL-safe `IS ?`.
    terms = ["at >= ?", "at < ?"]
    params: list[Any] = [day, _next_day(day)]
    for column, value in (("link_id", link_id), ("campaign_id", campaign_id)):
        terms.append(f"{column} = ?" if value else f"{column} IS NULL")
        params += [value] if value else []
    terms.append("store_code = ?" if store_code else "store_code IS NULL")
    params += [store_code] if store_code else []
    summed, summed_params = _summed(db, last)
    rows = db.execute(
        f"SELECT {_EVENT_COLUMNS} FROM events WHERE {' AND '.join(terms)} AND {summed}",
        (*params, *summed_params),
    ).fetchall()
    counted, _ = _count(rows, _number_visitors(db, _human_visitors(rows)))
    _write_bucket(db, "report_days", key, counted.get(key, [0, 0, 0, 0, 0, set()]))


def _recount_month(db: Database, key: tuple[str, int, int, str]) -> None:
    """A month bucket added up again from its day buckets."""
    month, *rest = key
    total: list[Any] = [0, 0, 0, 0, 0, set()]
    for *counts, visitors in db.execute(
        f"SELECT {_COUNTS} FROM report_days WHERE day >= ? AND day < ? "
        "AND campaign_id = ? AND link_id = ? AND store_code = ?",
        (f"{month}-01", f"{next_month(month)}-01", *rest),
    ):
        for i, count in enumerate(counts):
            total[i] += count
        total[5].update(unpack_visitors(visitors))
    _write_bucket(db, "report_months", key, total)


# Reading the derived tables ----------------------------------------------------------------


def _bucket_out(key: tuple, counts: list) -> tuple:
    day, campaign_id, link_id, store_code = key
    visitors = _pack(counts[5])
    return (day, campaign_id or None, link_id or None, store_code or None, *counts[:5], visitors)


def report_days_between(
    db: Database, first_day: str, end_day: str, campaign_id: int | None
) -> list[tuple]:
    """Buckets of the whole days in [first_day, end_day): (day, campaign, link, store, human
    clicks, scans, bot hits, claims, booth scans, visitor numbers packed by unpack_visitors)."""
    return _buckets_between(db, "report_days", first_day, end_day, campaign_id)


def report_months_between(
    db: Database, first_month: str, end_month: str, campaign_id: int | None
) -> list[tuple]:
    """Like report_days_between, one bucket a month (YYYY-MM) for whole months."""
    return _buckets_between(db, "report_months", first_month, end_month, campaign_id)


def _buckets_between(
    db: Database, table: str, first: str, end: str, campaign_id: int | None
) -> list[tuple]:
    unit = _UNITS[table]
    sql = (
        f"SELECT {unit}, nullif(campaign_id, 0), nullif(link_id, 0), nullif(store_code, ''), "
        f"{_COUNTS} FROM {table} WHERE {unit} >= ? AND {unit} < ?"
    )
    params: list[Any] = [first, end]
    if campaign_id is not None:
        sql += " AND campaign_id = ?"
        params.append(campaign_id)
    return db.execute(sql, params).fetchall()


AUDIENCE_COLUMNS = ("user_agent", "country")


def raw_activity(
    db: Database,
    start: str,
    end: str,
    last: Mark,
    campaign_id: int | None,
    by: str | None = None,
) -> list[tuple]:
    """Buckets like report_days_between, counted from raw events in [start, end) up to rowid
    `last`: for the parts of days at the edges of a report. With `by` (an AUDIENCE_COLUMNS
    name) a bucket's first element is that column's value instead of the day: the report by
    device or country, which the day rollups cannot give, reads its whole period this way.

    Read through the events_link_at index (one range per link, then link-less events), so the
    cost follows the hours asked for, not the size of the table.
    """
    summed, summed_params = _summed(db, last)
    columns = _EVENT_COLUMNS
    if by is not None:
        assert by in AUDIENCE_COLUMNS  # named by code, never by a request
        columns += f", {by}"
    sql = (
        f"SELECT {columns} FROM events WHERE link_id IN {dialect.json_ints(db)} "
        f"AND at >= ? AND at < ? AND {summed} UNION ALL "
        f"SELECT {columns} FROM events WHERE link_id IS NULL AND at >= ? AND at < ?"
        f" AND {summed}"
    )
    link_ids = json.dumps([r[0] for r in db.execute("SELECT id FROM links")])
    rows = db.execute(
        sql, (link_ids, start, end, *summed_params, start, end, *summed_params)
    ).fetchall()
    if campaign_id is not None:
        rows = [r for r in rows if r[4] == campaign_id]
    numbers = visitor_numbers_of(db, _human_visitors(rows))
    buckets, _ = _count(rows, numbers, _bucket_of if by is None else _by_value_bucket)
    return [_bucket_out(key, counts) for key, counts in buckets.items()]


def event_values(db: Database, rowids: Iterable[int], column: str) -> dict[int, str | None]:
    """{event rowid: its `column` (an AUDIENCE_COLUMNS name)} for the touches a report
    credits, read in chunks."""
    assert column in AUDIENCE_COLUMNS
    wanted = sorted(set(rowids))
    found: dict[int, str | None] = {}
    for start in range(0, len(wanted), 5000):
        chunk = json.dumps(wanted[start : start + 5000])
        found.update(
            db.execute(
                f"SELECT rowid, {column} FROM events WHERE rowid IN {dialect.json_ints(db)}",
                (chunk,),
            ).fetchall()
        )
    return found


def visitor_numbers_of(db: Database, visitor_ids: Iterable[str]) -> dict[str, int]:
    # In key order: neighbouring ids share index pages, each read once.
    ids = json.dumps(sorted(visitor_ids))
    return dict(
        db.execute(
            "SELECT visitor_id, n FROM report_visitors "
            f"WHERE visitor_id IN {dialect.json_texts(db)}",
            (ids,),
        ).fetchall()
    )


# A touch as reports use it: (at_ms, event rowid, kind, campaign, link, store, visitor number
# or lead). Tuples sort in time order as they are.
_TOUCH_COLUMNS = "at_ms, event_rowid, kind, campaign_id, link_id, store_code"


def touches_of_visitors(
    db: Database, windows: list[tuple[int, int, int]]
) -> dict[int, list[tuple]]:
    """{visitor number: human touches oldest first} for (visitor number, from_ms, to_ms)
    windows (both ends included). Only the windows are read: one index range each."""
    # In key order, so the clustered table is read front to back, each page once, rather
    # than a random page per person (which costs more per person as the table grows).
    rows = db.execute(
        f"SELECT {_TOUCH_COLUMNS}, visitor_n FROM {dialect.json_rows(db, '?', 'w')} "
        f"CROSS JOIN report_touches WHERE visitor_n = {dialect.json_item(db, 'w', 0)} "
        f"AND at_ms >= {dialect.json_item(db, 'w', 1)} "
        f"AND at_ms <= {dialect.json_item(db, 'w', 2)}",
        (json.dumps(sorted(windows)),),
    )
    return _grouped(rows)


def touches_of_leads(db: Database, windows: list[tuple[str, int, int]]) -> dict[str, list[tuple]]:
    """{lead: touches recorded against the lead itself (personal links, booth scans)} for
    (lead, from_ms, to_ms) windows."""
    # In key order through the covering report_touches_lead index (m009).
    rows = db.execute(
        f"SELECT {_TOUCH_COLUMNS}, lead_id FROM {dialect.json_rows(db, '?', 'w')} "
        f"CROSS JOIN report_touches WHERE lead_id = {dialect.json_item(db, 'w', 0, 'text')} "
        f"AND at_ms >= {dialect.json_item(db, 'w', 1)} "
        f"AND at_ms <= {dialect.json_item(db, 'w', 2)}",
        (json.dumps(sorted(windows)),),
    )
    return _grouped(rows)


def sales_activities_between(db: Database, start: str, end: str) -> list[tuple]:
    """(at, at_ms, activity id, lead, campaign or None) of the sales activities that are
    touches (every kind but a note) with `start` <= at <= `end`, in no order.

    One range of the `at` index, for the whole span of the report's conversions and their
    windows: cheaper than a lookup per lead behind them (thousands of random index reads,
    then as many table rows), and the same list gives the period's activity counts.
    """
    return db.execute(
        f"SELECT at, {dialect.epoch_ms(db, 'at')}, id, lead_id, campaign_id FROM lead_activities "
        f"WHERE at >= ? AND at <= ? AND {_CONTACT}",
        (start, end),
    ).fetchall()


def offline_touches_between(db: Database, start: str, end: str) -> list[tuple]:
    """(at, at_ms, touch id, kind number, lead, conversion, campaign, partner, location) of
    offline touches with `start` <= at <= `end`, in no order (one range of the `at` index, as
    for sales activities)."""
    rows = db.execute(
        f"SELECT at, {dialect.epoch_ms(db, 'at')}, id, kind, lead_id, conversion_id, "
        "campaign_id, partner_code, location_code FROM offline_touches WHERE at >= ? AND at <= ?",
        (start, end),
    ).fetchall()
    kinds = OFFLINE_KINDS
    return [
        (at, ms, -(touch_id + OFFLINE_ID_OFFSET), kinds[kind], *rest)
        for at, ms, touch_id, kind, *rest in rows
        if kind in kinds
    ]


def link_partners(db: Database) -> dict[int, str]:
    """{link id: partner code} for partners' links."""
    return dict(db.execute("SELECT id, partner_code FROM links WHERE partner_code IS NOT NULL"))


def report_partners(db: Database) -> dict[str, tuple[str, int | None]]:
    """{code: (name, commission in hundredths of a percent)}."""
    return {
        r[0]: (r[1], r[2]) for r in db.execute("SELECT code, name, commission_bp FROM partners")
    }


def _grouped(rows: Iterable[tuple]) -> dict:
    # Rows arrive grouped by person (windows in key order); a person's windows may still
    # come apart, hence setdefault. Sorted here: cheaper than SQLite sorting them all.
    found: dict = {}
    for key, touches in groupby(rows, itemgetter(6)):
        found.setdefault(key, []).extend(touches)
    for touches in found.values():
        touches.sort()
    return found


def first_touches(db: Database, lead_ids: set[str]) -> dict[str, tuple[int, int, int | None]]:
    """{lead: (at_ms, event rowid, campaign) of its first human touch} for these leads, over
    the touches recorded against the lead and those of its stitched browsers; leads with
    none are left out. (The lead list's first-touch campaign, lead_touch_summary, is the
    same touch read from raw events for one page of leads.)"""
    # Touches that name a lead are few (personal links, booth scans): one pass over their
    # index, in lead order, costs less than looking up each lead of a big cohort. min()
    # takes the bare columns from its row (SQLite documents this); within one millisecond
    # one of the touches is as first as the other.
    first_of_each = (
        # PostgreSQL has no bare columns beside min(); DISTINCT ON takes the first row.
        "SELECT DISTINCT ON (lead_id) lead_id, at_ms, event_rowid, campaign_id "
        "FROM report_touches WHERE lead_id IS NOT NULL ORDER BY lead_id, at_ms, event_rowid"
        if is_postgres(db)
        else "SELECT lead_id, min(at_ms), event_rowid, campaign_id FROM report_touches "
        "WHERE lead_id IS NOT NULL GROUP BY lead_id"
    )
    found: dict[str, tuple[int, int, int | None]] = {
        lead: (at, rowid, campaign)
        for lead, at, rowid, campaign in db.execute(first_of_each)
        if lead in lead_ids
    }
    lead_of = {n: lead for n, lead in stitched_visitor_numbers(db).items() if lead in lead_ids}
    # A browser's first touch is the first row of its range: one index seek each, in order.
    for number, at, rowid, campaign in db.execute(
        f"SELECT t.visitor_n, t.at_ms, t.event_rowid, t.campaign_id FROM {dialect.json_ints(db)}"
        f" AS w {dialect.join_in_order(db)} report_touches t ON t.visitor_n = w.value "
        "AND (t.at_ms, t.event_rowid) = "
        "(SELECT at_ms, event_rowid FROM report_touches WHERE visitor_n = w.value "
        "ORDER BY at_ms, event_rowid LIMIT 1)",
        (json.dumps(sorted(lead_of)),),
    ):
        lead = lead_of[number]
        known = found.get(lead)
        if known is None or (at, rowid) < known[:2]:
            found[lead] = (at, rowid, campaign)
    return found


def click_touches(db: Database, click_ids: Iterable[str], last: Mark) -> dict[str, tuple]:
    """{click id: touch row} for clicks a conversion names (they may carry no visitor)."""
    summed, params = _summed(db, last)
    rows = db.execute(
        f"SELECT id, {dialect.epoch_ms(db, 'at')}, rowid, lead_id, type, campaign_id, link_id, "
        f"store_code, is_bot FROM events WHERE id IN {dialect.json_texts(db)} AND {summed}",
        (json.dumps(sorted(click_ids)), *params),
    ).fetchall()
    return {
        r[0]: (r[1], r[2], TOUCH_KINDS[r[4]], r[5], r[6], r[7], None)
        for r in rows
        if r[4] in TOUCH_KINDS and not r[8]
    }


# Identity ----------------------------------------------------------------------------------
# People are visitor numbers (report_visitors) and leads; a visitor stitched to a lead
# (lead_visitors, copied by number into report_leads at each refresh) is that lead. Each
# lookup is one query over keys in sorted order, never one join per conversion: B-tree pages
# are then read once each, so the cost follows the rows asked for, not the size of tables.


def _stitches_since_refresh(db: Database) -> list[tuple[str, str, int | None]]:
    """(visitor id, lead, visitor number) linked after the last refresh: not yet in
    report_leads, but inside this report's snapshot."""
    past = (
        "(lv.tx, lv.rowid) > (SELECT last_lead_tx, last_lead_rowid FROM report_state)"
        if is_postgres(db)
        else "lv.rowid > (SELECT last_lead_rowid FROM report_state)"
    )
    return db.execute(
        "SELECT lv.visitor_id, lv.lead_id, rv.n FROM lead_visitors lv "
        f"LEFT JOIN report_visitors rv ON rv.visitor_id = lv.visitor_id WHERE {past}"
    ).fetchall()


def lead_visitor_numbers(db: Database, lead_ids: Iterable[str]) -> list[tuple[str, int]]:
    """(lead, visitor number) for every browser stitched to these leads."""
    leads = sorted(set(lead_ids))
    found = db.execute(
        f"SELECT lead_id, visitor_n FROM report_leads WHERE lead_id IN {dialect.json_texts(db)}",
        (json.dumps(leads),),
    ).fetchall()
    wanted = set(leads)
    found += [(lead, n) for _, lead, n in _stitches_since_refresh(db) if n and lead in wanted]
    return found


def stitched_visitor_numbers(db: Database) -> dict[int, str]:
    """{visitor number: lead} for every stitched browser."""
    found = dict(db.execute("SELECT visitor_n, lead_id FROM report_leads"))
    found.update((n, lead) for _, lead, n in _stitches_since_refresh(db) if n)
    return found


def people_of(db: Database, visitor_ids: set[str]) -> dict[str, tuple[int | None, str | None]]:
    """{visitor id: (its number, the lead it is stitched to)} for browsers rows name."""
    numbers = visitor_numbers_of(db, visitor_ids)
    leads = dict(
        db.execute(
            "SELECT visitor_n, lead_id FROM report_leads "
            f"WHERE visitor_n IN {dialect.json_ints(db)}",
            (json.dumps(sorted(numbers.values())),),
        )
    )
    since = {visitor: lead for visitor, lead, _ in _stitches_since_refresh(db)}
    found = {}
    for visitor in visitor_ids:
        number = numbers.get(visitor)
        found[visitor] = (number, since.get(visitor) or leads.get(number))
    return found


# Conversions, redemptions, claims ----------------------------------------------------------

_NOBODY = (None, None)


def conversions_between(db: Database, start: str, end: str, types: list[str] | None) -> list[tuple]:
    """(type, occurred_at, ms, lead, visitor number, click id, value_minor, currency, id,
    location); the lead is the conversion's own or else the one its visitor was stitched to
    (maybe later); location is where the money came in: the store a web order was picked up
    at, or the till of a store sale."""
    sql = (
        f"SELECT type, occurred_at, {dialect.epoch_ms(db, 'occurred_at')}, lead_id, visitor_id, "
        "click_id, "
        "value_minor, currency, id, coalesce(picked_up_location, location_code) "
        "FROM conversions WHERE occurred_at >= ? "
        "AND occurred_at < ? AND voided_at IS NULL"
    )
    params: list[Any] = [start, end]
    if types is not None:
        sql += f" AND type IN {dialect.json_texts(db)}"
        params.append(json.dumps(types))
    rows = db.execute(sql, params).fetchall()
    people = people_of(db, {r[4] for r in rows if r[4]})
    found = []
    for kind, at, ms, lead, visitor, click, value, currency, *rest in rows:
        number, stitched = people.get(visitor, _NOBODY)
        found.append((kind, at, ms, lead or stitched, number, click, value, currency, *rest))
    return found


def lead_first_reached(
    db: Database, lead_ids: Iterable[str], types: list[str]
) -> dict[str, dict[str, int]]:
    """{lead: {type: epoch ms of its earliest conversion of that type}} over conversions not
    voided, for milestones (when a lead first reached a stage). A lead's conversions are those
    naming it and those of browsers stitched to it, as in its stage history."""
    if not types:
        return {}
    keys = json.dumps(sorted(set(lead_ids)))
    kinds = json.dumps(sorted(set(types)))
    first = dialect.epoch_ms(db, "min(c.occurred_at)")
    leads, types_in = dialect.json_texts(db, ":leads"), dialect.json_texts(db, ":types")
    join = dialect.join_in_order(db)
    rows = db.execute(
        f"SELECT k.value, c.type, {first} FROM {leads} AS k "
        f"{join} conversions AS c ON c.lead_id = k.value "
        f"WHERE c.type IN {types_in} AND c.voided_at IS NULL "
        "GROUP BY k.value, c.type UNION ALL "
        f"SELECT k.value, c.type, {first} FROM {leads} AS k "
        f"{join} lead_visitors AS lv ON lv.lead_id = k.value "
        f"{join} conversions AS c ON c.visitor_id = lv.visitor_id "
        f"WHERE c.type IN {types_in} AND c.voided_at IS NULL "
        "GROUP BY k.value, c.type",
        {"leads": keys, "types": kinds},
    )
    found: dict[str, dict[str, int]] = {}
    for lead, kind, ms in rows:
        reached = found.setdefault(lead, {})
        if kind not in reached or ms < reached[kind]:
            reached[kind] = ms
    return found


def redemptions_between(db: Database, start: str, end: str) -> list[tuple]:
    """Redemptions not voided: (redeemed_at, ms, amount_minor, currency, campaign_id,
    location_code, claim id, claim's visitor number, lead, claim's link)."""
    rows = db.execute(
        f"SELECT r.redeemed_at, {dialect.epoch_ms(db, 'r.redeemed_at')}, r.amount_minor, "
        "r.currency,"
        " r.campaign_id, r.location_code, r.claim_id, c.visitor_id,"
        " coalesce(r.lead_id, c.lead_id), c.link_id"
        " FROM redemptions r LEFT JOIN claims c ON c.id = r.claim_id"
        " WHERE r.redeemed_at >= ? AND r.redeemed_at < ? AND r.voided_at IS NULL",
        (start, end),
    ).fetchall()
    people = people_of(db, {r[7] for r in rows if r[7]})
    found = []
    for *head, visitor, lead, link_id in rows:
        number, stitched = people.get(visitor, _NOBODY)
        found.append((*head, number, lead or stitched, link_id))
    return found


def claims_between(db: Database, start: str, end: str, campaign_id: int | None) -> list[tuple]:
    """(offer's campaign, visitor number, lead) of claims in [start, end)."""
    sql = (
        "SELECT o.campaign_id, c.visitor_id, c.lead_id FROM claims c "
        "JOIN offers o ON o.id = c.offer_id WHERE c.claimed_at >= ? AND c.claimed_at < ?"
    )
    params: list[Any] = [start, end]
    if campaign_id is not None:
        sql += " AND o.campaign_id = ?"
        params.append(campaign_id)
    rows = db.execute(sql, params).fetchall()
    people = people_of(db, {r[1] for r in rows if r[1]})
    found = []
    for campaign, visitor, lead in rows:
        number, stitched = people.get(visitor, _NOBODY)
        found.append((campaign, number, lead or stitched))
    return found


def offer_count(db: Database, campaign_id: int | None) -> int:
    if campaign_id is None:
        return db.execute("SELECT count(*) FROM offers").fetchone()[0]
    return db.execute(
        "SELECT count(*) FROM offers WHERE campaign_id = ?", (campaign_id,)
    ).fetchone()[0]


# Labels and costs --------------------------------------------------------------------------


def report_campaigns(db: Database) -> dict[int, tuple]:
    """{id: (name, channel, cost_minor, currency, starts_at, ends_at)}."""
    rows = db.execute(
        "SELECT id, name, channel, cost_minor, currency, starts_at, ends_at FROM campaigns"
    )
    return {r[0]: r[1:] for r in rows}


def report_links(db: Database) -> dict[int, tuple]:
    """{id: (label, destination)}."""
    return {r[0]: r[1:] for r in db.execute("SELECT id, label, destination FROM links")}


def report_locations(db: Database) -> dict[str, str]:
    return dict(db.execute("SELECT code, name FROM locations"))
