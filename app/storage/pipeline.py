"""Storage for the lead pipeline: stages, losses, activities, conversion voids and changes."""

from __future__ import annotations

import functools
import json
from typing import Any

from sqlite_utils import Database

from .core import _all, _insert
from .dialect import contains, epoch_ms, false, full_scan, greatest, json_texts, unindexed

__all__ = [
    "conversion_changes",
    "insert_activity",
    "insert_conversion_change",
    "insert_loss",
    "lead_activities",
    "lead_contact_times",
    "lead_ids",
    "lead_losses",
    "lead_stage_conversions",
    "lead_touch_summary",
    "list_conversions",
    "list_leads",
    "pipeline_cohort",
    "pipeline_signature",
    "reopen_loss",
    "set_lead_columns",
    "set_pipeline_signature",
    "update_conversion_columns",
    "void_conversion",
]

# Activities that reached the person. A note is no contact; nor is a call nobody answered
# (the prospect rang the campaign's number: a touch for attribution, but Sales still owes a
# call back).
NOT_CONTACT_KINDS = ("note", "missed_call")
CONTACT_SQL = "kind NOT IN ('note', 'missed_call')"

_OF_LEAD = (
    "(lead_id = :lead OR visitor_id IN "
    "(SELECT visitor_id FROM lead_visitors WHERE lead_id = :lead))"
)


def lead_stage_conversions(db: Database, lead_id: str) -> list[tuple]:
    """(id, type, occurred_at) of the lead's conversions not voided, oldest first."""
    return db.execute(
        f"SELECT id, type, occurred_at FROM conversions WHERE {_OF_LEAD} "
        "AND voided_at IS NULL ORDER BY occurred_at, id",
        {"lead": lead_id},
    ).fetchall()


def lead_losses(db: Database, lead_id: str) -> list[dict]:
    return _all(db, "SELECT * FROM lead_losses WHERE lead_id = ? ORDER BY at, id", (lead_id,))


def insert_loss(db: Database, values: dict[str, Any]) -> int:
    return _insert(db, "lead_losses", values)


def reopen_loss(db: Database, lead_id: str, at: str, by: str | None) -> int:
    cursor = db.execute(
        "UPDATE lead_losses SET reopened_at = ?, reopened_by = ? "
        "WHERE lead_id = ? AND reopened_at IS NULL",
        (at, by, lead_id),
    )
    return cursor.rowcount


def insert_activity(db: Database, values: dict[str, Any]) -> int:
    return _insert(db, "lead_activities", values)


def lead_activities(db: Database, lead_id: str) -> list[dict]:
    return _all(
        db,
        "SELECT a.*, c.channel FROM lead_activities a "
        "LEFT JOIN campaigns c ON c.id = a.campaign_id WHERE a.lead_id = ? ORDER BY a.at, a.id",
        (lead_id,),
    )


def lead_contact_times(db: Database, lead_id: str) -> tuple:
    """(first contact, last contact, last activity of any kind) of a lead."""
    return db.execute(
        f"SELECT min(CASE WHEN {CONTACT_SQL} THEN at END), "
        f"max(CASE WHEN {CONTACT_SQL} THEN at END), max(at) "
        "FROM lead_activities WHERE lead_id = ?",
        (lead_id,),
    ).fetchone()


def set_lead_columns(db: Database, lead_id: str, values: dict[str, Any]) -> None:
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    db.execute(
        f"UPDATE leads SET {assignments} WHERE id = :lead_id", {**values, "lead_id": lead_id}
    )


def lead_ids(db: Database, *, due_only: bool = False) -> list[str]:
    """Every lead's id, or only those marked restage_due."""
    where = " WHERE restage_due = 1" if due_only else ""
    return [r[0] for r in db.execute(f"SELECT id FROM leads{where} ORDER BY id").fetchall()]


def pipeline_signature(db: Database) -> str | None:
    row = db.execute("SELECT value FROM maintenance WHERE key = 'pipeline_rules'").fetchone()
    return row[0] if row else None


def set_pipeline_signature(db: Database, signature: str) -> None:
    db.execute(
        "INSERT INTO maintenance (key, value) VALUES ('pipeline_rules', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (signature,),
    )


