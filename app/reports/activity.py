"""Activity over a period: counts and visitor sets from the report tables and raw events."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from itertools import repeat

from sqlite_utils import Database

from app.core import clock

from .. import storage
from .params import DAY_MS, Period, day_of


def _split_period(period: Period) -> tuple[tuple[str, str] | None, list[tuple[str, str]]]:
    """Whole UTC days (read from report_days) and the partial days at the edges (raw)."""
    first_full = -(-period.start_ms // DAY_MS) * DAY_MS
    end_full = period.end_ms // DAY_MS * DAY_MS
    if first_full >= end_full:
        return None, [(period.start, period.end)]
    raw = []
    if period.start_ms < first_full:
        raw.append((period.start, clock.ms_to_iso(first_full)))
    if end_full < period.end_ms:
        raw.append((clock.ms_to_iso(end_full), period.end))
    return (day_of(first_full // DAY_MS), day_of(end_full // DAY_MS)), raw


def activity(
    db: Database, period: Period, last: storage.Mark, campaign_id: int | None, by_day: bool = False
) -> list[tuple]:
    """Buckets (day or month, campaign, link, store, clicks, scans, bot hits, claims, booth
    scans, packed visitor numbers) covering exactly [start, end): whole months from
    report_months (unless by_day), whole days from report_days, the rest from raw events."""
    days, raw = _split_period(period)
    buckets = []
    if days:
        first, end = days
        month_first = first[:7] if first.endswith("-01") else storage.next_month(first[:7])
        month_end = end[:7]
        if not by_day and month_first < month_end:
            buckets += storage.report_months_between(db, month_first, month_end, campaign_id)
            spans = [(first, f"{month_first}-01"), (f"{month_end}-01", end)]
        else:
            spans = [(first, end)]
        for start, stop in spans:
            if start < stop:
                buckets += storage.report_days_between(db, start, stop, campaign_id)
    for start, end in raw:
        buckets += storage.raw_activity(db, start, end, last, campaign_id)
    return buckets


def visitor_counts(blobs_of: Mapping[object, list[bytes]]) -> tuple[dict[object, int], int]:
    """(distinct visitors of each key, distinct visitors of all keys together) from buckets'
    packed visitor numbers.

    Each key's set is counted and dropped at once, and the whole is counted in marks: holding
    every key's set for one big union kept millions of ints and set slots alive, and their
    cache misses grew faster than the data.
    """
    counts = {
        key: len(set(storage.unpack_visitors(b"".join(blobs)))) for key, blobs in blobs_of.items()
    }
    return counts, marked(b"".join(b for blobs in blobs_of.values() for b in blobs)).count(1)


def marked(blob: bytes, size: int = 0) -> bytearray:
    """One byte per visitor number (at least `size`), 1 for the numbers packed in `blob`.

    A byte a visitor stays in the caches where a set of the same numbers would not.
    """
    numbers = storage.unpack_visitors(blob)
    marks = bytearray(max(max(numbers, default=-1) + 1, size))
    # map() and deque() run the loop in C, in the order of the numbers: sorted within each
    # bucket, so the writes sweep the marks.
    deque(map(marks.__setitem__, numbers, repeat(1)), maxlen=0)
    return marks
