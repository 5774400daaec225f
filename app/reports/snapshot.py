"""How a report runs: on report tables brought up to date, in one read snapshot, with the
cyclic garbage collector paused."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

from sqlite_utils import Database

from .. import storage


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a report is computed.

    A report allocates hundreds of thousands of tuples and lists, none of them in cycles; each
    full collection meanwhile walks every live object, so its cost grows with the data (a
    visible share of a report at 3M events in bench/report). Reference counting still frees
    everything.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# How long a report waits for the standby to replay its own refresh before reading what the
# standby has (milliseconds on a healthy standby; a lagging one must not stall the page).
REPLICA_WAIT_S = 2.0


@contextlib.contextmanager
def up_to_date(
    db: Database, reader: Database | None = None
) -> Iterator[tuple[Database, storage.Mark]]:
    """Sum what is new into the report tables on `db`, then hold one read snapshot for every
    query of the report, on `reader` (a PostgreSQL standby: TOUCHPOINT_REPORTS_DATABASE_URL)
    or on `db`; yields (the database to read, the mark of the last event summed there: raw
    reads stop at it).

    A standby replays the primary's commits in order, so whatever it has replayed holds the
    report tables and their mark as one commit left them: a report there may be a little
    older than the primary (up to REPLICA_WAIT_S is waited for), never inconsistent."""
    summed = storage.refresh_report_tables(db)
    if reader is not None and summed:
        storage.replica_caught_up(db, reader, REPLICA_WAIT_S)
    source = reader or db
    with storage.report_snapshot(source):
        last, _ = storage.report_state(source)
        yield source, last