_HUMAN_TOUCH = "e.is_bot = 0 AND e.type IN ('click', 'scan', 'claim', 'booth_scan')"


def lead_touch_summary(db: Database, lead_ids: list[str]) -> dict[str, dict]:
    """{lead: {last_touch_at, first_campaign_id, first_campaign}} over human touches of the
    lead and its stitched browsers, and its sales activities (last touch only)."""
    found: dict[str, dict] = {}
    for lead_id in lead_ids:
        params = {"lead": lead_id}
        where = (
            f"{_HUMAN_TOUCH} AND (e.lead_id = :lead OR e.visitor_id IN "
            "(SELECT visitor_id FROM lead_visitors WHERE lead_id = :lead))"
        )
        first = db.execute(
            f"SELECT e.campaign_id, c.name FROM events e LEFT JOIN campaigns c "
            f"ON c.id = e.campaign_id WHERE {where} ORDER BY e.at, e.rowid LIMIT 1",
            params,
        ).fetchone()
        last = db.execute(
            f"SELECT max(at) FROM (SELECT max(e.at) AS at FROM events e WHERE {where} "
            "UNION ALL SELECT max(at) FROM lead_activities WHERE lead_id = :lead) AS touches",
            params,
        ).fetchone()
        found[lead_id] = {
            "last_touch_at": last[0] if last else None,
            "first_touch_campaign_id": first[0] if first else None,
            "first_touch_campaign": first[1] if first else None,
        }
    return found


# The follow-up rule (app/people/pipeline.py waiting_s) in SQL, with :waited its
# uncontacted_before: open, reached the handoff stage by then, no contact since.
_UNCONTACTED = (
    "l.status = 'open' AND l.handoff_at <= :waited AND "
    "(l.last_contacted_at IS NULL OR l.last_contacted_at < l.handoff_at)"
)

_SORTS = {
    "created": "l.created_at DESC, l.id",
    "-created": "l.created_at, l.id",
    "value": "l.value_minor IS NULL, l.value_minor DESC, l.id",
    "last_touch": "last_touch_at IS NULL, last_touch_at DESC, l.id",
}


def list_leads(
    db: Database,
    *,
    filters: dict[str, Any],
    sort: str,
    offset: int,
    limit: int,
) -> list[dict]:
    """A page of leads matching the filters (see app/people/leads.py list_page)."""
    where = ["1 = 1"]
    params: dict[str, Any] = {"offset": offset, "limit": limit}
    for name in ("stage", "status", "owner", "email_key", "id", "phone"):
        if filters.get(name) is not None:
            where.append(f"l.{name} = :{name}")
            params[name] = filters[name]
    if filters.get("no_stage"):
        where.append("l.stage IS NULL")
    if filters.get("created_from"):
        where.append("l.created_at >= :created_from")
        params["created_from"] = filters["created_from"]
    if filters.get("created_to"):
        where.append("l.created_at < :created_to")
        params["created_to"] = filters["created_to"]
    if filters.get("q"):
        in_email = contains(db, "lower(coalesce(l.email, ''))", ":q")
        in_name = contains(db, "lower(coalesce(l.name, ''))", ":q")
        # A reference code or a phone number typed into the search finds its lead too.
        where.append(f"({in_email} OR {in_name} OR l.ref_code = :q_code OR l.phone = :q_phone)")
        params["q"] = filters["q"].lower()
        params["q_code"] = filters.get("q_code")
        params["q_phone"] = filters.get("q_phone")
    if filters.get("uncontacted_before"):
        where.append(_UNCONTACTED)
        params["waited"] = filters["uncontacted_before"]
    if filters.get("campaign_id") is not None:
        where.append(
            "(EXISTS (SELECT 1 FROM events e WHERE e.campaign_id = :campaign AND "
            "(e.lead_id = l.id OR e.visitor_id IN "
            "(SELECT visitor_id FROM lead_visitors WHERE lead_id = l.id))) "
            "OR EXISTS (SELECT 1 FROM lead_activities a WHERE a.lead_id = l.id "
            "AND a.campaign_id = :campaign) "
            "OR EXISTS (SELECT 1 FROM conversions v WHERE v.lead_id = l.id "
            "AND v.campaign_id = :campaign AND v.voided_at IS NULL))"
        )
        params["campaign"] = filters["campaign_id"]
    select = "SELECT l.*"
    if sort == "last_touch":
        select += (
            ", (SELECT max(at) FROM (SELECT max(e.at) AS at FROM events e WHERE "
            f"{_HUMAN_TOUCH} AND (e.lead_id = l.id OR e.visitor_id IN (SELECT visitor_id "
            "FROM lead_visitors WHERE lead_id = l.id)) UNION ALL SELECT max(at) FROM "
            "lead_activities WHERE lead_id = l.id)) AS last_touch_at"
        )
    sql = (
        f"{select} FROM leads l WHERE {' AND '.join(where)} ORDER BY {_SORTS[sort]} "
        "LIMIT :limit OFFSET :offset"
    )
    return _all(db, sql, params)


