"""What one client can make Touchpoint store: values cut, orphan floods counted not kept."""

from __future__ import annotations

from app import storage
from app.clicks import hit

from .conftest import events


def test_long_user_agent_and_referrer_are_cut_before_storing(client, api, app):
    link = api.link()
    agent, referrer = "Mozilla/5.0 " + "A" * 8000, "https://example.com/" + "r" * 8000
    response = client.get(f"/r/{link['token']}", headers={"User-Agent": agent, "Referer": referrer})
    assert response.status_code == 302
    (event,) = events(app)
    assert event["user_agent"] == agent[: hit.MAX_USER_AGENT]
    assert event["referrer"] == referrer[: hit.MAX_REFERRER]

    assert client.get("/r/nope", headers={"User-Agent": agent}).status_code == 404
    (orphan,) = app.extensions["touchpoint"].db().query("SELECT * FROM orphan_hits")
    assert len(orphan["user_agent"]) == hit.MAX_USER_AGENT


def test_orphan_flood_from_one_address_is_counted_not_kept(client, app):
    rt = app.extensions["touchpoint"]
    limit = rt.config["ORPHAN_HITS_PER_HOUR"]
    for i in range(limit + 30):
        assert client.get(f"/r/guess-{i}", headers={"User-Agent": "x" * 8000}).status_code == 404
    db = rt.db()
    assert db.execute("SELECT count(*) FROM orphan_hits").fetchone()[0] == limit
    (count,) = storage.orphan_counts(db)
    assert count["hits"] == limit + 30
    # Another address still gets its rows.
    other = client.get("/r/guess-x", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert other.status_code == 404
    assert db.execute("SELECT count(*) FROM orphan_hits").fetchone()[0] == limit + 1


def test_wal_is_capped():
    import tempfile

    from app.core import db as dbmod

    with tempfile.TemporaryDirectory() as folder:
        conn = dbmod.open_database(f"{folder}/x.db").conn
        assert conn.execute("PRAGMA journal_size_limit").fetchone()[0] == 64 * 1024 * 1024
