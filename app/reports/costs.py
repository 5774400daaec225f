"""Money in reports: the one currency of a report and campaign costs over a period.

A report is in one currency. Without `currency=`, values and costs in more than one currency
are refused (422 naming `currency`); with it, conversions in other currencies are left out
(counted in totals.excluded_other_currency) and so are costs in other currencies.
"""

from __future__ import annotations

from collections import Counter

from app.core import clock, money
from app.core.error_codes import ErrorCode
from app.core.errors import ValidationError

from .params import Period


def cumulative_cost(cost: int, starts_ms: int, ends_ms: int, at_ms: int) -> int:
    """The part of a dated campaign's cost spent by `at_ms`, rounded half up to the minor unit.

    Costs of adjacent periods are differences of this, so they add up to the whole cost
    without losing or inventing a cent.
    """
    spent = min(max(at_ms - starts_ms, 0), ends_ms - starts_ms)
    duration = ends_ms - starts_ms
    return (2 * cost * spent + duration) // (2 * duration)


def campaign_costs(
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
            s, e = clock.iso_to_ms(starts), clock.iso_to_ms(ends)
            if s < period.end_ms and e > period.start_ms:
                dated[campaign_id] = cumulative_cost(cost, s, e, period.end_ms) - (
                    cumulative_cost(cost, s, e, period.start_ms)
                )
        else:
            undated[campaign_id] = cost
    return dated, undated


def cost_currencies(
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


def report_currency(
    requested: str | None,
    seen: set[str],
    default_currency: str,
    *,
    most_used: Counter[str] | None = None,
) -> str:
    """The one currency of a report: the requested one, or the only one found.

    Several found and none requested: a 422 naming them, unless `most_used` (conversions
    with a value, by currency) is given, as the dashboard does so a page never goes blank:
    then the currency of most conversions (ties: the default currency, then A to Z).
    """
    if requested:
        return requested
    if len(seen) > 1:
        if most_used is not None:
            return min(seen, key=lambda c: (-most_used.get(c, 0), c != default_currency, c))
        found = sorted(seen)
        raise ValidationError(
            f"Values and costs in this report are in {', '.join(found)}; choose one "
            "with 'currency' (the others are then left out).",
            field="currency",
            code=ErrorCode.MIXED_CURRENCIES,
            extra={"currencies": found},
        )
    return next(iter(seen)) if seen else default_currency


def money_text(minor: int | None, currency: str) -> str | None:
    return money.to_decimal_string(minor, currency)
