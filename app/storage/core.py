"""Storage for campaigns, links, hits (click and scan events), orphan hits and API tokens."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from sqlite_utils import Database

from app.clicks import hit as _hit
from app.core.db import begin, immediate, retry_locked

from .dialect import greatest, joined

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
    "archived_at",
    "utm_content_template",
    "utm_term_template",
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
    "archived_at",
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


def _insert_sql(table: str, values: dict[str, Any]) -> str:
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    return f"INSERT INTO {table} ({columns}) VALUES ({marks})"


def _insert(db: Database, table: str, values: dict[str, Any]) -> int:
    # RETURNING, not cursor.lastrowid: psycopg has none, and both backends answer it.
    cursor = db.execute(_insert_sql(table, values) + " RETURNING id", list(values.values()))
    return cursor.fetchone()[0]


def _insert_row(db: Database, table: str, values: dict[str, Any]) -> None:
    """Insert into a table whose key is not an `id` column."""
    db.execute(_insert_sql(table, values), list(values.values()))


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


def _with_tag_list(db: Database, table: str, tags: str, column: str, alias: str) -> str:
    """SELECT of one row of `table` with its tags joined by ',' (tags hold no comma) as
    `tag_list`: one statement, so a page showing a link and its campaign stays a few."""
    tag_text = joined(db, "t.tag", "','")
    return (
        f"SELECT {alias}.*, (SELECT {tag_text} FROM (SELECT tag FROM {tags} "
        f"WHERE {column} = {alias}.id ORDER BY tag) t) AS tag_list "
        f"FROM {table} {alias} WHERE {alias}.id = ?"
    )


def split_tags(row: dict) -> dict:
    """A row with `tag_list` as `tags`, a sorted list."""
    out = dict(row)
    text = out.pop("tag_list", None)
    out["tags"] = text.split(",") if text else []
    return out


def get_campaign(db: Database, campaign_id: int) -> dict | None:
    return _one(db, "SELECT * FROM campaigns WHERE id = ?", (campaign_id,))


def get_campaign_with_tags(db: Database, campaign_id: int) -> dict | None:
    row = _one(
        db, _with_tag_list(db, "campaigns", "campaign_tags", "campaign_id", "c"), (campaign_id,)
    )
    return None if row is None else split_tags(row)


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


def insert_link(db: Database, values: dict[str, Any]) -> int | None:
    """The new link's id; None when another link has its slug_key (nothing is stored)."""
    cursor = db.execute(
        _insert_sql("links", values) + " ON CONFLICT (slug_key) DO NOTHING RETURNING id",
        list(values.values()),
    )
    row = cursor.fetchone()
    return None if row is None else row[0]


def update_link(db: Database, link_id: int, values: dict[str, Any]) -> None:
    _update(db, "links", link_id, values, LINK_COLUMNS)


def get_link(db: Database, link_id: int) -> dict | None:
    return _one(db, "SELECT * FROM links WHERE id = ?", (link_id,))


def links_by_id(db: Database, link_ids: list[int]) -> list[dict]:
    """The links rows of many ids (in chunks: SQLite binds at most 32,766 values)."""
    rows: list[dict] = []
    for start in range(0, len(link_ids), 5000):
        chunk = link_ids[start : start + 5000]
        marks = ", ".join("?" for _ in chunk)
        rows += _all(db, f"SELECT * FROM links WHERE id IN ({marks})", chunk)
    return rows


def get_link_with_tags(db: Database, link_id: int) -> dict | None:
    row = _one(db, _with_tag_list(db, "links", "link_tags", "link_id", "l"), (link_id,))
    return None if row is None else split_tags(row)


def list_links(
    db: Database, *, after_id: int, limit: int, campaign_id: int | None = None
) -> list[dict]:
    sql = "SELECT * FROM links WHERE id > ?"
    params: list[Any] = [after_id]
    if campaign_id is not None:
        sql += " AND campaign_id = ?"
        params.append(campaign_id)
    return _all(db, sql + " ORDER BY id LIMIT ?", [*params, limit])


