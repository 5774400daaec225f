"""Sales at a till without a code, and web orders picked up in a store.

A till sale is a revenue conversion of type `store_sale` at the location, in the location's
currency unless the till says otherwise; "customer mentioned" a campaign is a `mentioned`
touch of it at that moment and place, credited like any other touch. A pickup finds the web
order's conversion by its external id and records where, when and by whom it was collected,
creating no revenue: reports by location credit the order to the pickup store.

Both are exactly once: a sale per Idempotency-Key (or receipt number) at a location, as for
redemptions; a pickup per order.
"""

from __future__ import annotations

import hashlib
import json

from sqlite_utils import Database

from app import storage
from app.core import clock, money, validation
from app.core import db as dbmod
from app.core.error_codes import ErrorCode
from app.core.errors import Conflict, NotFound, ValidationError
from app.core.runtime import PipelineRules
from app.coupons.redemptions import Actor, resolve_location
from app.people import leads, phones, pipeline, ref_codes

SALE_TYPE = "store_sale"
MENTIONED_TOUCH = "mentioned"
_SALE_FIELDS = {
    "location",
    "transaction_id",
    "amount",
    "currency",
    "lead",
    "mentioned_campaign_id",
    "occurred_at",
}
_PICKUP_FIELDS = {"location", "order_id"}


def _lead_of(db: Database, text: str, default_country: str) -> dict:
    """Who the clerk named: a lead GUID, a reference code, an email, a phone number or a
    loyalty id (the lead's external_id). An email or phone nobody has makes a lead."""
    text = text.strip()
    if "@" in text:
        return leads.find_or_create_by_email(db, text, "lead")
    reading = ref_codes.read(text)
    if reading.typo:
        raise ValidationError(
            "'lead' looks like a reference code with a mistyped character; check and retype it.",
            field="lead",
            code=ErrorCode.CHECK_CHARACTER_MISMATCH,
        )
    if reading.code is not None or leads.is_guid(text.lower()):
        found = storage.find_lead_by_ref_code(db, reading.code) if reading.code else None
        found = found or storage.get_lead(db, text.lower())
        if found is not None:
            return found
    by_id = storage.find_lead_by_external_id(db, text)
    if by_id is not None:
        return by_id
    if sum(ch.isdigit() for ch in text) >= 6:
        try:
            number = phones.normalize(text, default_country, "lead")
        except ValidationError:
            number = None
        if number is not None:
            return leads.find_or_create_by_phone(db, number, source=None)
    raise ValidationError(
        f"No lead is '{text[:60]}': give an email, phone number, reference code or loyalty id.",
        field="lead",
        code=ErrorCode.UNKNOWN_LEAD,
    )


