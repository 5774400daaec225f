"""Stored UTC times as a customer reads them: on the clock of the place they apply to.

The rule for an offer (its locations, or every location when it names none):

- when they share one time zone, times are in that zone with its abbreviation at that
  moment: "31 Jan 2030, 19:00 EST" (a date across a DST change shows its own, "EDT");
- when they use two or three zones, each time is shown once per zone, labelled with the
  zone's place as well: "19:00 EST (New York)" and "01:00 CET (Berlin)";
- with more zones than that, or no locations at all, in UTC, labelled "UTC".

No Flask here; the pages format what these functions give.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.core import clock

MAX_ZONES = 3
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class Shown:
    """One moment on one zone's clock."""

    iso: str  # the stored UTC text, for <time datetime>
    date: str  # "31 Jan 2030"
    clock: str  # "19:00"
    abbr: str  # "EST", "UTC+3", "UTC"

    @property
    def text(self) -> str:
        return f"{self.date}, {self.clock}"


@dataclass(frozen=True)
class Zone:
    """A time zone to show times in; `place` is named when several zones are shown."""

    key: str
    place: str | None = None

    def show(self, stored: str | None) -> Shown | None:
        if not stored:
            return None
        try:
            moment = clock.parse_input_time(stored).astimezone(_zone(self.key))
        except ValueError:
            return Shown(stored, stored[:10], stored[11:16], "UTC")
        date = f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year}"
        return Shown(stored, date, f"{moment:%H:%M}", abbreviation(moment))


def _zone(key: str) -> ZoneInfo:
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        return _UTC  # a zone tzdata no longer knows: UTC, labelled as such


def abbreviation(moment: datetime) -> str:
    """The zone's abbreviation at that moment; zones without one get their offset: UTC+3."""
    name = moment.tzname() or ""
    if name and name[0] not in "+-":
        return name
    offset = moment.utcoffset() or timedelta(0)
    if not offset:
        return "UTC"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes > 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def place(key: str) -> str | None:
    """The place a zone is named after: America/New_York -> New York; none for UTC or Etc/."""
    if key in ("UTC", "GMT") or key.startswith(("Etc/", "UTC", "GMT")):
        return None
    return key.rsplit("/", 1)[-1].replace("_", " ")


def zones_of(locations: list[dict]) -> list[Zone]:
    """The zones an offer's times are shown in, by the rule in the module docstring."""
    keys = list(dict.fromkeys(loc["timezone"] for loc in locations if loc.get("timezone")))
    if not keys or len(keys) > MAX_ZONES:
        return [Zone("UTC")]
    if len(keys) == 1:
        return [Zone(keys[0])]
    return [Zone(key, place(key)) for key in keys]
