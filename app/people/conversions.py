"""Conversions: every funnel stage a site or CRM reports, tied to a click, visitor or lead."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import timedelta

from sqlite_utils import Database

from app import storage
from app.core import clock, money, validation
from app.core.db import immediate
from app.core.error_codes import ErrorCode
from app.core.errors import Conflict, NotFound, ValidationError
from app.core.runtime import PipelineRules
from app.people import leads, partners, phones, pipeline

_FIELDS = {
    "type",
    "click_id",
    "visitor_id",
    "lead_id",
    "email",
    "ref_code",
    "phone",
    "partner_code",
    "value",
    "currency",
    "occurred_at",
    "external_id",
    "properties",
}
_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
RESERVED_TYPES = frozenset({"lost"})
FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_PROPERTIES_BYTES = 16 * 1024


def record(
    db: Database,
    payload: dict,
    *,
    default_currency: str,
    default_country: str,
    rules: PipelineRules | None = None,
) -> tuple[dict, bool]:
    """Store a conversion; return (row, created). A repeated external_id returns the original.

    Its lead is restaged by `rules` (its stage, status and handoff time may move)."""
    rules = rules or PipelineRules()
    validation.require_object(payload)
    validation.reject_unknown(payload, _FIELDS)
    kind = validation.text(payload, "type", required=True, max_len=40).lower()
    if not _TYPE_RE.match(kind):
        raise ValidationError(
            "'type' is a stage name: lowercase letters, digits, '_' or '-' (e.g. sale).",
            field="type",
        )
    if kind in RESERVED_TYPES:
        raise ValidationError(
            "A loss is not a conversion: mark the lead lost with POST "
            "/api/v1/leads/<id>/lost {reason, note}.",
            field="type",
            code=ErrorCode.RESERVED_TYPE,
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
    ref_code = validation.text(payload, "ref_code", max_len=40)
    phone = phones.optional(payload, "phone", default_country)
    if not any((click_id, visitor_id, lead_id, email, ref_code, phone)):
        raise ValidationError(
            "Name who converted: one of 'click_id', 'visitor_id', 'lead_id', 'email', "
            "'ref_code' or 'phone'.",
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
    if lead_id is None and ref_code is not None:
        lead_id = leads.by_ref_code(db, ref_code)["id"]
    partner_code = None
    if payload.get("partner_code") is not None:
        partner_code = partners.existing_code(db, payload["partner_code"])

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
    if lead_id is None and phone is not None:
        lead_id = leads.find_or_create_by_phone(db, phone, source=None)["id"]
    if lead_id is None and click is not None:
        lead_id = click["lead_id"]
    if lead_id is None and visitor_id is not None:
        lead_id = storage.lead_of_visitor(db, visitor_id)

    received = clock.to_iso(now)
    values = {
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
        "partner_code": partner_code,
    }
    # With a partner, its touch is written with the conversion or not at all.
    with immediate(db) if partner_code else contextlib.nullcontext():
        conversion_id = storage.insert_conversion(db, values)
        if conversion_id is not None and partner_code is not None:
            partners.add_touch(
                db, partner_code, at=occurred_text, lead_id=lead_id, conversion_id=conversion_id
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
        with immediate(db):
            pipeline.restage(db, lead_id, rules)
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


def to_json(row: dict, db: Database | None = None) -> dict:
    """A conversion as the API shows it; with `db`, its audit trail of corrections."""
    out = {
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
        "voided_at": row["voided_at"],
        "void_reason": row["void_reason"],
        "partner_code": row["partner_code"],
        "location": row["location_code"],
        "picked_up_at": row["picked_up_at"],
        "picked_up_location": row["picked_up_location"],
    }
    if db is not None:
        out["changes"] = [
            {"at": c["at"], "by": c["by"], "changes": json.loads(c["changes"])}
            for c in storage.conversion_changes(db, row["id"])
        ]
    return out


def void(
    db: Database, conversion_id: int, payload: dict, rules: PipelineRules, by: str | None
) -> dict:
    """Void a conversion (a cancelled order, a refund, a test): it stays in the log and counts
    nowhere. Twice is 409 already_voided."""
    validation.require_object(payload)
    validation.reject_unknown(payload, {"reason"})
    reason = validation.text(payload, "reason", required=True, max_len=500)
    row = get(db, conversion_id)
    with immediate(db):
        if not storage.void_conversion(db, row["id"], clock.now_iso(), reason, by):
            raise Conflict("This conversion is already voided.", code=ErrorCode.ALREADY_VOIDED)
        for lead_id in _leads_of(db, row):
            pipeline.restage(db, lead_id, rules)
    return get(db, row["id"])


def update(
    db: Database, conversion_id: int, payload: dict, *, default_currency: str, by: str | None
) -> dict:
    """Correct value, currency or properties; each change is kept in the audit trail."""
    validation.require_object(payload)
    validation.reject_unknown(payload, {"value", "currency", "properties"})
    row = get(db, conversion_id)
    if row["voided_at"] is not None:
        raise Conflict("A voided conversion cannot be corrected.", code=ErrorCode.ALREADY_VOIDED)
    check = validation.Collector()
    values: dict = {}
    if "value" in payload or "currency" in payload:
        currency = check(validation.currency, payload) or row["currency"] or default_currency
        if "value" in payload:
            values["value_minor"] = check(validation.amount, payload, "value", currency)
        elif row["value_minor"] is not None and currency != row["currency"]:
            check.add(
                "Give 'value' with 'currency': the amount is read in that currency.",
                field="value",
                code=ErrorCode.REQUIRED,
            )
        values["currency"] = currency
    if "properties" in payload:
        properties = payload["properties"]
        if properties is not None and not isinstance(properties, dict):
            check.add("'properties' must be a JSON object.", field="properties")
        else:
            text = json.dumps(properties, ensure_ascii=False) if properties is not None else None
            if text is not None and len(text.encode()) > MAX_PROPERTIES_BYTES:
                check.add("'properties' is larger than 16 KiB.", field="properties")
            values["properties"] = text
    check.done()
    before = to_json(row)
    changed = {k: v for k, v in values.items() if row[k] != v}
    if changed:
        with immediate(db):
            storage.update_conversion_columns(db, row["id"], changed)
            after = to_json(get(db, row["id"]))
            shown = {"value_minor": "value", "currency": "currency", "properties": "properties"}
            diff = {shown[k]: {"from": before[shown[k]], "to": after[shown[k]]} for k in changed}
            storage.insert_conversion_change(db, row["id"], clock.now_iso(), by, diff)
    return get(db, row["id"])


def list_page(db: Database, args: dict[str, str], *, after_id: int, limit: int) -> list[dict]:
    """Conversions by id, filtered by lead_id, type, from, to; voided ones on request."""
    check = validation.Collector()
    filters: dict = {}
    if args.get("lead_id"):
        filters["lead_id"] = check(leads.existing_id, db, args["lead_id"])
    if args.get("type"):
        filters["type"] = args["type"].strip().lower()
    filters["from"] = check(validation.timestamp, args, "from")
    filters["to"] = check(validation.timestamp, args, "to")
    include = (args.get("include_voided") or "false").strip().lower()
    if include not in ("true", "false"):
        check.add("'include_voided' is true or false.", field="include_voided")
    filters["include_voided"] = include == "true"
    check.done()
    return storage.list_conversions(db, filters, after_id, limit)


def _leads_of(db: Database, row: dict) -> list[str]:
    lead_id = row["lead_id"]
    if lead_id is None and row["visitor_id"]:
        lead_id = storage.lead_of_visitor(db, row["visitor_id"])
    return [lead_id] if lead_id else []
