"""The funnel: people through the stages, from a human click to a redemption or a sale."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from functools import reduce
from itertools import compress, repeat
from operator import or_

from sqlite_utils import Database

from .. import storage
from .activity import activity, marked
from .costs import money_text, report_currency
from .params import NO_LABELS, Params, params_json
from .snapshot import collector_paused, up_to_date


@collector_paused()
def funnel(
    db: Database,
    params: Params,
    *,
    stages: tuple[str, ...],
    default_currency: str = "USD",
    pick_currency: bool = False,
    reader: Database | None = None,
) -> dict:
    """People through the stages, from a human click to a redemption or a sale.

    The people are those with a human click, scan or claim in the period (of the campaign, if
    given), one per lead when their browsers are stitched. Two chains start from that click:
    claim -> redemption (when there are offers) and the conversion stages (FUNNEL_STAGES).
    Within a chain a person counts at a stage when they reached it or a later one in the
    period (a CRM may report a sale without the opportunity before it), so counts never grow
    along a chain. drop_off: people at the previous stage of the chain (`after`) who did not
    reach this one; value_lost: what those people were worth at that stage, where known.
    reader: where to read the report (a standby), as for up_to_date.
    """
    period = params.period
    with up_to_date(db, reader) as (db, last):
        buckets = activity(db, period, last, params.campaign_id)
        lead_of = storage.stitched_visitor_numbers(db)
        claims = storage.claims_between(db, period.start, period.end, params.campaign_id)
        redemptions = [
            r
            for r in storage.redemptions_between(db, period.start, period.end)
            if params.campaign_id in (None, r[4])
        ]
        conversions = storage.conversions_between(db, period.start, period.end, list(stages))
        with_offers = storage.offer_count(db, params.campaign_id) > 0
        locations = storage.report_locations(db) if params.group_by else {}

    def person(number: int | None, lead: str | None) -> str | int | None:
        """A person: the lead, or else the (unstitched) visitor's number."""
        stitched_to = lead_of.get(number) if number is not None else None
        return lead or stitched_to or number

    used = Counter(r[3] or default_currency for r in redemptions if r[2])
    used.update(c[7] or default_currency for c in conversions if c[6])
    currency = report_currency(
        params.currency, set(used), default_currency, most_used=used if pick_currency else None
    )
    chains: list[tuple[str, ...]] = [("click", "claim", "redemption")] if with_offers else []
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
    for kind, _, _, lead, number, _, value, value_currency, *_ in conversions:
        reach(person(number, lead), kind, value, value_currency)

    cohort_of: dict[str | None, list[bytes]] = {}
    for bucket in buckets:
        cohort_of.setdefault(bucket[3] if params.group_by else None, []).append(bucket[9])
    # Every cohort's marks cover every visitor number a person can be, so membership is a
    # plain index (see _People.within).
    persons = (who for reached_by in furthest for who in reached_by if isinstance(who, int))
    size = max(max(lead_of, default=0), max(persons, default=0)) + 1
    stitched, their_leads = list(lead_of), list(lead_of.values())

    def people_in(blobs: list[bytes]) -> _People:
        marks = marked(b"".join(blobs), size)
        # A stitched browser is its lead: found with one pass over the stitched numbers in
        # C (map, compress), then unmarked.
        found = bytes(map(marks.__getitem__, stitched))
        deque(map(marks.__setitem__, compress(stitched, found), repeat(0)), maxlen=0)
        return _People(marks, set(compress(their_leads, found)))

    nobody = _People(bytes(size), set())
    people_of = {code: people_in(blobs) for code, blobs in cohort_of.items()}
    everyone = reduce(or_, people_of.values(), nobody)

    reached = [_Reached(reached_by) for reached_by in furthest]

    def stats(people: _People) -> list[dict]:
        return _stages(people, chains, reached, values, currency)

    shown = params_json(params, currency)
    shown["currencies"] = sorted(set(used) | {currency})
    shown.update(group_by=params.group_by, stages=[s["stage"] for s in stats(nobody)])
    report = {"params": shown, "stages": stats(everyone)}
    if params.group_by:
        # By where people clicked or scanned; people who never touched a store's link last.
        unplaced = people_of.pop(None, nobody) - reduce(or_, people_of.values(), nobody)
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


class _Reached:
    """(person, index of the furthest stage) pairs of one chain, visitor numbers apart from
    leads, with the persons alone beside them."""

    __slots__ = ("numbers", "number_keys", "leads", "lead_keys")

    def __init__(self, furthest: dict) -> None:
        self.numbers = [item for item in furthest.items() if isinstance(item[0], int)]
        self.leads = [item for item in furthest.items() if isinstance(item[0], str)]
        self.number_keys = [who for who, _ in self.numbers]
        self.lead_keys = [who for who, _ in self.leads]


class _People:
    """A cohort: browsers that are nobody's lead, as marks (one byte per visitor number, 1 for
    those in it), and leads. Sets of hundreds of thousands of ints cost more per member as
    they outgrow the caches; marks are a byte a visitor."""

    __slots__ = ("visitors", "leads", "size")

    def __init__(self, visitors: bytes | bytearray, leads: set[str]) -> None:
        self.visitors = visitors
        self.leads = leads
        self.size = visitors.count(1) + len(leads)

    def __len__(self) -> int:
        return self.size

    def within(self, reached: _Reached) -> list[tuple]:
        """The (person, stage index) pairs of `reached` whose person is in the cohort."""
        # One membership test a person, run in C by map() and compress().
        return [
            *compress(reached.numbers, map(self.visitors.__getitem__, reached.number_keys)),
            *compress(reached.leads, map(self.leads.__contains__, reached.lead_keys)),
        ]

    def __or__(self, other: _People) -> _People:
        return _People(_bytewise(or_, self.visitors, other.visitors), self.leads | other.leads)

    def __sub__(self, other: _People) -> _People:
        without = _bytewise(lambda a, b: a & ~b, self.visitors, other.visitors)
        return _People(without, self.leads - other.leads)


def _bytewise(op: Callable[[int, int], int], a: bytes | bytearray, b: bytes | bytearray) -> bytes:
    # Marks are 0 or 1 a byte, so bitwise operations on them as big integers work byte by
    # byte: one C loop over the whole cohort.
    size = max(len(a), len(b))
    return op(int.from_bytes(a, "little"), int.from_bytes(b, "little")).to_bytes(size, "little")


def _stages(
    people: _People,
    chains: list[tuple[str, ...]],
    reached_of: list[_Reached],
    values: dict[tuple, int],
    currency: str,
) -> list[dict]:
    out = [_stage("click", None, len(people), None, None, currency)]
    for chain, reached_by in zip(chains, reached_of, strict=True):
        # Everyone is at the click; only people who went further need looking at.
        reached = [len(people)] + [0] * (len(chain) - 1)
        lost: list[int | None] = [None] * len(chain)
        for who, top in people.within(reached_by):
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
        "value_lost": money_text(lost, currency),
    }
