"""Reports: time-window attribution with cost and ROI, the funnel, and time to convert.

The API and the CLI hand in query parameters as text; this module checks them (each error
names its parameter), reads through the storage layer and returns plain dicts. How credit is
shared among touches is app/attribution.py.

Touches are human (non-bot, non-scanner) clicks and QR scans, coupon claims and booth scans.
A conversion's journey is every touch of its lead and of every visitor stitched to that lead
(lead_visitors), plus its own visitor and the click it names. Conversions are those posted
through the API and redemptions that were not voided.

Money: a report is in one currency. Without `currency=`, values and costs in more than one
currency are refused (422 naming `currency`); with it, conversions in other currencies are
left out (counted in totals.excluded_other_currency) and so are costs in other currencies.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import re
import statistics
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from operator import itemgetter

from sqlite_utils import Database

from . import attribution, clock, money, store
from .attribution import Model
from .errors import ValidationError

GROUP_BYS = ("campaign", "channel", "link", "location", "day")
FORMATS = ("json", "csv")
UNATTRIBUTED = "(unattributed)"
DIRECT = "direct (code)"
NO_LABELS = {
    "campaign": "(no campaign)",
    "channel": "(no campaign)",
    "link": "(no link)",
    "location": "(no location)",
}
DEFAULT_WINDOW_S = 7 * 86_400
DEFAULT_PERIOD = timedelta(days=30)
COLUMNS = (
    "key",
    "label",
    "touches",
    "human_clicks",
    "scans",
    "bot_clicks",
    "unique_visitors",
    "claims",
    "redemptions",
    "conversions",
    "revenue",
    "cost",
    "cost_per_conversion",
    "roi",
    "median_time_to_convert_s",
)
TIME_BUCKETS = (("< 1 h", 3_600), ("< 1 d", 86_400), ("< 7 d", 7 * 86_400), ("< 30 d", 30 * 86_400))
LATER = "later"
_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_DAY_MS = 86_400_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A direct (code) credit has no touch; it stands in as a touch of this kind.
_DIRECT_KIND = 0
_LAST = float("inf")  # sorts after any event rowid, for bisecting "at or before"
_EARLIEST = -(2**62)
_NONE: list = []  # shared, never changed


# Parameters --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """[start, end) as stored text and as epoch milliseconds."""

    start: str
    end: str
    start_ms: int
    end_ms: int

    @classmethod
    def of(cls, start: str, end: str) -> Period:
        """A period from two stored times."""
        return cls(start, end, _ms(start), _ms(end))


@dataclass(frozen=True)
class Params:
    """A checked report request."""

    period: Period
    campaign_id: int | None = None
    types: tuple[str, ...] | None = None
    currency: str | None = None
    window_s: int = DEFAULT_WINDOW_S
    model: Model = field(default_factory=Model)
    group_by: str | None = None
    format: str = "json"


def _ms(text: str) -> int:
    return (clock.from_iso(text) - _EPOCH) // timedelta(milliseconds=1)


def _iso(ms: int) -> str:
    return clock.to_iso(_EPOCH + timedelta(milliseconds=ms))


@lru_cache(maxsize=8192)
def _day(day_number: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day_number)).isoformat()


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a report is computed.

    A report allocates hundreds of thousands of tuples and lists, none of them in cycles; each
    full collection meanwhile walks every live object, so its cost grows with the data (10% of
    a report at 3M events in bench/report). Reference counting still frees everything.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _choice(args: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = (args.get(name) or default).strip()
    if value not in choices:
        raise ValidationError(
            f"'{name}' must be one of: {', '.join(choices)}.", field=name, code="invalid_choice"
        )
    return value


def _period(args: Mapping[str, str], now: datetime) -> Period:
    """`from` and `to` (ISO 8601; a date means its midnight UTC); default: the last 30 days."""
    end = _timestamp(args, "to") or clock.to_iso(now)
    start = _timestamp(args, "from") or clock.to_iso(clock.from_iso(end) - DEFAULT_PERIOD)
    if start >= end:
        raise ValidationError("'from' must be before 'to'.", field="from")
    return Period.of(start, end)


def _timestamp(args: Mapping[str, str], name: str) -> str | None:
    value = args.get(name)
    if value is None or not value.strip():
        return None
    try:
        return clock.to_iso(clock.parse_iso(value))
    except ValueError:
        raise ValidationError(
            f"'{name}' is not an ISO 8601 time or date such as 2026-11-01T00:00:00Z.",
            field=name,
        ) from None


def _campaign_id(db: Database, args: Mapping[str, str]) -> int | None:
    value = (args.get("campaign_id") or "").strip()
    if not value:
        return None
    if not value.isdigit() or not 0 < int(value) < 2**63:
        raise ValidationError("'campaign_id' must be a campaign id.", field="campaign_id")
    if store.get_campaign(db, int(value)) is None:
        raise ValidationError(
            f"No campaign with id {value}.", field="campaign_id", code="unknown_campaign"
        )
    return int(value)


def _types(args: Mapping[str, str]) -> tuple[str, ...] | None:
    """`type=sale,redemption`: conversion types to count; `redemption` means redemptions."""
    value = (args.get("type") or "").strip()
    if not value:
        return None
    types = tuple(dict.fromkeys(t.strip().lower() for t in value.split(",")))
    for kind in types:
        if not _TYPE_RE.match(kind):
            raise ValidationError(
                "'type' is a comma-separated list of conversion types, such as sale,redemption.",
                field="type",
            )
    return types


def _currency(args: Mapping[str, str]) -> str | None:
    value = (args.get("currency") or "").strip().upper()
    if not value:
        return None
    if not money.is_currency(value):
        raise ValidationError(
            "'currency' must be a three-letter ISO 4217 code such as EUR.", field="currency"
        )
    return value


def _reject_unknown(args: Mapping[str, str], allowed: set[str]) -> None:
    """A typo such as `modle=linear` must not quietly give the default report."""
    for name in args:
        if name not in allowed:
            raise ValidationError(
                f"Unknown parameter '{name}'; known: {', '.join(sorted(allowed))}.",
                field=name,
                code="unknown_parameter",
            )


def attribution_params(db: Database, args: Mapping[str, str], now: datetime) -> Params:
    """Check the parameters of the attribution report."""
    _reject_unknown(
        args,
        {
            "from",
            "to",
            "window",
            "model",
            "weights",
            "half_life",
            "group_by",
            "campaign_id",
            "type",
            "currency",
            "format",
        },
    )
    name = _choice(args, "model", attribution.MODELS, "last_touch")
    weights = attribution.DEFAULT_WEIGHTS
    if args.get("weights"):
        if name != "position_based":
            raise ValidationError(
                "'weights' applies to model=position_based only.", field="weights"
            )
        weights = attribution.parse_weights(args["weights"])
    half_life = attribution.DEFAULT_HALF_LIFE_S
    if args.get("half_life"):
        if name != "time_decay":
            raise ValidationError(
                "'half_life' applies to model=time_decay only.", field="half_life"
            )
        half_life = attribution.parse_duration(args["half_life"], "half_life")
    window = DEFAULT_WINDOW_S
    if args.get("window"):
        window = attribution.parse_duration(args["window"], "window")
    return Params(
        period=_period(args, now),
        campaign_id=_campaign_id(db, args),
        types=_types(args),
        currency=_currency(args),
        window_s=window,
        model=Model(name, weights, half_life),
        group_by=_choice(args, "group_by", GROUP_BYS, "campaign"),
        format=_choice(args, "format", FORMATS, "json"),
    )


def funnel_params(db: Database, args: Mapping[str, str], now: datetime) -> Params:
    """Check the parameters of the funnel."""
    _reject_unknown(args, {"from", "to", "campaign_id", "group_by", "currency"})
    group_by = args.get("group_by") or None
    if group_by is not None and group_by != "location":
        raise ValidationError(
            "'group_by' can only be location here.", field="group_by", code="invalid_choice"
        )
    return Params(
        period=_period(args, now),
        campaign_id=_campaign_id(db, args),
        currency=_currency(args),
        group_by=group_by,
    )


def time_to_convert_params(db: Database, args: Mapping[str, str], now: datetime) -> Params:
    """Check the parameters of the time-to-convert histogram."""
    _reject_unknown(args, {"from", "to", "campaign_id", "type"})
    return Params(period=_period(args, now), campaign_id=_campaign_id(db, args), types=_types(args))


def _params_json(params: Params, currency: str | None) -> dict:
    return {
        "from": params.period.start,
        "to": params.period.end,
        "campaign_id": params.campaign_id,
        "type": list(params.types) if params.types is not None else None,
        "currency": currency,
    }


# Journeys ----------------------------------------------------------------------------------


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


class Journeys:
    """Every touch of the people behind a list of conversions, read in a few queries.

    A touch is (at_ms, event rowid, kind, campaign, link, store, ...): tuples sort in time
    order. Only touches inside some conversion's window are read (window None: all before).
    """

    def __init__(
        self, db: Database, conversions: list[Conversion], window_ms: int | None, last: int
    ) -> None:
        people = [c for c in conversions if c.direct_campaign_id is None]
        visitors_of: dict[str, tuple[int, ...]] = {}
        for lead, number in store.lead_visitor_numbers(db, {c.lead for c in people if c.lead}):
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
        self.by_visitor = store.touches_of_visitors(db, _merged(by_visitor))
        self.by_lead = store.touches_of_leads(db, _merged(by_lead))
        clicks = {c.click_id for c in people if c.click_id}
        self.clicks = store.click_touches(db, clicks, last) if clicks else {}
        self._cache: dict[tuple, list[tuple]] = {}

    def touches(self, conversion: Conversion) -> list[tuple]:
        """The touches of the conversion's person, oldest first."""
        numbers = conversion.visitors
        by_lead = self.by_lead.get(conversion.lead) if conversion.lead else None
        click = self.clicks.get(conversion.click_id) if conversion.click_id else None
        if by_lead is None and click is None and len(numbers) < 2:
            return self.by_visitor.get(numbers[0], _NONE) if numbers else _NONE
        key = (conversion.lead, numbers, conversion.click_id)
        found = self._cache.get(key)
        if found is None:
            sources = [self.by_visitor.get(n, _NONE) for n in numbers]
            sources += [by_lead or _NONE, [click] if click else _NONE]
            # A touch can be both the lead's and a visitor's (a personal link): once only.
            found = sorted({t[1]: t for source in sources for t in source}.values())
            self._cache[key] = found
        return found


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


