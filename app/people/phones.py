"""Phone numbers: read however they are typed, stored as E.164 (`+14155550123`).

Parsing is Google's libphonenumber metadata (the `phonenumbers` package), which knows every
country's numbering plan and is updated as plans change; a number without a +country prefix
is read in TOUCHPOINT_DEFAULT_COUNTRY's plan.
"""

from __future__ import annotations

import phonenumbers

from app.core.error_codes import ErrorCode
from app.core.errors import ValidationError

MAX_INPUT = 64


def normalize(raw: object, default_country: str, field: str = "phone") -> str:
    """E.164 for a valid number; 422 `invalid_phone` naming `field` otherwise."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_INPUT:
        raise ValidationError(
            f"'{field}' must be a phone number, e.g. +1 415 555 0123.",
            field=field,
            code=ErrorCode.INVALID_PHONE,
        )
    try:
        number = phonenumbers.parse(raw, default_country.upper() or None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationError(
            f"'{field}' is not a valid phone number"
            + ("" if raw.strip().startswith("+") else f" in {default_country.upper()}")
            + " (give it with its +country code).",
            field=field,
            code=ErrorCode.INVALID_PHONE,
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def optional(payload: dict, name: str, default_country: str) -> str | None:
    """The normalised number under `name`, or None when absent, null or empty."""
    raw = payload.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    return normalize(raw, default_country, field=name)


def display(e164: str | None) -> str | None:
    """`+14155550123` -> `+1 415-555-0123`, for people to read."""
    if not e164:
        return e164
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def valid_country(code: str) -> bool:
    return code.upper() in phonenumbers.SUPPORTED_REGIONS