def _hash(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def record_sale(
    db: Database,
    actor: Actor,
    payload: dict,
    idempotency_key: str | None,
    *,
    default_currency: str,
    default_country: str,
    rules: PipelineRules,
) -> tuple[int, dict]:
    """Record a sale once; (status, body). A retry with the same key gets the same answer."""
    validation.require_object(payload)
    check = validation.Collector()
    check(validation.reject_unknown, payload, _SALE_FIELDS)
    requested = check(validation.text, payload, "location", max_len=64)
    location = check(resolve_location, db, actor, requested) if check.ok("location") else None
    transaction_id = check(validation.text, payload, "transaction_id", required=True, max_len=100)
    currency = check(validation.currency, payload)
    amount = None
    if location is not None and check.ok("currency"):
        currency = currency or location.get("currency") or default_currency
        amount = check(validation.amount, payload, "amount", currency)
        if amount is None and check.ok("amount"):
            check.add(
                "'amount' is required: what the customer paid.",
                field="amount",
                code=ErrorCode.REQUIRED,
            )
    campaign_id = check(validation.integer, payload, "mentioned_campaign_id")
    campaign = storage.get_campaign(db, campaign_id) if campaign_id is not None else None
    if campaign_id is not None and campaign is None:
        check.add(
            f"No campaign with id {campaign_id}.",
            field="mentioned_campaign_id",
            code=ErrorCode.UNKNOWN_CAMPAIGN,
        )
    occurred = check(validation.timestamp, payload, "occurred_at")
    now = clock.utcnow()
    if occurred is not None and clock.from_iso(occurred) > now + pipeline.FUTURE_TOLERANCE:
        check.add(
            "'occurred_at' is more than 5 minutes in the future.",
            field="occurred_at",
            code=ErrorCode.IN_FUTURE,
        )
    lead_text = check(validation.text, payload, "lead", max_len=254)
    check.done()
    assert location is not None and transaction_id is not None and amount is not None
    key = (idempotency_key or "").strip()[:200] or f"sale:{transaction_id}"
    request_hash = _hash(
        "sale", location["code"], transaction_id, amount, currency, lead_text, campaign_id
    )
    seen = storage.find_idempotent(db, location["code"], key)
    if seen is not None:
        return _replay(seen, request_hash)
    lead = _lead_of(db, lead_text, default_country) if lead_text else None
    if lead is not None and lead["erased_at"] is not None:
        lead = None  # a person who asked to be forgotten: the sale counts, unnamed
    at = occurred or clock.to_iso(now)
    received = clock.to_iso(now)
    with dbmod.immediate(db):
        seen = storage.find_idempotent(db, location["code"], key)
        if seen is not None:
            return _replay(seen, request_hash)
        conversion_id = storage.insert_conversion(
            db,
            {
                "type": SALE_TYPE,
                "occurred_at": at,
                "received_at": received,
                "lead_id": lead["id"] if lead else None,
                "value_minor": amount,
                "currency": currency,
                "external_id": f"{SALE_TYPE}:{location['code']}:{transaction_id}",
                "location_code": location["code"],
                "staff_key_id": actor.staff_key_id,
            },
        )
        if conversion_id is None:
            raise Conflict(
                f"Receipt {transaction_id} is already recorded as a sale at {location['name']}.",
                field="transaction_id",
                code=ErrorCode.SALE_ALREADY_RECORDED,
            )
        if campaign is not None:
            storage.insert_offline_touch(
                db,
                {
                    "kind": MENTIONED_TOUCH,
                    "at": at,
                    "lead_id": lead["id"] if lead else None,
                    "conversion_id": conversion_id,
                    "campaign_id": campaign["id"],
                    "location_code": location["code"],
                    "staff_key_id": actor.staff_key_id,
                    "created_at": received,
                },
            )
        if lead is not None:
            storage.touch_lead(db, lead["id"], at)
            pipeline.restage(db, lead["id"], rules)
        row = storage.get_conversion(db, conversion_id)
        assert row is not None
        body = {
            "status": "recorded",
            "sale": _sale_json(row),
            "lead": _person(lead),
            "mentioned_campaign": (
                {"id": campaign["id"], "name": campaign["name"]} if campaign else None
            ),
        }
        storage.save_idempotent(
            db,
            {
                "location_code": location["code"],
                "key": key,
                "request_hash": request_hash,
                "status": 201,
                "body": json.dumps(body),
                "created_at": received,
            },
        )
    return 201, body


def _replay(seen: dict, request_hash: str) -> tuple[int, dict]:
    if seen["request_hash"] != request_hash:
        raise ValidationError(
            "This Idempotency-Key (or transaction_id) was used for a different sale or redemption.",
            field="transaction_id",
            code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
        )
    return seen["status"], json.loads(seen["body"])


def _sale_json(row: dict) -> dict:
    return {
        "id": row["id"],
        "type": row["type"],
        "location": row["location_code"],
        "transaction_id": row["external_id"].split(":", 2)[2],
        "amount": money.to_decimal_string(row["value_minor"], row["currency"]),
        "currency": row["currency"],
        "occurred_at": row["occurred_at"],
        "lead_id": row["lead_id"],
    }


def _person(lead: dict | None) -> dict | None:
    if lead is None:
        return None
    return {
        "id": lead["id"],
        "name": lead["name"],
        "email": lead["email"],
        "ref_code": ref_codes.display(lead["ref_code"]) if lead["ref_code"] else None,
    }


def pickup(db: Database, actor: Actor, payload: dict) -> dict:
    """Record that a web order was collected here; what the clerk needs to hand it over."""
    validation.require_object(payload)
    check = validation.Collector()
    check(validation.reject_unknown, payload, _PICKUP_FIELDS)
    requested = check(validation.text, payload, "location", max_len=64)
    location = check(resolve_location, db, actor, requested) if check.ok("location") else None
    order_id = check(validation.text, payload, "order_id", required=True, max_len=200)
    check.done()
    assert location is not None and order_id is not None
    order = storage.find_conversion_by_external_id(db, order_id.strip())
    if order is None or order["voided_at"] is not None or order["type"] == SALE_TYPE:
        raise NotFound(
            f"No online order '{order_id.strip()[:80]}': check the number on the "
            "customer's confirmation.",
            code=ErrorCode.ORDER_NOT_FOUND,
            field="order_id",
        )
    now = clock.now_iso()
    with dbmod.immediate(db):
        taken = storage.set_pickup(db, order["id"], now, location["code"], actor.staff_key_id)
    row = storage.get_conversion(db, order["id"])
    assert row is not None
    body = _order_json(db, row)
    if not taken:
        where = storage.get_location(db, row["picked_up_location"]) or {}
        raise Conflict(
            f"Already picked up at {where.get('name', row['picked_up_location'])} on "
            f"{row['picked_up_at']}.",
            field="order_id",
            code=ErrorCode.ALREADY_PICKED_UP,
            extra={"order": body},
        )
    return {"status": "picked_up", "order": body}


def _order_json(db: Database, row: dict) -> dict:
    lead = storage.get_lead(db, row["lead_id"]) if row["lead_id"] else None
    return {
        "id": row["id"],
        "order_id": row["external_id"],
        "type": row["type"],
        "value": money.to_decimal_string(row["value_minor"], row["currency"]),
        "currency": row["currency"],
        "ordered_at": row["occurred_at"],
        "customer": _person(lead),
        "picked_up_at": row["picked_up_at"],
        "picked_up_location": row["picked_up_location"],
    }


def campaigns_here(db: Database, location_code: str) -> list[dict]:
    """The "customer mentioned" picker: campaigns running at this location today."""
    return storage.campaigns_at_location(db, location_code, clock.now_iso())