# The pipeline report ------------------------------------------------------------------------

# A cohort this share of all leads or more is read by scanning leads and conversions whole
# (NOT INDEXED): looking most rows up one by one through an index (GUID keys, a random page
# each) costs several times one pass over the table (bench/pipeline).
SCAN_SHARE = 0.25
_GROUP_COLUMNS = {
    "owner": "l.owner",
    "source": "l.source",
    "origin": "l.origin",
    "partner": "l.partner_code",
}


def pipeline_cohort(
    db: Database,
    start: str,
    end: str,
    *,
    stages: tuple[str, ...],
    won_stages: tuple[str, ...],
    group_by: str | None,
    stalled_before: str,
    uncontacted_before: str,
) -> tuple[list[tuple], list[tuple]]:
    """The leads created in [start, end), and their conversions of the stages and the won
    stages that are not voided, as the pipeline report needs them.

    A stage is its rank in `stages` (-1 for none). Leads: (id, its value of `group_by`'s
    column or None, rank, status, stalled, uncontacted, ms from created to won, then for a
    lost lead value_minor, currency, the rank it was lost at and the reason). Stalled: open
    with no stage change or activity since `stalled_before` (restage keeps last_activity_at
    at least created_at); uncontacted: the lead list's rule at `uncontacted_before`.
    Conversions: (lead, rank, 1 for a won stage, occurred ms, value_minor, currency), the
    lead's own and its stitched browsers', as lead_stage_conversions reads them for one
    lead; in the order they were posted.
    """
    named = {f"s{rank}": stage for rank, stage in enumerate(stages)}
    rank = (
        "CASE {} " + " ".join(f"WHEN :s{r} THEN {r}" for r in range(len(stages))) + " ELSE -1 END"
    )
    params = {
        **named,
        "start": start,
        "end": end,
        "stalled": stalled_before,
        "waited": uncontacted_before,
        "types": json.dumps(sorted({*stages, *won_stages})),
        "won": json.dumps(list(won_stages)),
    }
    cohort, everyone = db.execute(
        "SELECT (SELECT count(*) FROM leads WHERE created_at >= :start AND created_at < :end), "
        "(SELECT max(rowid) FROM leads)",
        params,
    ).fetchone()
    scan = bool(everyone) and cohort >= SCAN_SHARE * everyone
    ms = functools.partial(epoch_ms, db)
    latest = greatest(
        db, "coalesce(l.stage_at, '')", "coalesce(l.last_activity_at, '')", "l.created_at"
    )
    cycle = greatest(db, ms("l.won_at") + " - " + ms("l.created_at"), "0")
    lost = "CASE WHEN l.status = 'lost' THEN {} END"
    leads = db.execute(
        f"SELECT l.id, {_GROUP_COLUMNS.get(group_by or '', 'NULL')}, {rank.format('l.stage')}, "
        f"l.status, l.status = 'open' AND {latest} <= :stalled, "
        f"coalesce({_UNCONTACTED}, {false(db)}), CASE WHEN l.status = 'won' THEN "
        f"{cycle} END, "
        f"{lost.format('l.value_minor')}, {lost.format('l.currency')}, "
        f"{lost.format(rank.format('l.lost_stage'))}, {lost.format('l.lost_reason')} "
        f"FROM leads l{full_scan(db) if scan else ''} "
        "WHERE l.created_at >= :start AND l.created_at < :end",
        params,
    ).fetchall()
    columns = (
        f"{rank.format('c.type')}, c.type IN {json_texts(db, ':won')}, "
        f"{ms('c.occurred_at')}, c.value_minor, c.currency"
    )
    # +c.type: never through the index on type, a random row for each conversion.
    wanted = f"c.voided_at IS NULL AND {unindexed(db, 'c.type')} IN {json_texts(db, ':types')}"
    # A conversion counts for its lead and for the lead its browser was stitched to later.
    stitched = (
        f"SELECT lv.lead_id, {columns} FROM conversions c JOIN lead_visitors lv "
        f"ON lv.visitor_id = c.visitor_id WHERE c.visitor_id IS NOT NULL AND {wanted} "
        "AND c.lead_id IS DISTINCT FROM lv.lead_id"
    )
    if scan:
        ids = {row[0] for row in leads}
        rows = db.execute(
            f"SELECT c.lead_id, {columns} FROM conversions c{full_scan(db)} "
            f"WHERE c.lead_id IS NOT NULL AND {wanted} UNION ALL {stitched}",
            params,
        ).fetchall()
        return leads, [row for row in rows if row[0] in ids]
    of_cohort = "SELECT id FROM leads WHERE created_at >= :start AND created_at < :end"
    rows = db.execute(
        f"SELECT c.lead_id, {columns} FROM conversions c WHERE c.lead_id IN ({of_cohort}) "
        f"AND {wanted} UNION ALL {stitched} AND lv.lead_id IN ({of_cohort})",
        params,
    ).fetchall()
    return leads, rows


