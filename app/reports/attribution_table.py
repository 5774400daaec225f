"""The attribution report and its CSV: rows by campaign, channel, link, location or day.

Each row has its activity, credit, revenue, cost and ROI. How one conversion's credit is
shared among its touches is app/reports/attribution.py.
"""

from __future__ import annotations

import csv
import io
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlite_utils import Database

from app import storage
from app.core import clock
from app.core.csv_cells import inert
from app.reports import attribution

from .activity import activity, visitor_counts
from .conversion_times import median_seconds
from .costs import campaign_costs, cost_currencies, cumulative_cost, money_text, report_currency
from .journeys import Conversion, Journeys, conversions_in, count_until
from .params import (
    DAY_MS,
    NO_LABELS,
    Params,
    day_of,
    params_json,
    types_json,
)
from .snapshot import collector_paused, up_to_date

UNATTRIBUTED = "(unattributed)"
DIRECT = "direct (code)"
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
    # Added after the first release: last, so scripts reading columns by position still work.
    "booth_scans",
)
# Names and keys someone typed (a campaign, a store, a utm_source): made inert in the CSV.
# The other columns are numbers we computed and stay numbers (a negative ROI included).
TEXT_COLUMNS = frozenset({"key", "label"})
# A direct (code) credit has no touch; it stands in as a touch of this kind.
_DIRECT_KIND = 0


@dataclass(slots=True)
class _Row:
    touches: int = 0
    human_clicks: int = 0
    scans: int = 0
    bot_clicks: int = 0
    claims: int = 0
    booth_scans: int = 0
    redemptions: int = 0
    hundredths: int = 0
    revenue: int = 0
    visitors: list = field(default_factory=list)  # packed visitor numbers, one blob a bucket
    ages: list = field(default_factory=list)
    cost: int | None = None


