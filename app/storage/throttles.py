"""Guessing limits: sign-in delays (per account and address, per known device) and the
lookups that decide whether a mistyped unique code could also be a shared code."""

from __future__ import annotations

from sqlite_utils import Database


def sign_in_delay(db: Database, key: str, forget_before: float) -> tuple[int, float] | None:
    """The (failures, last attempt) of a delay key, or None when it has none to remember.

    Failures older than `forget_before` are forgotten (the row goes)."""
    db.execute(
        "DELETE FROM sign_in_delays WHERE key = ? AND last_attempt < ?", (key, forget_before)
    )
    row = db.execute(
        "SELECT failures, last_attempt FROM sign_in_delays WHERE key = ?", (key,)
    ).fetchone()
    return (row[0], row[1]) if row else None


def count_sign_in_attempt(db: Database, key: str, now: float) -> int:
    """Count an attempt against a delay key before its credential is checked; return the count."""
    return db.execute(
        "INSERT INTO sign_in_delays (key, failures, last_attempt) VALUES (?, 1, ?) "
        "ON CONFLICT (key) DO UPDATE SET failures = sign_in_delays.failures + 1, "
        "last_attempt = excluded.last_attempt RETURNING failures",
        (key, now),
    ).fetchone()[0]


def count_sign_in_delays(db: Database, prefix: str, since: float) -> int:
    """Delay keys starting with `prefix` that saw a try since `since` (a range of the key)."""
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return db.execute(
        "SELECT count(*) FROM sign_in_delays WHERE key >= ? AND key < ? AND last_attempt >= ?",
        (prefix, upper, since),
    ).fetchone()[0]


def clear_sign_in_delay(db: Database, key: str) -> None:
    db.execute("DELETE FROM sign_in_delays WHERE key = ?", (key,))


def prune_sign_in_delays(db: Database, before: float) -> None:
    db.execute("DELETE FROM sign_in_delays WHERE last_attempt < ?", (before,))


def is_code_prefix(db: Database, prefix: str) -> bool:
    """Whether some offer prints this prefix in front of its unique codes."""
    row = db.execute("SELECT 1 FROM offers WHERE code_prefix = ? LIMIT 1", (prefix,)).fetchone()
    return row is not None


def shared_codes_of_length(db: Database, length: int, prefix: str) -> list[str]:
    """Shared codes of this many characters that start with `prefix` (few: one per offer)."""
    return [
        row[0]
        for row in db.execute(
            "SELECT c.code FROM offers o JOIN codes c ON c.offer_id = o.id "
            "WHERE o.kind = 'shared' AND c.kind = 'shared' AND length(c.code) = ? "
            "AND substr(c.code, 1, ?) = ?",
            (length, len(prefix), prefix),
        )
    ]
