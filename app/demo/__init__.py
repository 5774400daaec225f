"""`touchpoint demo`: a realistic synthetic season in an empty database.

A running-shoe retailer (app/demo/plan.py) runs nine campaigns over eight channels for
`days` days up to now: search ads, a members newsletter with personal links and coupon
codes, social posts, banners, flyers with QR codes, till displays, club partners and a
trade-show booth. Its visitors click and scan, bots and email gateways fetch links, people
claim coupons and redeem them at the tills (a few are returned), order online, join the
club, and ask for team quotes that move through the CRM stages.

Everything is written by the same domain functions the API and pages use, replayed at the
moment it happens (app/demo/replay.py), so every report, rollup and flag agrees with what a
live server would have recorded. The same seed and end give the same database.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlite_utils import Database

from app import storage
from app.core import clock, settings
from app.core.runtime import Runtime
from app.storage import migrations

from . import plan
from .people import Crowd
from .replay import Replay
from .setup import set_up
from .traffic import Traffic

DEFAULT_SEED = 2026
DEFAULT_DAYS = 90
MIN_DAYS = 7
MAX_DAYS = 365
DEFAULT_BASE_URL = settings.LOCAL_BASE_URL
# Tables whose rows are the marketer's data. API tokens (and accounts) are not: a database
# that `make run` has already started holds a token, and the demo may still fill it.
DATA_TABLES = (
    "campaigns",
    "links",
    "events",
    "orphan_hits",
    "leads",
    "recipients",
    "lead_visitors",
    "conversions",
    "locations",
    "staff_keys",
    "offers",
    "codes",
    "claims",
    "redemptions",
    "booth_scans",
)


class NotEmpty(Exception):
    """The database already holds data; `found` is {table: rows} of the tables that do."""

    def __init__(self, found: dict[str, int]) -> None:
        self.found = found
        listed = ", ".join(f"{n:,} {table}" for table, n in found.items())
        super().__init__(f"The database already holds data ({listed}).")


@dataclass(frozen=True)
class Summary:
    season: plan.Season
    seed: int
    tables: dict[str, int]
    events: dict[str, int]


def existing_data(db: Database) -> dict[str, int]:
    """{table: rows} of the data tables that are not empty."""
    return {t: n for t, n in storage.count_rows(db, DATA_TABLES).items() if n}


def build(
    db: Database,
    rt: Runtime,
    *,
    seed: int = DEFAULT_SEED,
    days: int = DEFAULT_DAYS,
    end: datetime | None = None,
) -> Summary:
    """Migrate, then fill an empty database with `days` days of activity up to `end` (now).

    Raises NotEmpty, before writing anything, when the database holds data. Writes go
    through the domain functions, each in its own transaction (as live requests would), so
    a replay that failed half-way leaves a partial season: start again on a new file.
    """
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise ValueError(f"days must be {MIN_DAYS} to {MAX_DAYS}")
    migrations.apply(db)
    found = existing_data(db)
    if found:
        raise NotEmpty(found)
    end = end or clock.utcnow()
    season = plan.Season(end if end.tzinfo else end.replace(tzinfo=UTC), days)
    base_url = rt.config["PUBLIC_BASE_URL"] or DEFAULT_BASE_URL
    replay = Replay(db, seed, season.end, rt.scanner_rules, rt.config["CLICK_ID_PARAM"])
    rng = random.Random(f"season-{seed}")
    # Reference codes from the seed too, so one seed gives the same leads; its own stream,
    # so the season's draws are what they were before codes existed.
    storage.seed_ref_code_key(db, random.Random(f"ref-codes-{seed}").getrandbits(63))
    with replay.patched():
        crowd = Crowd(rng, replay.guid)
        shop = set_up(db, replay, crowd, rt, season, base_url)
        replay.set_time(season.start)
        Traffic(db, replay, shop, crowd, rng, rt).schedule()
        replay.run()
    # What `touchpoint report refresh` does after a bulk import: the first report is instant.
    storage.refresh_report_tables(db)
    return Summary(season, seed, storage.count_rows(db, DATA_TABLES), storage.event_counts(db))
