"""Marketer API tokens (`tpa_`): admin or marketer role, shown once, stored as a hash
(secret_hashes.py says why a fast hash is right)."""

from __future__ import annotations

from sqlite_utils import Database

from app import storage
from app.access import secret_hashes
from app.core import clock, validation
from app.core.error_codes import ErrorCode
from app.core.errors import NotFound, ValidationError

PREFIX = "tpa_"
# admin: everything. marketer: campaigns, links, recipients, offers, codes, conversions,
# leads (read), scans and reports, but not tokens, locations and staff keys, the security
# log or erasing leads (the views marked @allow(ADMIN) in app/views/api.py).
ROLES = ("admin", "marketer")
# What a token gets when nobody says: the narrowest role. Earlier versions made admin
# tokens, so `{"role": null}` minted credentials nobody meant to (issue 12).
LEAST_PRIVILEGE = "marketer"


def create(db: Database, name: str, role: str, user_id: int | None = None) -> tuple[str, dict]:
    """Create a token; return (the secret, to show once, and its stored row).

    The role has no default, so every caller says which powers it hands out. A token with a
    user_id belongs to that dashboard account and dies with it.
    """
    name = validation.text({"name": name}, "name", required=True)
    if role not in ROLES:
        raise ValidationError(f"Role must be one of: {', '.join(ROLES)}.", field="role")
    secret = secret_hashes.new_secret(PREFIX)
    token_id = storage.insert_api_token(
        db,
        {
            "name": name,
            "prefix": secret[:8],
            "token_hash": secret_hashes.digest(secret),
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
    role = validation.choice(payload, "role", ROLES, default=LEAST_PRIVILEGE)
    assert role is not None  # it has a default
    return role


def authenticate(db: Database, presented: str) -> dict | None:
    """The active token row for a presented secret, or None."""
    return secret_hashes.authenticate(
        db, presented, PREFIX, storage.find_api_token, storage.touch_api_token
    )


def list_all(db: Database) -> list[dict]:
    return storage.list_api_tokens(db)


def revoke(db: Database, token_id: int) -> None:
    if not storage.revoke_api_token(db, token_id, clock.now_iso()):
        raise NotFound(f"No active token with id {token_id}.", code=ErrorCode.TOKEN_NOT_FOUND)


def any_exist(db: Database) -> bool:
    return storage.count_api_tokens(db) > 0
