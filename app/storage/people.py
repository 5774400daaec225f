"""Storage for leads, visitors, recipients and conversions."""

from __future__ import annotations

import secrets
from typing import Any

from sqlite_utils import Database

from app.core.db import begin
from app.people import ref_codes

from .core import _all, _one
from .dialect import greatest, json_merge_patch, jsonb_safe, least

# Leads and visitors ------------------------------------------------------------------------


def upsert_leads(db: Database, rows: list[tuple]) -> dict[str, tuple[str, str | None]]:
    """Insert or merge leads by email; return {email_key: (lead_id, ref_code)} for the batch.

    rows: (new_id, email, email_key, name, external_id, attributes_json, now). A known email
    keeps its GUID and reference code; name and external id fill in when given, attributes
    merge. Every row draws a reference code; a known email's is left unused (the space holds
    34 billion, and a code is never handed out twice).
    """
    merged = json_merge_patch(db, "coalesce(leads.attributes, '{}')", "excluded.attributes")
    codes = new_ref_codes(db, len(rows))
    db.conn.executemany(
        f"""
        INSERT INTO leads (id, email, email_key, name, external_id, attributes, first_seen,
                           last_seen, created_at, ref_number, ref_code)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (email_key) DO UPDATE SET
            name = coalesce(excluded.name, leads.name),
            external_id = coalesce(excluded.external_id, leads.external_id),
            attributes = CASE WHEN excluded.attributes IS NULL THEN leads.attributes
                         ELSE {merged} END
        """,
        [
            (*row[:5], jsonb_safe(db, row[5]), row[6], row[6], row[6], *code)
            for row, code in zip(rows, codes, strict=True)
        ],
    )
    keys = list({r[2] for r in rows})
    found: dict[str, tuple[str, str | None]] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for key, lead_id, ref_code in db.conn.execute(
            f"SELECT email_key, id, ref_code FROM leads WHERE email_key IN ({marks})", chunk
        ).fetchall():
            found[key] = (lead_id, ref_code)
    return found


# Reference codes: a counter through a keyed permutation (app/people/ref_codes.py).
_NEXT_NUMBERS_SQL = (
    "INSERT INTO counters (name, value) VALUES ('lead_ref', ?) ON CONFLICT (name) "
    "DO UPDATE SET value = counters.value + excluded.value RETURNING value"
)


def _ref_code_key(db: Database) -> bytes:
    db.execute(
        "INSERT INTO counters (name, value) VALUES ('lead_ref_key', ?) ON CONFLICT DO NOTHING",
        (secrets.randbits(63),),
    )
    value = db.execute("SELECT value FROM counters WHERE name = 'lead_ref_key'").fetchone()[0]
    return int(value).to_bytes(8, "big")


def _one_code(db: Database) -> dict[str, Any]:
    number, code = new_ref_codes(db, 1)[0]
    return {"ref_number": number, "ref_code": code}


def seed_ref_code_key(db: Database, value: int) -> None:
    """Fix the key before any code is made (only `touchpoint demo`, for repeatable seeds)."""
    db.execute(
        "INSERT INTO counters (name, value) VALUES ('lead_ref_key', ?) ON CONFLICT DO NOTHING",
        (value,),
    )


def new_ref_codes(db: Database, count: int) -> list[tuple[int, str]]:
    """`count` (number, reference code) pairs never handed out before (the counter moves in
    one statement, so concurrent writers on any host draw disjoint numbers)."""
    if count <= 0:
        return []
    encode = ref_codes.encoder(_ref_code_key(db))
    end = int(db.execute(_NEXT_NUMBERS_SQL, (count,)).fetchone()[0])
    return [(number, encode(number)) for number in range(end - count, end)]


def fill_ref_codes(db: Database) -> int:
    """Give every lead without a reference code one, oldest first; return how many."""
    missing = [
        r[0]
        for r in db.execute(
            "SELECT id FROM leads WHERE ref_code IS NULL ORDER BY created_at, first_seen, id"
        ).fetchall()
    ]
    codes = new_ref_codes(db, len(missing))
    db.conn.executemany(
        "UPDATE leads SET ref_number = ?, ref_code = ? WHERE id = ?",
        [(*code, lead_id) for code, lead_id in zip(codes, missing, strict=True)],
    )
    return len(missing)


def find_lead_by_ref_code(db: Database, ref_code: str) -> dict | None:
    """The lead a normalised reference code names: its number, looked up by index."""
    number = ref_codes.number_of(ref_code, _ref_code_key(db))
    return _one(db, "SELECT * FROM leads WHERE ref_number = ? AND ref_code = ?", (number, ref_code))


def find_lead_by_external_id(db: Database, external_id: str) -> dict | None:
    """The lead with this id in another system (a CRM, a loyalty card); the oldest."""
    return _one(
        db,
        "SELECT * FROM leads WHERE external_id = ? ORDER BY created_at, id LIMIT 1",
        (external_id,),
    )


def find_lead_by_phone(db: Database, phone: str) -> dict | None:
    """The lead with this E.164 number (the oldest, should two share one)."""
    return _one(db, "SELECT * FROM leads WHERE phone = ? ORDER BY created_at, id LIMIT 1", (phone,))


