"""Storage for locations, staff keys, offers, codes, claims, redemptions and booth scans."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from .core import _all, _insert, _insert_row, _one, _update
from .dialect import joined

LOCATION_COLUMNS = ("name", "kind", "timezone", "address", "currency")
OFFER_COLUMNS = (
    "title",
    "terms",
    "discount",
    "code_prefix",
    "starts_at",
    "ends_at",
    "max_redemptions_per_code",
    "per_lead_limit",
)


# Locations and staff keys ------------------------------------------------------------------


def insert_location(db: Database, values: dict[str, Any]) -> None:
    _insert_row(db, "locations", values)


def update_location(db: Database, code: str, values: dict[str, Any]) -> None:
    unknown = set(values) - set(LOCATION_COLUMNS) - {"updated_at"}
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    assignments = ", ".join(f"{name} = ?" for name in values)
    db.execute(f"UPDATE locations SET {assignments} WHERE code = ?", [*values.values(), code])


def get_location(db: Database, code: str) -> dict | None:
    return _one(db, "SELECT * FROM locations WHERE code = ?", (code,))


def get_locations(db: Database, codes: list[str]) -> list[dict]:
    """The locations with these codes (unknown codes left out), in code order."""
    marks = ",".join("?" * len(codes))
    return _all(db, f"SELECT * FROM locations WHERE code IN ({marks}) ORDER BY code", codes)


def list_locations(db: Database, kind: str | None = None) -> list[dict]:
    if kind:
        return _all(db, "SELECT * FROM locations WHERE kind = ? ORDER BY code", (kind,))
    return _all(db, "SELECT * FROM locations ORDER BY code")


def insert_staff_key(db: Database, values: dict[str, Any]) -> int:
    return _insert(db, "staff_keys", values)


def find_staff_key(db: Database, key_hash: str) -> dict | None:
    return _one(
        db,
        "SELECT id, location_code, label, last_used_at FROM staff_keys "
        "WHERE key_hash = ? AND revoked_at IS NULL",
        (key_hash,),
    )


def touch_staff_key(db: Database, key_id: int, now: str, stale_before: str) -> None:
    db.execute(
        "UPDATE staff_keys SET last_used_at = ? WHERE id = ? "
        "AND (last_used_at IS NULL OR last_used_at < ?)",
        (now, key_id, stale_before),
    )


def list_staff_keys(db: Database, location_code: str) -> list[dict]:
    return _all(
        db,
        "SELECT id, location_code, label, prefix, created_at, last_used_at, revoked_at "
        "FROM staff_keys WHERE location_code = ? ORDER BY id",
        (location_code,),
    )


def revoke_staff_key(db: Database, location_code: str, key_id: int, now: str) -> bool:
    cursor = db.execute(
        "UPDATE staff_keys SET revoked_at = ? WHERE id = ? AND location_code = ? "
        "AND revoked_at IS NULL",
        (now, key_id, location_code),
    )
    return cursor.rowcount == 1


# Offers ------------------------------------------------------------------------------------


def insert_offer(db: Database, values: dict[str, Any]) -> int:
    return _insert(db, "offers", values)


def update_offer(db: Database, offer_id: int, values: dict[str, Any]) -> None:
    _update(db, "offers", offer_id, values, OFFER_COLUMNS)


def get_offer(db: Database, offer_id: int) -> dict | None:
    return _one(db, "SELECT * FROM offers WHERE id = ?", (offer_id,))


def list_offers(
    db: Database, *, after_id: int, limit: int, campaign_id: int | None = None
) -> list[dict]:
    sql = "SELECT * FROM offers WHERE id > ?"
    params: list[Any] = [after_id]
    if campaign_id is not None:
        sql += " AND campaign_id = ?"
        params.append(campaign_id)
    return _all(db, sql + " ORDER BY id LIMIT ?", [*params, limit])


# An offer as the dashboard lists it: its columns, campaign name, shared code, locations and
# counts, in one statement for any number of offers. The shared code is looked up only for
# shared offers (CASE is lazy), so a unique offer's 100,000 codes are never read row by row;
# every count reads an index only (codes_offer, the claims (offer_id, visitor_id) key,
# redemptions_offer).
_OFFER_SUMMARY_SQL = """
SELECT o.*,
  (SELECT name FROM campaigns c WHERE c.id = o.campaign_id) AS campaign_name,
  CASE WHEN o.kind = 'shared' THEN
    (SELECT code FROM codes c WHERE c.offer_id = o.id AND c.kind = 'shared' LIMIT 1)
  END AS shared_code,
  (SELECT {location_list} FROM
    (SELECT location_code FROM offer_locations WHERE offer_id = o.id ORDER BY location_code) l
  ) AS location_list,
  (SELECT count(*) FROM codes c WHERE c.offer_id = o.id) AS issued,
  (SELECT count(*) FROM claims k WHERE k.offer_id = o.id) AS claimed,
  (SELECT count(*) FROM redemptions r WHERE r.offer_id = o.id AND r.voided_at IS NULL)
    AS redeemed
