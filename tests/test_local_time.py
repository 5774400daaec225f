"""Which clock a customer page shows times on, and how a zone is named (app/core/local_time.py)."""

from __future__ import annotations

import pytest

from app.core.local_time import Zone, zones_of


def places(*zones: str) -> list[dict]:
    return [{"code": f"L{n}", "timezone": zone} for n, zone in enumerate(zones)]


@pytest.mark.parametrize(
    ("key", "stored", "shown"),
    [
        ("Europe/Berlin", "2026-12-31T22:59:00.000Z", "31 Dec 2026, 23:59 CET"),
        ("Europe/Berlin", "2026-07-01T10:00:00.000Z", "1 Jul 2026, 12:00 CEST"),
        ("Asia/Kolkata", "2026-07-01T10:00:00.000Z", "1 Jul 2026, 15:30 IST"),
        # Zones whose abbreviation is only a number are named by their offset.
        ("Asia/Dubai", "2026-07-01T10:00:00.000Z", "1 Jul 2026, 14:00 UTC+4"),
        ("Asia/Kathmandu", "2026-07-01T10:00:00.000Z", "1 Jul 2026, 15:45 UTC+5:45"),
        ("America/Sao_Paulo", "2026-07-01T10:00:00.000Z", "1 Jul 2026, 07:00 UTC−3"),
        ("UTC", "2026-07-01T10:00:00.000Z", "1 Jul 2026, 10:00 UTC"),
        ("Mars/Olympus_Mons", "2026-07-01T10:00:00.000Z", "1 Jul 2026, 10:00 UTC"),
    ],
)
def test_a_time_on_a_zones_clock(key, stored, shown):
    at = Zone(key).show(stored)
    assert f"{at.text} {at.abbr}" == shown and at.iso == stored


def test_the_zones_an_offers_times_are_shown_in():
    assert zones_of(places("Europe/Berlin", "Europe/Berlin")) == [Zone("Europe/Berlin")]
    assert zones_of(places("Europe/Berlin", "America/New_York", "Europe/Berlin")) == [
        Zone("Europe/Berlin", "Berlin"),
        Zone("America/New_York", "New York"),
    ]
    assert zones_of(places("UTC", "America/Argentina/Buenos_Aires")) == [
        Zone("UTC"),
        Zone("America/Argentina/Buenos_Aires", "Buenos Aires"),
    ]
    four = places("Europe/Berlin", "Europe/London", "America/New_York", "Asia/Tokyo")
    assert zones_of(four) == [Zone("UTC")]
    assert zones_of([]) == [Zone("UTC")]
    assert Zone("UTC").show(None) is None
