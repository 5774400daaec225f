"""The storage layer: every SQL statement of the core lives here.

Functions take the database first and return plain dicts or tuples; callers never see a cursor.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

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
       c.utm_source, c.utm_medium, c.utm_campaign
FROM links l JOIN campaigns c ON c.id = l.campaign_id
WHERE l.id = ?
"""


def link_for_redirect(db: Database, link_id: int) -> tuple | None:
    """The one read on the redirect hot path: everything needed to decide and log."""
    return db.conn.execute(_REDIRECT_SQL, (link_id,)).fetchone()


# Events ------------------------------------------------------------------------------------

_EVENT_SQL = (
    "INSERT INTO events (id, type, at, link_id, campaign_id, store_code, visitor_id, ip, "
    "user_agent, referrer, is_bot, bot_reason, outcome, recipient_id, lead_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def insert_event(db: Database, row: tuple) -> None:
    """Record one click or scan; autocommit makes it durable before the caller answers."""
    db.conn.execute(_EVENT_SQL, row)


def recipient_lead(db: Database, recipient_id: int, link_id: int) -> str | None:
    """The lead behind a per-recipient token, if the recipient belongs to that link."""
    row = db.conn.execute(
        "SELECT lead_id FROM recipients WHERE id = ? AND link_id = ?", (recipient_id, link_id)
    ).fetchone()
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
    at, campaign_id = event[2], event[4]
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_EVENT_SQL, event)
        if is_human:
            conn.execute(
                "UPDATE leads SET last_seen = max(last_seen, ?) WHERE id = ?", (at, lead_id)
            )
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
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def insert_orphan_hit(
    db: Database, at: str, path: str, ip: str | None, user_agent: str | None, referrer: str | None
) -> None:
    db.conn.execute(
        "INSERT INTO orphan_hits (at, path, ip, user_agent, referrer) VALUES (?, ?, ?, ?, ?)",
        (at, path, ip, user_agent, referrer),
    )


def count_events(db: Database) -> int:
    return db.execute("SELECT count(*) FROM events").fetchone()[0]


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
        "SELECT id, name, role, last_used_at FROM api_tokens "
        "WHERE token_hash = ? AND revoked_at IS NULL",
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
        "SELECT id, name, prefix, role, created_at, last_used_at, revoked_at "
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


# Leads and visitors ------------------------------------------------------------------------


def upsert_leads(db: Database, rows: list[tuple]) -> dict[str, str]:
    """Insert or merge leads by email; return {email_key: lead_id} for the batch.

    rows: (new_id, email, email_key, name, external_id, attributes_json, now). A known email
    keeps its GUID; name and external id fill in when given, attributes merge.
    """
    db.conn.executemany(
        """
        INSERT INTO leads (id, email, email_key, name, external_id, attributes, first_seen,
                           last_seen)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
        ON CONFLICT (email_key) DO UPDATE SET
            name = coalesce(excluded.name, leads.name),
            external_id = coalesce(excluded.external_id, leads.external_id),
            attributes = CASE WHEN excluded.attributes IS NULL THEN leads.attributes
                         ELSE json_patch(coalesce(leads.attributes, '{}'), excluded.attributes)
                         END
        """,
        rows,
    )
    keys = list({r[2] for r in rows})
    found: dict[str, str] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        marks = ",".join("?" * len(chunk))
        found.update(
            db.conn.execute(
                f"SELECT email_key, id FROM leads WHERE email_key IN ({marks})", chunk
            ).fetchall()
        )
    return found


def ensure_recipients(db: Database, link_id: int, lead_ids: list[str], now: str) -> dict[str, int]:
    """Create missing (link, lead) recipients; return {lead_id: recipient_id}."""
    unique = list(dict.fromkeys(lead_ids))
    db.conn.executemany(
        "INSERT OR IGNORE INTO recipients (link_id, lead_id, created_at) VALUES (?, ?, ?)",
        [(link_id, lead_id, now) for lead_id in unique],
    )
    found: dict[str, int] = {}
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        marks = ",".join("?" * len(chunk))
        found.update(
            db.conn.execute(
                f"SELECT lead_id, id FROM recipients WHERE link_id = ? AND lead_id IN ({marks})",
                [link_id, *chunk],
            ).fetchall()
        )
    return found


def get_lead(db: Database, lead_id: str) -> dict | None:
    return _one(db, "SELECT * FROM leads WHERE id = ?", (lead_id,))


def find_lead_by_email_key(db: Database, email_key: str) -> dict | None:
    return _one(db, "SELECT * FROM leads WHERE email_key = ?", (email_key,))


def insert_lead_if_new(db: Database, values: dict[str, Any]) -> dict:
    """Create a lead for an email unless one exists (concurrent callers get the same row)."""
    db.execute(
        "INSERT INTO leads (id, email, email_key, name, external_id, attributes, first_seen,"
        " last_seen) VALUES (:id, :email, :email_key, :name, :external_id, :attributes, :now,"
        " :now) ON CONFLICT (email_key) DO NOTHING",
        values,
    )
    return find_lead_by_email_key(db, values["email_key"])