_LINK_FOR_REDIRECT = """l.destination, l.active, l.expires_at, l.fallback_url, l.store_code,
       l.utm_content, l.utm_term, l.campaign_id,
       c.utm_source, c.utm_medium, c.utm_campaign, l.offer_id"""
_REDIRECT_SQL = f"""
SELECT {_LINK_FOR_REDIRECT}
FROM links l JOIN campaigns c ON c.id = l.campaign_id
WHERE l.id = ?
"""
# A slug is found by links_slug, the unique index on '<domain>/<slug>' (m016), in one
# lookup: which domain a request's host is comes from app/clicks/domains.py's host cache.
_REDIRECT_BY_SLUG_SQL = f"""
SELECT l.id, {_LINK_FOR_REDIRECT}
FROM links l JOIN campaigns c ON c.id = l.campaign_id
WHERE l.slug_key = ?
"""


def link_for_redirect(db: Database, link_id: int) -> tuple | None:
    """The one read on the redirect hot path: everything needed to decide and log."""
    # Retried too: a WAL reader can briefly see "locked" while another process recovers.
    return retry_locked(db, lambda: db.conn.execute(_REDIRECT_SQL, (link_id,)).fetchone())


def link_for_slug(db: Database, slug_key: str) -> tuple | None:
    """`link_for_redirect` of the link with this slug key ('<domain>/<slug>', lower case),
    its id first: (link_id, *row). None when there is none."""
    return retry_locked(db, lambda: db.conn.execute(_REDIRECT_BY_SLUG_SQL, (slug_key,)).fetchone())


# PostgreSQL: the read above and a hit's INSERT in one statement, so a click costs one round
# trip instead of two (bench/multihost). The event takes its campaign, store and outcome from
# the link row it reads; the outcome is app/clicks/links.py's liveness rule (`target`) spelled
# in SQL, and tests/test_redirect.py holds the two to one answer for every state of a link.
# SQLite has no INSERT inside WITH, and a read there is a function call, not a round trip.
# (Text comparison of `at` is byte order: migrations.py requires a C-collated database.)
_REDIRECT_AND_HIT_SQL_PG = """
WITH link AS (
    SELECT l.id AS link_id, {columns},
           CASE WHEN l.active = 0 OR l.expires_at <= :at
                THEN CASE WHEN l.fallback_url <> '' THEN 'fallback' ELSE 'gone' END
                WHEN l.offer_id IS NOT NULL THEN 'landing'
                ELSE 'redirect' END AS outcome
    FROM links l JOIN campaigns c ON c.id = l.campaign_id
    WHERE {where}
), hit AS (
    INSERT INTO events (id, type, at, link_id, campaign_id, store_code, visitor_id, ip,
                        user_agent, referrer, is_bot, bot_reason, outcome, country)
    SELECT :id, :type, :at, link_id, campaign_id, store_code, :visitor_id, :ip,
           :user_agent, :referrer, :is_bot, :bot_reason, outcome, :country
    FROM link
)
SELECT link_id, destination, active, expires_at, fallback_url, store_code, utm_content,
       utm_term, campaign_id, utm_source, utm_medium, utm_campaign, offer_id
FROM link
"""
_BY_ID_AND_HIT_SQL_PG = _REDIRECT_AND_HIT_SQL_PG.format(
    columns=_LINK_FOR_REDIRECT, where="l.id = :link_id"
)
_BY_SLUG_AND_HIT_SQL_PG = _REDIRECT_AND_HIT_SQL_PG.format(
    columns=_LINK_FOR_REDIRECT,
    where="l.slug_key = :slug_key",
)


