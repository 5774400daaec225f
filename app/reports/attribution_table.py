"""The attribution report and its CSV: rows by campaign, channel, link, location or day.

Each row has its activity, credit, revenue, pipeline value, cost and ROI. How one
conversion's credit is shared among its touches is app/reports/attribution.py.

Revenue comes from the conversions the `type` filter picks; pipeline value, credited the same
way, from the conversions whose type is one of TOUCHPOINT_PIPELINE_TYPES whatever `type` says.
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
from app.clicks import audience
from app.core import clock
from app.core.csv_cells import inert
from app.core.runtime import PipelineRules
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
# Sales activities that name no campaign (by campaign), and every activity by link or
# location (an activity has neither): credited to no campaign, but credited.
SALES = "(sales)"
# The channel of a sales activity that names no campaign (as the lead's timeline shows it).
SALES_CHANNEL = "sales"
# A partner touch (partner_code on a lead or conversion) names no campaign: by campaign and
# link its row is this; by channel its channel is "partner".
PARTNERS = "(partners)"
PARTNER_CHANNEL = "partner"
# A campaign a customer named at the till: no link.
MENTIONED = "(mentioned at the till)"
# By device or country: a coupon redeemed at a till has neither.
IN_STORE = "(redeemed in store)"
# group_by -> the events column its rows come from.
AUDIENCE_GROUPS = {"device": "user_agent", "country": "country"}
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
    "pipeline_value",
)
# Names and keys someone typed (a campaign, a store, a utm_source): made inert in the CSV.
# The other columns are numbers we computed and stay numbers (a negative ROI included).
TEXT_COLUMNS = frozenset({"key", "label"})
# A direct (code) credit has no touch; it stands in as a touch of this kind.
_DIRECT_KIND = 0
_ACTIVITY_KIND = storage.ACTIVITY_KIND
_PARTNER_KIND = storage.OFFLINE_KINDS["partner"]
_MENTIONED_KIND = storage.OFFLINE_KINDS["mentioned"]
_EVENT_KINDS = frozenset(storage.TOUCH_KINDS.values())  # touches that are events rows


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
    pipeline: int = 0
    visitors: list = field(default_factory=list)  # packed visitor numbers, one blob a bucket
    ages: list = field(default_factory=list)
    cost: int | None = None


def _key_functions(
    group_by: str | None,
    campaigns: dict[int, tuple],
    link_partner: dict[int, str],
    touch_values: dict[int, str | None] | None = None,
):
    """(key of a touch, key of a bucket, key of a redemption) for one group_by.

    Touches are (at_ms, rowid, kind, campaign, link, store, person[, partner]); buckets (day,
    campaign, link, store, ...); redemptions (day, campaign, link, store, direct). A direct
    (code) credit is a touch of kind 0; a sales activity one of kind ACTIVITY_KIND, with no
    link or store; an offline touch (partner, mentioned) has no link and carries its partner.
    """
    channel = {cid: c[1] for cid, c in campaigns.items()}

    def no_campaign(kind: int) -> object:
        return SALES if kind == _ACTIVITY_KIND else PARTNERS if kind == _PARTNER_KIND else None

    if group_by == "campaign":
        return (
            lambda t: t[3] if t[3] is not None else no_campaign(t[2]),
            itemgetter(1),
            itemgetter(1),
        )
    if group_by == "channel":
        return (
            lambda t: (
                DIRECT
                if t[2] == _DIRECT_KIND
                else channel.get(t[3])
                if t[3] is not None
                else SALES_CHANNEL
                if t[2] == _ACTIVITY_KIND
                else PARTNER_CHANNEL
                if t[2] == _PARTNER_KIND
                else None
            ),
            lambda b: channel.get(b[1]),
            lambda r: DIRECT if r[4] else channel.get(r[1]),
        )
    if group_by == "link":
        offline = {_DIRECT_KIND: DIRECT, _ACTIVITY_KIND: SALES, _PARTNER_KIND: PARTNERS}
        offline[_MENTIONED_KIND] = MENTIONED
        return (
            lambda t: offline.get(t[2], t[4]) if t[4] is None or t[2] == _DIRECT_KIND else t[4],
            itemgetter(2),
            lambda r: DIRECT if r[4] else r[2],
        )
    if group_by in AUDIENCE_GROUPS:
        # A touch is credited to the device or country of the hit it was (touch_values: event
        # rowid -> user agent or country); touches no hit made keep their offline names.
        values = touch_values or {}
        offline_keys = {_DIRECT_KIND: DIRECT, _ACTIVITY_KIND: SALES, _PARTNER_KIND: PARTNERS}
        offline_keys[_MENTIONED_KIND] = MENTIONED

        def value_of(raw: str | None) -> str:
            if group_by == "device":
                return audience.classify(raw or None).device
            return raw or audience.UNKNOWN

        return (
            lambda t: offline_keys[t[2]] if t[2] in offline_keys else value_of(values.get(t[1])),
            lambda b: value_of(b[0]),
            lambda r: DIRECT if r[4] else IN_STORE,
        )
    if group_by == "location":
        return (
            lambda t: SALES if t[2] == _ACTIVITY_KIND else t[5],
            itemgetter(3),
            itemgetter(3),
        )
    if group_by == "partner":
        return (
            lambda t: t[7] if len(t) > 7 else link_partner.get(t[4]),
            lambda b: link_partner.get(b[2]),
            lambda r: link_partner.get(r[2]),
        )
    return lambda t: day_of(t[0] // DAY_MS), itemgetter(0), itemgetter(0)


class _Table:
    """Rows of the attribution report, keyed by group_by, filled from several sources."""

    def __init__(
        self,
        params: Params,
        campaigns: dict[int, tuple],
        link_partner: dict[int, str] | None = None,
        touch_values: dict[int, str | None] | None = None,
    ) -> None:
        self.params = params
        self.campaigns = campaigns
        self.touch_key, self.bucket_key, self.redemption_key = _key_functions(
            params.group_by, campaigns, link_partner or {}, touch_values
        )
        self.rows: dict[object, _Row] = {}
        self.present: set[int | None] = set()  # campaigns with anything in the period
        self.model = params.model
        # first_touch and last_touch credit one touch: no weights to compute.
        self.single = {"first_touch": 0, "last_touch": -1}.get(params.model.name)
        self.window_ms = params.window_s * 1000

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

    def add_sales_activity(self, activities: list[tuple]) -> None:
        """Sales activities (storage.sales_activities_between) of the period: touches of
        their rows."""
        period, only = self.params.period, self.params.campaign_id
        counts = Counter(
            (at[:10], campaign_id)
            for at, _, _, _, campaign_id in activities
            if period.start <= at < period.end and only in (None, campaign_id)
        )
        for (day, campaign_id), count in counts.items():
            if self.params.group_by == "day":
                key = day
            else:
                key = self.touch_key((0, 0, _ACTIVITY_KIND, campaign_id, None, None))
            self.row(key).touches += count
            self.present.add(campaign_id)

    def add_offline(self, offline: list[tuple]) -> None:
        """Offline touches (storage.offline_touches_between) of the period: touches of their
        rows."""
        period, only = self.params.period, self.params.campaign_id
        by_day = self.params.group_by == "day"
        for at, ms, touch_id, kind, lead, _, campaign_id, partner, where in offline:
            if period.start <= at < period.end and only in (None, campaign_id):
                touch = (ms, touch_id, kind, campaign_id, None, where, lead, partner)
                self.row(at[:10] if by_day else self.touch_key(touch)).touches += 1
                self.present.add(campaign_id)

    def add_commissions(self, partners: dict[str, tuple[str, int | None]]) -> int:
        """By partner: each partner's commission on the revenue credited to it is its row's
        cost. Returns the commissions' total."""
        total = 0
        for key, row in self.rows.items():
            bp = partners.get(key, (None, None))[1] if isinstance(key, str) else None
            if bp is not None:
                # Hundredths of a percent of minor units, half up.
                commission = (row.revenue * bp + 5000) // 10_000
                row.cost = (row.cost or 0) + commission
                total += commission
        return total

    def add_redemptions(self, redemptions: list[tuple]) -> None:
        only = self.params.campaign_id
        for at, _, _, _, campaign_id, location, claim_id, _, _, link_id in redemptions:
            if only in (None, campaign_id):
                key = self.redemption_key(
                    (at[:10], campaign_id, link_id, location, claim_id is None)
                )
                self.row(key).redemptions += 1
                self.present.add(campaign_id)

    def add_credit(
        self,
        conversions: list[Conversion],
        journeys: Journeys,
        reached: dict[str, tuple[int | None, int | None]],
        *,
        pipeline: bool = False,
    ) -> None:
        """Share every conversion among the touches in its window (reports/attribution.py).

        reached: {lead: (when it first reached the first funnel stage, when it first reached
        the opportunity stage)}, for the milestone models. pipeline: these are pipeline
        conversions, whose credited value is pipeline_value and nothing else.
        """
        only = self.params.campaign_id
        units = attribution.CONVERSION_UNITS
        key_of, row, present = self.touch_key, self.row, self.present
        single, window_ms = self.single, self.window_ms
        by_location = self.params.group_by == "location"
        credited: list[tuple[object, int | None, int, int, float | None]]
        for conversion in conversions:
            # (row key, campaign, hundredths, minor units, age in seconds or None) per touch
            # credited. The common cases inline: this loop runs once per conversion.
            ms, value = conversion.ms, conversion.value_minor
            direct_kind = conversion.direct_campaign_id is not None
            if direct_kind:
                direct = conversion.direct_campaign_id
                touch = (ms, 0, _DIRECT_KIND, direct, None, conversion.location)
                credited = [(key_of(touch), direct, units, value, None)]
            else:
                touches = journeys.touches(conversion)
                # At or before the conversion, and no earlier than the window before it.
                high = count_until(touches, ms)
                low = bisect_left(touches, (ms - window_ms,), 0, high)
                if low == high:
                    # No campaign: it only counts in a report of every campaign.
                    credited = [(UNATTRIBUTED, None, units, value, None)]
                elif single is not None or high - low == 1:
                    touch = touches[low if single == 0 else high - 1]
                    credited = [(key_of(touch), touch[3], units, value, (ms - touch[0]) / 1000)]
                else:
                    credited = self._shared(conversion, touches, low, high, reached)
            if by_location and conversion.location is not None and not direct_kind:
                # Where the money came in (a till sale, a web order picked up): that store,
                # whichever touches earned it.
                where = conversion.location
                credited = [(where, cid, share, part, age) for _, cid, share, part, age in credited]
            for key, campaign_id, share, part, age in credited:
                if only in (None, campaign_id):
                    target = row(key)
                    if pipeline:
                        target.pipeline += part
                    else:
                        target.hundredths += share
                        target.revenue += part
                        if age is not None:
                            target.ages.append(age)
                    present.add(campaign_id)

    def _shared(
        self,
        conversion: Conversion,
        touches: list[tuple],
        low: int,
        high: int,
        reached: dict[str, tuple[int | None, int | None]],
    ) -> list[tuple[object, int | None, int, int, float | None]]:
        """The credit of a conversion shared by the touches[low:high] of its window."""
        ms, key_of = conversion.ms, self.touch_key
        chosen = touches[low:high]
        ages = [(ms - t[0]) / 1000 for t in chosen]
        model = self.model
        milestones = attribution.NO_MILESTONES
        if model.uses_milestones and conversion.lead in reached:
            lead_at, opportunity_at = reached[conversion.lead]
            milestones = (
                _holder(touches, low, ms, lead_at),
                _holder(touches, low, ms, opportunity_at),
            )
        weights = attribution.touch_weights(model, ages, milestones)
        shares = attribution.allocate(attribution.CONVERSION_UNITS, weights)
        values = attribution.allocate(conversion.value_minor, weights)
        return [
            (key_of(touch), touch[3], share, part, age)
            for touch, weight, share, part, age in zip(
                chosen, weights, shares, values, ages, strict=True
            )
            if weight
        ]

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


