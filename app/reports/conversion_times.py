"""Time to convert: how long after a campaign's latest touch people convert."""

from __future__ import annotations

import statistics
from bisect import bisect_right

from sqlite_utils import Database

from .. import storage
from .journeys import Journeys, conversions_in, count_until
from .params import NO_LABELS, Params, params_json, types_json
from .snapshot import collector_paused, up_to_date

TIME_BUCKETS = (("< 1 h", 3_600), ("< 1 d", 86_400), ("< 7 d", 7 * 86_400), ("< 30 d", 30 * 86_400))
LATER = "later"


@collector_paused()
def time_to_convert(db: Database, params: Params, reader: Database | None = None) -> dict:
    """How long after a campaign's latest touch people convert: evidence for the window.

    For each conversion in the period, the time since the most recent touch of each campaign
    in its journey (however long ago) falls into one bucket of that campaign's row; the
    totals cover every conversion of the period, with the most recent touch of any campaign.
    """
    period = params.period
    with up_to_date(db, reader) as (db, last):
        campaigns = storage.report_campaigns(db)
        conversions, _ = conversions_in(db, period, params.types)
        journeys = Journeys(db, conversions, None, last)
    labels = [label for label, _ in TIME_BUCKETS] + [LATER]
    limits = [limit for _, limit in TIME_BUCKETS]
    # Per campaign: [count per bucket, ages]; buckets by index (bisect), named at the end.
    rows: dict[int | None, tuple[list[int], list[float]]] = {}
    total_counts = [0] * len(labels)
    total_ages: list[float] = []
    direct = without = 0
    only = params.campaign_id
    for conversion in conversions:
        if conversion.direct_campaign_id is not None:
            direct += 1
            continue
        touches = journeys.touches(conversion)
        ms = conversion.ms
        before = touches[: count_until(touches, ms)]
        if not before:
            without += 1
            continue
        latest = {t[3]: t[0] for t in before}  # each campaign's most recent touch
        age = (ms - before[-1][0]) / 1000
        total_counts[bisect_right(limits, age)] += 1
        total_ages.append(age)
        for campaign_id, at in latest.items():
            if only is None or only == campaign_id:
                row = rows.get(campaign_id)
                if row is None:
                    row = rows[campaign_id] = ([0] * len(labels), [])
                since = (ms - at) / 1000
                row[0][bisect_right(limits, since)] += 1
                row[1].append(since)
    ordered = sorted(rows, key=lambda k: (-len(rows[k][1]), k is None, k or 0))
    return {
        "params": {
            **{k: v for k, v in params_json(params, None).items() if k != "currency"},
            **types_json(params, {c.kind for c in conversions}),
        },
        "buckets": labels,
        "rows": [
            {
                "key": key,
                "label": campaigns[key][0] if key in campaigns else NO_LABELS["campaign"],
                "conversions": len(rows[key][1]),
                "counts": dict(zip(labels, rows[key][0], strict=True)),
                "median_s": median_seconds(rows[key][1]),
            }
            for key in ordered
        ],
        "totals": {
            "conversions": len(conversions),
            "with_touch": len(total_ages),
            "without_touch": without,
            "direct": direct,
            "counts": dict(zip(labels, total_counts, strict=True)),
            "median_s": median_seconds(total_ages),
        },
    }


def median_seconds(ages: list[float]) -> int | None:
    return round(statistics.median(ages)) if ages else None
