"""Booth scans: whatever a booth phone scanned, matched to a lead when we can, never lost."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from app import storage
from app.clicks.link_tokens import BadgeTokens, LinkTokens
from app.core import clock, validation
from app.core.error_codes import ErrorCode
from app.core.errors import Conflict, NotFound, ValidationError
from app.coupons.redemptions import Actor, resolve_location
from app.people import leads, ref_codes

_FIELDS = {"code", "location", "scan_id", "scanned_at", "rating", "note"}
_TOKEN_IN_URL = re.compile(r"/[rq]/([A-Za-z0-9_-]{27})(?:[/?#.]|$)")


def match(
    db: Database,
    text: str,
    link_tokens: LinkTokens,
    badges: BadgeTokens,
    source: str | None = None,
) -> tuple[str | None, int | None]:
    """(lead_id, campaign_id) for scanned text: a badge, a personal link, a lead id, a
    reference code, an email (a new email makes a lead with `source`)."""
    text = text.strip()
    lead_id = badges.verify(text)
    if lead_id and storage.get_lead(db, lead_id):
        return lead_id, None
    found = _TOKEN_IN_URL.search(text)
    token = found.group(1) if found else text
    ref = link_tokens.verify(token)
    if ref is not None and ref.recipient_id is not None:
        lead_id = storage.recipient_lead(db, ref.recipient_id, ref.link_id)
        link = storage.get_link(db, ref.link_id)
        if lead_id:
            return lead_id, link["campaign_id"] if link else None
    try:
        candidate = str(uuid.UUID(text))
    except ValueError:
        candidate = None
    if candidate and storage.get_lead(db, candidate):
        return candidate, None
    reading = ref_codes.read(text)
    if reading.code is not None:
        lead = storage.find_lead_by_ref_code(db, reading.code)
        if lead is not None:
            return lead["id"], None
    if leads.normalize_email(text):
        return leads.find_or_create_by_email(db, text, source=source)["id"], None
    return None, None


def _scan_id(payload: dict) -> str:
    scan_id = validation.text(payload, "scan_id", required=True, max_len=64)
    try:
        return str(uuid.UUID(scan_id))
    except ValueError:
        raise ValidationError(
            "Scan id must be a UUID made by the device.", field="scan_id"
        ) from None


def record(
    db: Database, actor: Actor, payload: dict, link_tokens: LinkTokens, badges: BadgeTokens
) -> tuple[dict, bool]:
    """Store a scan; returns (row, created). The same scan_id again returns the original."""
    validation.require_object(payload)
    check = validation.Collector()
    check(validation.reject_unknown, payload, _FIELDS)
    scan_id = check(_scan_id, payload)
    requested = check(validation.text, payload, "location", max_len=64)
    check.done()  # a scan already stored is answered before its other fields are read
    assert scan_id is not None  # None means refused, and check.done() raised for it
    location = resolve_location(db, actor, requested)
    existing = storage.get_booth_scan(db, scan_id)
    if existing is not None:
        if existing["location_code"] != location["code"]:
            raise Conflict(
                "This scan_id belongs to a scan at another location.",
                field="scan_id",
                code=ErrorCode.SCAN_ID_TAKEN,
            )
        return existing, False
    text = check(validation.text, payload, "code", required=True, max_len=2000)
    scanned_at = check(validation.timestamp, payload, "scanned_at")
    if scanned_at is None and check.ok("scanned_at"):
        check.add(
            "Scan time (the device's clock) is required.",
            field="scanned_at",
            code=ErrorCode.REQUIRED,
        )
    rating = check(validation.integer, payload, "rating", minimum=1)
    if rating is not None and rating > 5:
        check.add("Rating is 1 to 5.", field="rating")
    note = check(validation.text, payload, "note", max_len=2000, multiline=True)
    check.done()
    assert text is not None and scanned_at is not None  # as scan_id above
    lead_id, campaign_id = match(db, text, link_tokens, badges, f"booth:{location['code']}")
    now = clock.now_iso()
    event_id = clock.new_event_id()
    created = storage.insert_booth_scan(
        db,
        {
            "id": scan_id,
            "location_code": location["code"],
            "raw_code": text,
            "lead_id": lead_id,
            "scanned_at": scanned_at,
            "received_at": now,
            "rating": rating,
            "note": note,
            "staff_key_id": actor.staff_key_id,
            "event_id": event_id,
        },
    )
    if created:
        # The touch happened when the device scanned, not when a flaky network delivered it.
        storage.insert_event_row(
            db,
            {
                "id": event_id,
                "type": "booth_scan",
                "at": scanned_at,
                "campaign_id": campaign_id,
                "store_code": location["code"],
                "lead_id": lead_id,
                "outcome": "scanned",
            },
        )
        if lead_id:
            storage.touch_lead(db, lead_id, scanned_at)
    row = storage.get_booth_scan(db, scan_id)
    assert row is not None  # inserted now or before
    return row, created


def assign(db: Database, scan_id: str, payload: dict) -> dict:
    """Match an unmatched scan to a lead later (by lead_id, ref_code or email)."""
    row = storage.get_booth_scan(db, scan_id)
    if row is None:
        raise NotFound(f"No scan {scan_id}.", code=ErrorCode.SCAN_NOT_FOUND)
    validation.require_object(payload)
    validation.reject_unknown(payload, {"lead_id", "email", "ref_code"})
    lead_id = validation.text(payload, "lead_id", max_len=64)
    email = validation.text(payload, "email", max_len=254)
    ref_code = validation.text(payload, "ref_code", max_len=40)
    if lead_id:
        lead_id = leads.existing_id(db, lead_id)
    elif ref_code:
        lead_id = leads.by_ref_code(db, ref_code)["id"]
    elif email:
        source = f"booth:{row['location_code']}"
        lead_id = leads.find_or_create_by_email(db, email, source=source)["id"]
    else:
        raise ValidationError(
            "Give 'lead_id', 'ref_code' or 'email'.", field="lead_id", code=ErrorCode.REQUIRED
        )
    storage.match_booth_scan(db, scan_id, lead_id)
    storage.touch_lead(db, lead_id, row["scanned_at"])
    matched = storage.get_booth_scan(db, scan_id)
    assert matched is not None
    return matched


def who(db: Database, row: dict) -> str | None:
    """Who a scan is, in words for the booth: the lead's name, else email, else reference
    code; None when it matched nobody."""
    if row["lead_id"] is None:
        return None
    lead = storage.get_lead(db, row["lead_id"])
    if lead is None or lead["erased_at"] is not None:
        return "a known lead"
    if lead["name"] or lead["email"]:
        return str(lead["name"] or lead["email"])
    return ref_codes.display(lead["ref_code"]) if lead["ref_code"] else "a known lead"


def to_json(row: dict) -> dict:
    return {
        "id": row["id"],
        "location": row["location_code"],
        "code": row["raw_code"],
        "lead_id": row["lead_id"],
        "matched": row["lead_id"] is not None,
        "scanned_at": row["scanned_at"],
        "received_at": row["received_at"],
        "rating": row["rating"],
        "note": row["note"],
    }


# The booth's follow-up list -----------------------------------------------------------------


def day_bounds(day: date, timezone: str) -> tuple[str, str]:
    """The UTC [start, end) of a calendar day at a location."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, time.min, zone)
    return clock.to_iso(start), clock.to_iso(start + timedelta(days=1))