def link_for_redirect_logging_hit(db: Database, hit: dict[str, Any]) -> tuple | None:
    """PostgreSQL only: `link_for_redirect` for `hit["link_id"]` and, when the link exists,
    the hit recorded on it in the same autocommitted statement (durable when this returns).

    `hit` holds the events values that do not come from the link: id, type, at, link_id,
    visitor_id, ip, user_agent, referrer, is_bot, bot_reason (no recipient: a recipient's
    hit has scanner rules to apply, app/clicks/scanners.py). None when there is no link.
    """
    row = db.conn.execute(_BY_ID_AND_HIT_SQL_PG, hit).fetchone()
    return None if row is None else row[1:]


def link_for_slug_logging_hit(db: Database, hit: dict[str, Any], slug_key: str) -> tuple | None:
    """PostgreSQL only: `link_for_slug` and the hit on that link in one statement, as
    `link_for_redirect_logging_hit` does (`hit` without link_id): (link_id, *row) or None."""
    return db.conn.execute(_BY_SLUG_AND_HIT_SQL_PG, {**hit, "slug_key": slug_key}).fetchone()


# Hits (clicks and scans) -------------------------------------------------------------------

# The one statement a hit is written with: its columns are the fields of the Hit value, so a
# new column is a new field there (and its value in app/clicks/tracking.py), nothing here. A
# Hit is a NamedTuple of exactly those fields in that order; tuple(hit) binds it (sqlite3
# binds an exact tuple faster than a subclass of one, by more than the copy costs).
_HIT_SQL = "INSERT INTO events ({}) VALUES ({})".format(
    ", ".join(_hit.FIELDS), ", ".join("?" for _ in _hit.FIELDS)
)
_REPLAY_HIT_SQL = _HIT_SQL + " ON CONFLICT DO NOTHING"


def insert_hit(db: Database, hit: _hit.Hit) -> None:
    """Record one click or scan; autocommit makes it durable before the caller answers (inside
    a hit_transaction, its COMMIT does)."""
    retry_locked(db, lambda: db.conn.execute(_HIT_SQL, tuple(hit)))


def insert_hits(db: Database, hits: Iterable[_hit.Hit]) -> None:
    """Many hits at once, in one transaction.

    For replaying history in bulk (`touchpoint demo`); the live path commits every click alone.
    """
    with immediate(db):
        db.conn.executemany(_HIT_SQL, map(tuple, hits))


def insert_hit_once(db: Database, hit: _hit.Hit) -> bool:
    """Insert a hit unless its id is there already (a spooled hit replayed twice); inside the
    caller's transaction. Returns whether it was new."""
    return db.conn.execute(_REPLAY_HIT_SQL, tuple(hit)).rowcount == 1


