"""Which database the suite runs on: SQLite files (the default) or, with
TOUCHPOINT_TEST_BACKEND=postgresql, a PostgreSQL server the suite starts itself.

Under PostgreSQL every app a test builds gets a fresh database copied from a migrated
template (a file copy, a few milliseconds), dropped again when the test ends. Each pytest
process (xdist worker) starts its own server in a temporary folder on first use.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import shutil
import tempfile

import pytest

BACKEND = os.environ.get("TOUCHPOINT_TEST_BACKEND", "sqlite").strip().lower() or "sqlite"
if BACKEND not in ("sqlite", "postgresql"):
    raise SystemExit("TOUCHPOINT_TEST_BACKEND must be sqlite or postgresql")
POSTGRES = BACKEND == "postgresql"
TEMPLATE = "touchpoint_template"

_state: dict = {}
_numbers = itertools.count(1)
_created: list[str] = []

sqlite_only = pytest.mark.skipif(POSTGRES, reason="about SQLite itself (its file, its locks)")
# Tests that start their own database server or never touch the app's database: the SQLite
# pass runs them; a second run on PostgreSQL would repeat them unchanged.
once = pytest.mark.skipif(POSTGRES, reason="independent of the backend: run in the SQLite pass")


def server():
    """This process's PostgreSQL server, started (with the migrated template) on first use."""
    if "server" not in _state:
        from app.core import postgres
        from app.storage import migrations

        from . import pg_server

        folder = tempfile.mkdtemp(prefix="touchpoint-pg-")
        stack = contextlib.ExitStack()
        found = stack.enter_context(pg_server.running(folder))
        atexit.register(shutil.rmtree, folder, True)
        atexit.register(stack.close)
        url = found.create_database(TEMPLATE, template="template0")
        db = postgres.connect(url)
        migrations.apply(db)
        db.close()
        _state["server"] = found
        _state["admin"] = postgres.psycopg.connect(found.url(), autocommit=True)
        atexit.register(_state["admin"].close)  # runs before the server stops (LIFO)
    return _state["server"]


def new_database_url() -> str:
    """A fresh migrated PostgreSQL database for one app; dropped by `drop_databases`."""
    found = server()
    name = f"t{os.getpid()}_{next(_numbers)}"
    _state["admin"].execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    _created.append(name)
    return found.url(name)


def empty_database_url() -> str:
    """A fresh PostgreSQL database with no tables, for `touchpoint migrate` to create them;
    dropped by `drop_databases` like the others."""
    found = server()
    name = f"t{os.getpid()}_{next(_numbers)}"
    _state["admin"].execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    _created.append(name)
    return found.url(name)


def created() -> int:
    """How many databases exist now: `drop_databases(created())` later drops the newer."""
    return len(_created)


def drop_databases(keep: int = 0) -> None:
    """Drop the databases created after the first `keep` (their connections closed first):
    a test's own after it, a module's after the module."""
    if len(_created) <= keep:
        return
    from app.core import db

    db.close_connections()
    while len(_created) > keep:
        name = _created.pop()
        _state["admin"].execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def settings_for(folder) -> dict:
    """The app settings that put a test's database in `folder` (SQLite) or on the server."""
    if POSTGRES:
        return {"DATABASE_URL": new_database_url()}
    return {"DATABASE": str(folder / "touchpoint.db")}


def same_database(app) -> dict:
    """The app settings that give a second app the database of `app`."""
    key = "DATABASE_URL" if POSTGRES else "DATABASE"
    return {key: app.extensions["touchpoint"].database_path}


def environment(app) -> dict[str, str]:
    """The environment a gunicorn or CLI process needs to reach the same database as `app`."""
    rt = app.extensions["touchpoint"]
    files = {"TOUCHPOINT_JOBS_DIR": rt.config["JOBS_DIR"]}
    if POSTGRES:
        return {"TOUCHPOINT_DATABASE_URL": rt.database_path, **files}
    return {"TOUCHPOINT_DATABASE": rt.database_path, **files}


def refuse_writes(db, refuse: bool = True) -> None:
    """Make one connection refuse every write, as a read-only or full database does
    (SQLite: query_only, "attempt to write a readonly database"; PostgreSQL: a read-only
    session, "cannot execute INSERT in a read-only transaction", as on a standby)."""
    if getattr(db, "dialect", "sqlite") == "postgresql":
        db.execute(f"SET default_transaction_read_only = {'on' if refuse else 'off'}")
    else:
        db.execute(f"PRAGMA query_only = {1 if refuse else 0}")


def dump(db) -> str:
    """Every row of every table as text: to show a secret is stored nowhere in the clear."""
    if getattr(db, "dialect", "sqlite") != "postgresql":
        return "\n".join(db.conn.iterdump())
    tables = [
        r[0]
        for r in db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    ]
    return "\n".join(
        str(row[0]) for table in tables for row in db.execute(f'SELECT t::text FROM "{table}" t')
    )