def link_visitor(db: Database, visitor_id: str, lead_id: str, at: str, source: str) -> None:
    """Tie a browser to a lead. The first tie wins: a shared device is not re-assigned."""
    db.execute(
        "INSERT OR IGNORE INTO lead_visitors (visitor_id, lead_id, linked_at, source) "
        "VALUES (?, ?, ?, ?)",
        (visitor_id, lead_id, at, source),
    )


def lead_of_visitor(db: Database, visitor_id: str) -> str | None:
    row = db.execute(
        "SELECT lead_id FROM lead_visitors WHERE visitor_id = ?", (visitor_id,)
    ).fetchone()
    return row[0] if row else None


def visitor_first_seen(db: Database, visitor_id: str) -> str | None:
    """When a visitor GUID was first logged, or None if we have never seen it."""
    row = db.execute("SELECT min(at) FROM events WHERE visitor_id = ?", (visitor_id,)).fetchone()
    if row[0] is not None:
        return row[0]
    row = db.execute(
        "SELECT linked_at FROM lead_visitors WHERE visitor_id = ?", (visitor_id,)
    ).fetchone()
    return row[0] if row else None


def touch_lead(db: Database, lead_id: str, at: str) -> None:
    db.execute(
        "UPDATE leads SET last_seen = max(last_seen, ?), first_seen = min(first_seen, ?) "
        "WHERE id = ?",
        (at, at, lead_id),
    )


_TIMELINE_SQL = """
WITH visitors AS (SELECT visitor_id FROM lead_visitors WHERE lead_id = :lead),
hits AS (
    SELECT * FROM events WHERE lead_id = :lead
    UNION
    SELECT * FROM events WHERE visitor_id IN (SELECT visitor_id FROM visitors)
)
SELECT h.id, h.type, NULL AS stage, h.at, h.campaign_id, c.channel, h.link_id, h.visitor_id,
       h.store_code, h.is_bot, h.bot_reason, h.outcome, NULL AS value_minor, NULL AS currency
FROM hits h LEFT JOIN campaigns c ON c.id = h.campaign_id
UNION ALL
SELECT v.id, 'conversion', v.type, v.occurred_at, v.campaign_id, c.channel,
       NULL, v.visitor_id, NULL, 0, NULL, NULL, v.value_minor, v.currency
FROM conversions v LEFT JOIN campaigns c ON c.id = v.campaign_id
WHERE v.lead_id = :lead OR v.visitor_id IN (SELECT visitor_id FROM visitors)
ORDER BY 4, 1
"""


def lead_timeline(db: Database, lead_id: str) -> list[dict]:
    """Every event and conversion of a lead and its stitched visitors, in time order."""
    return _all(db, _TIMELINE_SQL, {"lead": lead_id})


def lead_visitor_ids(db: Database, lead_id: str) -> list[str]:
    return [
        r[0]
        for r in db.execute(
            "SELECT visitor_id FROM lead_visitors WHERE lead_id = ? ORDER BY linked_at", (lead_id,)
        ).fetchall()
    ]


def erase_lead(db: Database, lead_id: str, now: str) -> None:
    """Remove personal data of a lead; keep anonymous rows so counts stay true."""
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "UPDATE leads SET email = NULL, email_key = NULL, name = NULL, external_id = NULL,"
            " attributes = NULL, erased_at = ? WHERE id = ?",
            (now, lead_id),
        )
        scope = (
            "lead_id = :lead OR visitor_id IN "
            "(SELECT visitor_id FROM lead_visitors WHERE lead_id = :lead)"
        )
        conn.execute(
            f"UPDATE events SET ip = NULL, user_agent = NULL, referrer = NULL WHERE {scope}",
            {"lead": lead_id},
        )
        conn.execute(f"UPDATE conversions SET properties = NULL WHERE {scope}", {"lead": lead_id})
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


# Conversions -------------------------------------------------------------------------------


def get_event(db: Database, event_id: str) -> dict | None:
    return _one(
        db,
        "SELECT id, at, visitor_id, lead_id, campaign_id, link_id FROM events WHERE id = ?",
        (event_id,),
    )


def insert_conversion(db: Database, values: dict[str, Any]) -> int | None:
    """Insert; None when a conversion with the same external_id already exists."""
    columns = ", ".join(values)
    marks = ", ".join(f":{k}" for k in values)
    cursor = db.execute(
        f"INSERT INTO conversions ({columns}) VALUES ({marks}) "
        "ON CONFLICT (external_id) DO NOTHING",
        values,
    )
    return cursor.lastrowid if cursor.rowcount == 1 else None


def get_conversion(db: Database, conversion_id: int) -> dict | None:
    return _one(db, "SELECT * FROM conversions WHERE id = ?", (conversion_id,))


def find_conversion_by_external_id(db: Database, external_id: str) -> dict | None:
    return _one(db, "SELECT * FROM conversions WHERE external_id = ?", (external_id,))
