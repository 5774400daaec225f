"""Field parsers for API and form input. Each raises ValidationError naming its field."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from . import clock
from .errors import ValidationError

_MISSING = object()
_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def require_object(payload: Any) -> dict:
    if not isinstance(payload, dict):
        raise ValidationError("The request body must be a JSON object.", code="invalid_body")
    return payload


def reject_unknown(payload: dict, allowed: set[str]) -> None:
    """Unknown fields are refused: a typo such as `utm_sourc` must not pass silently."""
    for key in payload:
        if key not in allowed:
            raise ValidationError(f"Unknown field '{key}'.", field=key, code="unknown_field")


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
            raise ValidationError(f"'{field}' is required.", field=field, code="required")
        return default
    if not isinstance(value, str):
        raise ValidationError(f"'{field}' must be a string.", field=field)
    value = value.strip()
    if len(value) > max_len:
        raise ValidationError(f"'{field}' is longer than {max_len} characters.", field=field)
    allowed = "\n\r\t" if multiline else ""
    if any(ord(c) < 32 and c not in allowed for c in value):
        raise ValidationError(f"'{field}' must not contain control characters.", field=field)
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
            f"'{field}' must be one of: {', '.join(choices)}.", field=field, code="invalid_choice"
        )
    return value


def code(payload: dict, field: str, *, required: bool = False) -> str | None:
    """A short identifier such as a store code: letters, digits, `_`, `.`, `-`."""
    value = text(payload, field, required=required, max_len=64)
    if value is not None and not _CODE_RE.match(value):
        raise ValidationError(
            f"'{field}' may contain only letters, digits, '_', '.' and '-' (64 at most).",
            field=field,
        )
    return value


def timestamp(payload: dict, field: str) -> str | None:
    """An ISO 8601 time (offset or Z; none means UTC), returned as stored text."""
    value = payload.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationError(f"'{field}' must be an ISO 8601 string.", field=field)
    try:
        return clock.to_iso(clock.parse_iso(value))
    except ValueError:
        raise ValidationError(
            f"'{field}' is not an ISO 8601 time such as 2026-11-23T09:30:00Z.", field=field
        ) from None


def boolean(payload: dict, field: str) -> bool | None:
    value = payload.get(field)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ValidationError(f"'{field}' must be true or false.", field=field)
    return value


def http_url(payload: dict, field: str, *, required: bool = False) -> str | None:
    """An absolute http(s) URL with a host: the only kind we ever redirect to."""
    value = text(payload, field, required=required, max_len=2048)
    if value is None:
        return None
    check_http_url(value, field)
    return value


def check_http_url(value: str, field: str) -> None:
    if any(c.isspace() for c in value):
        raise ValidationError(
            f"'{field}' must not contain spaces.", field=field, code="invalid_url"
        )
    try:
        parts = urlsplit(value)
        port = parts.port  # raises on a malformed port
    except ValueError:
        raise ValidationError(
            f"'{field}' is not a valid URL.", field=field, code="invalid_url"
        ) from None
    del port
    if parts.scheme.lower() not in ("http", "https"):
        raise ValidationError(
            f"'{field}' must be an absolute http:// or https:// URL.",
            field=field,
            code="invalid_url",
        )
    if not parts.hostname:
        raise ValidationError(f"'{field}' must name a host.", field=field, code="invalid_url")
    if parts.username is not None or parts.password is not None:
        # https://trusted.example@evil.example/ is a classic phishing disguise.
        raise ValidationError(
            f"'{field}' must not contain a user name or password.",
            field=field,
            code="invalid_url",
        )


def integer(payload: dict, field: str, *, required: bool = False, minimum: int = 1) -> int | None:
    value = payload.get(field)
    if value is None:
        if required:
            raise ValidationError(f"'{field}' is required.", field=field, code="required")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError(f"'{field}' must be a whole number >= {minimum}.", field=field)
    return value