def _holder(touches: list[tuple], low: int, ms: int, milestone_ms: int | None) -> int | None:
    """The place among touches[low:] of the latest touch at or before a milestone (the lead
    or its opportunity created), if the milestone came by the conversion at `ms` and that
    touch is inside the window (at or after touches[low])."""
    if milestone_ms is None or milestone_ms > ms:
        return None
    index = count_until(touches, milestone_ms) - 1
    return index - low if index >= low else None


@collector_paused()
def attribute(
    db: Database,
    params: Params,
    *,
    default_currency: str = "USD",
    pick_currency: bool = False,
    rules: PipelineRules | None = None,
    reader: Database | None = None,
) -> dict:
    """The attribution report: rows by params.group_by, totals and the parameters used.

    pick_currency: with values in several currencies and none asked for, report in the one
    most conversions use instead of refusing (the dashboard's choice; the API refuses).
    rules: the funnel stages (milestones) and pipeline types; default, the settings' defaults.
    reader: where to read the report (a standby), as for up_to_date.
    """
    rules = rules or PipelineRules()
    period = params.period
    pipeline_types = set(rules.pipeline_types)
    wanted = params.types
    if wanted is not None:
        wanted = tuple(dict.fromkeys((*wanted, *rules.pipeline_types)))
    with up_to_date(db, reader) as (db, last):
        campaigns = storage.report_campaigns(db)
        found, redemptions = conversions_in(db, period, wanted)
        chosen = set(params.types) if params.types is not None else None
        conversions = found if chosen is None else [c for c in found if c.kind in chosen]
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
        # Pipeline conversions without a value add nothing; values in another currency than
        # the report's are left out (and counted), as revenue's are, but never refuse it.
        valued = [c for c in found if c.kind in pipeline_types and c.value_minor]
        pipeline = [c for c in valued if (c.currency or default_currency) == currency]
        # Every sales activity a conversion's window or the period can hold, in one read.
        earliest = clock.ms_to_iso(period.start_ms - params.window_s * 1000)
        sales = storage.sales_activities_between(db, earliest, period.end)
        offline = storage.offline_touches_between(db, earliest, period.end)
        journeys = Journeys(
            db,
            counted + pipeline,
            params.window_s * 1000,
            last,
            activities=sales,
            offline=offline,
        )
        by_partner = params.group_by == "partner"
        link_partner = storage.link_partners(db) if by_partner else {}
        partners = storage.report_partners(db) if by_partner else {}
        reached = _reached(db, params, rules, counted + pipeline)
        column = AUDIENCE_GROUPS.get(params.group_by or "")
        touch_values = None
        if column is None:
            buckets = activity(db, period, last, params.campaign_id, params.group_by == "day")
        else:
            # No rollup is kept by device or country: the period's events are read raw.
            buckets = storage.raw_activity(
                db, period.start, period.end, last, params.campaign_id, by=column
            )
            rowids = {
                t[1]
                for c in counted + pipeline
                for t in journeys.touches(c)
                if t[2] in _EVENT_KINDS
            }
            touch_values = storage.event_values(db, rowids, column)
        labels = _Labels(db, params.group_by, campaigns)
    table = _Table(params, campaigns, link_partner, touch_values)
    table.add_activity(buckets)
    table.add_sales_activity(sales)
    table.add_offline(offline)
    table.add_redemptions(redemptions)
    table.add_credit(counted, journeys, reached)
    table.add_credit(pipeline, journeys, reached, pipeline=True)
    dated, undated = campaign_costs(
        campaigns, period, currency, default_currency, params.campaign_id
    )
    costs = table.add_costs(dated, undated)
    commissions = table.add_commissions(partners) if by_partner else 0
    rows = table.rows
    visitors, everyone = visitor_counts({key: row.visitors for key, row in rows.items()})
    totals = _totals(rows, everyone, costs, currency, commissions)
    totals["excluded_other_currency"] = len(conversions) - len(counted)
    totals["excluded_by_currency"] = {c: n for c, n in sorted(used.items()) if c != currency}
    totals["excluded_pipeline_other_currency"] = len(valued) - len(pipeline)
    shown = params_json(params, currency)
    shown.update(types_json(params, {c.kind for c in conversions}))
    pipeline_currencies = {c.currency or default_currency for c in valued}
    shown["currencies"] = sorted(seen | pipeline_currencies | {currency})
    shown.update(
        window=attribution.format_duration(params.window_s),
        model=params.model.name,
        group_by=params.group_by,
    )
    if params.model.name == "position_based":
        shown["weights"] = list(params.model.weights)
    if params.model.name == "w_shaped":
        shown["weights"] = list(params.model.w_weights)
    if params.model.name == "full_path":
        # Tenths of a percent as percentages: 22.5 and 10, not 10.0.
        shown["weights"] = [
            w // 10 if w % 10 == 0 else w / 10 for w in attribution.FULL_PATH_WEIGHTS
        ]
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


