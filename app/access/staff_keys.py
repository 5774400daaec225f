"""Staff keys: the secret a till or booth phone holds, scoped to one location.

Shown once and stored as a hash (secret_hashes.py); the `tps_` prefix tells them from the
marketers' API tokens (`tpa_`, api_tokens.py).
"""

from __future__ import annotations

from sqlite_utils import Database

from app import storage
from app.access import secret_hashes
from app.core import clock, validation
from app.core.error_codes import ErrorCode
from app.core.errors import NotFound
from app.coupons import locations

PREFIX = "tps_"


def create(db: Database, code: str, payload: dict) -> tuple[str, dict]:
    """A key for one location; returns (the secret, shown once, and its stored row)."""
    locations.get(db, code)
    validation.require_object(payload)
    validation.reject_unknown(payload, {"label"})
    label = validation.text(payload, "label", required=True)
    secret = secret_hashes.new_secret(PREFIX)
    key_id = storage.insert_staff_key(
        db,
        {
            "location_code": code,
            "label": label,
            "prefix": secret[:8],
            "key_hash": secret_hashes.digest(secret),
            "created_at": clock.now_iso(),
        },
    )
    row = next(k for k in storage.list_staff_keys(db, code) if k["id"] == key_id)
    return secret, row


def list_for_location(db: Database, code: str) -> list[dict]:
    """The location's keys (active and revoked), without their secrets."""
    locations.get(db, code)
    return storage.list_staff_keys(db, code)


def revoke(db: Database, code: str, key_id: int) -> None:
    if not storage.revoke_staff_key(db, code, key_id, clock.now_iso()):
        raise NotFound(
            f"No active staff key {key_id} at '{code}'.", code=ErrorCode.STAFF_KEY_NOT_FOUND
        )


def authenticate(db: Database, presented: str) -> dict | None:
    """The active staff key row (with its location_code) for a presented secret."""
    return secret_hashes.authenticate(
        db, presented, PREFIX, storage.find_staff_key, storage.touch_staff_key
    )