def days_with_scans(db: Database, location: dict) -> list[tuple[date, int]]:
    """(local day, scans) for every day the location scanned, newest first."""
    zone = ZoneInfo(location["timezone"])
    counts: dict[date, int] = {}
    for at in storage.booth_scan_times(db, location["code"]):
        day = clock.from_iso(at).astimezone(zone).date()
        counts[day] = counts.get(day, 0) + 1
    return sorted(counts.items(), reverse=True)


def of_day(db: Database, location: dict, day: date) -> list[dict]:
    """The scans of a local day, for the sales team: who (or the raw text), rating, note."""
    start, end = day_bounds(day, location["timezone"])
    zone = ZoneInfo(location["timezone"])
    out = []
    for row in storage.booth_scans_with_leads(db, location["code"], start, end):
        item = to_json(row)
        item["local_time"] = clock.from_iso(row["scanned_at"]).astimezone(zone).strftime("%H:%M")
        item["lead_name"] = row["lead_name"]
        item["lead_email"] = row["lead_email"]
        item["lead_ref_code"] = (
            ref_codes.display(row["lead_ref_code"]) if row["lead_ref_code"] else None
        )
        item["staff_key"] = row["staff_key"]
        out.append(item)
    return out


CSV_COLUMNS = (
    "scanned_at",
    "local_time",
    "location",
    "lead_id",
    "ref_code",
    "name",
    "email",
    "scanned_text",
    "rating",
    "note",
    "staff_key",
)


def csv_rows(items: list[dict]) -> list[dict]:
    """The day's scans as the sales team's CSV rows (the raw text only when unmatched)."""
    return [
        {
            "scanned_at": item["scanned_at"],
            "local_time": item["local_time"],
            "location": item["location"],
            "lead_id": item["lead_id"] or "",
            "ref_code": item["lead_ref_code"] or "",
            "name": item["lead_name"] or "",
            "email": item["lead_email"] or "",
            "scanned_text": "" if item["matched"] else item["code"],
            "rating": item["rating"] if item["rating"] is not None else "",
            "note": item["note"] or "",
            "staff_key": item["staff_key"] or "",
        }
        for item in items
    ]


def match_by_search(db: Database, scan_id: str, text: str) -> dict:
    """Match an unmatched scan to the lead a person searched for: an email, a reference code
    or an exact name (several leads with that name: 422 asking for the email instead)."""
    text = (text or "").strip()
    if not text:
        raise ValidationError(
            "Type the person's email, reference code or name.",
            field="lead",
            code=ErrorCode.REQUIRED,
        )
    if "@" in text:
        return assign(db, scan_id, {"email": text})
    if ref_codes.looks_like(text):
        try:
            return assign(db, scan_id, {"ref_code": text})
        except ValidationError as exc:
            raise ValidationError(exc.message, field="lead", code=exc.code) from None
    found = storage.find_leads_by_name(db, text)
    if len(found) == 1:
        return assign(db, scan_id, {"lead_id": found[0]["id"]})
    if not found:
        raise ValidationError(
            f"No lead is called '{text[:60]}'. Try their email or reference code.",
            field="lead",
            code=ErrorCode.UNKNOWN_LEAD,
        )
    raise ValidationError(
        f"Several leads are called '{text[:60]}': use the email or reference code.",
        field="lead",
    )
