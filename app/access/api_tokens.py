"""Management API tokens: shown once, stored only as a SHA-256 hash.

Tokens carry 256 random bits, so a fast hash is safe (there is nothing to brute-force) and
keeps every API call cheap. The `tpa_` prefix lets secret scanners and people recognise them.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlite_utils import Database

from app import storage
from app.core import clock, validation
from app.core.error_codes import ErrorCode
from app.core.errors import NotFound, ValidationError

PREFIX = "tpa_"
# admin: everything. marketer: campaigns, links, recipients, offers, codes, conversions,
# leads (read), scans and reports, but not tokens, locations and staff keys, the security
# log or erasing leads (see ADMIN_ONLY in app/views/api.py).
ROLES = ("admin", "marketer")
# What a token gets when nobody says: the narrowest role. Earlier versions made admin
# tokens, so `{"role": null}` minted credentials nobody meant to (issue 12).
LEAST_PRIVILEGE = "marketer"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create(db: Database, name: str, role: str, user_id: int | None = None) -> tuple[str, dict]:
    """Create a token; return (the secret, to show once, and its stored row).

    The role has no default, so every caller says which powers it hands out. A token with a
    user_id belongs to that dashboard account and dies with it.
    """
    name = validation.text({"name": name}, "name", required=True)
    if role not in ROLES:
        raise ValidationError(f"Role must be one of: {', '.join(ROLES)}.", field="role")
    secret = PREFIX + secrets.token_urlsafe(32)
    token_id = storage.insert_api_token(
        db,
        {
            "name": name,
            "prefix": secret[:8],
            "token_hash": _hash(secret),
            "role": role,
            "user_id": user_id,
            "created_at": clock.now_iso(),
        },
    )
    row = next(t for t in storage.list_api_tokens(db) if t["id"] == token_id)
    return secret, row


def role_of(payload: dict) -> str:
    """The role asked for in a request body: missing or null is the least privilege; an empty
    string is refused like any value that is not a role."""
    if isinstance(payload.get("role"), str) and not payload["role"].strip():
        raise ValidationError(
            f"Role must be one of: {', '.join(ROLES)}.", field="role", code=ErrorCode.INVALID_CHOICE
        )
    return validation.choice(payload, "role", ROLES, default=LEAST_PRIVILEGE)


def authenticate(db: Database, presented: str) -> dict | None:
    """The active token row for a presented secret, or None."""
    if not presented.startswith(PREFIX) or len(presented) > 200:
        return None
    row = storage.find_api_token(db, _hash(presented))
    if row is not None:
        now = clock.utcnow()
        storage.touch_api_token(
            db, row["id"], clock.to_iso(now), clock.to_iso(now - timedelta(minutes=1))
        )
    return row


def list_all(db: Database) -> list[dict]:
    return storage.list_api_tokens(db)


def revoke(db: Database, token_id: int) -> None:
    if not storage.revoke_api_token(db, token_id, clock.now_iso()):
        raise NotFound(f"No active token with id {token_id}.", code=ErrorCode.TOKEN_NOT_FOUND)


def any_exist(db: Database) -> bool:
    return storage.count_api_tokens(db) > 0
