"""Campaigns: what a marketer pays for, and the UTM tags every one of its links carries."""

from __future__ import annotations

import re
import unicodedata

from sqlite_utils import Database

from app import storage
from app.clicks import tags
from app.core import clock, money, validation
from app.core import db as dbmod
from app.core.error_codes import ErrorCode
from app.core.errors import NotFound, ValidationError

CHANNELS = (
    "email",
    "search",
    "social",
    "display",
    "print",
    "in_store",
    "trade_show",
    "referral",
    "other",
)
# In the order forms show them.
FIELDS = (
    "name",
    "channel",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "cost",
    "currency",
    "starts_at",
    "ends_at",
    "notes",
    "utm_content_template",
    "utm_term_template",
)
_FIELDS = {*FIELDS, "tags"}  # a new campaign's
_PATCH_FIELDS = {*_FIELDS, "archived"}
_TEMPLATE_RE = re.compile(r"\{([^{}]*)\}")
# What a link's utm_content/utm_term template may name (app/clicks/links.py fills them in).
TEMPLATE_FIELDS = ("store_code", "partner_code", "label", "slug", "domain")
_PLACEHOLDERS = ", ".join("{" + name + "}" for name in TEMPLATE_FIELDS)


def slugify(name: str) -> str:
    """`Black Friday 2026 — Süd` -> `black-friday-2026-sud` (ASCII, safe in any analytics tool)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:100].rstrip("-") or "campaign"


def _clean(
    payload: dict, *, partial: bool, current: dict | None = None, default_currency: str = "USD"
) -> dict:
    """The stored values for a payload; every field error is reported at once."""
    validation.require_object(payload)
    check = validation.Collector()
    check(validation.reject_unknown, payload, _PATCH_FIELDS if partial else _FIELDS)
    values: dict = {}

    def present(field: str) -> bool:
        return not partial or field in payload

    if present("name"):
        values["name"] = check(validation.text, payload, "name", required=True)
    if present("channel"):
        values["channel"] = check(validation.choice, payload, "channel", CHANNELS, required=True)
    for field in ("utm_source", "utm_medium"):
        if present(field):
            values[field] = check(validation.text, payload, field, required=True)
    if present("utm_campaign"):
        values["utm_campaign"] = check(validation.text, payload, "utm_campaign", required=partial)
        if values["utm_campaign"] is None and values.get("name"):
            values["utm_campaign"] = slugify(values["name"])
    for field in ("utm_content_template", "utm_term_template"):
        if present(field):
            values[field] = check(_template, payload, field)
    if "archived" in payload:
        archived = check(validation.boolean, payload, "archived")
        if archived is None:
            check.add("Archived must be true or false.", field="archived")
        elif archived != ((current or {}).get("archived_at") is not None):
            values["archived_at"] = clock.now_iso() if archived else None
    if "tags" in payload:
        values["tags"] = check(tags.parse, payload.get("tags")) or []
    if present("notes"):
        values["notes"] = check(validation.text, payload, "notes", max_len=10_000, multiline=True)
    for field in ("starts_at", "ends_at"):
        if present(field):
            values[field] = check(validation.timestamp, payload, field)

    if present("currency"):
        values["currency"] = check(validation.currency, payload)
    if present("cost") and check.ok("currency"):
        currency = values.get("currency") or (current or {}).get("currency") or default_currency
        values["cost_minor"] = check(
            validation.amount, payload, "cost", currency, example="1200.00"
        )
        if values["cost_minor"] is not None:
            values["currency"] = currency

    cost_minor = values.get("cost_minor", (current or {}).get("cost_minor"))
    if (
        cost_minor is not None
        and "currency" in values
        and values["currency"] is None
        and check.ok("currency")
    ):
        check.add("A campaign with a cost needs a currency.", field="currency")
    starts = values.get("starts_at", (current or {}).get("starts_at"))
    ends = values.get("ends_at", (current or {}).get("ends_at"))
    if starts and ends and ends <= starts:
        field = "ends_at" if "ends_at" in values else "starts_at"
        check.add("The end must be after the start.", field=field)
    check.done()
    return values


def _template(payload: dict, field: str) -> str | None:
    """A utm template such as '{store_code}-flyer': text whose {placeholders} are known."""
    value = validation.text(payload, field)
    if value is None:
        return None
    for name in _TEMPLATE_RE.findall(value):
        if name not in TEMPLATE_FIELDS:
            raise ValidationError(
                f"'{{{name}}}' is not a placeholder; use {_PLACEHOLDERS}.",
                field=field,
            )
    return value


def create(db: Database, payload: dict, *, default_currency: str = "USD") -> dict:
    values = _clean(payload, partial=False, default_currency=default_currency)
    campaign_tags = values.pop("tags", [])
    now = clock.now_iso()
    values.pop("archived_at", None)
    with dbmod.immediate(db):
        campaign_id = storage.insert_campaign(db, {**values, "created_at": now, "updated_at": now})
        if campaign_tags:
            storage.set_tags(db, "campaign", campaign_id, campaign_tags)
    return get(db, campaign_id)


def update(db: Database, campaign_id: int, payload: dict, *, default_currency: str = "USD") -> dict:
    current = storage.get_campaign(db, campaign_id)
    if current is None:
        raise NotFound(f"No campaign with id {campaign_id}.", code=ErrorCode.CAMPAIGN_NOT_FOUND)
    values = _clean(payload, partial=True, current=current, default_currency=default_currency)
    if (
        "currency" in values
        and "cost" not in payload
        and current["cost_minor"] is not None
        and money.exponent(values["currency"] or default_currency)
        != money.exponent(current["currency"] or default_currency)
    ):
        raise ValidationError(
            "Changing to a currency with other decimal places needs a new cost too.",
            field="cost",
        )
    new_tags = values.pop("tags", None)
    with dbmod.immediate(db):
        if values:
            values["updated_at"] = clock.now_iso()
            storage.update_campaign(db, campaign_id, values)
        if new_tags is not None:
            storage.set_tags(db, "campaign", campaign_id, new_tags)
    return get(db, campaign_id)


def get(db: Database, campaign_id: int) -> dict:
    """The campaigns row with its `tags`."""
    row = storage.get_campaign_with_tags(db, campaign_id)
    if row is None:
        raise NotFound(f"No campaign with id {campaign_id}.", code=ErrorCode.CAMPAIGN_NOT_FOUND)
    return row


def stats(db: Database, campaign_id: int) -> dict:
    """link stats for all of a campaign's links together, with the audience breakdowns."""
    from app.clicks import links  # links builds on campaigns

    get(db, campaign_id)
    return {
        **storage.campaign_stats(db, campaign_id),
        **links.audience_of(db, "campaign_id", campaign_id),
    }


def with_tags(db: Database, rows: list[dict]) -> list[dict]:
    found = storage.tags_of(db, "campaign", [r["id"] for r in rows])
    return [{**r, "tags": found.get(r["id"], [])} for r in rows]


def list_page(
    db: Database, *, after_id: int = 0, limit: int = 100, channel: str | None = None
) -> list[dict]:
    return with_tags(
        db, storage.list_campaigns(db, after_id=after_id, limit=limit, channel=channel)
    )


def to_json(row: dict) -> dict:
    """The API shape of a campaign: money as a decimal string."""
    out = {k: v for k, v in row.items() if k not in ("cost_minor", "hits")}
    out["cost"] = money.to_decimal_string(row["cost_minor"], row["currency"])
    out["archived"] = row.get("archived_at") is not None
    out["tags"] = row.get("tags", [])
    if "hits" in row:
        out["clicks_30d"] = row["hits"]
    return out
