"""Storage for finding links and campaigns: search, tag and state filters, sorts, pages."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from .core import _all

__all__ = ["CAMPAIGN_SORTS", "LINK_SORTS", "human_hits_since", "search_campaigns", "search_links"]

# sort name -> ORDER BY (every order ends on id, so pages never overlap)
_LINK_SORTS = {
    "created": "l.id",
    "-created": "l.id DESC",
    "label": "lower(coalesce(l.label, '')), l.id",
    "-label": "lower(coalesce(l.label, '')) DESC, l.id DESC",
    "clicks": "hits, l.id",
    "-clicks": "hits DESC, l.id DESC",
}
_CAMPAIGN_SORTS = {
    "created": "c.id",
    "-created": "c.id DESC",
    "name": "lower(c.name), c.id",
    "-name": "lower(c.name) DESC, c.id DESC",
    "label": "lower(c.name), c.id",
    "-label": "lower(c.name) DESC, c.id DESC",
    "clicks": "hits, c.id",
    "-clicks": "hits DESC, c.id DESC",
}
LINK_SORTS = tuple(_LINK_SORTS)
CAMPAIGN_SORTS = tuple(_CAMPAIGN_SORTS)


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _archived(column: str, archived: str) -> str:
    return {"false": f"{column} IS NULL", "true": f"{column} IS NOT NULL"}.get(archived, "1 = 1")


def search_links(
    db: Database,
    *,
    since: str,
    q: str | None = None,
    tag: str | None = None,
    campaign_id: int | None = None,
    domain: str | None = None,
    active: bool | None = None,
    archived: str = "false",
    sort: str = "created",
    after_id: int = 0,
    offset: int = 0,
    limit: int = 100,
) -> list[dict]:
    """Links matching every filter given, each with `hits`: its human clicks and scans since
    `since`. `domain` '' is the default domain. `archived` is 'false' (the default: archived
    links are hidden), 'true' (only those) or 'any'. Paged by `after_id` for the created
    sort, by `offset` for the others."""
    where = [_archived("l.archived_at", archived)]
    params: list[Any] = [since]
    if q:
        where.append(
            "(lower(coalesce(l.label, '')) LIKE ? ESCAPE '\\' "
            "OR coalesce(l.slug_key, '') LIKE ? ESCAPE '\\' "
            "OR lower(coalesce(l.destination, '')) LIKE ? ESCAPE '\\')"
        )
        params += [_like(q)] * 3
    if tag:
        where.append("EXISTS (SELECT 1 FROM link_tags t WHERE t.link_id = l.id AND t.tag = ?)")
        params.append(tag)
    if campaign_id is not None:
        where.append("l.campaign_id = ?")
        params.append(campaign_id)
    if domain is not None:
        where.append("coalesce(l.domain, '') = ?")
        params.append(domain)
    if active is not None:
        where.append("l.active = ?")
        params.append(1 if active else 0)
    if sort == "created" and after_id:
        where.append("l.id > ?")
        params.append(after_id)
    sql = (
        "SELECT l.*, (SELECT count(*) FROM events e WHERE e.link_id = l.id AND e.at >= ? "
        "AND e.is_bot = 0) AS hits FROM links l WHERE "
        + " AND ".join(where)
        + f" ORDER BY {_LINK_SORTS[sort]} LIMIT ? OFFSET ?"
    )
    return _all(db, sql, [*params, limit, 0 if sort == "created" else offset])


def search_campaigns(
    db: Database,
    *,
    since: str,
    q: str | None = None,
    tag: str | None = None,
    channel: str | None = None,
    archived: str = "false",
    sort: str = "created",
    after_id: int = 0,
    offset: int = 0,
    limit: int = 100,
) -> list[dict]:
    """Campaigns matching every filter, each with `hits` (human clicks and scans on its links
    since `since`); the same paging rules as search_links."""
    where = [_archived("c.archived_at", archived)]
    params: list[Any] = [since]
    if q:
        where.append(
            "(lower(c.name) LIKE ? ESCAPE '\\' OR lower(c.utm_campaign) LIKE ? ESCAPE '\\')"
        )
        params += [_like(q)] * 2
    if tag:
        where.append(
            "EXISTS (SELECT 1 FROM campaign_tags t WHERE t.campaign_id = c.id AND t.tag = ?)"
        )
        params.append(tag)
    if channel:
        where.append("c.channel = ?")
        params.append(channel)
    if sort == "created" and after_id:
        where.append("c.id > ?")
        params.append(after_id)
    sql = (
        "SELECT c.*, (SELECT count(*) FROM events e JOIN links l ON l.id = e.link_id "
        "WHERE l.campaign_id = c.id AND e.at >= ? AND e.is_bot = 0) AS hits "
        "FROM campaigns c WHERE "
        + " AND ".join(where)
        + f" ORDER BY {_CAMPAIGN_SORTS[sort]} LIMIT ? OFFSET ?"
    )
    return _all(db, sql, [*params, limit, 0 if sort == "created" else offset])


def human_hits_since(db: Database, link_ids: list[int], since: str) -> dict[int, int]:
    """{link id: human clicks and scans since `since`} for the links given."""
    if not link_ids:
        return {}
    marks = ", ".join("?" for _ in link_ids)
    return dict(
        db.execute(
            f"SELECT link_id, count(*) FROM events WHERE link_id IN ({marks}) AND at >= ? "
            "AND is_bot = 0 GROUP BY link_id",
            [*link_ids, since],
        ).fetchall()
    )
