"""Storage for offline channels: campaigns' tracking numbers and the calls made to them."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from .core import _all, _one

# Tracking numbers --------------------------------------------------------------------------


def get_phone_number(db: Database, number: str) -> dict | None:
    return _one(db, "SELECT * FROM phone_numbers WHERE number = ?", (number,))


def insert_phone_number(db: Database, values: dict[str, Any]) -> bool:
    """False when the number is already some campaign's (one campaign at a time)."""
    row = db.execute(
        "INSERT INTO phone_numbers (number, campaign_id, label, created_at) "
        "VALUES (:number, :campaign_id, :label, :created_at) "
        "ON CONFLICT (number) DO NOTHING RETURNING number",
        values,
    ).fetchone()
    return row is not None


def update_phone_number_label(db: Database, number: str, label: str | None) -> None:
    db.execute("UPDATE phone_numbers SET label = ? WHERE number = ?", (label, number))


def phone_numbers_of_campaign(db: Database, campaign_id: int) -> list[dict]:
    return _all(
        db,
        "SELECT * FROM phone_numbers WHERE campaign_id = ? ORDER BY created_at, number",
        (campaign_id,),
    )


def delete_phone_number(db: Database, campaign_id: int, number: str) -> bool:
    return (
        db.execute(
            "DELETE FROM phone_numbers WHERE campaign_id = ? AND number = ?",
            (campaign_id, number),
        ).rowcount
        > 0
    )


# Calls -------------------------------------------------------------------------------------


def find_call_by_external_id(db: Database, external_id: str) -> dict | None:
    return _one(db, "SELECT * FROM calls WHERE external_id = ?", (external_id,))


def insert_call(db: Database, values: dict[str, Any]) -> int:
    columns = ", ".join(values)
    marks = ", ".join(f":{k}" for k in values)
    return int(
        db.execute(
            f"INSERT INTO calls ({columns}) VALUES ({marks}) RETURNING id", values
        ).fetchone()[0]
    )


def get_call(db: Database, call_id: int) -> dict | None:
    return _one(db, "SELECT * FROM calls WHERE id = ?", (call_id,))


def list_calls(db: Database, *, after_id: int, limit: int, filters: dict[str, Any]) -> list[dict]:
    where = ["id > :after"]
    params: dict[str, Any] = {"after": after_id, "limit": limit}
    for name in ("campaign_id", "lead_id"):
        if filters.get(name) is not None:
            where.append(f"{name} = :{name}")
            params[name] = filters[name]
    if filters.get("from"):
        where.append("started_at >= :from")
        params["from"] = filters["from"]
    if filters.get("to"):
        where.append("started_at <= :to")
        params["to"] = filters["to"]
    return _all(
        db,
        f"SELECT * FROM calls WHERE {' AND '.join(where)} ORDER BY id LIMIT :limit",
        params,
    )


# Partners ----------------------------------------------------------------------------------


def get_partner(db: Database, code: str) -> dict | None:
    return _one(db, "SELECT * FROM partners WHERE code = ?", (code,))


def insert_partner(db: Database, values: dict[str, Any]) -> bool:
    """False when the code is taken."""
    row = db.execute(
        "INSERT INTO partners (code, name, kind, commission_bp, contact_email, created_at, "
        "updated_at) VALUES (:code, :name, :kind, :commission_bp, :contact_email, :now, :now) "
        "ON CONFLICT (code) DO NOTHING RETURNING code",
        values,
    ).fetchone()
    return row is not None


def update_partner(db: Database, code: str, values: dict[str, Any], now: str) -> None:
    sets = ", ".join(f"{name} = :{name}" for name in values)
    db.execute(
        f"UPDATE partners SET {sets}, updated_at = :now WHERE code = :code",
        {**values, "now": now, "code": code},
    )


def list_partners(db: Database, kind: str | None = None) -> list[dict]:
    if kind is None:
        return _all(db, "SELECT * FROM partners ORDER BY code")
    return _all(db, "SELECT * FROM partners WHERE kind = ? ORDER BY code", (kind,))


# Offline touches ---------------------------------------------------------------------------


def insert_offline_touch(db: Database, values: dict[str, Any]) -> int:
    row = {
        "lead_id": None,
        "conversion_id": None,
        "campaign_id": None,
        "partner_code": None,
        "location_code": None,
        "staff_key_id": None,
        "created_by": None,
        **values,
    }
    return int(
        db.execute(
            "INSERT INTO offline_touches (kind, at, lead_id, conversion_id, campaign_id, "
            "partner_code, location_code, staff_key_id, created_at, created_by) VALUES (:kind, "
            ":at, :lead_id, :conversion_id, :campaign_id, :partner_code, :location_code, "
            ":staff_key_id, :created_at, :created_by) RETURNING id",
            row,
        ).fetchone()[0]
    )


