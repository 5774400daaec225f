"""Leads: one GUID per person, the browsers stitched to it, its timeline, and erasure."""

from __future__ import annotations

import json
import re
import uuid

from sqlite_utils import Database

from app import storage
from app.core import clock, money
from app.core.error_codes import ErrorCode
from app.core.errors import NotFound, ValidationError

_ATOM = r"[^@\s\"<>(),;:\\\[\]]"
_EMAIL_RE = re.compile(rf"^{_ATOM}+@{_ATOM}+\.{_ATOM}{{2,}}$")


def normalize_email(raw: object) -> str | None:
    """Trim and lowercase the domain; None when it is not a plausible address."""
    if not isinstance(raw, str):
        return None
    email = raw.strip()
    if len(email) > 254 or not _EMAIL_RE.match(email):
        return None
    local, _, domain = email.rpartition("@")
    if len(local) > 64 or domain.startswith((".", "-")) or ".." in domain:
        return None
    return f"{local}@{domain.lower()}"


def email_key(email: str) -> str:
    """Identity key: addresses differing only in case are one person in practice."""
    return email.lower()


def new_id() -> str:
    return str(uuid.uuid4())


def get(db: Database, lead_id: str) -> dict:
    lead_id = lead_id.strip().lower() if isinstance(lead_id, str) else lead_id
    row = storage.get_lead(db, lead_id) if _is_guid(lead_id) else None
    if row is None:
        raise NotFound(f"No lead with id {lead_id}.", code=ErrorCode.LEAD_NOT_FOUND)
    return row


def badge_subject(db: Database, lead_id: str) -> dict:
    """The lead a badge is drawn for; an erased lead has none, so it is 404 like an unknown
    one (a badge would hand out a code that still names a person who asked to be forgotten)."""
    row = get(db, lead_id)
    if row["erased_at"] is not None:
        raise NotFound(f"No lead with id {row['id']}.", code=ErrorCode.LEAD_NOT_FOUND)
    return row


def existing_id(db: Database, lead_id: str, field: str = "lead_id") -> str:
    """The canonical id of a lead named in a request body; 422 `unknown_lead` otherwise."""
    try:
        return get(db, lead_id)["id"]
    except NotFound:
        raise ValidationError(
            f"No lead with id '{lead_id}'.", field=field, code=ErrorCode.UNKNOWN_LEAD
        ) from None


def _is_guid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except (ValueError, AttributeError, TypeError):
        return False


def find_by_email(db: Database, email: str) -> dict | None:
    normalized = normalize_email(email)
    if normalized is None:
        raise ValidationError(
            "'email' is not a valid email address.", field="email", code=ErrorCode.INVALID_EMAIL
        )
    return storage.find_lead_by_email_key(db, email_key(normalized))


def find_or_create_by_email(db: Database, email: str, field: str = "email") -> dict:
    normalized = normalize_email(email)
    if normalized is None:
        raise ValidationError(
            f"'{field}' is not a valid email address.", field=field, code=ErrorCode.INVALID_EMAIL
        )
    return storage.insert_lead_if_new(
        db,
        {
            "id": new_id(),
            "email": normalized,
            "email_key": email_key(normalized),
            "name": None,
            "external_id": None,
            "attributes": None,
            "now": clock.now_iso(),
        },
    )


def to_json(row: dict, db: Database | None = None) -> dict:
    out = {
        "id": row["id"],
        "email": row["email"],
        "name": row["name"],
        "external_id": row["external_id"],
        "attributes": json.loads(row["attributes"]) if row["attributes"] else {},
        "first_seen": row["first_seen"],
        "last_seen": row["last_seen"],
        "erased_at": row["erased_at"],
    }
    if db is not None:
        out["visitor_ids"] = storage.lead_visitor_ids(db, row["id"])
    return out


def timeline(db: Database, lead_id: str) -> list[dict]:
    """Every touch and conversion in time order: the audit trail from first touch to sale."""
    items = []
    for row in storage.lead_timeline(db, lead_id):
        item = {
            "id": row["id"],
            "type": row["type"],
            "at": row["at"],
            "campaign_id": row["campaign_id"],
            "channel": row["channel"],
            "link_id": row["link_id"],
            "visitor_id": row["visitor_id"],
        }
        if row["type"] == "conversion":
            item["stage"] = row["stage"]
            item["value"] = money.to_decimal_string(row["value_minor"], row["currency"])
            item["currency"] = row["currency"]
        else:
            item["store_code"] = row["store_code"]
            item["is_bot"] = bool(row["is_bot"])
            item["bot_reason"] = row["bot_reason"]
            item["outcome"] = row["outcome"]
        items.append(item)
    return items


def erase(db: Database, lead_id: str) -> dict:
    """Erase personal data (a data-protection request), keeping anonymous counts."""
    get(db, lead_id)
    storage.erase_lead(db, lead_id, clock.now_iso())
    return get(db, lead_id)
