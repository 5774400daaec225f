"""Read-only queries behind the dashboard pages: small, indexed, a page's worth at a time."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from .core import _all

EVENT_TYPES = ("click", "scan", "claim", "redemption", "void", "booth_scan")


def daily_touches(db: Database, first_day: str, end_day: str) -> dict[int, dict[str, int]]:
    """{campaign id: {day: human clicks + scans + claims + booth scans}} from the day rollups
    (refresh them first)."""
    series: dict[int, dict[str, int]] = {}
    for campaign_id, day, total in db.execute(
        "SELECT campaign_id, day, sum(human_clicks + scans + claims + booth_scans) "
        "FROM report_days WHERE day >= ? AND day < ? AND campaign_id != 0 "
        "GROUP BY campaign_id, day",
        (first_day, end_day),
    ):
        series.setdefault(campaign_id, {})[day] = total
    return series


def link_totals(db: Database, campaign_id: int) -> dict[int, dict[str, int]]:
    """Per link of a campaign, all time: human clicks, scans, bot hits, claims (rollups)."""
    return {
        row["link_id"]: row
        for row in _all(
            db,
            "SELECT link_id, sum(human_clicks) AS human_clicks, sum(scans) AS scans, "
            "sum(bot_hits) AS bot_hits, sum(claims) AS claims FROM report_days "
            "WHERE campaign_id = ? GROUP BY link_id",
            (campaign_id,),
        )
    }


def campaign_links(db: Database, campaign_id: int) -> list[dict]:
    return _all(db, "SELECT * FROM links WHERE campaign_id = ? ORDER BY id", (campaign_id,))


def campaign_links_with_recipients(db: Database, campaign_id: int) -> list[dict]:
    """The campaign's links, each with how many recipients it has (counted on the index)."""
    return _all(
        db,
        "SELECT k.*, (SELECT count(*) FROM recipients r WHERE r.link_id = k.id) AS recipients "
        "FROM links k WHERE k.campaign_id = ? ORDER BY k.id",
        (campaign_id,),
    )


def recipient_count(db: Database, link_id: int) -> int:
    return db.execute("SELECT count(*) FROM recipients WHERE link_id = ?", (link_id,)).fetchone()[0]


def recipients_of_link(db: Database, link_id: int) -> list[dict]:
    """The link's recipients with their lead's email and attributes, in upload order."""
    return _all(
        db,
        "SELECT r.id, r.lead_id, l.email, l.name, l.attributes, l.ref_code FROM recipients r "
        "JOIN leads l ON l.id = r.lead_id WHERE r.link_id = ? ORDER BY r.id",
        (link_id,),
    )


def latest_events(
    db: Database,
    *,
    types: tuple[str, ...],
    campaign_id: int | None,
    location: str | None,
    bots: str,
    limit: int,
    include_conversions: bool,
) -> list[dict]:
    """The newest events (by arrival) and conversions matching the filters, newest first.

    bots: 'human' (no bots or scanners), 'bots' (only them) or 'all'.
    """
    marks = ",".join("?" * len(types))
    where = [f"e.type IN ({marks})"]
    params: list[Any] = list(types)
    if campaign_id is not None:
        where.append("e.campaign_id = ?")
        params.append(campaign_id)
    if location is not None:
        where.append("e.store_code = ?")
        params.append(location)
    if bots == "human":
        where.append("e.is_bot = 0")
    elif bots == "bots":
        where.append("e.is_bot = 1")
    rows: list[dict] = []
    if types:
        rows = _all(
            db,
            "SELECT e.id, e.type, e.at, e.link_id, e.campaign_id, e.store_code, e.visitor_id, "
            "e.user_agent, e.referrer, e.is_bot, e.bot_reason, e.outcome, c.name AS campaign, "
            "k.label AS link_label FROM events e "
            "LEFT JOIN campaigns c ON c.id = e.campaign_id "
            "LEFT JOIN links k ON k.id = e.link_id "
            f"WHERE {' AND '.join(where)} ORDER BY e.rowid DESC LIMIT ?",
            [*params, limit],
        )
    if include_conversions and location is None and bots != "bots":
        sql = (
            "SELECT v.id, v.type AS conversion_type, v.occurred_at AS at, v.lead_id, "
            "v.campaign_id, v.value_minor, v.currency, c.name AS campaign FROM conversions v "
            "LEFT JOIN campaigns c ON c.id = v.campaign_id"
        )
        args: list[Any] = []
        if campaign_id is not None:
            sql += " WHERE v.campaign_id = ?"
            args.append(campaign_id)
        for row in _all(db, sql + " ORDER BY v.id DESC LIMIT ?", [*args, limit]):
            rows.append({**row, "type": "conversion"})
    rows.sort(key=lambda r: r["at"], reverse=True)
    return rows[:limit]


def location_names(db: Database) -> list[dict]:
    return _all(db, "SELECT code, name, kind FROM locations ORDER BY name")


def campaign_names(db: Database) -> list[dict]:
    return _all(db, "SELECT id, name, channel FROM campaigns ORDER BY name")


def find_leads(db: Database, text: str, limit: int) -> list[dict]:
    """Leads whose email starts with or whose id equals the text."""
    return _all(
        db,
        "SELECT id, email, name, first_seen, last_seen FROM leads WHERE id = ? OR email_key >= ? "
        "AND email_key < ? ORDER BY email_key LIMIT ?",
        (text, text.lower(), text.lower() + "\uffff", limit),
    )