def lead_has_touches(db: Database, lead_id: str) -> bool:
    """Any click, scan, claim, booth scan, campaign activity or offline touch of the lead or
    its browsers: what decides whether a partner was its origin."""
    row = db.execute(
        "SELECT EXISTS (SELECT 1 FROM events WHERE lead_id = :lead AND is_bot = 0) "
        "OR EXISTS (SELECT 1 FROM events e JOIN lead_visitors v ON v.visitor_id = e.visitor_id "
        "WHERE v.lead_id = :lead AND e.is_bot = 0) "
        "OR EXISTS (SELECT 1 FROM lead_activities WHERE lead_id = :lead "
        "AND campaign_id IS NOT NULL) "
        "OR EXISTS (SELECT 1 FROM offline_touches WHERE lead_id = :lead)",
        {"lead": lead_id},
    ).fetchone()
    return bool(row[0])


def offline_touches_of_lead(db: Database, lead_id: str) -> list[dict]:
    return _all(
        db,
        "SELECT t.*, p.name AS partner_name, c.channel FROM offline_touches t "
        "LEFT JOIN partners p ON p.code = t.partner_code "
        "LEFT JOIN campaigns c ON c.id = t.campaign_id "
        "WHERE t.lead_id = ? ORDER BY t.at, t.id",
        (lead_id,),
    )


# Till sales and pickups --------------------------------------------------------------------


def set_pickup(
    db: Database, conversion_id: int, at: str, location: str, staff_key_id: int | None
) -> bool:
    """Mark an order picked up; False when it already was (one pickup per order)."""
    return (
        db.execute(
            "UPDATE conversions SET picked_up_at = ?, picked_up_location = ?, "
            "picked_up_staff_key_id = ? WHERE id = ? AND picked_up_at IS NULL",
            (at, location, staff_key_id, conversion_id),
        ).rowcount
        > 0
    )


def campaigns_at_location(db: Database, location_code: str, now: str) -> list[dict]:
    """Campaigns running at a location today: an active link for it, or an offer valid there
    (an offer with no locations is valid everywhere) and not over; newest first."""
    return _all(
        db,
        "SELECT c.id, c.name, c.channel FROM campaigns c WHERE "
        "(c.ends_at IS NULL OR c.ends_at >= :now) AND (c.starts_at IS NULL OR c.starts_at <= :now) "
        "AND (EXISTS (SELECT 1 FROM links l WHERE l.campaign_id = c.id AND l.active = 1 "
        "AND l.store_code = :loc) OR EXISTS (SELECT 1 FROM offers o WHERE o.campaign_id = c.id "
        "AND (o.ends_at IS NULL OR o.ends_at >= :now) AND (o.starts_at IS NULL OR "
        "o.starts_at <= :now) AND (NOT EXISTS (SELECT 1 FROM offer_locations x WHERE "
        "x.offer_id = o.id) OR EXISTS (SELECT 1 FROM offer_locations x WHERE x.offer_id = o.id "
        "AND x.location_code = :loc)))) ORDER BY c.id DESC",
        {"loc": location_code, "now": now},
    )


def partner_statement(
    db: Database, code: str, start: str, end: str, types: list[str]
) -> tuple[list[dict], list[dict]]:
    """(leads the partner brought created in [start, end), revenue conversions in it that
    it brought: naming it, or of a lead it brought), oldest first."""
    leads = _all(
        db,
        "SELECT id, ref_code, name, email, stage, status, created_at FROM leads "
        "WHERE partner_code = ? AND created_at >= ? AND created_at < ? ORDER BY created_at, id",
        (code, start, end),
    )
    marks = ", ".join("?" * len(types)) or "NULL"
    sales = _all(
        db,
        "SELECT c.id, c.type, c.occurred_at, c.value_minor, c.currency, c.external_id, "
        "l.id AS lead_id, l.ref_code, l.name, l.email, l.stage, l.status FROM conversions c "
        "LEFT JOIN leads l ON l.id = c.lead_id WHERE c.voided_at IS NULL "
        f"AND c.occurred_at >= ? AND c.occurred_at < ? AND c.type IN ({marks}) "
        "AND (c.partner_code = ? OR l.partner_code = ?) ORDER BY c.occurred_at, c.id",
        (start, end, *types, code, code),
    )
    return leads, sales
