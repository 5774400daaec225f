"""Time to convert: how long after a campaign's latest touch people convert."""

from __future__ import annotations

import statistics

from sqlite_utils import Database

from .. import store
from .journeys import Journeys, conversions_in, count_until
from .params import NO_LABELS, Params, params_json
from .snapshot import collector_paused, up_to_date

TIME_BUCKETS = (("< 1 h", 3_600), ("< 1 d", 86_400), ("< 7 d", 7 * 86_400), ("< 30 d", 30 * 86_400))
LATER = "later"


@collector_paused()
def time_to_convert(db: Database, params: Params) -> dict:
    """How long after a campaign's latest touch people convert: evidence for the window.

    For each conversion in the period, the time since the most recent touch of each campaign
    in its journey (however long ago) falls into one bucket of that campaign's row; the
    totals cover every conversion of the period, with the most recent touch of any campaign.
    """
    period = params.period
    with up_to_date(db) as last:
        campaigns = store.report_campaigns(db)
        conversions, _ = conversions_in(db, period, params.types)
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
        before = touches[: count_until(touches, conversion.ms)]
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
        "params": {k: v for k, v in params_json(params, None).items() if k != "currency"},
        "buckets": labels,
        "rows": [
            {
                "key": key,
                "label": campaigns[key][0] if key in campaigns else NO_LABELS["campaign"],
                "conversions": len(rows[key][1]),
                "counts": rows[key][0],
                "median_s": median_seconds(rows[key][1]),
            }
            for key in ordered
        ],
        "totals": {
            "conversions": len(conversions),
            "with_touch": len(total_ages),
            "without_touch": without,
            "direct": direct,
            "counts": total_counts,
            "median_s": median_seconds(total_ages),
        },
    }


def _bucket(age_s: float) -> str:
    for label, limit in TIME_BUCKETS:
        if age_s < limit:
            return label
    return LATER


def median_seconds(ages: list[float]) -> int | None:
    return round(statistics.median(ages)) if ages else None
