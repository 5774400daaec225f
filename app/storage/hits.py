"""Storage for what keeps hits bounded and kept: orphan-hit aggregation, spooled-hit replay,
retention (prune), the maintenance state and the health probe."""

from __future__ import annotations

from sqlite_utils import Database

from app.core.db import immediate, retry_locked

from .core import _EVENT_SQL, recipient_hit_consequences

__all__ = [
    "health_probe",
    "maintenance_claim",
    "orphan_counts",
    "prune_bot_events",
    "prune_orphans",
    "record_orphan_hit",
    "replay_hits",
]

_REPLAY_EVENT_SQL = _EVENT_SQL.replace("INSERT INTO", "INSERT OR IGNORE INTO", 1)


def record_orphan_hit(
    db: Database,
    at: str,
    path: str,
    ip: str | None,
    user_agent: str | None,
    referrer: str | None,
    detail_per_hour: int,
) -> bool:
    """Count an orphan hit for its address and hour; keep its row only for the first
    `detail_per_hour` of them. Returns whether the row was kept.

    One client sending unknown tokens in a loop would otherwise add a row per request
    (issue 12: 155 MiB in 10 s); the count still shows the flood.
    """
    conn = db.conn
    retry_locked(db, lambda: conn.execute("BEGIN IMMEDIATE"))
    try:
        hits = conn.execute(
            "INSERT INTO orphan_counts (hour, ip, hits) VALUES (?, ?, 1) "
            "ON CONFLICT (hour, ip) DO UPDATE SET hits = orphan_counts.hits + 1 RETURNING hits",
            (at[:13], ip or ""),
        ).fetchone()[0]
        kept = hits <= detail_per_hour
        if kept:
            conn.execute(
                "INSERT INTO orphan_hits (at, path, ip, user_agent, referrer) "
                "VALUES (?, ?, ?, ?, ?)",
                (at, path, ip, user_agent, referrer),
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return kept


def orphan_counts(db: Database) -> list[dict]:
    """Orphan hits per UTC hour (YYYY-MM-DDTHH) and anonymised address, busiest first."""
    cursor = db.execute("SELECT hour, ip, hits FROM orphan_counts ORDER BY hits DESC, hour, ip")
    return [{"hour": h, "ip": ip or None, "hits": n} for h, ip, n in cursor.fetchall()]


def replay_hits(db: Database, entries: list[dict], detail_per_hour: int) -> int:
    """Write spooled hits (app/clicks/spool.py) in one transaction; returns how many were new.

    Events carry their id (the primary key), so a spool replayed twice adds nothing twice.
    """
    added = 0
    with immediate(db) as tx:
        conn = tx.conn
        for entry in entries:
            kind, args = entry["op"], entry["args"]
            if kind == "orphan":
                hits = conn.execute(
                    "INSERT INTO orphan_counts (hour, ip, hits) VALUES (?, ?, 1) "
                    "ON CONFLICT (hour, ip) DO UPDATE SET hits = orphan_counts.hits + 1 "
                    "RETURNING hits",
                    (args[0][:13], args[2] or ""),
                ).fetchone()[0]
                if hits <= detail_per_hour:
                    conn.execute(
                        "INSERT INTO orphan_hits (at, path, ip, user_agent, referrer) "
                        "VALUES (?, ?, ?, ?, ?)",
                        args,
                    )
                added += 1
                continue
            if conn.execute(_REPLAY_EVENT_SQL, args).rowcount == 0:
                continue  # replayed before: the event id is already there
            added += 1
            if kind == "recipient":
                recipient_hit_consequences(conn, tuple(args), **entry["kw"])
    return added


def prune_orphans(db: Database, before: str) -> tuple[int, int]:
    """Delete orphan hits and their hourly counts older than `before`; (rows, count rows)."""
    with immediate(db):
        rows = db.execute("DELETE FROM orphan_hits WHERE at < ?", (before,)).rowcount
        counts = db.execute("DELETE FROM orphan_counts WHERE hour < ?", (before[:13],)).rowcount
    return rows, counts


def prune_bot_events(db: Database, before: str, batch: int = 5000) -> int:
    """Delete bot and scanner hits older than `before`, in batches so clicks keep flowing.

    Human hits are never deleted. A bot hit a conversion points at is kept. The delete
    trigger of m006 queues each pruned row for the report tables, so their bot counts
    follow the events that remain (people's counts never include bots).
    """
    total = 0
    while True:
        with immediate(db):
            n = db.execute(
                "DELETE FROM events WHERE rowid IN (SELECT e.rowid FROM events e "
                "WHERE e.is_bot = 1 AND e.at < ? AND NOT EXISTS "
                "(SELECT 1 FROM conversions c WHERE c.click_id = e.id) LIMIT ?)",
                (before, batch),
            ).rowcount
        total += n
        if n < batch:
            return total


def maintenance_claim(db: Database, key: str, value: str) -> bool:
    """Set `key` to `value` unless it already holds it: True for the one process that did.

    Several processes run the maintenance tick; the daily prune must happen once a day.
    """
    with immediate(db):
        cursor = db.execute(
            "INSERT INTO maintenance (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value "
            "WHERE maintenance.value != excluded.value",
            (key, value),
        )
        return cursor.rowcount == 1


def health_probe(db: Database, at: str) -> None:
    """A real, tiny write: raises when the database cannot take one (full, locked, readonly)."""
    db.execute(
        "INSERT INTO maintenance (key, value) VALUES ('health_probe', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (at,),
    )
