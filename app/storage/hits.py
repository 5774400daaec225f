"""Storage for what keeps hits bounded and kept: orphan-hit aggregation, retention (prune),
the maintenance state and the health probe."""

from __future__ import annotations

from sqlite_utils import Database

from app.core.db import immediate

from .core import hit_transaction

__all__ = [
    "add_orphan_hit",
    "health_probe",
    "maintenance_claim",
    "orphan_counts",
    "prune_bot_events",
    "prune_orphans",
    "record_orphan_hit",
]


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
    with hit_transaction(db):
        return add_orphan_hit(db, at, path, ip, user_agent, referrer, detail_per_hour)


def add_orphan_hit(
    db: Database,
    at: str,
    path: str,
    ip: str | None,
    user_agent: str | None,
    referrer: str | None,
    detail_per_hour: int,
) -> bool:
    """record_orphan_hit inside the caller's transaction (the spool's replay)."""
    conn = db.conn
    hits = conn.execute(
        "INSERT INTO orphan_counts (hour, ip, hits) VALUES (?, ?, 1) "
        "ON CONFLICT (hour, ip) DO UPDATE SET hits = orphan_counts.hits + 1 RETURNING hits",
        (at[:13], ip or ""),
    ).fetchone()[0]
    kept = hits <= detail_per_hour
    if kept:
        conn.execute(
            "INSERT INTO orphan_hits (at, path, ip, user_agent, referrer) VALUES (?, ?, ?, ?, ?)",
            (at, path, ip, user_agent, referrer),
        )
    return kept


def orphan_counts(db: Database) -> list[dict]:
    """Orphan hits per UTC hour (YYYY-MM-DDTHH) and anonymised address, busiest first."""
    cursor = db.execute("SELECT hour, ip, hits FROM orphan_counts ORDER BY hits DESC, hour, ip")
    return [{"hour": h, "ip": ip or None, "hits": n} for h, ip, n in cursor.fetchall()]


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
