"""Time in one format: UTC ISO 8601 with milliseconds and Z, as stored and as served."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta

# Sorted like ASCII, so ids made later compare greater as text.
_SORTABLE = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"


def now_iso() -> str:
    """The current UTC time as `YYYY-MM-DDTHH:MM:SS.mmmZ` (cheap enough for the hot path)."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def new_event_id() -> str:
    """A 15-character event id (the click id): 42 bits of milliseconds, then 48 random bits.

    Time first so new rows land at the end of the primary-key index instead of at random
    pages (a random id made every click measurably slower in bench/redirect); 48 random bits
    keep ids unguessable even within one millisecond. URL-safe, so it goes into `tp_cid` as
    is.
    """
    return event_id(int(time.time() * 1000), secrets.randbits(48))


def event_id(ms: int, random_bits: int) -> str:
    """The event id for epoch milliseconds `ms` and 48 random bits (see new_event_id).

    Apart from new_event_id so that replayed history (`touchpoint demo`) gets the id the app
    would have given an event at its own time.
    """
    value = (ms << 48) | random_bits
    return "".join(_SORTABLE[(value >> shift) & 63] for shift in range(84, -1, -6))


def to_iso(dt: datetime) -> str:
    """Format an aware datetime as stored text (naive values are taken as UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    dt = dt.astimezone(UTC)
    # The year by hand: glibc's %Y does not pad years before 1000 ("369-06-14"), which
    # fromisoformat then refuses and text order misplaces.
    return f"{dt.year:04d}" + dt.strftime("-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_input_time(text: str) -> datetime:
    """Parse ISO 8601 text into an aware UTC datetime; a value without offset is UTC.

    Raises ValueError on anything else.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty")
    value = text.strip()
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def from_iso(text: str) -> datetime:
    """Parse stored text back into an aware datetime."""
    return datetime.fromisoformat(text)


def shift_iso(text: str, seconds: float) -> str:
    """A stored time moved by `seconds` (negative for earlier), as stored text."""
    return to_iso(from_iso(text) + timedelta(seconds=seconds))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since 1970-01-01 UTC of an aware datetime (reports and the demo count in
    integer milliseconds)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def from_epoch_ms(ms: int) -> datetime:
    """The aware UTC datetime `ms` milliseconds after 1970-01-01."""
    return _EPOCH + timedelta(milliseconds=ms)


def iso_to_ms(text: str) -> int:
    """Stored time text as epoch milliseconds."""
    return epoch_ms(from_iso(text))


def ms_to_iso(ms: int) -> str:
    """Epoch milliseconds as stored time text."""
    return to_iso(from_epoch_ms(ms))


def utcnow() -> datetime:
    return datetime.now(UTC)


__all__ = [
    "UTC",
    "epoch_ms",
    "from_epoch_ms",
    "from_iso",
    "iso_to_ms",
    "ms_to_iso",
    "now_iso",
    "parse_input_time",
    "timedelta",
    "to_iso",
    "utcnow",
]
