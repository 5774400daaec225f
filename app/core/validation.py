"""Field parsers for API and form input. Each raises ValidationError naming its field.

Messages are for people, in the dashboard as in the API ("Name is required."): a field is
called by its label in LABELS, the same words the forms use. Codes and fields are the
contract; messages may change.

A Collector runs several parsers over one payload and raises every field error at once
(ValidationErrors), so a form can show each one next to its field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal, TypeVar, cast, overload
from urllib.parse import urlsplit

from app.core import clock, money
from app.core.error_codes import ErrorCode
from app.core.errors import TouchpointError, ValidationError, ValidationErrors

_MISSING = object()
_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
T = TypeVar("T")

# What people call each field; a field not listed is called by its name.
LABELS = {
    "active": "Active",
    "address": "Address",
    "base_url": "Base URL",
    "amount": "Amount",
    "campaign_id": "Campaign",
    "channel": "Channel",
    "code": "Code",
    "code_prefix": "Code prefix",
    "cost": "Cost",
    "count": "Number of codes",
    "currency": "Currency",
    "current_password": "Current password",
    "destination": "Destination",
    "discount": "Discount",
    "email": "Email",
    "ends_at": "End",
    "expires_at": "Expiry",
    "fallback_url": "Fallback page",
    "kind": "Kind",
    "label": "Label",
    "location": "Location",
    "location_codes": "Locations",
    "max_redemptions_per_code": "Uses per code",
    "name": "Name",
    "new_password": "New password",
    "note": "Note",
    "notes": "Notes",
    "offer_id": "Offer",
    "password": "Password",
    "per_lead_limit": "Codes per person",
    "rating": "Rating",
    "reason": "Reason",
    "recipients_link_id": "Recipients link",
    "role": "Role",
    "scan_id": "Scan id",
    "scanned_at": "Scan time",
    "shared_code": "Shared code",
    "starts_at": "Start",
    "store_code": "Store code",
    "terms": "Terms",
    "timezone": "Time zone",
    "title": "Title",
    "transaction_id": "Receipt number",
    "value": "Value",
}


def label(field: str) -> str:
    return LABELS.get(field, field)


class Collector:
    """Gathers the field errors of one payload, so all of them are reported at once.

        check = validation.Collector()
        name = check(validation.text, payload, "name", required=True)  # None when refused
        ...
        check.done()  # raises the error found, or ValidationErrors with each one

    The errors keep the order of the checks, so the first is the one a check-and-stop
    parser would have raised. Any other error (403, 404, 409) stops at once, after the field
    errors found before it, which would have stopped the checks first.
    """

    def __init__(self) -> None:
        self.found: list[ValidationError] = []

    def __call__(self, parse: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        try:
            return parse(*args, **kwargs)
        except ValidationError as exc:
            # A ValidationError's errors are field errors: itself, or each of ValidationErrors.
            self.found.extend(cast(list[ValidationError], exc.errors))
            return None
        except TouchpointError:
            self.done()
            raise

    def add(self, message: str, *, field: str, code: ErrorCode | None = None) -> None:
        self.found.append(ValidationError(message, field=field, code=code))

    def ok(self, *fields: str) -> bool:
        """True when none of these fields was refused."""
        return not any(error.field in fields for error in self.found)

    def done(self) -> None:
        if len(self.found) == 1:
            raise self.found[0]
        if self.found:
            raise ValidationErrors(self.found)


def require_object(payload: Any) -> dict:
    if not isinstance(payload, dict):
        raise ValidationError(
            "The request body must be a JSON object.", code=ErrorCode.INVALID_BODY
        )
    return payload


def reject_unknown(payload: dict, allowed: set[str]) -> None:
    """Unknown fields are refused: a typo such as `utm_sourc` must not pass silently."""
    check = Collector()
    for key in payload:
        if key not in allowed:
            check.add(f"Unknown field '{key}'.", field=key, code=ErrorCode.UNKNOWN_FIELD)
    check.done()


@overload
def text(
    payload: dict,
    field: str,
    *,
    required: Literal[True],
    max_len: int = ...,
    default: Any = ...,
    multiline: bool = ...,
) -> str: ...
@overload
def text(
    payload: dict,
    field: str,
    *,
    required: bool = ...,
    max_len: int = ...,
    default: Any = ...,
    multiline: bool = ...,
) -> str | None: ...
def text(
    payload: dict,
    field: str,
    *,
    required: bool = False,
    max_len: int = 200,
    default: Any = None,
    multiline: bool = False,
) -> str | None:
    value = payload.get(field, _MISSING)
    if value is _MISSING or value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(
                f"{label(field)} is required.", field=field, code=ErrorCode.REQUIRED
            )
        return default
    if not isinstance(value, str):
        raise ValidationError(f"{label(field)} must be text (a string).", field=field)
    value = value.strip()
    if len(value) > max_len:
        raise ValidationError(f"{label(field)} is longer than {max_len} characters.", field=field)
    allowed = "\n\r\t" if multiline else ""
    if any(ord(c) < 32 and c not in allowed for c in value):
        raise ValidationError(f"{label(field)} must not contain control characters.", field=field)
    return value


def choice(
    payload: dict,
    field: str,
    choices: tuple[str, ...],
    *,
    required: bool = False,
    default: str | None = None,
) -> str | None:
    value = text(payload, field, required=required, default=default)
    if value is not None and value not in choices:
        raise ValidationError(
            f"{label(field)} must be one of: {', '.join(choices)}.",
            field=field,
            code=ErrorCode.INVALID_CHOICE,
        )
    return value


def code(payload: dict, field: str, *, required: bool = False) -> str | None:
    """A short identifier such as a store code: letters, digits, `_`, `.`, `-`."""
    value = text(payload, field, required=required, max_len=64)
    if value is not None and not _CODE_RE.match(value):
        raise ValidationError(
            f"{label(field)} may contain only letters, digits, '_', '.' and '-' (64 at most).",
            field=field,
        )
    return value


def timestamp(payload: dict, field: str) -> str | None:
    """An ISO 8601 time (offset or Z; none means UTC), returned as stored text."""
    value = payload.get(field)
    if value is None or value == "":
        return None
    message = f"{label(field)} must be a date and time such as 2026-11-23T09:30:00Z."
    if not isinstance(value, str):
        raise ValidationError(message, field=field)
    try:
        return clock.to_iso(clock.parse_input_time(value))
    except ValueError:
        raise ValidationError(message, field=field) from None


def boolean(payload: dict, field: str) -> bool | None:
    value = payload.get(field)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ValidationError(f"{label(field)} must be true or false.", field=field)
    return value


def http_url(payload: dict, field: str, *, required: bool = False) -> str | None:
    """An absolute http(s) URL with a host: the only kind we ever redirect to."""
    value = text(payload, field, required=required, max_len=2048)
    if value is None:
        return None
    check_http_url(value, field)
    return value


def check_http_url(value: str, field: str) -> None:
    name = label(field)
    if any(c.isspace() for c in value):
        raise ValidationError(
            f"{name} must not contain spaces.", field=field, code=ErrorCode.INVALID_URL
        )
    try:
        parts = urlsplit(value)
        port = parts.port  # raises on a malformed port
    except ValueError:
        raise ValidationError(
            f"{name} is not a valid web address.", field=field, code=ErrorCode.INVALID_URL
        ) from None
    del port
    if parts.scheme.lower() not in ("http", "https"):
        raise ValidationError(
            f"{name} must be a full web address starting with https:// or http://.",
            field=field,
            code=ErrorCode.INVALID_URL,
        )
    if not parts.hostname:
        raise ValidationError(
            f"{name} must name a host, as in https://shop.example.com/.",
            field=field,
            code=ErrorCode.INVALID_URL,
        )
    if parts.username is not None or parts.password is not None:
        # https://trusted.example@evil.example/ is a classic phishing disguise.
        raise ValidationError(
            f"{name} must not contain a user name or password.",
            field=field,
            code=ErrorCode.INVALID_URL,
        )


# The largest integer SQLite stores (a signed 64-bit INTEGER); anything above it raised
# OverflowError in sqlite3 and answered 500 (issue 12).
MAX_INTEGER = 2**63 - 1


def integer(
    payload: dict,
    field: str,
    *,
    required: bool = False,
    minimum: int = 1,
    maximum: int = MAX_INTEGER,
) -> int | None:
    """A JSON whole number in [minimum, maximum]; the default maximum is what SQLite holds."""
    value = payload.get(field)
    if value is None:
        if required:
            raise ValidationError(
                f"{label(field)} is required.", field=field, code=ErrorCode.REQUIRED
            )
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(
            f"{label(field)} must be a whole number of at least {minimum}.", field=field
        )
    return _in_range(value, field, minimum, maximum)


@overload
def integer_text(
    raw: str, field: str, *, minimum: int = ..., maximum: int = ..., message: str | None = ...
) -> int: ...
@overload
def integer_text(
    raw: None, field: str, *, minimum: int = ..., maximum: int = ..., message: str | None = ...
) -> None: ...
def integer_text(
    raw: str | None,
    field: str,
    *,
    minimum: int = 1,
    maximum: int = MAX_INTEGER,
    message: str | None = None,
) -> int | None:
    """A whole number given as text (a query parameter); None when absent.

    Only ASCII digits count: str.isdigit() accepts '²', which int() then refuses.
    """
    if raw is None:
        return None
    value = raw.strip()
    if not value or not value.isascii() or not value.isdigit() or len(value) > 20:
        raise ValidationError(
            message or f"'{field}' must be a whole number of at least {minimum}.", field=field
        )
    return _in_range(int(value), field, minimum, maximum, message)


def _in_range(
    value: int, field: str, minimum: int, maximum: int, message: str | None = None
) -> int:
    if value < minimum:
        raise ValidationError(
            message or f"{label(field)} must be a whole number of at least {minimum}.",
            field=field,
        )
    if value > maximum:
        raise ValidationError(
            message or f"{label(field)} must be a whole number of at most {maximum}.",
            field=field,
        )
    return value


def currency(payload: dict, field: str = "currency") -> str | None:
    """A three-letter ISO 4217 code, upper-cased; None when not given (absent or null).

    An empty string is refused rather than read as null: `"currency": ""` is a form or a
    script that lost its value, and silently taking the default hid that (issue 12).
    """
    raw = payload.get(field)
    if isinstance(raw, str) and not raw.strip():
        raise ValidationError(
            f"{label(field)} is empty: give a three-letter ISO 4217 code such as EUR,"
            " or null (or leave it out) for the default.",
            field=field,
        )
    value = text(payload, field, max_len=20)
    if value is None:
        return None
    value = value.upper()
    if not money.is_currency(value):
        raise ValidationError(
            f"{label(field)} must be a three-letter ISO 4217 code such as EUR.", field=field
        )
    return value


def amount(payload: dict, field: str, in_currency: str, *, example: str = "49.99") -> int | None:
    """A money amount in the minor units of `in_currency`; None when not given."""
    value = payload.get(field)
    if value is None or value == "":
        return None
    try:
        return money.to_minor(value, in_currency, example=example)
    except ValueError as exc:
        raise ValidationError(f"{label(field)} {exc}.", field=field) from None