# Conversions -------------------------------------------------------------------------------


def void_conversion(db: Database, conversion_id: int, at: str, reason: str, by: str | None) -> bool:
    """Void once: False when it was already voided (a concurrent void won)."""
    cursor = db.execute(
        "UPDATE conversions SET voided_at = ?, void_reason = ?, voided_by = ? "
        "WHERE id = ? AND voided_at IS NULL",
        (at, reason, by, conversion_id),
    )
    return cursor.rowcount == 1


def update_conversion_columns(db: Database, conversion_id: int, values: dict[str, Any]) -> None:
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    db.execute(
        f"UPDATE conversions SET {assignments} WHERE id = :conversion_id",
        {**values, "conversion_id": conversion_id},
    )


def insert_conversion_change(
    db: Database, conversion_id: int, at: str, by: str | None, changes: dict
) -> None:
    db.execute(
        "INSERT INTO conversion_changes (conversion_id, at, by, changes) VALUES (?, ?, ?, ?)",
        (conversion_id, at, by, json.dumps(changes, ensure_ascii=False)),
    )


def conversion_changes(db: Database, conversion_id: int) -> list[dict]:
    return _all(
        db,
        "SELECT at, by, changes FROM conversion_changes WHERE conversion_id = ? ORDER BY id",
        (conversion_id,),
    )


def list_conversions(
    db: Database, filters: dict[str, Any], after_id: int, limit: int
) -> list[dict]:
    where = ["id > :after"]
    params: dict[str, Any] = {"after": after_id, "limit": limit}
    if filters.get("lead_id"):
        where.append("lead_id = :lead_id")
        params["lead_id"] = filters["lead_id"]
    if filters.get("type"):
        where.append("type = :type")
        params["type"] = filters["type"]
    if filters.get("from"):
        where.append("occurred_at >= :start")
        params["start"] = filters["from"]
    if filters.get("to"):
        where.append("occurred_at < :end")
        params["end"] = filters["to"]
    if not filters.get("include_voided"):
        where.append("voided_at IS NULL")
    return _all(
        db,
        f"SELECT * FROM conversions WHERE {' AND '.join(where)} ORDER BY id LIMIT :limit",
        params,
    )
