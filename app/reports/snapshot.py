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


@contextlib.contextmanager
def up_to_date(db: Database) -> Iterator[storage.Mark]:
    """Sum what is new into the report tables, then hold one read snapshot for every query
    of the report; yields the mark of the last event summed (raw reads stop there)."""
    storage.refresh_report_tables(db)
    with storage.report_snapshot(db):
        last, _ = storage.report_state(db)
        yield last
