"""Journeys: the conversions a report credits and every touch of the people behind them.

Touches are human (non-bot, non-scanner) clicks and QR scans, coupon claims and booth scans,
and for attribution also the lead's sales activities (calls, meetings, demos, emails, chats:
every kind but a note). A conversion's journey is every touch of its lead and of every
visitor stitched to that lead (lead_visitors), plus its own visitor and the click it names.
Conversions are those posted through the API and redemptions that were not voided.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from sqlite_utils import Database

from .. import storage
from .params import Period

_LAST = float("inf")  # sorts after any event rowid, for bisecting "at or before"
_EARLIEST = -(2**62)
_NONE: list = []  # shared, never changed


@dataclass(slots=True)
class Conversion:
    """One conversion to credit: an API conversion or a redemption.

    lead: its lead, or the lead its visitor is stitched to; visitor_n: its own visitor.
    """

    ms: int
    value_minor: int
    currency: str | None
    lead: str | None
    visitor_n: int | None
    click_id: str | None = None
    # A redemption of a shared code or of a code nobody claimed: no journey, its campaign
    # takes the whole credit as "direct (code)".
    direct_campaign_id: int | None = None
    location: str | None = None
    visitors: tuple[int, ...] = ()  # the person's browsers, set by Journeys
    kind: str = "redemption"  # the conversion's type; redemptions are "redemption"
    conversion_id: int | None = None  # an API conversion's id (offline touches name it)


class Journeys:
    """Every touch of the people behind a list of conversions, read in a few queries.

    A touch is (at_ms, event rowid, kind, campaign, link, store, ...): tuples sort in time
    order. Only touches inside some conversion's window are read (window None: all before).
    `activities` (storage.sales_activities_between over the conversions' windows) are the
    leads' sales activities that are touches too: kind ACTIVITY_KIND, the activity id negated
    for a rowid, no link or store. `offline` (storage.offline_touches_between) are partner
    and "customer mentioned" touches: a lead's, or for a sale without a lead, its
    conversion's; their tuples carry the partner as an eighth element.
    """

    def __init__(
        self,
        db: Database,
        conversions: list[Conversion],
        window_ms: int | None,
        last: storage.Mark,
        *,
        activities: list[tuple] | None = None,
        offline: list[tuple] | None = None,
    ) -> None:
        people = [c for c in conversions if c.direct_campaign_id is None]
        visitors_of: dict[str, tuple[int, ...]] = {}
        for lead, number in storage.lead_visitor_numbers(db, {c.lead for c in people if c.lead}):
            visitors_of[lead] = (*visitors_of.get(lead, ()), number)
        by_visitor: dict[int, list[tuple[int, int]]] = {}
        by_lead: dict[str, list[tuple[int, int]]] = {}
        for conversion in people:
            # The lead's browsers and the conversion's own, worked out once.
            numbers = visitors_of.get(conversion.lead, ()) if conversion.lead else ()
            if conversion.visitor_n and conversion.visitor_n not in numbers:
                numbers = (*numbers, conversion.visitor_n)
            conversion.visitors = numbers
            span = (_EARLIEST if window_ms is None else conversion.ms - window_ms, conversion.ms)
            for number in numbers:
                by_visitor.setdefault(number, []).append(span)
            if conversion.lead:
                by_lead.setdefault(conversion.lead, []).append(span)
        self.by_visitor = storage.touches_of_visitors(db, _merged(by_visitor))
        lead_windows = _merged(by_lead)
        self.by_lead = storage.touches_of_leads(db, lead_windows)
        if activities:
            for lead, found in _activity_touches(activities, lead_windows).items():
                self.by_lead[lead] = sorted((*self.by_lead.get(lead, ()), *found))
        self.by_conversion: dict[int, list[tuple]] = {}
        if offline:
            for lead, found in _offline_touches(offline, lead_windows).items():
                self.by_lead[lead] = sorted((*self.by_lead.get(lead, ()), *found))
            wanted = {c.conversion_id for c in people if c.conversion_id and not c.lead}
            for _, ms, touch_id, kind, lead, conversion_id, campaign, partner, where in offline:
                if lead is None and conversion_id in wanted:
                    touch = (ms, touch_id, kind, campaign, None, where, None, partner)
                    self.by_conversion.setdefault(conversion_id, []).append(touch)
            for touches in self.by_conversion.values():
                touches.sort()
        clicks = {c.click_id for c in people if c.click_id}
        self.clicks = storage.click_touches(db, clicks, last) if clicks else {}
        self._cache: dict[tuple, list[tuple]] = {}

    def touches(self, conversion: Conversion) -> list[tuple]:
        """The touches of the conversion's person, oldest first."""
        numbers = conversion.visitors
        by_lead = self.by_lead.get(conversion.lead) if conversion.lead else None
        click = self.clicks.get(conversion.click_id) if conversion.click_id else None
        own = (
            self.by_conversion.get(conversion.conversion_id)
            if self.by_conversion and conversion.conversion_id is not None
            else None
        )
        if own is not None:
            by_lead = sorted((*(by_lead or ()), *own))
        if by_lead is None and click is None and len(numbers) < 2:
            return self.by_visitor.get(numbers[0], _NONE) if numbers else _NONE
        key = (
            conversion.lead,
            numbers,
            conversion.click_id,
            conversion.conversion_id if own else None,
        )
        found = self._cache.get(key)
        if found is None:
            sources = [self.by_visitor.get(n, _NONE) for n in numbers]
            sources += [by_lead or _NONE, [click] if click else _NONE]
            # A touch can be both the lead's and a visitor's (a personal link): once only.
            found = sorted({t[1]: t for source in sources for t in source}.values())
            self._cache[key] = found
        return found


def _activity_touches(activities: list[tuple], windows: list[tuple]) -> dict[str, list[tuple]]:
    """{lead: touch tuples of its activities inside one of its (lead, from, to) windows}."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for lead, low, high in windows:
        spans.setdefault(lead, []).append((low, high))
    found: dict[str, list[tuple]] = {}
    kind = storage.ACTIVITY_KIND
    for _, ms, activity_id, lead, campaign_id in activities:
        for low, high in spans.get(lead, _NONE):
            if low <= ms <= high:
                touch = (ms, -activity_id, kind, campaign_id, None, None, lead)
                found.setdefault(lead, []).append(touch)
                break
    return found


def _offline_touches(offline: list[tuple], windows: list[tuple]) -> dict[str, list[tuple]]:
    """{lead: touch tuples of its offline touches inside one of its windows}."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for lead, low, high in windows:
        spans.setdefault(lead, []).append((low, high))
    found: dict[str, list[tuple]] = {}
    for _, ms, touch_id, kind, lead, _, campaign, partner, where in offline:
        for low, high in spans.get(lead, _NONE) if lead else _NONE:
            if low <= ms <= high:
                touch = (ms, touch_id, kind, campaign, None, where, lead, partner)
                found.setdefault(lead, []).append(touch)
                break
    return found


def count_until(touches: list[tuple], ms: int) -> int:
    """How many of these touches (oldest first) happened at or before `ms`."""
    return bisect_right(touches, (ms, _LAST))


def _merged(spans: dict) -> list[tuple]:
    """(key, from, to) windows with the overlapping spans of each key joined."""
    out = []
    for key, found in spans.items():
        found.sort()
        low, high = found[0]
        for start, end in found[1:]:
            if start > high:
                out.append((key, low, high))
                low = start
            high = max(high, end)
        out.append((key, low, high))
    return out


def conversions_in(
    db: Database, period: Period, types: tuple[str, ...] | None
) -> tuple[list[Conversion], list[tuple]]:
    """(conversions to credit, every redemption not voided) in the period."""
    api_types = None if types is None else [t for t in types if t != "redemption"]
    found = []
    if api_types is None or api_types:
        for row in storage.conversions_between(db, period.start, period.end, api_types):
            kind, _, ms, lead, number, click, value, currency, conversion_id, where = row
            found.append(
                Conversion(
                    ms,
                    value or 0,
                    currency,
                    lead,
                    number,
                    click,
                    location=where,
                    kind=kind,
                    conversion_id=conversion_id,
                )
            )
    redemptions = storage.redemptions_between(db, period.start, period.end)
    if types is None or "redemption" in types:
        for red in redemptions:
            _, ms, amount, currency, campaign_id, location, claim_id, number, lead, _ = red
            if claim_id is None:
                found.append(
                    Conversion(ms, amount or 0, currency, None, None, None, campaign_id, location)
                )
            else:
                found.append(Conversion(ms, amount or 0, currency, lead, number))
    return found, redemptions