@contextlib.contextmanager
def hit_transaction(db: Database) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT for a hit and its consequences, on the hot connection.

    Only taking the write lock can be "locked" (it is retried without SQLite's busy handler);
    once held, the rest runs without waiting. Any error rolls everything back.
    """
    conn = db.conn
    retry_locked(db, lambda: begin(db))
    try:
        yield
        conn.execute("COMMIT")  # may fail too (a full disk): then roll back as well
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def recipient_lead(db: Database, recipient_id: int, link_id: int) -> str | None:
    """The lead behind a per-recipient token, if the recipient belongs to that link."""
    row = retry_locked(
        db,
        lambda: db.conn.execute(
            "SELECT lead_id FROM recipients WHERE id = ? AND link_id = ?", (recipient_id, link_id)
        ).fetchone(),
    )
    return row[0] if row else None


# What app/clicks/scanners.py asks about a lead's recent hits, and the flags it sets. All run
# inside the caller's hit_transaction (or the spool replay's transaction).


def lead_seen(db: Database, lead_id: str, at: str) -> None:
    """A person (not a bot) of this lead was here at `at`."""
    db.conn.execute(
        f"UPDATE leads SET last_seen = {greatest(db, 'last_seen', '?')} WHERE id = ?", (at, lead_id)
    )


def lead_campaign_links(
    db: Database, lead_id: str, campaign_id: int, since: str, until: str
) -> int:
    """How many distinct links of one campaign a lead's hits in [since, until] went to."""
    return db.conn.execute(
        "SELECT count(DISTINCT link_id) FROM events "
        "WHERE lead_id = ? AND campaign_id = ? AND at >= ? AND at <= ?",
        (lead_id, campaign_id, since, until),
    ).fetchone()[0]


def lead_networks(db: Database, lead_id: str, since: str, until: str) -> int:
    """How many distinct (anonymised) addresses a lead's hits in [since, until] came from."""
    return db.conn.execute(
        "SELECT count(DISTINCT ip) FROM events WHERE lead_id = ? AND at >= ? AND at <= ?",
        (lead_id, since, until),
    ).fetchone()[0]


def flag_lead_hits(
    db: Database,
    reason: str,
    lead_id: str,
    since: str,
    until: str,
    campaign_id: int | None = None,
) -> None:
    """Mark a lead's human hits in [since, until] (of one campaign, when given) as bots for
    `reason`, the earlier ones included. Rows are never deleted."""
    sql = "UPDATE events SET is_bot = 1, bot_reason = ? WHERE lead_id = ? "
    params: list[Any] = [reason, lead_id]
    if campaign_id is not None:
        sql += "AND campaign_id = ? "
        params.append(campaign_id)
    db.conn.execute(sql + "AND at >= ? AND at <= ? AND is_bot = 0", [*params, since, until])


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


def audience_counts(db: Database, column: str, value: int) -> list[tuple]:
    """Human hits of one link or campaign (`column` link_id or campaign_id, named by code,
    never by a request) as (user agent, country, referrer, count), in one read."""
    assert column in ("link_id", "campaign_id")
    return [
        tuple(r)
        for r in db.execute(
            f"SELECT user_agent, country, referrer, count(*) FROM events "
            f"WHERE {column} = ? AND is_bot = 0 GROUP BY user_agent, country, referrer",
            (value,),
        ).fetchall()
    ]


def link_stats(db: Database, link_id: int) -> dict:
    """Counts for one link: totals, humans, bots, unique human visitors and a UTC day series."""
    return _hit_stats(db, "link_id", link_id)


def campaign_stats(db: Database, campaign_id: int) -> dict:
    """link_stats for every link of a campaign together."""
    return _hit_stats(db, "campaign_id", campaign_id)


def _hit_stats(db: Database, column: str, value: int) -> dict:
    assert column in ("link_id", "campaign_id")
    totals = _one(
        db,
        f"""
        SELECT count(*) FILTER (WHERE type = 'click') AS clicks,
               count(*) FILTER (WHERE type = 'scan') AS scans,
               count(*) FILTER (WHERE is_bot = 0) AS human,
               count(*) FILTER (WHERE is_bot = 1) AS bots,
               count(*) FILTER (WHERE bot_reason LIKE 'scanner:%') AS scanners,
               count(DISTINCT visitor_id) FILTER (WHERE is_bot = 0) AS unique_visitors,
               min(at) AS first_at,
               max(at) AS last_at
        FROM events WHERE {column} = ?
        """,
        (value,),
    )
    assert totals is not None  # an aggregate always answers one row
    by_day = _all(
        db,
        f"""
        SELECT substr(at, 1, 10) AS date,
               count(*) FILTER (WHERE type = 'click') AS clicks,
               count(*) FILTER (WHERE type = 'scan') AS scans,
               count(*) FILTER (WHERE is_bot = 0) AS human,
               count(*) FILTER (WHERE is_bot = 1) AS bots,
               count(DISTINCT visitor_id) FILTER (WHERE is_bot = 0) AS unique_visitors
        FROM events WHERE {column} = ?
        GROUP BY date ORDER BY date
        """,
        (value,),
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