def ensure_recipients(db: Database, link_id: int, lead_ids: list[str], now: str) -> dict[str, int]:
    """Create missing (link, lead) recipients; return {lead_id: recipient_id}."""
    unique = list(dict.fromkeys(lead_ids))
    db.conn.executemany(
        "INSERT INTO recipients (link_id, lead_id, created_at) VALUES (?, ?, ?) "
        "ON CONFLICT DO NOTHING",
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
    """Create a lead for an email unless one exists (concurrent callers get the same row).

    values: id, email, email_key, name, external_id, attributes, now, and optionally source
    and phone."""
    lead = find_lead_by_email_key(db, values["email_key"])
    if lead is not None:
        return lead
    db.execute(
        "INSERT INTO leads (id, email, email_key, name, external_id, attributes, first_seen,"
        " last_seen, created_at, ref_number, ref_code, source, phone) VALUES (:id, :email,"
        " :email_key, :name, :external_id, :attributes, :now, :now, :now, :ref_number,"
        " :ref_code, :source, :phone) ON CONFLICT (email_key) DO NOTHING",
        {"source": None, "phone": None, **values, **_one_code(db)},
    )
    lead = find_lead_by_email_key(db, values["email_key"])
    assert lead is not None  # inserted above, or by the concurrent caller that won
    return lead


def insert_lead_by_phone(db: Database, values: dict[str, Any]) -> dict:
    """A new lead known only by its phone number (the caller holds the write lock).

    values: id, phone, source, now."""
    db.execute(
        "INSERT INTO leads (id, phone, source, first_seen, last_seen, created_at, ref_number,"
        " ref_code) VALUES (:id, :phone, :source, :now, :now, :now, :ref_number, :ref_code)",
        {**values, **_one_code(db)},
    )
    lead = get_lead(db, values["id"])
    assert lead is not None
    return lead


def link_visitor(db: Database, visitor_id: str, lead_id: str, at: str, source: str) -> None:
    """Tie a browser to a lead. The first tie wins: a shared device is not re-assigned.

    When the browser brought conversions of its own, they are now the lead's: its stage is
    marked due for a recount (app/people/pipeline.py ensure_current does it)."""
    tied = db.execute(
        "INSERT INTO lead_visitors (visitor_id, lead_id, linked_at, source) "
        "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (visitor_id, lead_id, at, source),
    ).rowcount
    if tied:
        db.execute(
            "UPDATE leads SET restage_due = 1 WHERE id = ? AND EXISTS (SELECT 1 FROM "
            "conversions WHERE visitor_id = ? AND voided_at IS NULL)",
            (lead_id, visitor_id),
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
    latest, earliest = greatest(db, "last_seen", ":at"), least(db, "first_seen", ":at")
    db.execute(
        f"UPDATE leads SET last_seen = {latest}, first_seen = {earliest} WHERE id = :lead",
        {"at": at, "lead": lead_id},
    )


_TIMELINE_SQL = """
WITH visitors AS (SELECT visitor_id FROM lead_visitors WHERE lead_id = :lead),
hits AS (
    SELECT rowid AS seq, * FROM events WHERE lead_id = :lead
    UNION
    SELECT rowid AS seq, * FROM events WHERE visitor_id IN (SELECT visitor_id FROM visitors)
)
SELECT h.id, h.type, NULL AS stage, h.at, h.campaign_id, c.channel, h.link_id, h.visitor_id,
       h.store_code, h.is_bot, h.bot_reason, h.outcome, NULL AS value_minor, NULL AS currency,
       NULL AS voided_at, NULL AS void_reason, 1 AS tie, h.seq
FROM hits h LEFT JOIN campaigns c ON c.id = h.campaign_id
UNION ALL
SELECT CAST(v.id AS TEXT), 'conversion', v.type, v.occurred_at, v.campaign_id, c.channel,
       NULL, v.visitor_id, NULL, 0, NULL, NULL, v.value_minor, v.currency, v.voided_at,
       v.void_reason, 0, v.id
FROM conversions v LEFT JOIN campaigns c ON c.id = v.campaign_id
WHERE v.lead_id = :lead OR v.visitor_id IN (SELECT visitor_id FROM visitors)
ORDER BY 4, 17, 18
"""


def lead_timeline(db: Database, lead_id: str) -> list[dict]:
    """Every event and conversion of a lead and its stitched visitors, in time order (at one
    moment conversions first, then in the order written). A conversion's id comes as text:
    one column holds both kinds of id, and PostgreSQL's UNION wants one type."""
    return _all(db, _TIMELINE_SQL, {"lead": lead_id})


def booth_scans_of_lead(db: Database, lead_id: str) -> dict[str, dict]:
    """{event id: its booth scan with the scanning key's label} for the lead's booth scans."""
    rows = _all(
        db,
        "SELECT b.event_id, b.id, b.rating, b.note, b.location_code, k.label AS staff_key "
        "FROM booth_scans b LEFT JOIN staff_keys k ON k.id = b.staff_key_id "
        "WHERE b.lead_id = ?",
        (lead_id,),
    )
    return {r["event_id"]: r for r in rows if r["event_id"]}


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
    begin(db)
    try:
        conn.execute(
            "UPDATE leads SET email = NULL, email_key = NULL, name = NULL, external_id = NULL,"
            " phone = NULL,"
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
        # The caller's number and the recording are the person's; the call stays counted.
        conn.execute(
            "UPDATE calls SET from_number = NULL, recording_url = NULL WHERE lead_id = ?",
            (lead_id,),
        )
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
        "ON CONFLICT (external_id) DO NOTHING RETURNING id",
        values,
    )
    row = cursor.fetchone()
    return row[0] if row else None


def get_conversion(db: Database, conversion_id: int) -> dict | None:
    return _one(db, "SELECT * FROM conversions WHERE id = ?", (conversion_id,))


def find_conversion_by_external_id(db: Database, external_id: str) -> dict | None:
    return _one(db, "SELECT * FROM conversions WHERE external_id = ?", (external_id,))
