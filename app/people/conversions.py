"""Conversions: every funnel stage a site or CRM reports, tied to a click, visitor or lead."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from sqlite_utils import Database

from app import storage
from app.core import clock, money, validation
from app.core.error_codes import ErrorCode
from app.core.errors import NotFound, ValidationError
from app.people import leads

_FIELDS = {
    "type",
    "click_id",
    "visitor_id",
    "lead_id",
    "email",
    "value",
    "currency",
    "occurred_at",
    "external_id",
    "properties",
}
_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_PROPERTIES_BYTES = 16 * 1024


def record(db: Database, payload: dict, *, default_currency: str) -> tuple[dict, bool]:
    """Store a conversion; return (row, created). A repeated external_id returns the original."""
    validation.require_object(payload)
    validation.reject_unknown(payload, _FIELDS)
    kind = validation.text(payload, "type", required=True, max_len=40).lower()
    if not _TYPE_RE.match(kind):
        raise ValidationError(
            "'type' is a stage name: lowercase letters, digits, '_' or '-' (e.g. sale).",
            field="type",
        )
    external_id = validation.text(payload, "external_id")
    if external_id is not None:
        existing = storage.find_conversion_by_external_id(db, external_id)
        if existing is not None:
            return existing, False

    click_id = validation.text(payload, "click_id", max_len=64)
    visitor_id = validation.text(payload, "visitor_id", max_len=64)
    lead_id = validation.text(payload, "lead_id", max_len=64)
    email = validation.text(payload, "email", max_len=254)
    if not any((click_id, visitor_id, lead_id, email)):
        raise ValidationError(
            "Name who converted: one of 'click_id', 'visitor_id', 'lead_id' or 'email'.",
            field="click_id",
            code=ErrorCode.IDENTIFIER_REQUIRED,
        )

    click = None
    if click_id is not None:
        click = storage.get_event(db, click_id)
        if click is None:
            raise ValidationError(
                f"No click with id '{click_id}'.", field="click_id", code=ErrorCode.UNKNOWN_CLICK
            )
    if visitor_id is not None:
        visitor_id = visitor_id.lower()
        if not _UUID_RE.match(visitor_id) or storage.visitor_first_seen(db, visitor_id) is None:
            raise ValidationError(
                f"No visitor with id '{visitor_id}'.",
                field="visitor_id",
                code=ErrorCode.UNKNOWN_VISITOR,
            )
    if lead_id is not None:
        lead_id = leads.existing_id(db, lead_id)

    now = clock.utcnow()
    occurred_text = validation.timestamp(payload, "occurred_at")
    occurred = clock.from_iso(occurred_text) if occurred_text else now
    if occurred > now + FUTURE_TOLERANCE:
        raise ValidationError(
            "'occurred_at' is more than 5 minutes in the future; send the time it happened "
            "(with its UTC offset).",
            field="occurred_at",
            code=ErrorCode.IN_FUTURE,
        )
    occurred_text = clock.to_iso(occurred)
    if click is not None and occurred_text < click["at"]:
        raise ValidationError(
            f"'occurred_at' ({occurred_text}) is before the click it names ({click['at']}).",
            field="occurred_at",
            code=ErrorCode.BEFORE_CLICK,
        )

    currency = validation.currency(payload)
    value_minor = validation.amount(payload, "value", currency or default_currency)
    if value_minor is not None:
        currency = currency or default_currency

    properties = payload.get("properties")
    if properties is not None:
        if not isinstance(properties, dict):
            raise ValidationError("'properties' must be a JSON object.", field="properties")
        properties_text = json.dumps(properties, ensure_ascii=False)
        if len(properties_text.encode()) > MAX_PROPERTIES_BYTES:
            raise ValidationError("'properties' is larger than 16 KiB.", field="properties")
    else:
        properties_text = None

    # Who: an explicit lead or email wins; then the click's lead; then the visitor's lead.
    if visitor_id is None and click is not None:
        visitor_id = click["visitor_id"]
    if lead_id is None and email is not None:
        lead_id = leads.find_or_create_by_email(db, email)["id"]
    if lead_id is None and click is not None:
        lead_id = click["lead_id"]
    if lead_id is None and visitor_id is not None:
        lead_id = storage.lead_of_visitor(db, visitor_id)

    received = clock.to_iso(now)
    conversion_id = storage.insert_conversion(
        db,
        {
            "type": kind,
            "occurred_at": occurred_text,
            "received_at": received,
            "lead_id": lead_id,
            "visitor_id": visitor_id,
            "click_id": click["id"] if click else None,
            "campaign_id": click["campaign_id"] if click else None,
            "value_minor": value_minor,
            "currency": currency,
            "external_id": external_id,
            "properties": properties_text,
        },
    )
    if conversion_id is None:  # the same external_id won a race a moment ago
        assert external_id is not None
        existing = storage.find_conversion_by_external_id(db, external_id)
        assert existing is not None
        return existing, False
    if lead_id is not None:
        if visitor_id is not None:
            storage.link_visitor(db, visitor_id, lead_id, received, "conversion")
        storage.touch_lead(db, lead_id, occurred_text)
    row = storage.get_conversion(db, conversion_id)
    assert row is not None
    return row, True


def get(db: Database, conversion_id: int) -> dict:
    row = storage.get_conversion(db, conversion_id)
    if row is None:
        raise NotFound(
            f"No conversion with id {conversion_id}.", code=ErrorCode.CONVERSION_NOT_FOUND
        )
    return row


def to_json(row: dict) -> dict:
    return {
        "id": row["id"],
        "type": row["type"],
        "lead_id": row["lead_id"],
        "visitor_id": row["visitor_id"],
        "click_id": row["click_id"],
        "campaign_id": row["campaign_id"],
        "value": money.to_decimal_string(row["value_minor"], row["currency"]),
        "currency": row["currency"],
        "occurred_at": row["occurred_at"],
        "received_at": row["received_at"],
        "external_id": row["external_id"],
        "properties": json.loads(row["properties"]) if row["properties"] else None,
    }
