"""Storage for campaigns, links, events, orphan hits and API tokens."""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlite_utils import Database

from app.core.db import immediate, retry_locked

CAMPAIGN_COLUMNS = (
    "name",
    "channel",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "cost_minor",
    "currency",
    "starts_at",
    "ends_at",
    "notes",
)
LINK_COLUMNS = (
    "campaign_id",
    "destination",
    "label",
    "store_code",
    "utm_content",
    "utm_term",
    "expires_at",
    "fallback_url",
    "active",
    "offer_id",
)


def _one(db: Database, sql: str, params: tuple | list | dict = ()) -> dict | None:
    cursor = db.execute(sql, params)
    row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cursor.description], row, strict=True))


def _all(db: Database, sql: str, params: tuple | list | dict = ()) -> list[dict]:
    cursor = db.execute(sql, params)
    keys = [d[0] for d in cursor.description]
    return [dict(zip(keys, row, strict=True)) for row in cursor.fetchall()]


def _insert(db: Database, table: str, values: dict[str, Any]) -> int:
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    cursor = db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(values.values()))
    return cursor.lastrowid


def _update(
    db: Database, table: str, row_id: int, values: dict[str, Any], allowed: tuple[str, ...]
) -> None:
    unknown = set(values) - set(allowed) - {"updated_at"}
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    if not values:
        return
    assignments = ", ".join(f"{name} = ?" for name in values)
    db.execute(f"UPDATE {table} SET {assignments} WHERE id = ?", [*values.values(), row_id])


# Campaigns ---------------------------------------------------------------------------------


def insert_campaign(db: Database, values: dict[str, Any]) -> int:
    return _insert(db, "campaigns", values)


def update_campaign(db: Database, campaign_id: int, values: dict[str, Any]) -> None:
    _update(db, "campaigns", campaign_id, values, CAMPAIGN_COLUMNS)


def get_campaign(db: Database, campaign_id: int) -> dict | None:
    return _one(db, "SELECT * FROM campaigns WHERE id = ?", (campaign_id,))


def list_campaigns(
    db: Database, *, after_id: int, limit: int, channel: str | None = None
) -> list[dict]:
    sql = "SELECT * FROM campaigns WHERE id > ?"
    params: list[Any] = [after_id]
    if channel:
        sql += " AND channel = ?"
        params.append(channel)
    return _all(db, sql + " ORDER BY id LIMIT ?", [*params, limit])


# Links -------------------------------------------------------------------------------------


def insert_link(db: Database, values: dict[str, Any]) -> int:
    return _insert(db, "links", values)


def update_link(db: Database, link_id: int, values: dict[str, Any]) -> None:
    _update(db, "links", link_id, values, LINK_COLUMNS)


def get_link(db: Database, link_id: int) -> dict | None:
    return _one(db, "SELECT * FROM links WHERE id = ?", (link_id,))


def list_links(
    db: Database, *, after_id: int, limit: int, campaign_id: int | None = None
) -> list[dict]:
    sql = "SELECT * FROM links WHERE id > ?"
    params: list[Any] = [after_id]
    if campaign_id is not None:
        sql += " AND campaign_id = ?"
        params.append(campaign_id)
    return _all(db, sql + " ORDER BY id LIMIT ?", [*params, limit])


_REDIRECT_SQL = """
SELECT l.destination, l.active, l.expires_at, l.fallback_url, l.store_code,
       l.utm_content, l.utm_term, l.campaign_id,
       c.utm_source, c.utm_medium, c.utm_campaign, l.offer_id
FROM links l JOIN campaigns c ON c.id = l.campaign_id
WHERE l.id = ?
"""


def link_for_redirect(db: Database, link_id: int) -> tuple | None:
    """The one read on the redirect hot path: everything needed to decide and log."""
    # Retried too: a WAL reader can briefly see "locked" while another process recovers.
    return retry_locked(db, lambda: db.conn.execute(_REDIRECT_SQL, (link_id,)).fetchone())


# Events ------------------------------------------------------------------------------------