FROM offers o WHERE {where} ORDER BY {order}
"""


def _offer_summaries(db: Database, where: str, params: tuple, order: str = "o.id") -> list[dict]:
    listed = joined(db, "location_code", "' '")
    rows = _all(
        db, _OFFER_SUMMARY_SQL.format(location_list=listed, where=where, order=order), params
    )
    for row in rows:
        listed = row.pop("location_list")
        row["location_codes"] = listed.split(" ") if listed else []
    return rows


def campaign_offers(db: Database, campaign_id: int) -> list[dict]:
    """Every offer of a campaign with shared code, locations, codes issued, claimed, redeemed."""
    return _offer_summaries(db, "o.campaign_id = ?", (campaign_id,))


def all_offers(db: Database) -> list[dict]:
    """Every offer, newest first, as campaign_offers() gives them."""
    return _offer_summaries(db, "1 = 1", (), order="o.id DESC")


def offer_summary(db: Database, offer_id: int) -> dict | None:
    """One offer as campaign_offers() gives it, or None."""
    rows = _offer_summaries(db, "o.id = ?", (offer_id,))
    return rows[0] if rows else None


def offer_location_codes(db: Database, offer_id: int) -> list[str]:
    return [
        r[0]
        for r in db.execute(
            "SELECT location_code FROM offer_locations WHERE offer_id = ? ORDER BY location_code",
            (offer_id,),
        ).fetchall()
    ]


def set_offer_locations(db: Database, offer_id: int, codes: list[str]) -> None:
    db.execute("DELETE FROM offer_locations WHERE offer_id = ?", (offer_id,))
    db.conn.executemany(
        "INSERT INTO offer_locations (offer_id, location_code) VALUES (?, ?)",
        [(offer_id, code) for code in codes],
    )


def shared_code_of(db: Database, offer_id: int) -> str | None:
    row = db.execute(
        "SELECT code FROM codes WHERE offer_id = ? AND kind = 'shared'", (offer_id,)
    ).fetchone()
    return row[0] if row else None


# Codes -------------------------------------------------------------------------------------


def insert_batch(db: Database, values: dict[str, Any]) -> int:
    return _insert(db, "code_batches", values)


def insert_codes(db: Database, rows: list[tuple]) -> int:
    """rows: (code, offer_id, kind, batch_id, lead_id, recipient_id, created_at).

    Returns how many were new; a (vanishingly rare) collision is skipped for the caller to
    make up.
    """
    # executemany's rowcount is the sum over all rows on both sqlite3 and psycopg.
    return db.conn.executemany(
        "INSERT INTO codes (code, offer_id, kind, batch_id, lead_id, recipient_id,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        rows,
    ).rowcount


def code_exists(db: Database, code: str) -> bool:
    return db.execute("SELECT 1 FROM codes WHERE code = ?", (code,)).fetchone() is not None


def get_code(db: Database, code: str) -> dict | None:
    return _one(db, "SELECT * FROM codes WHERE code = ?", (code,))


def recipients_without_code(db: Database, link_id: int, offer_id: int) -> list[tuple]:
    """(recipient_id, lead_id) of a link's recipients that have no code for this offer yet."""
    return db.execute(
        "SELECT r.id, r.lead_id FROM recipients r WHERE r.link_id = ? AND NOT EXISTS ("
        " SELECT 1 FROM codes c WHERE c.offer_id = ? AND c.lead_id = r.lead_id)"
        " ORDER BY r.id",
        (link_id, offer_id),
    ).fetchall()


def list_batches(db: Database, offer_id: int) -> list[dict]:
    return _all(db, "SELECT * FROM code_batches WHERE offer_id = ? ORDER BY id", (offer_id,))


def get_batch(db: Database, batch_id: int) -> dict | None:
    return _one(db, "SELECT * FROM code_batches WHERE id = ?", (batch_id,))


def batch_codes(db: Database, offer_id: int, batch_id: int, limit: int, offset: int) -> list[str]:
    """A page of a batch's codes, in the order they were made (the export's order)."""
    return [
        r[0]
        for r in db.execute(
            "SELECT code FROM codes WHERE offer_id = ? AND batch_id = ? ORDER BY rowid "
            "LIMIT ? OFFSET ?",
            (offer_id, batch_id, limit, offset),
        ).fetchall()
    ]


