"""The pipeline report: the leads created in a period, followed through the stages to today.

Where a lead stands is read from the columns app/people/pipeline.py keeps on it (`stage`, the
furthest stage reached; `status`; the handoff and contact times; the open loss's reason and
stage); when it reached each stage and what its conversions were worth, from its conversions
that are not voided. A lead counts as having reached a stage when it reached that stage or a
later one, as its `stage` does: a CRM that posts only the sale has made a lead, an MQL, an
SQL and an opportunity too. Every lead of the period is in the cohort, also those that never
clicked (imported lists, booth badges, phone enquiries).
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlite_utils import Database

from app import storage
from app.core import clock
from app.core.csv_cells import inert
from app.core.runtime import PipelineRules
from app.people import pipeline as lead_pipeline

from .costs import money_text, report_currency
from .params import DAY_MS, Params, params_json
from .snapshot import collector_paused, up_to_date

# By campaign or channel, a lead with no human touch at all is in the group NO_TOUCH and one
# whose first touch belongs to no campaign (a booth scan of its badge) in the group None; by
# a field of the lead, a lead without it is in the group None.
NO_TOUCH = "(no touch)"
NO_CAMPAIGN = "(no campaign)"
NO_VALUE = "(none)"
NO_PARTNER = "(no partner)"
_LEFT_OUT = object()  # a lead whose first touch is not of the campaign asked for
# The CSV row of the leads that reached no stage yet.
NO_STAGE = "(no stage)"
STAGE_COLUMNS = (
    "reached",
    "advanced",
    "open_here",
    "stalled",
    "uncontacted",
    "lost",
    "conversion_rate",
    "median_days_to_next",
    "value_lost",
)
_RATE_PLACES = Decimal("0.0001")


class _Tally:
    """The figures of some leads, added up one lead at a time. Per stage there is a slot,
    and one more at the end (index -1, where rank -1 lands) for the leads with no stage.
    Money is kept per currency until the report's currency is known."""

    __slots__ = (
        "at",
        "open",
        "stalled",
        "lost",
        "reasons",
        "lost_value",
        "steps",
        "won",
        "uncontacted",
        "cycles",
        "won_value",
    )

    def __init__(self, stages: int) -> None:
        self.at = [0] * (stages + 1)  # leads whose furthest stage is this one
        self.open = [0] * (stages + 1)
        self.stalled = [0] * (stages + 1)
        self.lost = [0] * (stages + 1)  # by the stage they were lost at
        self.reasons: list[dict[str, list]] = [{} for _ in range(stages + 1)]
        self.lost_value: list[Counter[str]] = [Counter() for _ in range(stages + 1)]
        self.steps: list[list[int]] = [[] for _ in range(stages)]  # ms to the next stage
        self.won = 0
        self.uncontacted = 0
        self.cycles: list[int] = []
        self.won_value: Counter[str] = Counter()

    def merge(self, other: _Tally) -> None:
        for mine, theirs in ((self.at, other.at), (self.open, other.open)):
            for index, count in enumerate(theirs):
                mine[index] += count
        for index, count in enumerate(other.stalled):
            self.stalled[index] += count
        for index, count in enumerate(other.lost):
            self.lost[index] += count
            self.lost_value[index].update(other.lost_value[index])
            for reason, (n, values) in other.reasons[index].items():
                entry = self.reasons[index].setdefault(reason, [0, Counter()])
                entry[0] += n
                entry[1].update(values)
        for mine, theirs in zip(self.steps, other.steps, strict=True):
            mine.extend(theirs)
        self.won += other.won
        self.uncontacted += other.uncontacted
        self.cycles.extend(other.cycles)
        self.won_value.update(other.won_value)