def _key_functions(group_by: str | None, campaigns: dict[int, tuple]):
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
    return lambda t: day_of(t[0] // DAY_MS), itemgetter(0), itemgetter(0)


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
            row.booth_scans += booths
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
        """Share every conversion among the touches in its window (reports/attribution.py)."""
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
            high = count_until(touches, ms)
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
        s, e = clock.iso_to_ms(starts), clock.iso_to_ms(ends)
        day_ms = max(period.start_ms, s) // DAY_MS * DAY_MS
        while day_ms < min(period.end_ms, e):
            low, high = max(day_ms, period.start_ms), min(day_ms + DAY_MS, period.end_ms)
            part = cumulative_cost(cost, s, e, high) - cumulative_cost(cost, s, e, low)
            if part:
                row = self.row(day_of(day_ms // DAY_MS))
                row.cost = (row.cost or 0) + part
            day_ms += DAY_MS


@collector_paused()
def attribute(
    db: Database, params: Params, *, default_currency: str = "USD", pick_currency: bool = False
) -> dict:
    """The attribution report: rows by params.group_by, totals and the parameters used.

    pick_currency: with values in several currencies and none asked for, report in the one
    most conversions use instead of refusing (the dashboard's choice; the API refuses).
    """
    period = params.period
    with up_to_date(db) as last:
        campaigns = storage.report_campaigns(db)
        conversions, redemptions = conversions_in(db, period, params.types)
        used = Counter(c.currency or default_currency for c in conversions if c.value_minor)
        seen = set(used) | cost_currencies(campaigns, period, params.campaign_id, default_currency)
        currency = report_currency(
            params.currency, seen, default_currency, most_used=used if pick_currency else None
        )
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
    dated, undated = campaign_costs(
        campaigns, period, currency, default_currency, params.campaign_id
    )
    costs = table.add_costs(dated, undated)
    rows = table.rows
    visitors, everyone = visitor_counts({key: row.visitors for key, row in rows.items()})
    totals = _totals(rows, everyone, costs, currency)
    totals["excluded_other_currency"] = len(conversions) - len(counted)
    totals["excluded_by_currency"] = {c: n for c, n in sorted(used.items()) if c != currency}
    shown = params_json(params, currency)
    shown.update(types_json(params, {c.kind for c in conversions}))
    shown["currencies"] = sorted(seen | {currency})
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


def _ordered(group_by: str | None, rows: dict[object, _Row]) -> list:
    keys = [k for k in rows if k != UNATTRIBUTED]
    if group_by == "day":
        keys.sort()
    else:
        keys.sort(key=lambda k: (-rows[k].revenue, -rows[k].hundredths, k is None, str(k)))
    return keys + ([UNATTRIBUTED] if UNATTRIBUTED in rows else [])


def _figures(row: _Row, unique_visitors: int, cost: int | None, currency: str) -> dict:
    per_conversion = None
    if cost is not None and row.hundredths:
        per_conversion = money_text((200 * cost + row.hundredths) // (2 * row.hundredths), currency)
    roi = round((row.revenue - cost) / cost, 4) if cost else None
    return {
        "touches": row.touches,
        "human_clicks": row.human_clicks,
        "scans": row.scans,
        "bot_clicks": row.bot_clicks,
        "unique_visitors": unique_visitors,
        "claims": row.claims,
        "booth_scans": row.booth_scans,
        "redemptions": row.redemptions,
        "conversions": row.hundredths / 100,
        "revenue": money_text(row.revenue, currency),
        "cost": money_text(cost, currency),
        "cost_per_conversion": per_conversion,
        "roi": roi,
        "median_time_to_convert_s": median_seconds(row.ages),
    }


def _row_json(key: object, label: str, row: _Row, visitors: int, currency: str) -> dict:
    return {"key": key, "label": label, **_figures(row, visitors, row.cost, currency)}


def _totals(rows: dict[object, _Row], visitors: int, costs: dict[int, int], currency: str) -> dict:
    total = _Row()
    for row in rows.values():
        for name in (
            "touches",
            "human_clicks",
            "scans",
            "bot_clicks",
            "claims",
            "booth_scans",
            "redemptions",
            "hundredths",
            "revenue",
        ):
            setattr(total, name, getattr(total, name) + getattr(row, name))
        total.ages += row.ages
    cost = sum(costs.values()) if costs else None
    return _figures(total, visitors, cost, currency)


class _Labels:
    """Human names for row keys."""

    def __init__(self, db: Database, group_by: str | None, campaigns: dict[int, tuple]) -> None:
        self.group_by = group_by
        self.campaigns = campaigns
        # Keyed like the rows: any object a row key can be.
        self.links: dict[Any, tuple] = storage.report_links(db) if group_by == "link" else {}
        self.locations: dict[Any, Any] = (
            storage.report_locations(db) if group_by == "location" else {}
        )

    def of(self, key: object) -> str:
        if key in (UNATTRIBUTED, DIRECT):
            return key
        if key is None:
            return NO_LABELS.get(self.group_by or "", "")
        if self.group_by == "campaign":
            return self.campaigns[key][0] if key in self.campaigns else f"Campaign {key}"
        if self.group_by == "link":
            label, destination = self.links.get(key, (None, None))
            return label or destination or f"Link {key}"
        if self.group_by == "location":
            return self.locations.get(key, key)
        return str(key)


def csv_filename(report: dict) -> str:
    """A name that says what the file holds: model, grouping, period (its last day
    included), campaign and currency, e.g.
    attribution-last_touch-by-campaign-2026-11-01-to-2026-11-30-USD.csv."""
    shown = report["params"]
    first = shown["from"][:10]
    last = clock.ms_to_iso(clock.iso_to_ms(shown["to"]) - 1)[:10]
    parts = ["attribution", shown["model"], f"by-{shown['group_by']}", first, "to", last]
    if shown.get("campaign_id") is not None:
        parts.append(f"campaign-{shown['campaign_id']}")
    parts.append(shown["currency"])
    return "-".join(parts) + ".csv"


def to_csv(report: dict) -> str:
    """The attribution table as CSV: a header, the rows, then a totals row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    totals = {"key": "total", "label": "Total", **report["totals"]}
    for line in [*report["rows"], totals]:
        writer.writerow([_csv_cell(name, line.get(name)) for name in COLUMNS])
    return out.getvalue()


def _csv_cell(name: str, value: object) -> object:
    if value is None:
        return ""
    if name in TEXT_COLUMNS:
        return inert(str(value))  # a campaign, link or store name someone typed
    if name == "conversions":
        return f"{value:.2f}"
    if name == "roi":
        return f"{value:.4f}"
    return str(value)
