"""Migrations on an empty and on an already-migrated database, and the pragmas we rely on."""

from __future__ import annotations

import sqlite3

from app.core import db as dbmod
from app.storage import migrations

from . import backends

# The SQLite migrations themselves (PostgreSQL starts from its baseline: test_pg_schema).
pytestmark = backends.sqlite_only


def test_empty_database_gets_every_table_in_wal_mode(tmp_path):
    path = tmp_path / "fresh.db"
    db = dbmod.open_database(str(path))
    applied = migrations.apply(db)
    assert applied == [m.name for m in migrations.migrations._migrations]
    tables = set(db.table_names())
    assert {"campaigns", "links", "events", "orphan_hits", "api_tokens"} <= tables
    # A plain file any sqlite3 shell can open, in WAL mode for concurrent readers.
    plain = sqlite3.connect(path)
    assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert plain.execute("SELECT count(*) FROM events").fetchone()[0] == 0
    plain.close()


def test_migrating_again_changes_nothing_and_keeps_data(tmp_path):
    path = str(tmp_path / "twice.db")
    db = dbmod.open_database(path)
    migrations.apply(db)
    db.execute(
        "INSERT INTO campaigns (name, channel, utm_source, utm_medium, utm_campaign, created_at,"
        " updated_at) VALUES ('c', 'email', 's', 'm', 'c', 'now', 'now')"
    )
    again = dbmod.open_database(path)
    assert migrations.apply(again) == []
    assert migrations.pending(again) == []
    assert again.execute("SELECT count(*) FROM campaigns").fetchone()[0] == 1


def test_connection_pragmas(tmp_path):
    db = dbmod.open_database(str(tmp_path / "p.db"), synchronous="FULL", busy_timeout_ms=1234)
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 1234
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_foreign_keys_are_enforced(tmp_path):
    db = dbmod.open_database(str(tmp_path / "fk.db"))
    migrations.apply(db)
    try:
        db.execute(
            "INSERT INTO links (campaign_id, destination, created_at, updated_at) "
            "VALUES (42, 'https://x.example', 'now', 'now')"
        )
    except sqlite3.IntegrityError:
        pass
    else:
        raise AssertionError("a link to a missing campaign was accepted")
