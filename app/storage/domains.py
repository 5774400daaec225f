"""Storage for branded domains and the slugs (custom back-halves) links have on them."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from .core import _all, _insert, _one

__all__ = [
    "all_tags",
    "count_domain_links",
    "delete_qr_logo",
    "get_qr_logo",
    "set_qr_logo",
    "domain_hosts",
    "delete_domain",
    "get_domain",
    "get_domain_by_host",
    "insert_domain",
    "link_id_by_slug_key",
    "list_domains",
    "set_tags",
    "tags_of",
    "update_domain",
]


def insert_domain(db: Database, values: dict[str, Any]) -> int:
    return _insert(db, "domains", values)


def get_domain(db: Database, domain_id: int) -> dict | None:
    return _one(db, "SELECT * FROM domains WHERE id = ?", (domain_id,))


def get_domain_by_host(db: Database, host: str) -> dict | None:
    return _one(db, "SELECT * FROM domains WHERE host = ?", (host,))


def domain_hosts(db: Database) -> frozenset[str]:
    return frozenset(r[0] for r in db.execute("SELECT host FROM domains").fetchall())


def list_domains(db: Database) -> list[dict]:
    return _all(
        db,
        "SELECT d.*, (SELECT count(*) FROM links l WHERE l.domain = d.host) AS links "
        "FROM domains d ORDER BY d.host",
    )


def update_domain(db: Database, domain_id: int, values: dict[str, Any]) -> None:
    assignments = ", ".join(f"{name} = ?" for name in values)
    db.execute(f"UPDATE domains SET {assignments} WHERE id = ?", [*values.values(), domain_id])


def count_domain_links(db: Database, host: str) -> int:
    return db.execute("SELECT count(*) FROM links WHERE domain = ?", (host,)).fetchone()[0]


def delete_domain(db: Database, domain_id: int) -> None:
    db.execute("DELETE FROM domains WHERE id = ?", (domain_id,))


def link_id_by_slug_key(db: Database, slug_key: str) -> int | None:
    row = db.execute("SELECT id FROM links WHERE slug_key = ?", (slug_key,)).fetchone()
    return None if row is None else row[0]


# Tags ---------------------------------------------------------------------------------------

_TAG_TABLES = {"link": ("link_tags", "link_id"), "campaign": ("campaign_tags", "campaign_id")}


def set_tags(db: Database, kind: str, object_id: int, tags: list[str]) -> None:
    """Replace the tags of one link or campaign (`kind`), inside the caller's transaction."""
    table, column = _TAG_TABLES[kind]
    db.execute(f"DELETE FROM {table} WHERE {column} = ?", (object_id,))
    for tag in tags:
        db.execute(f"INSERT INTO {table} ({column}, tag) VALUES (?, ?)", (object_id, tag))


def tags_of(db: Database, kind: str, ids: list[int]) -> dict[int, list[str]]:
    """{id: sorted tags} for links or campaigns; ids without tags are left out."""
    table, column = _TAG_TABLES[kind]
    found: dict[int, list[str]] = {}
    for start in range(0, len(ids), 5000):  # SQLite binds at most 32,766 values
        chunk = ids[start : start + 5000]
        marks = ", ".join("?" for _ in chunk)
        for object_id, tag in db.execute(
            f"SELECT {column}, tag FROM {table} WHERE {column} IN ({marks}) ORDER BY tag", chunk
        ):
            found.setdefault(object_id, []).append(tag)
    return found


def all_tags(db: Database, kind: str) -> list[tuple[str, int]]:
    """Every tag in use on links or campaigns, with how many carry it."""
    table, _ = _TAG_TABLES[kind]
    return [
        tuple(r) for r in db.execute(f"SELECT tag, count(*) FROM {table} GROUP BY tag ORDER BY tag")
    ]


# QR logos -----------------------------------------------------------------------------------


def set_qr_logo(db: Database, link_id: int, media_type: str, data: bytes, now: str) -> None:
    db.execute(
        "INSERT INTO qr_logos (link_id, media_type, data, created_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (link_id) DO UPDATE SET media_type = excluded.media_type, "
        "data = excluded.data, created_at = excluded.created_at",
        (link_id, media_type, data, now),
    )


def get_qr_logo(db: Database, link_id: int) -> tuple[str, bytes] | None:
    row = db.execute(
        "SELECT media_type, data FROM qr_logos WHERE link_id = ?", (link_id,)
    ).fetchone()
    return None if row is None else (row[0], bytes(row[1]))


def delete_qr_logo(db: Database, link_id: int) -> None:
    db.execute("DELETE FROM qr_logos WHERE link_id = ?", (link_id,))