def _reached(
    db: Database, params: Params, rules: PipelineRules, conversions: list[Conversion]
) -> dict[str, tuple[int | None, int | None]]:
    """{lead: (first reached the first funnel stage, first reached the opportunity stage)}
    for the milestone models, in one query; {} for the others. An opportunity stage that is
    not a funnel stage has no milestone (PipelineRules)."""
    if not params.model.uses_milestones or not rules.stages:
        return {}
    first_stage = rules.stages[0]
    opportunity = rules.opportunity_stage if rules.opportunity_stage in rules.stages else None
    types = [first_stage] + ([opportunity] if opportunity else [])
    leads = {c.lead for c in conversions if c.lead}
    return {
        lead: (times.get(first_stage), times.get(opportunity) if opportunity else None)
        for lead, times in storage.lead_first_reached(db, leads, types).items()
    }


def _ordered(group_by: str | None, rows: dict[object, _Row]) -> list:
    keys = [k for k in rows if k != UNATTRIBUTED]
    if group_by == "day":
        keys.sort()
    else:
        keys.sort(
            key=lambda k: (
                -rows[k].revenue,
                -rows[k].hundredths,
                -rows[k].pipeline,
                k is None,
                str(k),
            )
        )
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
        "pipeline_value": money_text(row.pipeline, currency),
        "cost": money_text(cost, currency),
        "cost_per_conversion": per_conversion,
        "roi": roi,
        "median_time_to_convert_s": median_seconds(row.ages),
    }


def _row_json(key: object, label: str, row: _Row, visitors: int, currency: str) -> dict:
    return {"key": key, "label": label, **_figures(row, visitors, row.cost, currency)}


def _totals(
    rows: dict[object, _Row],
    visitors: int,
    costs: dict[int, int],
    currency: str,
    commissions: int = 0,
) -> dict:
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
            "pipeline",
        ):
            setattr(total, name, getattr(total, name) + getattr(row, name))
        total.ages += row.ages
    cost = sum(costs.values()) + commissions if costs or commissions else None
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
        self.partners: dict[Any, tuple] = (
            storage.report_partners(db) if group_by == "partner" else {}
        )

    def of(self, key: object) -> str:
        if key in (UNATTRIBUTED, DIRECT, SALES, PARTNERS, MENTIONED):
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
        if self.group_by == "partner":
            return self.partners[key][0] if key in self.partners else str(key)
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