@collector_paused()
def pipeline_report(
    db: Database,
    params: Params,
    *,
    rules: PipelineRules,
    now: datetime,
    default_currency: str = "USD",
    pick_currency: bool = False,
    reader: Database | None = None,
) -> dict:
    """Every stage of the cohort created in the period: reached, advanced, open, stalled,
    uncontacted, lost (by reason, with the value lost), conversion rate and the median time
    to the next stage; totals; the same per group with `group_by`.

    With `campaign_id` the cohort is the leads whose first touch is of that campaign.
    Money is in one currency (report_currency): values in others are left out.
    """
    period = params.period
    touches = params.group_by in ("campaign", "channel") or params.campaign_id is not None
    lead_pipeline.ensure_current(db, rules)  # before the snapshot: it may restage (a write)
    # The report tables hold the touches; without touches one read snapshot is enough. Read
    # on `reader` (a standby, as for up_to_date) when given.
    primary, db = db, reader or db
    snapshot: AbstractContextManager[Any] = (
        up_to_date(primary, reader) if touches else storage.report_snapshot(db)
    )
    with snapshot:
        cohort, conversions = storage.pipeline_cohort(
            db,
            period.start,
            period.end,
            stages=rules.stages,
            won_stages=rules.won_stages,
            group_by=params.group_by,
            stalled_before=clock.to_iso(now - timedelta(seconds=rules.stall_s, microseconds=1)),
            # The follow-up rule of the lead list and the lead page.
            uncontacted_before=lead_pipeline.uncontacted_before(rules, now),
        )
        firsts = storage.first_touches(db, {row[0] for row in cohort}) if touches else {}
        campaigns = storage.report_campaigns(db) if touches else {}

    tallies, used = _tallies(
        cohort, conversions, firsts, campaigns, params, len(rules.stages), default_currency
    )
    currency = report_currency(
        params.currency, set(used), default_currency, most_used=used if pick_currency else None
    )
    shown = params_json(params, currency)
    shown.update(
        currencies=sorted(set(used) | {currency}),
        group_by=params.group_by,
        stages=list(rules.stages),
        handoff_stage=rules.handoff_stage if rules.rank(rules.handoff_stage) >= 0 else None,
        won_stages=list(rules.won_stages),
        lost_reasons=list(rules.lost_reasons),
        stall_days=rules.stall_s // 86_400,
        follow_up_hours=rules.follow_up_s // 3600,
        as_of=clock.to_iso(now),
    )
    everyone = _Tally(len(rules.stages))
    for tally in tallies.values():
        everyone.merge(tally)
    report = {"params": shown, **_figures(everyone, rules, currency)}
    if params.group_by:
        groups = [
            {
                "key": key,
                "label": _label(params.group_by, key, campaigns),
                **_figures(tally, rules, currency),
            }
            for key, tally in tallies.items()
        ]
        # The biggest groups first; leads without a campaign, touch or value last.
        groups.sort(
            key=lambda g: (_special(params.group_by, g["key"]), -g["totals"]["leads"], g["label"])
        )
        report["groups"] = groups
    return report


def _tallies(
    cohort: list[tuple],
    conversions: list[tuple],
    firsts: dict[str, tuple],
    campaigns: dict[int, tuple],
    params: Params,
    stages: int,
    default_currency: str,
) -> tuple[dict[Any, _Tally], Counter[str]]:
    """({group key: its tally}, how many values each currency has)."""
    first_at, latest, won_values = _conversion_facts(conversions, stages, default_currency)
    tallies: dict[Any, _Tally] = {}
    used: Counter[str] = Counter()
    by_touch = params.group_by in ("campaign", "channel")
    touches = by_touch or params.campaign_id is not None
    keys = _touch_keys(firsts, campaigns, params) if touches else {}
    untouched = NO_TOUCH if params.campaign_id is None else _LEFT_OUT
    for row in cohort:
        lead_id, key, rank, status, stalled, uncontacted, cycle, value, currency, where, reason = (
            row
        )
        if touches:
            found = keys.get(lead_id, untouched)
            if found is _LEFT_OUT:
                continue
            if by_touch:
                key = found
        tally = tallies.get(key)
        if tally is None:
            tally = tallies[key] = _Tally(stages)
        tally.at[rank] += 1
        if status == "open":
            tally.open[rank] += 1
            tally.stalled[rank] += stalled
            tally.uncontacted += uncontacted
        elif status == "won":
            tally.won += 1
            if cycle is not None:
                tally.cycles.append(cycle)
            for amount, in_currency in won_values.get(lead_id, ()):
                tally.won_value[in_currency] += amount
                used[in_currency] += 1
        else:
            tally.lost[where] += 1
            entry = tally.reasons[where].get(reason)
            if entry is None:
                entry = tally.reasons[where][reason] = [0, Counter()]
            entry[0] += 1
            # What the lead was said to be worth, else what its furthest stage was worth.
            worth: tuple[int, str] | None
            if value is not None:
                worth = (value, currency or default_currency)
            else:
                worth = latest.get((lead_id, rank))
            if worth is not None:
                entry[1][worth[1]] += worth[0]
                tally.lost_value[where][worth[1]] += worth[0]
                used[worth[1]] += 1
        if rank > 0 and lead_id in first_at:
            _add_steps(tally.steps, first_at[lead_id], rank)
    return tallies, used


