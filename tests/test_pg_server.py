"""The tests' own PostgreSQL server (tests/pg_server.py): it starts as an unprivileged user in
a temporary folder, answers on a unix socket only, hands out fresh databases cheaply from a
template, and its test-only settings are the ones asked for."""

from __future__ import annotations

import pytest

from . import backends, pg_server

pytestmark = [pytest.mark.slow, backends.once]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with pg_server.running(tmp_path_factory.mktemp("postgres")) as found:
        yield found


def test_databases_from_a_template_are_separate_copies(server):
    import psycopg

    server.create_database("base")
    server.psql("CREATE TABLE marks (n integer); INSERT INTO marks VALUES (7)", "base")
    first = server.create_database("first", template="base")
    second = server.create_database("second", template="base")
    with psycopg.connect(first, autocommit=True) as conn:
        conn.execute("INSERT INTO marks VALUES (8)")
        assert [r[0] for r in conn.execute("SELECT n FROM marks ORDER BY n")] == [7, 8]
    with psycopg.connect(second) as conn:
        assert [r[0] for r in conn.execute("SELECT n FROM marks")] == [7]


def test_the_server_runs_with_the_test_settings_on_a_socket_only(server):
    import psycopg

    with psycopg.connect(server.url()) as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('fsync', 'listen_addresses', 'server_encoding', 'max_connections')"
            ).fetchall()
        )
    assert settings == {
        "fsync": "off",
        "listen_addresses": "",
        "server_encoding": "UTF8",
        "max_connections": "200",
    }
    assert any(p.name.startswith(".s.PGSQL.") for p in server.socket_dir.iterdir())