def iter_codes(db: Database, offer_id: int, batch_id: int | None):
    """Codes of an offer (or one batch) with the lead's email, for export; a cursor."""
    sql = (
        "SELECT c.code, c.kind, c.batch_id, c.lead_id, l.email, c.recipient_id,"
        " c.redemption_count, c.created_at FROM codes c LEFT JOIN leads l ON l.id = c.lead_id"
        " WHERE c.offer_id = ?"
    )
    params: list[Any] = [offer_id]
    if batch_id is not None:
        sql += " AND c.batch_id = ?"
        params.append(batch_id)
    return db.conn.execute(sql + " ORDER BY c.rowid", params)


def personal_code(db: Database, offer_id: int, lead_id: str) -> str | None:
    row = db.execute(
        "SELECT code FROM codes WHERE offer_id = ? AND lead_id = ? AND kind = 'unique' "
        "ORDER BY rowid LIMIT 1",
        (offer_id, lead_id),
    ).fetchone()
    return row[0] if row else None


# Claims ------------------------------------------------------------------------------------


def find_claim(db: Database, offer_id: int, visitor_id: str) -> dict | None:
    return _one(
        db, "SELECT * FROM claims WHERE offer_id = ? AND visitor_id = ?", (offer_id, visitor_id)
    )


def lead_claims(db: Database, offer_id: int, lead_id: str) -> list[dict]:
    return _all(
        db,
        "SELECT * FROM claims WHERE offer_id = ? AND lead_id = ? ORDER BY id",
        (offer_id, lead_id),
    )


def get_claim(db: Database, claim_id: int) -> dict | None:
    return _one(db, "SELECT * FROM claims WHERE id = ?", (claim_id,))


def claim_of_code(db: Database, code: str) -> dict | None:
    return _one(db, "SELECT * FROM claims WHERE code = ?", (code,))


def insert_claim(db: Database, values: dict[str, Any]) -> int | None:
    """Insert; None when this visitor already claimed the offer (a concurrent double tap)."""
    columns = ", ".join(values)
    marks = ", ".join(f":{k}" for k in values)
    cursor = db.execute(
        f"INSERT INTO claims ({columns}) VALUES ({marks}) "
        "ON CONFLICT (offer_id, visitor_id) DO NOTHING RETURNING id",
        values,
    )
    row = cursor.fetchone()
    return row[0] if row else None


def insert_event_row(db: Database, values: dict[str, Any]) -> None:
    """An event that is not a redirect hit (claim, redemption, void, booth scan)."""
    _insert_row(db, "events", values)


# Redemptions -------------------------------------------------------------------------------


def take_redemption(db: Database, code: str) -> bool:
    """The one atomic conditional statement behind exactly-once redemption.

    It bumps the count only while it is under the offer's limit (none: unlimited), so of any
    number of concurrent attempts on a single-use code exactly one sees rowcount 1. A personal
    code claimed from a shared offer's landing page is single-use: the shared offer's limit
    (often none) is for its printed shared code, not for codes minted one per visitor.
    """
    cursor = db.execute(
        "UPDATE codes SET redemption_count = redemption_count + 1 WHERE code = ? AND "
        "redemption_count < (SELECT CASE WHEN offers.kind = 'shared' AND codes.kind = 'unique' "
        "THEN 1 ELSE coalesce(offers.max_redemptions_per_code, 9223372036854775807) END "
        "FROM offers WHERE offers.id = codes.offer_id)",
        (code,),
    )
    return cursor.rowcount == 1


def give_back_redemption(db: Database, code: str) -> None:
    db.execute(
        "UPDATE codes SET redemption_count = redemption_count - 1 "
        "WHERE code = ? AND redemption_count > 0",
        (code,),
    )


def insert_redemption(db: Database, values: dict[str, Any]) -> int:
    return _insert(db, "redemptions", values)


def get_redemption(db: Database, redemption_id: int) -> dict | None:
    return _one(db, "SELECT * FROM redemptions WHERE id = ?", (redemption_id,))


def last_redemption(db: Database, code: str) -> dict | None:
    return _one(
        db,
        "SELECT * FROM redemptions WHERE code = ? AND voided_at IS NULL "
        "ORDER BY redeemed_at DESC, id DESC LIMIT 1",
        (code,),
    )


def code_redemptions(db: Database, code: str) -> list[dict]:
    return _all(db, "SELECT * FROM redemptions WHERE code = ? ORDER BY id", (code,))


def recent_redemptions(db: Database, location_code: str, limit: int = 20) -> list[dict]:
    return _all(
        db,
        "SELECT r.*, o.title AS offer_title, o.code_prefix, c.kind AS code_kind"
        " FROM redemptions r JOIN offers o ON o.id = r.offer_id JOIN codes c ON c.code = r.code"
        " WHERE r.location_code = ? ORDER BY r.id DESC LIMIT ?",
        (location_code, limit),
    )