def _touch_keys(firsts: dict[str, tuple], campaigns: dict, params: Params) -> dict[str, Any]:
    """{lead with a touch: its first touch's campaign or channel}, None for a touch of no
    campaign (a booth scan of its badge); _LEFT_OUT when `campaign_id` names another."""
    keys: dict[str, Any] = {}
    for lead_id, (_, _, campaign_id) in firsts.items():
        if params.campaign_id is not None and campaign_id != params.campaign_id:
            keys[lead_id] = _LEFT_OUT
        elif params.group_by == "channel":
            campaign = campaigns.get(campaign_id) if campaign_id is not None else None
            keys[lead_id] = campaign[1] if campaign else None
        else:
            keys[lead_id] = campaign_id
    return keys


def _add_steps(steps: list[list[int]], first_at: list[int | None], rank: int) -> None:
    """Add a lead's time from reaching each stage below `rank` to reaching the next one.

    It reached a stage when it first reached that stage or any later one: a stage the CRM
    skipped was passed when the later one was reached, and took no time."""
    earliest = later = None
    for index in range(rank, -1, -1):
        at = first_at[index]
        if at is not None and (earliest is None or at < earliest):
            earliest = at
        if later is not None and earliest is not None:
            steps[index].append(later - earliest)
        later = earliest


def _conversion_facts(
    conversions: list[tuple], stages: int, default_currency: str
) -> tuple[dict, dict, dict]:
    """From the cohort's conversions: {lead: when it first reached each stage (by rank)},
    {(lead, rank): (value, currency) of its latest conversion of that stage with a value},
    {lead: [(value, currency)] of its won-stage conversions}."""
    first_at: dict[str, list] = {}
    latest: dict[tuple[str, int], tuple[int, int, str]] = {}
    won_values: dict[str, list[tuple[int, str]]] = {}
    for lead_id, rank, won, ms, value, currency in conversions:
        if rank >= 0:
            found = first_at.get(lead_id)
            if found is None:
                found = first_at[lead_id] = [None] * stages
            if found[rank] is None or ms < found[rank]:
                found[rank] = ms
        if value is not None:
            currency = currency or default_currency
            if rank >= 0:
                known = latest.get((lead_id, rank))
                # At the same moment, the one posted later (rows come in posting order).
                if known is None or ms >= known[0]:
                    latest[(lead_id, rank)] = (ms, value, currency)
            if won:
                won_values.setdefault(lead_id, []).append((value, currency))
    return first_at, {key: found[1:] for key, found in latest.items()}, won_values


def _figures(tally: _Tally, rules: PipelineRules, currency: str) -> dict:
    """`stages`, `no_stage` and `totals` of a tally, money in `currency`."""
    n = len(rules.stages)
    handoff = rules.rank(rules.handoff_stage)
    reached = [0] * n
    later = 0
    for index in range(n - 1, -1, -1):
        later += tally.at[index]
        reached[index] = later
    lost_value = [values[currency] for values in tally.lost_value]
    out = []
    for index, stage in enumerate(rules.stages):
        advanced = reached[index] - tally.at[index]
        last = index == n - 1
        out.append(
            {
                "stage": stage,
                "reached": reached[index],
                "advanced": advanced,
                "open_here": tally.open[index],
                "stalled": tally.stalled[index],
                "uncontacted": tally.uncontacted if index == handoff else None,
                "lost": tally.lost[index],
                "by_reason": _by_reason(tally.reasons[index], rules, currency),
                # The last stage leads nowhere: no rate, no time to the next.
                "conversion_rate": None if last else _rate(advanced, reached[index]),
                "median_days_to_next": None if last else _days(tally.steps[index]),
                "value_lost": money_text(lost_value[index], currency),
            }
        )
    lost = sum(tally.lost)
    return {
        "stages": out,
        "no_stage": {
            "leads": tally.at[-1],
            "open": tally.open[-1],
            "stalled": tally.stalled[-1],
            "lost": tally.lost[-1],
            "by_reason": _by_reason(tally.reasons[-1], rules, currency),
            "value_lost": money_text(lost_value[-1], currency),
        },
        "totals": {
            "leads": sum(tally.at),
            "open": sum(tally.open),
            "won": tally.won,
            "lost": lost,
            "stalled": sum(tally.stalled),
            "uncontacted": tally.uncontacted,
            "win_rate": _rate(tally.won, tally.won + lost),
            "handoff_ratio": (
                _rate(reached[handoff + 1], reached[handoff]) if 0 <= handoff < n - 1 else None
            ),
            "median_cycle_days": _days(tally.cycles),
            "value_won": money_text(tally.won_value[currency], currency),
            "value_lost": money_text(sum(lost_value), currency),
        },
    }