def _conversions(
    db: Database, period: Period, types: tuple[str, ...] | None
) -> tuple[list[Conversion], list[tuple]]:
    """(conversions to credit, every redemption not voided) in the period."""
    api_types = None if types is None else [t for t in types if t != "redemption"]
    found = []
    if api_types is None or api_types:
        for _, _, ms, lead, number, click, value, currency in store.conversions_between(
            db, period.start, period.end, api_types
        ):
            found.append(Conversion(ms, value or 0, currency, lead, number, click))
    redemptions = store.redemptions_between(db, period.start, period.end)
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


# Attribution -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Row:
    touches: int = 0
    human_clicks: int = 0
    scans: int = 0
    bot_clicks: int = 0
    claims: int = 0
    redemptions: int = 0
    hundredths: int = 0
    revenue: int = 0
    visitors: list = field(default_factory=list)  # packed visitor numbers, one blob a bucket
    ages: list = field(default_factory=list)
    cost: int | None = None

    def unique_visitors(self) -> set:
        return set(store.unpack_visitors(b"".join(self.visitors)))


def _key_functions(group_by: str, campaigns: dict[int, tuple]):
    """(key of a touch, key of a bucket, key of a redemption) for one group_by.

    Touches are (at_ms, rowid, kind, campaign, link, store); buckets (day, campaign, link,
    store, ...); redemptions (day, campaign, link, store, direct). A direct (code) credit
    is a touch of kind 0.
    """
    channel = {cid: c[1] for cid, c in campaigns.items()}
    if group_by == "campaign":
        return itemgetter(3), itemgetter(1), itemgetter(1)
    if group_by == "channel":
        return (
            lambda t: DIRECT if t[2] == _DIRECT_KIND else channel.get(t[3]),
            lambda b: channel.get(b[1]),
            lambda r: DIRECT if r[4] else channel.get(r[1]),
        )
    if group_by == "link":
        return (
            lambda t: DIRECT if t[2] == _DIRECT_KIND else t[4],
            itemgetter(2),
            lambda r: DIRECT if r[4] else r[2],
        )
    if group_by == "location":
        return itemgetter(5), itemgetter(3), itemgetter(3)
    return lambda t: _day(t[0] // _DAY_MS), itemgetter(0), itemgetter(0)


def _split_period(period: Period) -> tuple[tuple[str, str] | None, list[tuple[str, str]]]:
    """Whole UTC days (read from report_days) and the partial days at the edges (raw)."""
    first_full = -(-period.start_ms // _DAY_MS) * _DAY_MS
    end_full = period.end_ms // _DAY_MS * _DAY_MS
    if first_full >= end_full:
        return None, [(period.start, period.end)]
    raw = []
    if period.start_ms < first_full:
        raw.append((period.start, _iso(first_full)))
    if end_full < period.end_ms:
        raw.append((_iso(end_full), period.end))
    return (_day(first_full // _DAY_MS), _day(end_full // _DAY_MS)), raw


def activity(
    db: Database, period: Period, last: int, campaign_id: int | None, by_day: bool = False
) -> list[tuple]:
    """Buckets (day or month, campaign, link, store, clicks, scans, bot hits, claims, booth
    scans, packed visitor numbers) covering exactly [start, end): whole months from
    report_months (unless by_day), whole days from report_days, the rest from raw events."""
    days, raw = _split_period(period)
    buckets = []
    if days:
        first, end = days
        month_first = first[:7] if first.endswith("-01") else store.next_month(first[:7])
        month_end = end[:7]
        if not by_day and month_first < month_end:
            buckets += store.report_months_between(db, month_first, month_end, campaign_id)
            spans = [(first, f"{month_first}-01"), (f"{month_end}-01", end)]
        else:
            spans = [(first, end)]
        for start, stop in spans:
            if start < stop:
                buckets += store.report_days_between(db, start, stop, campaign_id)
    for start, end in raw:
        buckets += store.raw_activity(db, start, end, last, campaign_id)
    return buckets


def _cumulative_cost(cost: int, starts_ms: int, ends_ms: int, at_ms: int) -> int:
    """The part of a dated campaign's cost spent by `at_ms`, rounded half up to the minor unit.

    Costs of adjacent periods are differences of this, so they add up to the whole cost
    without losing or inventing a cent.
    """
    spent = min(max(at_ms - starts_ms, 0), ends_ms - starts_ms)
    duration = ends_ms - starts_ms
    return (2 * cost * spent + duration) // (2 * duration)


def _campaign_costs(
    campaigns: dict[int, tuple],
    period: Period,
    currency: str,
    default_currency: str,
    only: int | None,
) -> tuple[dict[int, int], dict[int, int]]:
    """({dated campaign: its cost in the period}, {undated campaign: its whole cost}).

    Dated campaigns (start and end) are prorated to the overlap with the period; campaigns
    without both dates count whole, but only when they appear in the report.
    """
    dated: dict[int, int] = {}
    undated: dict[int, int] = {}
    for campaign_id, (_, _, cost, cost_currency, starts, ends) in campaigns.items():
        if only is not None and campaign_id != only:
            continue
        if cost is None or (cost_currency or default_currency) != currency:
            continue
        if starts and ends:
            s, e = _ms(starts), _ms(ends)
            if s < period.end_ms and e > period.start_ms:
                dated[campaign_id] = _cumulative_cost(cost, s, e, period.end_ms) - (
                    _cumulative_cost(cost, s, e, period.start_ms)
                )
        else:
            undated[campaign_id] = cost
    return dated, undated


def _cost_currencies(
    campaigns: dict[int, tuple], period: Period, only: int | None, default_currency: str
) -> set[str]:
    """Currencies of the costs a report may show: campaigns dated within it, or undated."""
    found = set()
    for campaign_id, (_, _, cost, currency, starts, ends) in campaigns.items():
        if cost is None or only not in (None, campaign_id):
            continue
        if not (starts and ends) or (starts < period.end and ends > period.start):
            found.add(currency or default_currency)
    return found


def _report_currency(requested: str | None, seen: set[str], default_currency: str) -> str:
    """The one currency of a report: the requested one, or the only one found."""
    if requested:
        return requested
    if len(seen) > 1:
        raise ValidationError(
            f"Values and costs in this report are in {', '.join(sorted(seen))}; choose one "
            "with 'currency' (the others are then left out).",
            field="currency",
            code="mixed_currencies",
        )
    return next(iter(seen)) if seen else default_currency


class _Table:
    """Rows of the attribution report, keyed by group_by, filled from several sources."""

    def __init__(self, params: Params, campaigns: dict[int, tuple]) -> None:
        self.params = params
        self.campaigns = campaigns
        self.touch_key, self.bucket_key, self.redemption_key = _key_functions(
            params.group_by, campaigns
        )
        self.rows: dict[object, _Row] = {}
        self.present: set[int | None] = set()  # campaigns with anything in the period

    def row(self, key: object) -> _Row:
        found = self.rows.get(key)
        if found is None:
            found = self.rows[key] = _Row()
        return found

    def add_activity(self, buckets: list[tuple]) -> None:
        key_of = self.bucket_key
        for bucket in buckets:
            row = self.row(key_of(bucket))
            _, campaign_id, _, _, clicks, scans, bots, claims, booths, visitors = bucket
            row.human_clicks += clicks
            row.scans += scans
            row.bot_clicks += bots
            row.claims += claims
            row.touches += clicks + scans + claims + booths
            row.visitors.append(visitors)
            self.present.add(campaign_id)

    def add_redemptions(self, redemptions: list[tuple]) -> None:
        only = self.params.campaign_id
        for at, _, _, _, campaign_id, location, claim_id, _, _, link_id in redemptions:
            if only in (None, campaign_id):
                key = self.redemption_key(
                    (at[:10], campaign_id, link_id, location, claim_id is None)
                )
                self.row(key).redemptions += 1
                self.present.add(campaign_id)

    def add_credit(self, conversions: list[Conversion], journeys: Journeys) -> None:
        """Share every conversion among the touches in its window (see app/attribution.py)."""
        model = self.params.model
        # first_touch and last_touch credit one touch: no weights to compute.
        single = {"first_touch": 0, "last_touch": -1}.get(model.name)
        window_ms = self.params.window_s * 1000
        only = self.params.campaign_id
        units = attribution.CONVERSION_UNITS
        key_of, row, present = self.touch_key, self.row, self.present
        for conversion in conversions:
            ms, value = conversion.ms, conversion.value_minor
            if conversion.direct_campaign_id is not None:
                campaign_id = conversion.direct_campaign_id
                if only in (None, campaign_id):
                    touch = (ms, 0, _DIRECT_KIND, campaign_id, None, conversion.location)
                    target = row(key_of(touch))
                    target.hundredths += units
                    target.revenue += value
                    present.add(campaign_id)
                continue
            touches = journeys.touches(conversion)
            # At or before the conversion, and no earlier than the window before it.
            high = bisect_right(touches, (ms, _LAST))
            low = bisect_left(touches, (ms - window_ms,), 0, high)
            if low == high:
                if only is None:
                    target = row(UNATTRIBUTED)
                    target.hundredths += units
                    target.revenue += value
                continue
            if single is not None or high - low == 1:
                touch = touches[low if single == 0 else high - 1]
                if only in (None, touch[3]):
                    target = row(key_of(touch))
                    target.hundredths += units
                    target.revenue += value
                    target.ages.append((ms - touch[0]) / 1000)
                    present.add(touch[3])
                continue
            chosen = touches[low:high]
            ages = [(ms - t[0]) / 1000 for t in chosen]
            weights = attribution.touch_weights(model, ages)
            shares = attribution.allocate(units, weights)
            values = attribution.allocate(value, weights)
            for touch, weight, share, part, age in zip(
                chosen, weights, shares, values, ages, strict=True
            ):
                if weight and only in (None, touch[3]):
                    target = row(key_of(touch))
                    target.hundredths += share
                    target.revenue += part
                    target.ages.append(age)
                    present.add(touch[3])

    def add_costs(self, dated: dict[int, int], undated: dict[int, int]) -> dict[int, int]:
        """Put each campaign's cost on its row (or spread over days); return costs counted."""
        costs = dict(dated)
        costs.update({cid: cost for cid, cost in undated.items() if cid in self.present})
        group_by = self.params.group_by
        if group_by in ("campaign", "channel"):
            for campaign_id, cost in costs.items():
                row = self.row(self.bucket_key((None, campaign_id)))
                row.cost = (row.cost or 0) + cost
        elif group_by == "day":
            # Only dated campaigns can be spread over days; the totals add the undated ones.
            for campaign_id in dated:
                self._spread(campaign_id)
        return costs

    def _spread(self, campaign_id: int) -> None:
        period = self.params.period
        _, _, cost, _, starts, ends = self.campaigns[campaign_id]
        s, e = _ms(starts), _ms(ends)
        day_ms = max(period.start_ms, s) // _DAY_MS * _DAY_MS
        while day_ms < min(period.end_ms, e):
            low, high = max(day_ms, period.start_ms), min(day_ms + _DAY_MS, period.end_ms)
            part = _cumulative_cost(cost, s, e, high) - _cumulative_cost(cost, s, e, low)
            if part:
                row = self.row(_day(day_ms // _DAY_MS))
                row.cost = (row.cost or 0) + part
            day_ms += _DAY_MS


@_collector_paused()
def attribute(db: Database, params: Params, *, default_currency: str = "USD") -> dict:
    """The attribution report: rows by params.group_by, totals and the parameters used."""
    period = params.period
    store.refresh_report_tables(db)
    with store.report_snapshot(db):
        last, _ = store.report_state(db)
        campaigns = store.report_campaigns(db)
        conversions, redemptions = _conversions(db, period, params.types)
        seen = {c.currency or default_currency for c in conversions if c.value_minor}
        seen |= _cost_currencies(campaigns, period, params.campaign_id, default_currency)
        currency = _report_currency(params.currency, seen, default_currency)
        counted = [
            c
            for c in conversions
            if not c.value_minor or (c.currency or default_currency) == currency
        ]
        journeys = Journeys(db, counted, params.window_s * 1000, last)
        buckets = activity(db, period, last, params.campaign_id, params.group_by == "day")
        labels = _Labels(db, params.group_by, campaigns)
    table = _Table(params, campaigns)
    table.add_activity(buckets)
    table.add_redemptions(redemptions)
    table.add_credit(counted, journeys)
    dated, undated = _campaign_costs(
        campaigns, period, currency, default_currency, params.campaign_id
    )
    costs = table.add_costs(dated, undated)
    rows = table.rows
    visitors = {key: row.unique_visitors() for key, row in rows.items()}
    totals = _totals(rows, visitors, costs, currency)
    totals["excluded_other_currency"] = len(conversions) - len(counted)
    shown = _params_json(params, currency)
    shown.update(
        window=attribution.format_duration(params.window_s),
        model=params.model.name,
        group_by=params.group_by,
    )
    if params.model.name == "position_based":
        shown["weights"] = list(params.model.weights)
    if params.model.name == "time_decay":
        shown["half_life"] = attribution.format_duration(params.model.half_life_s)
    return {
        "params": shown,
        "rows": [
            _row_json(key, labels.of(key), rows[key], visitors[key], currency)
            for key in _ordered(params.group_by, rows)
        ],
        "totals": totals,
    }


def _ordered(group_by: str, rows: dict[object, _Row]) -> list:
    keys = [k for k in rows if k != UNATTRIBUTED]
    if group_by == "day":
        keys.sort()
    else:
        keys.sort(key=lambda k: (-rows[k].revenue, -rows[k].hundredths, k is None, str(k)))
    return keys + ([UNATTRIBUTED] if UNATTRIBUTED in rows else [])


def _median(ages: list[float]) -> int | None:
    return round(statistics.median(ages)) if ages else None


def _money(minor: int | None, currency: str) -> str | None:
    return money.to_decimal_string(minor, currency)


def _figures(row: _Row, unique_visitors: int, cost: int | None, currency: str) -> dict:
    per_conversion = None
    if cost is not None and row.hundredths:
        per_conversion = _money((200 * cost + row.hundredths) // (2 * row.hundredths), currency)
    roi = round((row.revenue - cost) / cost, 4) if cost else None
    return {
        "touches": row.touches,
        "human_clicks": row.human_clicks,
        "scans": row.scans,
        "bot_clicks": row.bot_clicks,
        "unique_visitors": unique_visitors,
        "claims": row.claims,
        "redemptions": row.redemptions,
        "conversions": row.hundredths / 100,
        "revenue": _money(row.revenue, currency),
        "cost": _money(cost, currency),
        "cost_per_conversion": per_conversion,
        "roi": roi,
        "median_time_to_convert_s": _median(row.ages),
    }


def _row_json(key: object, label: str, row: _Row, visitors: set, currency: str) -> dict:
    return {"key": key, "label": label, **_figures(row, len(visitors), row.cost, currency)}


def _totals(
    rows: dict[object, _Row], visitors: dict[object, set], costs: dict[int, int], currency: str
) -> dict:
    total = _Row()
    for row in rows.values():
        for name in (
            "touches",
            "human_clicks",
            "scans",
            "bot_clicks",
            "claims",
            "redemptions",
            "hundredths",
            "revenue",
        ):
            setattr(total, name, getattr(total, name) + getattr(row, name))
        total.ages += row.ages
    cost = sum(costs.values()) if costs else None
    return _figures(total, len(set().union(*visitors.values())), cost, currency)


class _Labels:
    """Human names for row keys."""

    def __init__(self, db: Database, group_by: str, campaigns: dict[int, tuple]) -> None:
        self.group_by = group_by
        self.campaigns = campaigns
        self.links = store.report_links(db) if group_by == "link" else {}
        self.locations = store.report_locations(db) if group_by == "location" else {}

    def of(self, key: object) -> str:
        if key in (UNATTRIBUTED, DIRECT):
            return key
        if key is None:
            return NO_LABELS.get(self.group_by, "")
        if self.group_by == "campaign":
            return self.campaigns[key][0] if key in self.campaigns else f"Campaign {key}"
        if self.group_by == "link":
            label, destination = self.links.get(key, (None, None))
            return label or destination or f"Link {key}"
        if self.group_by == "location":
            return self.locations.get(key, key)
        return str(key)


# Funnel ------------------------------------------------------------------------------------


@_collector_paused()
def funnel(
    db: Database, params: Params, *, stages: tuple[str, ...], default_currency: str = "USD"
) -> dict:
    """People through the stages, from a human click to a redemption or a sale.

    The people are those with a human click, scan or claim in the period (of the campaign, if
    given), one per lead when their browsers are stitched. Two chains start from that click:
    claim -> redemption (when there are offers) and the conversion stages (FUNNEL_STAGES).
    Within a chain a person counts at a stage when they reached it or a later one in the
    period (a CRM may report a sale without the opportunity before it), so counts never grow
    along a chain. drop_off: people at the previous stage of the chain (`after`) who did not
    reach this one; value_lost: what those people were worth at that stage, where known.
    """
    period = params.period
    store.refresh_report_tables(db)
    with store.report_snapshot(db):
        last, _ = store.report_state(db)
        buckets = activity(db, period, last, params.campaign_id)
        lead_of = store.stitched_visitor_numbers(db)
        claims = store.claims_between(db, period.start, period.end, params.campaign_id)
        redemptions = [
            r
            for r in store.redemptions_between(db, period.start, period.end)
            if params.campaign_id in (None, r[4])
        ]
        conversions = store.conversions_between(db, period.start, period.end, list(stages))
        with_offers = store.offer_count(db, params.campaign_id) > 0
        locations = store.report_locations(db) if params.group_by else {}

    def person(number: int | None, lead: str | None) -> str | int | None:
        """A person: the lead, or else the (unstitched) visitor's number."""
        return lead or lead_of.get(number) or number

    seen = {r[3] or default_currency for r in redemptions if r[2]}
    seen |= {c[7] or default_currency for c in conversions if c[6]}
    currency = _report_currency(params.currency, seen, default_currency)
    chains = [("click", "claim", "redemption")] if with_offers else []
    chains.append(("click", *stages))
    step = {name: (c, i) for c, chain in enumerate(chains) for i, name in enumerate(chain) if i}
    furthest: list[dict] = [{} for _ in chains]  # per chain: person -> index reached
    values: dict[tuple, int] = {}  # (person, stage) -> known value

    def reach(who, stage: str, value: int | None, value_currency: str | None) -> None:
        if who is None or stage not in step:
            return
        chain, index = step[stage]
        furthest[chain][who] = max(furthest[chain].get(who, 0), index)
        if value is not None and (value_currency or default_currency) == currency:
            values[(who, stage)] = values.get((who, stage), 0) + value

    for _, number, lead in claims:
        reach(person(number, lead), "claim", None, None)
    for _, _, amount, value_currency, _, _, _, number, lead, _ in redemptions:
        reach(person(number, lead), "redemption", amount, value_currency)
    for kind, _, _, lead, number, _, value, value_currency in conversions:
        reach(person(number, lead), kind, value, value_currency)

    def stats(people: set) -> list[dict]:
        return _stages(people, chains, furthest, values, currency)

    cohort_of: dict[str | None, list[bytes]] = {}
    for bucket in buckets:
        cohort_of.setdefault(bucket[3] if params.group_by else None, []).append(bucket[9])
    stitched = set(lead_of)

    def people_in(blobs: list[bytes]) -> set:
        # Most visitors are nobody's lead and stay themselves: set operations, no loop.
        numbers = set(store.unpack_visitors(b"".join(blobs)))
        return (numbers - stitched) | {lead_of[n] for n in numbers & stitched}

    people_of = {code: people_in(blobs) for code, blobs in cohort_of.items()}
    everyone = set().union(*people_of.values())
    shown = _params_json(params, currency)
    del shown["type"]
    shown.update(group_by=params.group_by, stages=[s["stage"] for s in stats(set())])
    report = {"params": shown, "stages": stats(everyone)}
    if params.group_by:
        # By where people clicked or scanned; people who never touched a store's link last.
        unplaced = people_of.pop(None, set())
        unplaced -= set().union(*people_of.values())
        groups = sorted(people_of.items()) + ([(None, unplaced)] if unplaced else [])
        report["by_location"] = [
            {
                "key": code,
                "label": locations.get(code, code) if code else NO_LABELS["location"],
                "stages": stats(cohort),
            }
            for code, cohort in groups
        ]
    return report


def _stages(
    people: set,
    chains: list[tuple[str, ...]],
    furthest: list[dict],
    values: dict[tuple, int],
    currency: str,
) -> list[dict]:
    out = [_stage("click", None, len(people), None, None, currency)]
    for chain, reached_by in zip(chains, furthest, strict=True):
        # Everyone is at the click; only people who went further need looking at.
        reached = [len(people)] + [0] * (len(chain) - 1)
        lost: list[int | None] = [None] * len(chain)
        for who, top in reached_by.items():
            if who not in people:
                continue
            for index in range(1, top + 1):
                reached[index] += 1
            value = values.get((who, chain[top]))
            if value is not None and top + 1 < len(chain):
                lost[top + 1] = (lost[top + 1] or 0) + value
        for index in range(1, len(chain)):
            out.append(
                _stage(
                    chain[index],
                    chain[index - 1],
                    reached[index],
                    reached[index - 1],
                    lost[index],
                    currency,
                )
            )
    return out


def _stage(
    name: str, after: str | None, people: int, before: int | None, lost: int | None, currency: str
) -> dict:
    return {
        "stage": name,
        "after": after,
        "people": people,
        "conversion_rate": round(people / before, 4) if before else None,
        "drop_off": before - people if before is not None else None,
        "value_lost": _money(lost, currency),
    }


# Time to convert ---------------------------------------------------------------------------


@_collector_paused()
def time_to_convert(db: Database, params: Params) -> dict:
    """How long after a campaign's latest touch people convert: evidence for the window.

    For each conversion in the period, the time since the most recent touch of each campaign
    in its journey (however long ago) falls into one bucket of that campaign's row; the
    totals cover every conversion of the period, with the most recent touch of any campaign.
    """
    period = params.period
    store.refresh_report_tables(db)
    with store.report_snapshot(db):
        last, _ = store.report_state(db)
        campaigns = store.report_campaigns(db)
        conversions, _ = _conversions(db, period, params.types)
        journeys = Journeys(db, conversions, None, last)
    labels = [label for label, _ in TIME_BUCKETS] + [LATER]
    rows: dict[int | None, list] = {}
    total_counts = dict.fromkeys(labels, 0)
    total_ages: list[float] = []
    direct = without = 0
    for conversion in conversions:
        if conversion.direct_campaign_id is not None:
            direct += 1
            continue
        touches = journeys.touches(conversion)
        before = touches[: bisect_right(touches, (conversion.ms, _LAST))]
        if not before:
            without += 1
            continue
        latest = {t[3]: (conversion.ms - t[0]) / 1000 for t in before}
        age = (conversion.ms - before[-1][0]) / 1000
        total_counts[_bucket(age)] += 1
        total_ages.append(age)
        for campaign_id, since in latest.items():
            if params.campaign_id in (None, campaign_id):
                counts, ages = rows.setdefault(campaign_id, [dict.fromkeys(labels, 0), []])
                counts[_bucket(since)] += 1
                ages.append(since)
    ordered = sorted(rows, key=lambda k: (-len(rows[k][1]), k is None, k or 0))
    return {
        "params": {k: v for k, v in _params_json(params, None).items() if k != "currency"},
        "buckets": labels,
        "rows": [
            {
                "key": key,
                "label": campaigns[key][0] if key in campaigns else NO_LABELS["campaign"],
                "conversions": len(rows[key][1]),
                "counts": rows[key][0],
                "median_s": _median(rows[key][1]),
            }
            for key in ordered
        ],
        "totals": {
            "conversions": len(conversions),
            "with_touch": len(total_ages),
            "without_touch": without,
            "direct": direct,
            "counts": total_counts,
            "median_s": _median(total_ages),
        },
    }


def _bucket(age_s: float) -> str:
    for label, limit in TIME_BUCKETS:
        if age_s < limit:
            return label
    return LATER


def to_csv(report: dict) -> str:
    """The attribution table as CSV: a header, the rows, then a totals row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    totals = {"key": "total", "label": "Total", **report["totals"]}
    for line in [*report["rows"], totals]:
        writer.writerow([_csv_cell(name, line.get(name)) for name in COLUMNS])
    return out.getvalue()


def _csv_cell(name: str, value: object) -> str:
    if value is None:
        return ""
    if name == "conversions":
        return f"{value:.2f}"
    if name == "roi":
        return f"{value:.4f}"
    return str(value)
