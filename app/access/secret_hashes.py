"""Presented secrets (API tokens, staff keys): minted once, stored only as a SHA-256 hash,
and checked the same way for every kind.

The secrets carry 256 random bits, so a fast hash is safe (there is nothing to brute-force)
and keeps every API call cheap. A prefix (`tpa_`, `tps_`) lets secret scanners and people
recognise each kind, and lets a request be routed to the right table without a lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import timedelta

from sqlite_utils import Database

from app.core import clock

MAX_PRESENTED = 200  # longer is never one of ours: refused before hashing


def new_secret(prefix: str) -> str:
    """A fresh secret of this kind, to be shown once."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """The stored form of a secret (hex SHA-256): the same for every kind."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def authenticate(
    db: Database,
    presented: str,
    prefix: str,
    find: Callable[[Database, str], dict | None],
    touch: Callable[[Database, int, str, str], object],
) -> dict | None:
    """The active row `find` returns for a presented secret of this kind, or None.

    A found row has its last-used time refreshed at most once a minute (`touch` gets the row
    id, now, and the time before which a refresh is due).
    """
    if not presented.startswith(prefix) or len(presented) > MAX_PRESENTED:
        return None
    row = find(db, digest(presented))
    if row is not None:
        now = clock.utcnow()
        touch(db, row["id"], clock.to_iso(now), clock.to_iso(now - timedelta(minutes=1)))
    return row