_EVENT_SQL = (
    "INSERT INTO events (id, type, at, link_id, campaign_id, store_code, visitor_id, ip, "
    "user_agent, referrer, is_bot, bot_reason, outcome, recipient_id, lead_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def insert_event(db: Database, row: tuple) -> None:
    """Record one click or scan; autocommit makes it durable before the caller answers."""
    retry_locked(db, lambda: db.conn.execute(_EVENT_SQL, row))


def insert_events(db: Database, rows: list[tuple]) -> None:
    """Many hits at once, each row exactly as insert_event takes it, in one transaction.

    For replaying history in bulk (`touchpoint demo`); the live path commits every click alone.
    """
    with immediate(db):
        db.conn.executemany(_EVENT_SQL, rows)


def recipient_lead(db: Database, recipient_id: int, link_id: int) -> str | None:
    """The lead behind a per-recipient token, if the recipient belongs to that link."""
    row = retry_locked(
        db,
        lambda: db.conn.execute(
            "SELECT lead_id FROM recipients WHERE id = ? AND link_id = ?", (recipient_id, link_id)
        ).fetchone(),
    )
    return row[0] if row else None


def record_recipient_hit(
    db: Database,
    event: tuple,
    *,
    lead_id: str,
    visitor_id: str | None,
    is_human: bool,
    burst_since: str,
    burst_links: int,
    repeat_since: str,
) -> None:
    """Insert a per-recipient hit, stitch its visitor, and flag email-scanner patterns.

    One IMMEDIATE transaction: the hit and its consequences land together. Scanner rules
    (email security gateways fetch every link of a message seconds after delivery, from
    their own networks): several distinct links of one campaign clicked by one
    recipient since `burst_since`, or hits from more than one network since `repeat_since`,
    re-flag every such hit as a scanner, the earlier ones included. Rows are never deleted.
    """
    conn = db.conn
    # Only taking the write lock can be "locked"; once held, the rest runs without waiting.
    retry_locked(db, lambda: conn.execute("BEGIN IMMEDIATE"))
    try:
        conn.execute(_EVENT_SQL, event)
        recipient_hit_consequences(
            conn,
            event,
            lead_id=lead_id,
            visitor_id=visitor_id,
            is_human=is_human,
            burst_since=burst_since,
            burst_links=burst_links,
            repeat_since=repeat_since,
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def recipient_hit_consequences(
    conn: sqlite3.Connection,
    event: tuple,
    *,
    lead_id: str,
    visitor_id: str | None,
    is_human: bool,
    burst_since: str,
    burst_links: int,
    repeat_since: str,
) -> None:
    """What record_recipient_hit does after its INSERT, inside the caller's transaction (a
    spooled hit replayed later does the same: app/clicks/spool.py)."""
    at, campaign_id = event[2], event[4]
    if is_human:
        conn.execute("UPDATE leads SET last_seen = max(last_seen, ?) WHERE id = ?", (at, lead_id))
        if visitor_id is not None:
            conn.execute(
                "INSERT OR IGNORE INTO lead_visitors (visitor_id, lead_id, linked_at, source)"
                " VALUES (?, ?, ?, 'recipient_click')",
                (visitor_id, lead_id, at),
            )
    distinct_links = conn.execute(
        "SELECT count(DISTINCT link_id) FROM events "
        "WHERE lead_id = ? AND campaign_id = ? AND at >= ? AND at <= ?",
        (lead_id, campaign_id, burst_since, at),
    ).fetchone()[0]
    if distinct_links >= burst_links:
        conn.execute(
            "UPDATE events SET is_bot = 1, bot_reason = 'scanner:burst' "
            "WHERE lead_id = ? AND campaign_id = ? AND at >= ? AND at <= ? AND is_bot = 0",
            (lead_id, campaign_id, burst_since, at),
        )
    networks = conn.execute(
        "SELECT count(DISTINCT ip) FROM events WHERE lead_id = ? AND at >= ? AND at <= ?",
        (lead_id, repeat_since, at),
    ).fetchone()[0]
    if networks > 1:
        conn.execute(
            "UPDATE events SET is_bot = 1, bot_reason = 'scanner:multi_network' "
            "WHERE lead_id = ? AND at >= ? AND at <= ? AND is_bot = 0",
            (lead_id, repeat_since, at),
        )


def insert_orphan_hit(
    db: Database, at: str, path: str, ip: str | None, user_agent: str | None, referrer: str | None
) -> None:
    retry_locked(
        db,
        lambda: db.conn.execute(
            "INSERT INTO orphan_hits (at, path, ip, user_agent, referrer) VALUES (?, ?, ?, ?, ?)",
            (at, path, ip, user_agent, referrer),
        ),
    )


def count_events(db: Database) -> int:
    return db.execute("SELECT count(*) FROM events").fetchone()[0]


def count_rows(db: Database, tables: tuple[str, ...]) -> dict[str, int]:
    """{table: number of rows} for tables named by the caller (never by a request)."""
    return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def event_counts(db: Database) -> dict[str, int]:
    """Events by type, plus how many were flagged as bots and, of those, as email scanners."""
    counts = dict(db.execute("SELECT type, count(*) FROM events GROUP BY type ORDER BY type"))
    bots, scanners = db.execute(
        "SELECT count(*) FILTER (WHERE is_bot = 1),"
        " count(*) FILTER (WHERE bot_reason LIKE 'scanner:%') FROM events"
    ).fetchone()
    return {**counts, "bots": bots, "scanners": scanners}


def link_stats(db: Database, link_id: int) -> dict:
    """Counts for one link: totals, humans, bots, unique human visitors and a UTC day series."""
    totals = _one(
        db,
        """
        SELECT count(*) FILTER (WHERE type = 'click') AS clicks,
               count(*) FILTER (WHERE type = 'scan') AS scans,
               count(*) FILTER (WHERE is_bot = 0) AS human,
               count(*) FILTER (WHERE is_bot = 1) AS bots,
               count(*) FILTER (WHERE bot_reason LIKE 'scanner:%') AS scanners,
               count(DISTINCT visitor_id) FILTER (WHERE is_bot = 0) AS unique_visitors,
               min(at) AS first_at,
               max(at) AS last_at
        FROM events WHERE link_id = ?
        """,
        (link_id,),
    )
    by_day = _all(
        db,
        """
        SELECT substr(at, 1, 10) AS date,
               count(*) FILTER (WHERE type = 'click') AS clicks,
               count(*) FILTER (WHERE type = 'scan') AS scans,
               count(*) FILTER (WHERE is_bot = 0) AS human,
               count(*) FILTER (WHERE is_bot = 1) AS bots,
               count(DISTINCT visitor_id) FILTER (WHERE is_bot = 0) AS unique_visitors
        FROM events WHERE link_id = ?
        GROUP BY date ORDER BY date
        """,
        (link_id,),
    )
    return {**totals, "by_day": by_day}


# API tokens --------------------------------------------------------------------------------


def insert_api_token(db: Database, values: dict[str, Any]) -> int:
    return _insert(db, "api_tokens", values)


def find_api_token(db: Database, token_hash: str) -> dict | None:
    return _one(
        db,
        # A token made by a user stops with the account (disabled user: the token is dead).
        "SELECT t.id, t.name, t.role, t.last_used_at, t.user_id FROM api_tokens t "
        "LEFT JOIN users u ON u.id = t.user_id "
        "WHERE t.token_hash = ? AND t.revoked_at IS NULL "
        "AND (t.user_id IS NULL OR u.disabled_at IS NULL)",
        (token_hash,),
    )


def touch_api_token(db: Database, token_id: int, now: str, stale_before: str) -> None:
    """Record use at most once a minute, so reads do not all become writes."""
    db.execute(
        "UPDATE api_tokens SET last_used_at = ? WHERE id = ? "
        "AND (last_used_at IS NULL OR last_used_at < ?)",
        (now, token_id, stale_before),
    )


def list_api_tokens(db: Database) -> list[dict]:
    return _all(
        db,
        "SELECT id, name, prefix, role, user_id, created_at, last_used_at, revoked_at "
        "FROM api_tokens ORDER BY id",
    )


def revoke_api_token(db: Database, token_id: int, now: str) -> bool:
    cursor = db.execute(
        "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        (now, token_id),
    )
    return cursor.rowcount == 1


def count_api_tokens(db: Database) -> int:
    return db.execute("SELECT count(*) FROM api_tokens").fetchone()[0]