def _by_reason(found: dict[str, list], rules: PipelineRules, currency: str) -> dict:
    """{reason: {count, value}}: the reasons of the settings in their order, then any other
    (a reason since removed from TOUCHPOINT_LOST_REASONS) by name; only reasons given."""
    order = {reason: index for index, reason in enumerate(rules.lost_reasons)}
    names = sorted(found, key=lambda r: (order.get(r, len(order)), r))
    return {
        r: {"count": found[r][0], "value": money_text(found[r][1][currency], currency)}
        for r in names
    }


def _rate(part: int, whole: int) -> str | None:
    """part / whole as a decimal string with 4 places ("0.6667"); None when whole is 0."""
    if not whole:
        return None
    return str((Decimal(part) / Decimal(whole)).quantize(_RATE_PLACES, ROUND_HALF_UP))


def _days(durations_ms: list[int]) -> float | None:
    return round(statistics.median(durations_ms) / DAY_MS, 2) if durations_ms else None


def _label(group_by: str, key: Any, campaigns: dict[int, tuple]) -> str:
    if _special(group_by, key) == 2:
        return NO_TOUCH
    if key is None:
        if group_by == "partner":
            return NO_PARTNER
        return NO_CAMPAIGN if group_by in ("campaign", "channel") else NO_VALUE
    if group_by == "campaign":
        return campaigns[key][0] if key in campaigns else str(key)
    return str(key)


def _special(group_by: str | None, key: Any) -> int:
    """2 for the leads without a touch, 1 for a key None, 0 for the others."""
    if key == NO_TOUCH and group_by in ("campaign", "channel"):
        return 2
    return 1 if key is None else 0


# CSV ---------------------------------------------------------------------------------------


def csv_filename(report: dict) -> str:
    """What the file holds: grouping, period (its last day included), campaign, currency,
    e.g. pipeline-by-owner-2026-11-01-to-2026-11-30-USD.csv."""
    shown = report["params"]
    first = shown["from"][:10]
    last = clock.ms_to_iso(clock.iso_to_ms(shown["to"]) - 1)[:10]
    parts = ["pipeline"]
    if shown["group_by"]:
        parts.append(f"by-{shown['group_by']}")
    parts += [first, "to", last]
    if shown.get("campaign_id") is not None:
        parts.append(f"campaign-{shown['campaign_id']}")
    parts.append(shown["currency"])
    return "-".join(parts) + ".csv"


def csv_columns(report: dict) -> list[str]:
    """The header: the group, the stage, its figures, then a count and a value column for
    each lost reason of the settings (and any other reason the report found)."""
    reasons = dict.fromkeys(report["params"].get("lost_reasons", ()))
    for group in [report, *report.get("groups", ())]:
        for stage in [*group["stages"], group["no_stage"]]:
            reasons.update(dict.fromkeys(stage["by_reason"]))
    columns = ["group_key", "group_label", "stage", *STAGE_COLUMNS]
    for reason in reasons:
        columns += [f"lost_{reason}", f"value_lost_{reason}"]
    return columns


def to_csv(report: dict) -> str:
    """One row per (group, stage), then each group's `(no stage)` row (its `reached` is the
    leads with no stage). Without group_by the one group is `all`. Text someone typed (a
    campaign, an owner, a source) is made inert; numbers stay numbers."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    columns = csv_columns(report)
    writer.writerow(columns)
    reasons = [c.removeprefix("lost_") for c in columns[3 + len(STAGE_COLUMNS) :: 2]]
    nothing = money_text(0, report["params"]["currency"])
    # Grouped, only the groups (none for an empty cohort); else the one group `all`.
    groups = report.get("groups", [{"key": "all", "label": "All leads", **report}])
    for group in groups:
        head = ["" if group["key"] is None else inert(group["key"]), inert(group["label"])]
        none = group["no_stage"]
        rows = [(stage["stage"], stage) for stage in group["stages"]]
        rows.append(
            (
                NO_STAGE,
                {
                    "reached": none["leads"],
                    "open_here": none["open"],
                    "stalled": none["stalled"],
                    "lost": none["lost"],
                    "value_lost": none["value_lost"],
                    "by_reason": none["by_reason"],
                },
            )
        )
        for name, stage in rows:
            cells = [_cell(stage.get(column)) for column in STAGE_COLUMNS]
            for reason in reasons:
                found = stage["by_reason"].get(reason)
                cells += [found["count"], found["value"]] if found else [0, nothing]
            writer.writerow([*head, inert(name), *cells])
    return out.getvalue()


def _cell(value: object) -> object:
    return "" if value is None else value
