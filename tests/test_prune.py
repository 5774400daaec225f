"""Retention: old orphan hits and bot hits go, human hits stay, reports of people unchanged."""

from __future__ import annotations

import time

from app import storage
from app.cli import cli
from app.clicks.hit import Hit
from app.core import clock
from app.server import maintenance

DAY = 86400


def _event(n: int, link: dict, days_ago: float, is_bot: int) -> Hit:
    at = clock.to_iso(clock.utcnow()) if days_ago == 0 else _ago(days_ago)
    return Hit(
        f"e{n:04d}",
        "click",
        at,
        link["id"],
        link["campaign_id"],
        None,
        f"v{n}",
        "198.51.100.0",
        "ua",
        None,
        is_bot,
        "ua:bot" if is_bot else None,
        "redirect",
        None,
        None,
    )


def _ago(days: float) -> str:
    return maintenance._days_before(time.time(), days)


def _seed(app, api) -> None:
    db = app.extensions["touchpoint"].db()
    link = api.link()
    for n, (days_ago, is_bot) in enumerate([(200, 0), (200, 1), (100, 1), (10, 1), (1, 0)]):
        storage.insert_hit(db, _event(n, link, days_ago, is_bot))
    for days_ago in (60, 40, 5):
        storage.record_orphan_hit(db, _ago(days_ago), "/r/x", "198.51.100.0", "ua", None, 50)


def _human_totals(db) -> tuple:
    storage.refresh_report_tables(db)
    return db.execute(
        "SELECT sum(human_clicks), count(DISTINCT day) FROM report_days WHERE human_clicks > 0"
    ).fetchone()


def test_prune_command_removes_old_orphans_and_bots_only(app, api):
    _seed(app, api)
    db = app.extensions["touchpoint"].db()
    humans_before = _human_totals(db)
    result = app.test_cli_runner().invoke(cli, ["prune"])
    assert result.exit_code == 0, result.output
    assert "2 orphan hits" in result.output and "2 bot hits" in result.output
    ids = [r[0] for r in db.execute("SELECT id FROM events ORDER BY id")]
    assert ids == ["e0000", "e0003", "e0004"]  # both humans, and the bot hit of 10 days ago
    assert db.execute("SELECT count(*) FROM orphan_hits").fetchone()[0] == 1
    assert _human_totals(db) == humans_before
    bots = db.execute("SELECT sum(bot_hits) FROM report_days").fetchone()[0]
    assert bots == 1  # the report tables follow the events that remain


def test_prune_help_names_the_settings(app):
    result = app.test_cli_runner().invoke(cli, ["prune", "--help"])
    assert "TOUCHPOINT_ORPHAN_RETENTION_DAYS" in result.output
    assert "TOUCHPOINT_BOT_HIT_RETENTION_DAYS" in result.output


def test_tick_prunes_once_a_day_across_processes(app, api):
    _seed(app, api)
    rt = app.extensions["touchpoint"]
    db = rt.db()
    now = time.time()
    maintenance.tick(db, rt.config, now)
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 3
    link = api.link()
    storage.insert_hit(db, _event(99, link, 300, 1))
    # Another process's tick the same day: the day is claimed in the database already.
    from app.core import db as dbmod

    other = dbmod.open_database(rt.database_path)
    maintenance.tick(other, rt.config, now + 60)
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 4
    maintenance.tick(other, rt.config, now + DAY)
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 3


def test_zero_keeps_everything(app, api):
    _seed(app, api)
    rt = app.extensions["touchpoint"]
    config = {**rt.config, "ORPHAN_RETENTION_DAYS": 0, "BOT_HIT_RETENTION_DAYS": 0}
    removed = maintenance.prune(rt.db(), config, time.time())
    assert removed == {"orphan_hits": 0, "orphan_counts": 0, "bot_hits": 0}
