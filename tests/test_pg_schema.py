"""The PostgreSQL baseline (app/storage/postgres_baseline.sql) is the schema the SQLite
migrations build, table for table (issue 15): both are built here and described as the same
kind of facts (tables; columns with their type meaning, NOT NULL, default, automatic id and
collation; primary keys; indexes; unique constraints; foreign keys; CHECK counts; triggers),
and any fact found on one side only fails the test with a readable list.

Where PostgreSQL cannot say the same thing the same way, the SQLite side is described as the
baseline means it (see ROWID_STANDINS and the notes in describe_sqlite)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from app.storage import migrations

from . import backends, pg_server

pytestmark = [pytest.mark.slow, backends.once]

BASELINE = Path(migrations.__file__).with_name("postgres_baseline.sql")

# sqlite-utils' record of applied migrations: bookkeeping of the SQLite runner, not schema.
SQLITE_ONLY_TABLES = {"_sqlite_migrations"}
POSTGRES_ONLY_TABLES = {"schema_migrations"}
# The report refresh's mark (app/storage/reports.py): SQLite's one writer makes rowid order
# commit order; on PostgreSQL rows carry the id of the transaction that inserted them, and
# the mark is a (tx, rowid) pair. Nothing else may exist on one side only.
POSTGRES_ONLY_FACTS = (
    "column events.tx:",
    "column lead_visitors.tx:",
    "column report_state.last_event_tx:",
    "column report_state.last_lead_tx:",
    "index events.events_tx:",
    "index lead_visitors.lead_visitors_tx:",
)

# Tables the code reads by SQLite's implicit rowid (app/storage/*.py: reports, prune,
# dashboard, pipeline, coupon exports) though their key is text. The baseline gives each a
# real `rowid` column (bigint identity, NOT NULL, UNIQUE), so here SQLite's implicit rowid is
# described as that column.
ROWID_STANDINS = ("events", "lead_visitors", "codes", "leads")

# PostgreSQL's names for the referential actions in pg_constraint.
_ACTIONS = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


def type_meaning(declared: str) -> str:
    """A declared type (either database's) as one of integer, text, real, blob, numeric.

    For SQLite these are its affinity rules (https://sqlite.org/datatype3.html, 3.1)."""
    t = declared.lower()
    if t in ("bigint", "integer", "smallint") or "int" in t:
        return "integer"
    if t in ("bytea", "") or "blob" in t:
        return "blob"
    if any(word in t for word in ("char", "clob", "text")):
        return "text"
    if t in ("double precision", "real") or any(w in t for w in ("real", "floa", "doub")):
        return "real"
    return "numeric"


def _default(value: str | None) -> str:
    """A column default without PostgreSQL's casts or either side's quotes."""
    if value is None:
        return "none"
    value = re.sub(r"::[a-z ]+$", "", value.strip())
    if len(value) >= 2 and value[0] == value[-1] == "'":
        value = value[1:-1]
    return repr(value)


def _column(table, name, meaning, not_null, default, auto, collation) -> str:
    return (
        f"column {table}.{name}: {meaning} {'NOT NULL' if not_null else 'null'}"
        f" default={default}{' auto-id' if auto else ''}"
        f"{f' collate {collation.lower()}' if collation else ''}"
    )


def _index(table, name, columns, unique, partial) -> str:
    kind = ("unique " if unique else "") + ("partial " if partial else "")
    return f"index {table}.{name}: {kind}({', '.join(columns)})"


def _foreign_key(table, columns, target, target_columns, on_update, on_delete) -> str:
    return (
        f"foreign key {table} ({', '.join(columns)}) -> {target} ({', '.join(target_columns)})"
        f" on update {on_update} on delete {on_delete}"
    )


def _trigger(table, name, timing, event, columns) -> str:
    of = f" OF {', '.join(sorted(columns))}" if columns else ""
    return f"trigger {table}.{name}: {timing} {event}{of}"


def describe_sqlite(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    facts: set[str] = set()
    tables = {
        name: sql
        for name, sql in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
        if name not in SQLITE_ONLY_TABLES
    }
    for table, sql in tables.items():
        facts.add(f"table {table}")
        info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
        pk = [row[1] for row in sorted((r for r in info if r[5]), key=lambda r: r[5])]
        without_rowid = re.search(r"\)\s*WITHOUT\s+ROWID\s*$", sql, re.I) is not None
        # An INTEGER PRIMARY KEY of a rowid table is the rowid: numbered automatically.
        auto_id = pk[0] if len(pk) == 1 and not without_rowid else None
        collations = {
            m.group(1).lower(): m.group(2)
            for m in re.finditer(r'"?(\w+)"?\s+TEXT\b[^,]*?\bCOLLATE\s+(\w+)', sql, re.I)
        }
        for _, name, declared, not_null, default, in_pk in info:
            auto = name == auto_id and declared.upper() == "INTEGER"
            # SQLite lets a text PRIMARY KEY of a rowid table hold NULL (a kept legacy bug);
            # PostgreSQL's keys are NOT NULL. The code never stores a NULL key.
            facts.add(
                _column(
                    table,
                    name,
                    type_meaning(declared),
                    bool(not_null or in_pk),
                    _default(default),
                    auto,
                    collations.get(name.lower()),
                )
            )
        if table in ROWID_STANDINS:
            implicit = not without_rowid and not (auto_id and info[0][2].upper() == "INTEGER")
            assert implicit, f"{table}: its rowid is not implicit, so it needs no stand-in"
            facts.add(_column(table, "rowid", "integer", True, "none", True, None))
            facts.add(f"unique {table} (rowid)")
        if pk:
            facts.add(f"primary key {table} ({', '.join(pk)})")
        for _, index, unique, origin, partial in conn.execute(f'PRAGMA index_list("{table}")'):
            columns = [r[2] for r in conn.execute(f'PRAGMA index_info("{index}")')]
            if origin == "u":
                facts.add(f"unique {table} ({', '.join(columns)})")
            elif origin == "c":
                facts.add(_index(table, index, columns, bool(unique), bool(partial)))
            # origin "pk": the primary key, described above.
        fks: dict[int, list] = {}
        for fk_id, seq, target, src, dst, on_update, on_delete, _ in conn.execute(
            f'PRAGMA foreign_key_list("{table}")'
        ):
            fks.setdefault(fk_id, []).append((seq, target, src, dst, on_update, on_delete))
        for rows in fks.values():
            rows.sort()
            target, on_update, on_delete = rows[0][1], rows[0][4], rows[0][5]
            dst = [r[3] for r in rows]
            if None in dst:  # REFERENCES t without columns: t's primary key
                target_info = conn.execute(f'PRAGMA table_info("{target}")').fetchall()
                dst = [r[1] for r in sorted((r for r in target_info if r[5]), key=lambda r: r[5])]
            facts.add(_foreign_key(table, [r[2] for r in rows], target, dst, on_update, on_delete))
        checks = len(re.findall(r"\bCHECK\s*\(", sql, re.I))
        facts.add(f"checks {table}: {checks}")
    for name, table, sql in conn.execute(
        "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'"
    ):
        m = re.search(
            r"\b(BEFORE|AFTER|INSTEAD\s+OF)\s+(INSERT|UPDATE|DELETE)(?:\s+OF\s+(.+?))?\s+ON\s",
            sql,
            re.I | re.S,
        )
        assert m, f"trigger {name}: cannot read its event from {sql!r}"
        columns = [c.strip() for c in m.group(3).split(",")] if m.group(3) else []
        facts.add(_trigger(table, name, m.group(1).upper(), m.group(2).upper(), columns))
    conn.close()
    return facts


def describe_postgres(url: str) -> set[str]:
    import psycopg

    facts: set[str] = set()
    with psycopg.connect(url) as conn:
        for (table,) in conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        ):
            facts.add(f"table {table}")
        for table, name, data_type, nullable, default, identity, collation in conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default, "
            "is_identity, collation_name FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        ):
            facts.add(
                _column(
                    table,
                    name,
                    type_meaning(data_type),
                    nullable == "NO",
                    _default(default),
                    identity == "YES",
                    collation,
                )
            )
        constraints = conn.execute(
            "SELECT c.contype, t.relname, "
            " array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i) "
            "       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n "
            "       ORDER BY k.i), "
            " r.relname, "
            " array(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i) "
            "       JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n "
            "       ORDER BY k.i), "
            " c.confupdtype, c.confdeltype "
            "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
            "JOIN pg_namespace s ON s.oid = t.relnamespace "
            "LEFT JOIN pg_class r ON r.oid = c.confrelid WHERE s.nspname = 'public'"
        ).fetchall()
        checks: dict[str, int] = {}
        for kind, table, columns, target, target_columns, on_update, on_delete in constraints:
            if kind == "p":
                facts.add(f"primary key {table} ({', '.join(columns)})")
            elif kind == "u":
                facts.add(f"unique {table} ({', '.join(columns)})")
            elif kind == "f":
                facts.add(
                    _foreign_key(
                        table,
                        columns,
                        target,
                        target_columns,
                        _ACTIONS[on_update],
                        _ACTIONS[on_delete],
                    )
                )
            elif kind == "c":
                checks[table] = checks.get(table, 0) + 1
        for fact in list(facts):
            if fact.startswith("table "):
                table = fact.removeprefix("table ")
                facts.add(f"checks {table}: {checks.get(table, 0)}")
        # Indexes that are not a key's or a constraint's own (those are described above).
        for table, index, columns, unique, partial in conn.execute(
            "SELECT t.relname, x.relname, "
            " array(SELECT pg_get_indexdef(i.indexrelid, k, true) "
            "       FROM generate_series(1, i.indnatts) k ORDER BY k), "
            " i.indisunique, i.indpred IS NOT NULL "
            "FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid "
            "JOIN pg_class t ON t.oid = i.indrelid "
            "JOIN pg_namespace s ON s.oid = t.relnamespace "
            "WHERE s.nspname = 'public' "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
        ):
            columns = [c.strip('"') for c in columns]
            facts.add(_index(table, index, columns, unique, partial))
        for table, name, timing, event, columns in conn.execute(
            "SELECT t.event_object_table, t.trigger_name, t.action_timing, "
            " t.event_manipulation, array(SELECT u.event_object_column "
            "   FROM information_schema.triggered_update_columns u "
            "   WHERE u.trigger_name = t.trigger_name "
            "   AND u.event_object_table = t.event_object_table)::text[] "
            "FROM information_schema.triggers t WHERE t.trigger_schema = 'public'"
        ):
            facts.add(_trigger(table, name, timing, event, columns))
    # The migration runner's own record has no SQLite twin (that is _sqlite_migrations).
    found = {f for f in facts if not any(t in f for t in POSTGRES_ONLY_TABLES)}
    watermark = {f for f in found if f.startswith(POSTGRES_ONLY_FACTS)}
    assert len(watermark) == len(POSTGRES_ONLY_FACTS), f"PostgreSQL-only facts: {watermark}"
    return found - watermark


def schema_diff(sqlite_facts: set[str], postgres_facts: set[str]) -> list[str]:
    """One line per fact found on one side only, sorted by what it is about."""
    lines = [f"only in SQLite:     {f}" for f in sqlite_facts - postgres_facts]
    lines += [f"only in PostgreSQL: {f}" for f in postgres_facts - sqlite_facts]

    def order(line: str) -> tuple[str, bool, str]:
        # The two versions of one column (one index, ...) side by side, SQLite's first.
        fact = line.split(":", 1)[1].strip()
        return fact.split(": ")[0], not line.startswith("only in SQLite"), fact

    return sorted(lines, key=order)


def _report(diff: list[str]) -> str:
    return (
        "the PostgreSQL baseline and the SQLite migrations differ (a migration needs its "
        "PostgreSQL twin, or postgres_baseline.sql is wrong):\n  " + "\n  ".join(diff)
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with pg_server.running(tmp_path_factory.mktemp("postgres")) as found:
        yield found


@pytest.fixture(scope="module")
def sqlite_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "touchpoint.db"
    db = Database(path)
    migrations.apply(db)
    db.close()
    return path


@pytest.fixture(scope="module")
def baseline(server) -> str:
    """The name of a database holding the baseline (a template for copies); no one stays
    connected, so it can be copied."""

    from app.core import postgres

    url = server.create_database("baseline")
    db = postgres.connect(url)
    # `touchpoint migrate` on PostgreSQL: the baseline, then every migration written after it
    later = [name for name, _ in migrations.POSTGRES_MIGRATIONS]
    assert migrations.apply(db) == ["postgres_baseline", *later]
    assert migrations.pending(db) == [] and migrations.apply(db) == []
    assert migrations.applied(db)[-1] == (later or [migrations.BASELINE_LAST])[-1]
    db.close()
    return "baseline"


def test_the_postgresql_baseline_is_what_the_sqlite_migrations_build(server, sqlite_path, baseline):
    db = Database(sqlite_path)
    last = migrations.applied(db)[-1]
    db.close()
    twins = [name for name, _ in migrations.POSTGRES_MIGRATIONS]
    assert last == (twins or [migrations.BASELINE_LAST])[-1], (
        f"{last} has no PostgreSQL twin in migrations.POSTGRES_MIGRATIONS"
    )
    diff = schema_diff(describe_sqlite(sqlite_path), describe_postgres(server.url(baseline)))
    assert not diff, _report(diff)


def test_the_comparison_names_exactly_what_drifted(server, sqlite_path, baseline):
    import psycopg

    url = server.create_database("drifted", template=baseline)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE campaigns DROP COLUMN notes")
        conn.execute("DROP INDEX events_bot_at")
        conn.execute("CREATE INDEX links_label ON links (label) WHERE label IS NOT NULL")
        conn.execute("ALTER TABLE jobs ALTER COLUMN progress TYPE bigint")
        conn.execute("ALTER TABLE claims DROP CONSTRAINT claims_code_fkey")
    diff = schema_diff(describe_sqlite(sqlite_path), describe_postgres(url))
    assert diff == [
        "only in SQLite:     column campaigns.notes: text null default=none",
        "only in SQLite:     column jobs.progress: real NOT NULL default='0'",
        "only in PostgreSQL: column jobs.progress: integer NOT NULL default='0'",
        "only in SQLite:     foreign key claims (code) -> codes (code) on update NO ACTION"
        " on delete NO ACTION",
        "only in SQLite:     index events.events_bot_at: partial (at)",
        "only in PostgreSQL: index links.links_label: partial (label)",
    ], _report(diff)


def test_what_the_facts_do_not_show_behaves_alike(server, sqlite_path, baseline):
    """The seeded report_state row, the report triggers (rewritten in PL/pgSQL) and the
    case-insensitive users.email (NOCASE there, an ICU collation here)."""
    import psycopg

    with sqlite3.connect(sqlite_path) as lite:
        seeded = lite.execute("SELECT * FROM report_state").fetchall()
    url = server.create_database("behaviour", template=baseline)
    with psycopg.connect(url, autocommit=True) as conn:
        columns = "id, last_event_rowid, last_event_id, last_lead_rowid, last_lead_visitor_id"
        assert conn.execute(f"SELECT {columns} FROM report_state").fetchall() == seeded
        for n in (1, 2):
            conn.execute(
                "INSERT INTO events (id, type, at, outcome) VALUES (%s, 'click', 'x', 'ok')",
                (f"e{n}",),
            )
        first = conn.execute("SELECT rowid FROM events WHERE id = 'e1'").fetchone()[0]
        # The mark is (tx, rowid) here: e1's, and e2 came in a later transaction.
        conn.execute(
            "UPDATE report_state SET last_event_rowid = %s, "
            "last_event_tx = (SELECT tx FROM events WHERE id = 'e1')",
            (first,),
        )
        conn.execute("UPDATE events SET at = 'y'")  # only e1 was summed
        conn.execute("UPDATE events SET outcome = 'gone'")  # not a column the trigger watches
        conn.execute("DELETE FROM events")
        assert conn.execute(
            "SELECT event_rowid, at FROM report_changes ORDER BY id"
        ).fetchall() == [
            (first, "x"),
            (first, "y"),
        ]
        user = (
            "INSERT INTO users (email, role, password_hash, created_at, password_changed_at) "
            "VALUES (%s, 'admin', 'h', 't', 't')"
        )
        conn.execute(user, ("Ann@Example.com",))
        assert (
            conn.execute("SELECT count(*) FROM users WHERE email = 'ann@example.COM'").fetchone()[0]
            == 1
        )
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(user, ("ANN@example.com",))


def test_a_postgresql_install_from_before_a_migration_is_upgraded_with_its_data(server):
    """A database made by an earlier release (the baseline alone) with leads in it: the
    next `touchpoint migrate` applies the later steps and their data steps (m015 gives every
    lead a reference code, oldest first)."""
    import psycopg

    from app.core import postgres
    from app.storage import people

    url = server.create_database("older_release")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(BASELINE.read_text())
        conn.execute(
            "CREATE TABLE schema_migrations (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            " name text NOT NULL UNIQUE, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for name in migrations.BASELINE_INCLUDES:
            conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
        for n in range(3):
            at = f"2026-01-0{n + 1}T00:00:00Z"
            conn.execute(
                "INSERT INTO leads (id, email, email_key, first_seen, last_seen, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (f"00000000-0000-4000-8000-00000000000{n}", f"p{n}@x.io", f"p{n}@x.io", at, at, at),
            )
    db = postgres.connect(url)
    try:
        assert migrations.apply(db) == [name for name, _ in migrations.POSTGRES_MIGRATIONS]
        rows = db.execute("SELECT ref_number, ref_code FROM leads ORDER BY created_at").fetchall()
        assert [r[0] for r in rows] == [0, 1, 2]
        assert all(people.find_lead_by_ref_code(db, code) for _, code in rows)
    finally:
        db.close()