def void_redemption(db: Database, redemption_id: int, now: str, reason: str) -> bool:
    cursor = db.execute(
        "UPDATE redemptions SET voided_at = ?, void_reason = ? WHERE id = ? AND voided_at IS NULL",
        (now, reason, redemption_id),
    )
    return cursor.rowcount == 1


def find_idempotent(db: Database, location_code: str, key: str) -> dict | None:
    return _one(
        db,
        "SELECT * FROM idempotency_keys WHERE location_code = ? AND key = ?",
        (location_code, key),
    )


def save_idempotent(db: Database, values: dict[str, Any]) -> None:
    _insert_row(db, "idempotency_keys", values)


# Guessing limits ---------------------------------------------------------------------------


def count_failure(db: Database, bucket: str, window: int) -> int:
    """Add a failed lookup to a one-minute bucket; return the bucket's count."""
    return db.execute(
        'INSERT INTO rate_limits (bucket, "window", count) VALUES (?, ?, 1) '
        'ON CONFLICT (bucket, "window") DO UPDATE SET count = rate_limits.count + 1 '
        "RETURNING count",
        (bucket, window),
    ).fetchone()[0]


def failures(db: Database, bucket: str, window: int) -> int:
    row = db.execute(
        'SELECT count FROM rate_limits WHERE bucket = ? AND "window" = ?', (bucket, window)
    ).fetchone()
    return row[0] if row else 0


def prune_rate_limits(db: Database, before_window: int) -> None:
    db.execute('DELETE FROM rate_limits WHERE "window" < ?', (before_window,))


def log_security(db: Database, at: str, kind: str, subject: str, detail: str) -> None:
    db.execute(
        "INSERT INTO security_log (at, kind, subject, detail) VALUES (?, ?, ?, ?)",
        (at, kind, subject, detail),
    )


def security_log(db: Database, limit: int = 100) -> list[dict]:
    return _all(db, "SELECT * FROM security_log ORDER BY id DESC LIMIT ?", (limit,))


# Booth scans -------------------------------------------------------------------------------


def get_booth_scan(db: Database, scan_id: str) -> dict | None:
    return _one(db, "SELECT * FROM booth_scans WHERE id = ?", (scan_id,))


def insert_booth_scan(db: Database, values: dict[str, Any]) -> bool:
    """Insert; False when the scan_id is already stored (an offline queue replaying)."""
    columns = ", ".join(values)
    marks = ", ".join(f":{k}" for k in values)
    cursor = db.execute(
        f"INSERT INTO booth_scans ({columns}) VALUES ({marks}) ON CONFLICT (id) DO NOTHING",
        values,
    )
    return cursor.rowcount == 1


def match_booth_scan(db: Database, scan_id: str, lead_id: str) -> None:
    db.execute("UPDATE booth_scans SET lead_id = ? WHERE id = ?", (lead_id, scan_id))
    db.execute(
        "UPDATE events SET lead_id = ? WHERE id = (SELECT event_id FROM booth_scans WHERE id = ?)",
        (lead_id, scan_id),
    )


def list_booth_scans(
    db: Database, location_code: str | None, unmatched: bool, limit: int
) -> list[dict]:
    sql = "SELECT * FROM booth_scans WHERE 1 = 1"
    params: list[Any] = []
    if location_code:
        sql += " AND location_code = ?"
        params.append(location_code)
    if unmatched:
        sql += " AND lead_id IS NULL"
    return _all(db, sql + " ORDER BY received_at DESC LIMIT ?", [*params, limit])


def booth_scans_with_leads(db: Database, location_code: str, start: str, end: str) -> list[dict]:
    """A location's scans with scanned_at in [start, end), oldest first, with the lead's name,
    email and reference code and the scanning key's label."""
    return _all(
        db,
        "SELECT b.*, l.name AS lead_name, l.email AS lead_email, l.ref_code AS lead_ref_code, "
        "k.label AS staff_key FROM booth_scans b LEFT JOIN leads l ON l.id = b.lead_id "
        "LEFT JOIN staff_keys k ON k.id = b.staff_key_id "
        "WHERE b.location_code = ? AND b.scanned_at >= ? AND b.scanned_at < ? "
        "ORDER BY b.scanned_at, b.id",
        (location_code, start, end),
    )


def booth_scan_times(db: Database, location_code: str) -> list[str]:
    """Every scan time at a location (a booth's few thousand), for its list of days."""
    return [
        r[0]
        for r in db.execute(
            "SELECT scanned_at FROM booth_scans WHERE location_code = ? ORDER BY scanned_at DESC",
            (location_code,),
        ).fetchall()
    ]


def find_leads_by_name(db: Database, name: str, limit: int = 5) -> list[dict]:
    return _all(
        db,
        "SELECT * FROM leads WHERE lower(name) = lower(?) AND erased_at IS NULL "
        "ORDER BY created_at LIMIT ?",
        (name, limit),
    )
