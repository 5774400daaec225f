"""Stores and trade-show booths, and the staff keys their tills and phones use."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlite_utils import Database

from app import storage
from app.core import clock, validation
from app.core.error_codes import ErrorCode
from app.core.errors import Conflict, NotFound, ValidationError

KINDS = ("store", "booth")
_CREATE_FIELDS = {"code", "name", "kind", "timezone", "address", "currency"}
_PATCH_FIELDS = {"name", "kind", "timezone", "address", "currency"}


def _timezone(payload: dict, required: bool) -> str | None:
    value = validation.text(payload, "timezone", required=required, max_len=64)
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"Time zone must be an IANA time zone such as Europe/Berlin, not '{value}'.",
            field="timezone",
        ) from None
    return value


def currency_of(location: dict, default_currency: str) -> str:
    """The currency the location's tills take."""
    return location.get("currency") or default_currency


def to_json(location: dict, default_currency: str) -> dict:
    """A location as the API shows it: its currency filled in when it follows the default."""
    return {**location, "currency": currency_of(location, default_currency)}


def create(db: Database, payload: dict) -> dict:
    validation.require_object(payload)
    check = validation.Collector()
    check(validation.reject_unknown, payload, _CREATE_FIELDS)
    code = check(validation.code, payload, "code", required=True)
    values = {
        "code": code,
        "name": check(validation.text, payload, "name", required=True),
        "kind": check(validation.choice, payload, "kind", KINDS, required=True),
        "timezone": check(_timezone, payload, required=True),
        "address": check(validation.text, payload, "address", max_len=500, multiline=True),
        "currency": check(validation.currency, payload),
    }
    check.done()
    assert code is not None  # required: the Collector refused a missing one
    if storage.get_location(db, code) is not None:
        raise Conflict(
            f"A location with code '{code}' exists.", field="code", code=ErrorCode.LOCATION_EXISTS
        )
    now = clock.now_iso()
    storage.insert_location(db, {**values, "created_at": now, "updated_at": now})
    return get(db, code)


def update(db: Database, code: str, payload: dict) -> dict:
    get(db, code)
    validation.require_object(payload)
    check = validation.Collector()
    for key in payload:
        if key not in _PATCH_FIELDS:
            check.add(
                f"'{key}' cannot be changed; updatable fields: {', '.join(sorted(_PATCH_FIELDS))}.",
                field=key,
                code=ErrorCode.NOT_UPDATABLE if key == "code" else ErrorCode.UNKNOWN_FIELD,
            )
    values: dict = {}
    if "name" in payload:
        values["name"] = check(validation.text, payload, "name", required=True)
    if "kind" in payload:
        values["kind"] = check(validation.choice, payload, "kind", KINDS, required=True)
    if "timezone" in payload:
        values["timezone"] = check(_timezone, payload, required=True)
    if "address" in payload:
        values["address"] = check(validation.text, payload, "address", max_len=500, multiline=True)
    if "currency" in payload:
        # null: back to the default currency
        values["currency"] = check(validation.currency, payload)
    check.done()
    if values:
        values["updated_at"] = clock.now_iso()
        storage.update_location(db, code, values)
    return get(db, code)


def get(db: Database, code: str) -> dict:
    row = storage.get_location(db, code)
    if row is None:
        raise NotFound(f"No location with code '{code}'.", code=ErrorCode.LOCATION_NOT_FOUND)
    return row


def list_all(db: Database, kind: str | None = None) -> list[dict]:
    return storage.list_locations(db, kind)
