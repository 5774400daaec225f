"""Report parameters: the query parameters of each report, checked, and the period.

The API and the CLI hand them in as text; each error names its parameter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache

from sqlite_utils import Database

from app import storage
from app.core import clock, money, validation
from app.core.error_codes import ErrorCode
from app.core.errors import ValidationError
from app.reports import attribution
from app.reports.attribution import Model

GROUP_BYS = ("campaign", "channel", "link", "location", "partner", "day", "device", "country")
# The pipeline report's groupings: the lead's first-touch campaign or its channel, or a column
# of the lead itself. No default: without group_by the report is one cohort.
PIPELINE_GROUP_BYS = ("campaign", "channel", "source", "owner", "origin", "partner")
FORMATS = ("json", "csv")
# The API's defaults; `touchpoint report attribution` offers the same choices and defaults.
DEFAULT_MODEL = "last_touch"
DEFAULT_GROUP_BY = "campaign"
# Row labels for "none" (no campaign, link or store), by group_by.
NO_LABELS = {
    "campaign": "(no campaign)",
    "channel": "(no campaign)",
    "link": "(no link)",
    "location": "(no location)",
    "partner": "(no partner)",
}
DEFAULT_WINDOW_S = 7 * 86_400
DEFAULT_PERIOD = timedelta(days=30)
# `type=all`: every conversion type, pipeline stages included.
ALL_TYPES = "all"
DEFAULT_REVENUE_TYPES = ("sale", "purchase", "store_sale", "redemption")
_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
DAY_MS = 86_400_000
# What the report page calls each parameter, for messages people read.
LABELS = {
    "from": "From",
    "to": "To",
    "model": "Model",
    "group_by": "Grouping",
    "format": "Format",
    "window": "Window",
    "weights": "Weights",
    "half_life": "Half-life",
    "type": "Conversion types",
}


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
        return cls(start, end, clock.iso_to_ms(start), clock.iso_to_ms(end))


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


@lru_cache(maxsize=8192)
def day_of(day_number: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day_number)).isoformat()


def _choice(args: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = (args.get(name) or default).strip()
    if value not in choices:
        raise ValidationError(
            f"{LABELS[name]} must be one of: {', '.join(choices)}.",
            field=name,
            code=ErrorCode.INVALID_CHOICE,
        )
    return value


def _period(args: Mapping[str, str], now: datetime) -> Period:
    """`from` and `to` (ISO 8601; a date means its midnight UTC); default: the last 30 days.

    A bad `from` and a bad `to` are both reported."""
    check = validation.Collector()
    end = check(_timestamp, args, "to")
    start = check(_timestamp, args, "from")
    check.done()
    end = end or clock.to_iso(now)
    start = start or clock.to_iso(clock.from_iso(end) - DEFAULT_PERIOD)
    if start >= end:
        raise ValidationError("From must be before To.", field="from")
    return Period.of(start, end)


def _timestamp(args: Mapping[str, str], name: str) -> str | None:
    value = args.get(name)
    if value is None or not value.strip():
        return None
    try:
        return clock.to_iso(clock.parse_input_time(value))
    except ValueError:
        raise ValidationError(
            f"{LABELS[name]} is not an ISO 8601 time or date such as 2026-11-01T00:00:00Z.",
            field=name,
        ) from None


def _campaign_id(db: Database, args: Mapping[str, str]) -> int | None:
    value = (args.get("campaign_id") or "").strip()
    if not value:
        return None
    campaign_id = validation.integer_text(
        value, "campaign_id", message="Campaign must be a campaign id."
    )
    if storage.get_campaign(db, campaign_id) is None:
        raise ValidationError(
            f"No campaign with id {value}.", field="campaign_id", code=ErrorCode.UNKNOWN_CAMPAIGN
        )
    return campaign_id


def _types(args: Mapping[str, str], default: tuple[str, ...]) -> tuple[str, ...] | None:
    """`type=sale,redemption`: conversion types to count; `redemption` means redemptions.

    Without `type`, the revenue types (TOUCHPOINT_REVENUE_TYPES): a pipeline stage's value is
    not money received, and one buyer's lead, mql and sale are one customer, not three.
    `type=all` counts every type (None).
    """
    value = (args.get("type") or "").strip()
    if not value:
        return default
    if value.lower() == ALL_TYPES:
        return None
    types = tuple(dict.fromkeys(t.strip().lower() for t in value.split(",") if t.strip()))
    if not types:
        types = ("",)  # only commas: refused below
    for kind in types:
        if not _TYPE_RE.match(kind):
            raise ValidationError(
                "Conversion types must be a comma-separated list such as sale,redemption (or all).",
                field="type",
            )
    return types


def _currency(args: Mapping[str, str]) -> str | None:
    value = (args.get("currency") or "").strip().upper()
    if not value:
        return None
    if not money.is_currency(value):
        raise ValidationError(
            "Currency must be a three-letter ISO 4217 code such as EUR.", field="currency"
        )
    return value


def _reject_unknown(args: Mapping[str, str], allowed: set[str]) -> None:
    """A typo such as `modle=linear` must not quietly give the default report, and an empty
    value such as `window=` must not either: leave a parameter out for its default."""
    check = validation.Collector()
    for name in args:
        if name not in allowed:
            check.add(
                f"Unknown parameter '{name}'; known: {', '.join(sorted(allowed))}.",
                field=name,
                code=ErrorCode.UNKNOWN_PARAMETER,
            )
        elif isinstance(args[name], str) and not args[name].strip():
            name_said = LABELS.get(name) or validation.label(name)
            check.add(
                f"{name_said} is empty: give a value or leave the parameter out.",
                field=name,
            )
    check.done()


def attribution_params(
    db: Database,
    args: Mapping[str, str],
    now: datetime,
    *,
    revenue_types: tuple[str, ...] = DEFAULT_REVENUE_TYPES,
) -> Params:
    """Check the parameters of the attribution report; without `type`, the revenue types.

    Every bad parameter is reported at once (the report page shows each at its control).
    """
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
    check = validation.Collector()
    name = check(_choice, args, "model", attribution.MODELS, DEFAULT_MODEL)
    weights: tuple[int, ...] = attribution.DEFAULT_WEIGHTS
    w_weights: tuple[int, ...] = attribution.W_SHAPED_WEIGHTS
    if args.get("weights"):
        if name == "position_based":
            weights = check(attribution.parse_weights, args["weights"]) or weights
        elif name == "w_shaped":
            w_weights = check(attribution.parse_weights, args["weights"], 4) or w_weights
        elif name == "full_path":
            # Five shares, one of them 22.5, are not worth a syntax of their own: full_path
            # is the fixed variant, w_shaped the one to tune.
            check.add(
                "The full-path model's weights are fixed (22.5% each to the first, "
                "lead-creation, opportunity-creation and closing touches, 10% to the others); "
                "use the W-shaped model to choose weights.",
                field="weights",
            )
        elif name:
            check.add(
                "Weights apply to the position-based and W-shaped models only.", field="weights"
            )
    half_life: int | None = attribution.DEFAULT_HALF_LIFE_S
    if args.get("half_life"):
        if name not in (None, "time_decay"):
            check.add("Half-life applies to the time-decay model only.", field="half_life")
        elif name:
            half_life = check(attribution.parse_duration, args["half_life"], "half_life")
    window: int | None = DEFAULT_WINDOW_S
    if args.get("window"):
        window = check(attribution.parse_duration, args["window"], "window")
    period = check(_period, args, now)
    campaign_id = check(_campaign_id, db, args)
    types = check(_types, args, revenue_types)
    currency = check(_currency, args)
    group_by = check(_choice, args, "group_by", GROUP_BYS, DEFAULT_GROUP_BY)
    format_ = check(_choice, args, "format", FORMATS, "json")
    check.done()
    # None means refused, and check.done() raised for it.
    assert period is not None and name is not None and format_ is not None
    assert window is not None and half_life is not None
    return Params(
        period=period,
        campaign_id=campaign_id,
        types=types,
        currency=currency,
        window_s=window,
        model=Model(name, weights, half_life, w_weights),
        group_by=group_by,
        format=format_,
    )


def funnel_params(db: Database, args: Mapping[str, str], now: datetime) -> Params:
    """Check the parameters of the funnel."""
    _reject_unknown(args, {"from", "to", "campaign_id", "group_by", "currency"})
    check = validation.Collector()
    group_by = args.get("group_by") or None
    if group_by is not None and group_by != "location":
        check.add(
            "Grouping can only be location here.", field="group_by", code=ErrorCode.INVALID_CHOICE
        )
    period = check(_period, args, now)
    campaign_id = check(_campaign_id, db, args)
    currency = check(_currency, args)
    check.done()
    assert period is not None  # None means refused, and check.done() raised for it
    return Params(period=period, campaign_id=campaign_id, currency=currency, group_by=group_by)


def time_to_convert_params(
    db: Database,
    args: Mapping[str, str],
    now: datetime,
    *,
    revenue_types: tuple[str, ...] = DEFAULT_REVENUE_TYPES,
) -> Params:
    """Check the parameters of the time-to-convert histogram; without `type`, revenue types."""
    _reject_unknown(args, {"from", "to", "campaign_id", "type"})
    check = validation.Collector()
    period = check(_period, args, now)
    campaign_id = check(_campaign_id, db, args)
    types = check(_types, args, revenue_types)
    check.done()
    assert period is not None  # None means refused, and check.done() raised for it
    return Params(period=period, campaign_id=campaign_id, types=types)


def pipeline_params(db: Database, args: Mapping[str, str], now: datetime) -> Params:
    """Check the parameters of the pipeline report (every bad one reported at once).

    The period is when the leads were created, not when anything else happened."""
    _reject_unknown(args, {"from", "to", "group_by", "campaign_id", "currency", "format"})
    check = validation.Collector()
    period = check(_period, args, now)
    group_by = None
    if args.get("group_by"):
        group_by = check(_choice, args, "group_by", PIPELINE_GROUP_BYS, "")
    campaign_id = check(_campaign_id, db, args)
    currency = check(_currency, args)
    format_ = check(_choice, args, "format", FORMATS, "json")
    check.done()
    assert period is not None and format_ is not None  # None means refused: done() raised
    return Params(
        period=period,
        campaign_id=campaign_id,
        currency=currency,
        group_by=group_by,
        format=format_,
    )


def params_json(params: Params, currency: str | None) -> dict:
    return {
        "from": params.period.start,
        "to": params.period.end,
        "campaign_id": params.campaign_id,
        "currency": currency,
    }


def types_json(params: Params, found: set[str]) -> dict:
    """`type`: the conversion types a report counted. With `type=all`, the types found in the
    period, and `type_all: true` says every type was asked for."""
    if params.types is not None:
        return {"type": list(params.types), "type_all": False}
    return {"type": sorted(found), "type_all": True}


def statement_params(args: Mapping[str, str], now: datetime) -> Period:
    """A partner statement's period: `from` and `to` as in the reports."""
    _reject_unknown(args, {"from", "to"})
    return _period(args, now)
