"""Custom back-halves: `https://go.fernway.example/spring-sale` is a click on the link with
slug `spring-sale` on that domain; `/q/spring-sale` is a scan of its QR code.

Slugs are letters, digits, `-`, `_` and `/`, matched without regard to case and unique per
domain. Their first segment may not be a word the server's own paths start with (RESERVED):
those answer on every host, branded ones included.
"""

from __future__ import annotations

import re

from app.core.error_codes import ErrorCode
from app.core.errors import ValidationError

MAX_LENGTH = 100
_SLUG_RE = re.compile(r"[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*\Z")
# The first path segments the server answers itself (tests/test_slugs.py checks the URL map
# against this), and words kept for later or that would confuse a reader of the link.
RESERVED = frozenset(
    {
        "r",
        "q",
        "c",
        "api",
        "static",
        "staff",
        "dashboard",
        "healthz",
        "favicon.ico",
        "robots.txt",
        "admin",
        "login",
        "logout",
        "signin",
        "signup",
        "account",
        "settings",
        "well-known",
    }
)


def key(domain: str | None, slug: str) -> str:
    """The stored, unique form: '<domain>/<slug in lower case>', '' for the default domain."""
    return f"{domain or ''}/{slug.lower()}"


def from_path(path: str) -> str | None:
    """The slug a request path asks for ('/Spring-Sale/' -> 'spring-sale'), or None when the
    path cannot be a slug (so no lookup is spent on it)."""
    slug = path.strip("/")
    if not slug or len(slug) > MAX_LENGTH or not _SLUG_RE.match(slug):
        return None
    return slug.lower()


def parse(value: object, field: str = "slug") -> str | None:
    """A link's `slug` as typed (case kept for display); None when not given."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationError("The slug must be text (a string).", field=field)
    slug = value.strip()
    if len(slug) > MAX_LENGTH or not _SLUG_RE.match(slug):
        raise ValidationError(
            f"A slug is 1 to {MAX_LENGTH} letters, digits, '-', '_' and '/' (not at the start "
            "or end, not twice in a row), such as spring-sale or fall/flyer-2.",
            field=field,
            code=ErrorCode.INVALID_SLUG,
        )
    first = slug.split("/", 1)[0].lower()
    if first in RESERVED:
        raise ValidationError(
            f"'{first}' is a reserved word (the server's own paths start with it); choose "
            "another slug.",
            field=field,
            code=ErrorCode.SLUG_RESERVED,
        )
    return slug
