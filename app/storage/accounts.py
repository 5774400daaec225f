"""Storage for dashboard users and the sign-in throttle's counters."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from .core import _all, _insert, _one

USER_COLUMNS = (
    "id, email, name, role, created_at, password_changed_at, last_sign_in_at, disabled_at, "
    "session_epoch"
)


def insert_user(db: Database, values: dict[str, Any]) -> int:
    return _insert(db, "users", values)


def get_user(db: Database, user_id: int) -> dict | None:
    return _one(db, f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", (user_id,))


def user_by_email(db: Database, email: str) -> dict | None:
    return _one(db, f"SELECT {USER_COLUMNS} FROM users WHERE email = ?", (email,))


def user_password_hash(db: Database, user_id: int) -> str | None:
    row = db.execute("SELECT password_hash FROM users WHERE id = ?", (user_id,)).fetchone()
    return row[0] if row else None


def list_users(db: Database) -> list[dict]:
    return _all(db, f"SELECT {USER_COLUMNS} FROM users ORDER BY disabled_at IS NOT NULL, email")


def count_users(db: Database) -> int:
    return db.execute("SELECT count(*) FROM users").fetchone()[0]


def count_active_admins(db: Database) -> int:
    return db.execute(
        "SELECT count(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL"
    ).fetchone()[0]


def set_user_password(db: Database, user_id: int, password_hash: str, now: str) -> None:
    # A new password ends every other session: whoever knew the old one is signed out.
    db.execute(
        "UPDATE users SET password_hash = ?, password_changed_at = ?, "
        "session_epoch = session_epoch + 1 WHERE id = ?",
        (password_hash, now, user_id),
    )


def set_user_role(db: Database, user_id: int, role: str) -> None:
    db.execute(
        "UPDATE users SET role = ?, session_epoch = session_epoch + 1 WHERE id = ?",
        (role, user_id),
    )


def set_user_name(db: Database, user_id: int, name: str) -> None:
    db.execute("UPDATE users SET name = ? WHERE id = ?", (name, user_id))


def disable_user(db: Database, user_id: int, now: str) -> bool:
    cursor = db.execute(
        "UPDATE users SET disabled_at = ?, session_epoch = session_epoch + 1 "
        "WHERE id = ? AND disabled_at IS NULL",
        (now, user_id),
    )
    return cursor.rowcount == 1


def enable_user(db: Database, user_id: int) -> bool:
    cursor = db.execute(
        "UPDATE users SET disabled_at = NULL WHERE id = ? AND disabled_at IS NOT NULL", (user_id,)
    )
    return cursor.rowcount == 1


def end_user_sessions(db: Database, user_id: int) -> None:
    db.execute("UPDATE users SET session_epoch = session_epoch + 1 WHERE id = ?", (user_id,))


def record_sign_in(db: Database, user_id: int, now: str) -> None:
    db.execute("UPDATE users SET last_sign_in_at = ? WHERE id = ?", (now, user_id))


def list_user_tokens(db: Database, user_id: int) -> list[dict]:
    return _all(
        db,
        "SELECT id, name, prefix, role, created_at, last_used_at, revoked_at "
        "FROM api_tokens WHERE user_id = ? ORDER BY revoked_at IS NOT NULL, id DESC",
        (user_id,),
    )


def failures_since(db: Database, bucket: str, first_window: int) -> list[tuple[int, int]]:
    """(window, count) of a throttle bucket from `first_window` on, oldest first."""
    return [
        tuple(row)
        for row in db.execute(
            'SELECT "window", count FROM rate_limits WHERE bucket = ? AND "window" >= ? '
            'ORDER BY "window"',
            (bucket, first_window),
        )
    ]
