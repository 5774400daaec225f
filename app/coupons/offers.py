"""Offers and their codes: unique code batches, shared codes, personal codes, web claims."""

from __future__ import annotations

import re
from typing import Any

from sqlite_utils import Database

from app import storage
from app.core import clock, validation
from app.core import db as dbmod
from app.core.error_codes import ErrorCode
from app.core.errors import Conflict, NotFound, ValidationError
from app.coupons import codes

KINDS = ("unique", "shared")
MAX_BATCH = 100_000
# The columns of a code export (API and dashboard CSV): the keys export_rows() yields.
EXPORT_COLUMNS = (
    "code",
    "normalized",
    "batch_id",
    "lead_id",
    "email",
    "redemption_count",
    "created_at",
)
_CREATE_FIELDS = {
    "campaign_id",
    "title",
    "terms",
    "discount",
    "location_codes",
    "starts_at",
    "ends_at",
    "max_redemptions_per_code",
    "kind",
    "shared_code",
    "code_prefix",
    "per_lead_limit",
}
_PATCH_FIELDS = {
    "title",
    "terms",
    "discount",
    "location_codes",
    "starts_at",
    "ends_at",
    "max_redemptions_per_code",
    "per_lead_limit",
}
_PREFIX_RE = re.compile(r"^[A-Z][A-Z0-9]{0,11}$")
_SHARED_RE = re.compile(r"^[A-Z0-9]{3,40}$")


def _location_codes(db: Database, payload: dict) -> list[str] | None:
    if "location_codes" not in payload:
        return None
    value = payload["location_codes"]
    if value is None:
        return []  # null clears the list, like every other field: valid everywhere
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError("Locations must be a list of location codes.", field="location_codes")
    unknown = [v for v in value if storage.get_location(db, v) is None]
    if unknown:
        raise ValidationError(
            f"Unknown location code(s): {', '.join(unknown)}.",
            field="location_codes",
            code=ErrorCode.UNKNOWN_LOCATION,
        )
    return list(dict.fromkeys(value))


def _limits(check: validation.Collector, payload: dict, values: dict) -> None:
    for field in ("max_redemptions_per_code", "per_lead_limit"):
        if field in payload:
            values[field] = check(validation.integer, payload, field)


def _dates(check: validation.Collector, starts: str | None, ends: str | None) -> None:
    if starts and ends and ends <= starts:
        check.add("The end must be after the start.", field="ends_at")


def create(db: Database, payload: dict) -> dict:
    validation.require_object(payload)
    check = validation.Collector()
    check(validation.reject_unknown, payload, _CREATE_FIELDS)
    campaign_id = check(validation.integer, payload, "campaign_id", required=True)
    if campaign_id is not None and storage.get_campaign(db, campaign_id) is None:
        check.add(
            f"No campaign with id {campaign_id}.",
            field="campaign_id",
            code=ErrorCode.UNKNOWN_CAMPAIGN,
        )
    kind = check(validation.choice, payload, "kind", KINDS, default="unique")
    values: dict[str, Any] = {
        "campaign_id": campaign_id,
        "title": check(validation.text, payload, "title", required=True),
        "terms": check(validation.text, payload, "terms", max_len=5000, multiline=True),
        "discount": check(validation.text, payload, "discount", max_len=100),
        "kind": kind,
        "starts_at": check(validation.timestamp, payload, "starts_at"),
        "ends_at": check(validation.timestamp, payload, "ends_at"),
        "max_redemptions_per_code": 1 if kind == "unique" else None,
        "per_lead_limit": None,
        "code_prefix": None,
    }
    _limits(check, payload, values)
    _dates(check, values["starts_at"], values["ends_at"])
    prefix = check(validation.text, payload, "code_prefix", max_len=12)
    if prefix is not None:
        prefix = prefix.upper()
        if (kind is not None and kind != "unique") or not _PREFIX_RE.match(prefix):
            check.add(
                "Code prefix is 1-12 letters or digits starting with a letter, for unique "
                "codes only.",
                field="code_prefix",
            )
        values["code_prefix"] = prefix
    shared = check(validation.text, payload, "shared_code", max_len=60)
    if kind == "shared" and check.ok("shared_code"):
        if shared is None:
            check.add(
                "A shared offer needs its shared code, e.g. HOLIDAY10.",
                field="shared_code",
                code=ErrorCode.REQUIRED,
            )
        else:
            shared = codes.squeeze(shared)
            if not _SHARED_RE.match(shared):
                check.add("Shared code is 3-40 letters and digits.", field="shared_code")
    elif shared is not None and check.ok("kind"):
        check.add("A shared code is only for a shared offer.", field="shared_code")
    location_codes = check(_location_codes, db, payload) or []
    check.done()
    now = clock.now_iso()
    with dbmod.immediate(db):
        if shared is not None and storage.code_exists(db, shared):
            raise Conflict(
                f"The code '{shared}' is already in use.",
                field="shared_code",
                code=ErrorCode.CODE_TAKEN,
            )
        offer_id = storage.insert_offer(db, {**values, "created_at": now, "updated_at": now})
        storage.set_offer_locations(db, offer_id, location_codes)
        if shared is not None:
            storage.insert_codes(db, [(shared, offer_id, "shared", None, None, None, now)])
    return get(db, offer_id)


def update(db: Database, offer_id: int, payload: dict) -> dict:
    current = get(db, offer_id)
    validation.require_object(payload)
    check = validation.Collector()
    for key in payload:
        if key not in _PATCH_FIELDS:
            check.add(
                f"'{key}' cannot be changed; updatable fields: {', '.join(sorted(_PATCH_FIELDS))}.",
                field=key,
                code=ErrorCode.NOT_UPDATABLE if key in _CREATE_FIELDS else ErrorCode.UNKNOWN_FIELD,
            )
    values: dict = {}
    if "title" in payload:
        values["title"] = check(validation.text, payload, "title", required=True)
    if "terms" in payload:
        values["terms"] = check(validation.text, payload, "terms", max_len=5000, multiline=True)
    if "discount" in payload:
        values["discount"] = check(validation.text, payload, "discount", max_len=100)
    for field in ("starts_at", "ends_at"):
        if field in payload:
            values[field] = check(validation.timestamp, payload, field)
    _limits(check, payload, values)
    if check.ok("starts_at", "ends_at"):
        starts = values.get("starts_at", current["starts_at"])
        _dates(check, starts, values.get("ends_at", current["ends_at"]))
    location_codes = check(_location_codes, db, payload)
    check.done()
    with dbmod.immediate(db):
        if values:
            values["updated_at"] = clock.now_iso()
            storage.update_offer(db, offer_id, values)
        if location_codes is not None:
            storage.set_offer_locations(db, offer_id, location_codes)
    return get(db, offer_id)


def get(db: Database, offer_id: int) -> dict:
    row = storage.get_offer(db, offer_id)
    if row is None:
        raise NotFound(f"No offer with id {offer_id}.", code=ErrorCode.OFFER_NOT_FOUND)
    row["location_codes"] = storage.offer_location_codes(db, offer_id)
    row["shared_code"] = storage.shared_code_of(db, offer_id) if row["kind"] == "shared" else None
    return row


def summary(db: Database, offer_id: int) -> dict:
    """The offer with its shared code, locations, and codes issued, claimed and redeemed."""
    row = storage.offer_summary(db, offer_id)
    if row is None:
        raise NotFound(f"No offer with id {offer_id}.", code=ErrorCode.OFFER_NOT_FOUND)
    return row


def list_page(
    db: Database, *, after_id: int, limit: int, campaign_id: int | None = None
) -> list[dict]:
    rows = storage.list_offers(db, after_id=after_id, limit=limit, campaign_id=campaign_id)
    for row in rows:
        row["location_codes"] = storage.offer_location_codes(db, row["id"])
        row["shared_code"] = (
            storage.shared_code_of(db, row["id"]) if row["kind"] == "shared" else None
        )
    return rows


def validity(offer: dict, now: str) -> str | None:
    """'not_yet_valid', 'expired' or None (valid now)."""
    if offer["starts_at"] and now < offer["starts_at"]:
        return "not_yet_valid"
    if offer["ends_at"] and now >= offer["ends_at"]:
        return "expired"
    return None


def valid_at(offer: dict, location_code: str) -> bool:
    return not offer["location_codes"] or location_code in offer["location_codes"]


def locations_of(db: Database, offer: dict) -> list[dict]:
    """The locations the offer is valid at: those it names, else every location."""
    if not offer["location_codes"]:
        return storage.list_locations(db)
    return storage.get_locations(db, offer["location_codes"])


def to_json(row: dict) -> dict:
    return {
        "id": row["id"],
        "campaign_id": row["campaign_id"],
        "title": row["title"],
        "terms": row["terms"],
        "discount": row["discount"],
        "kind": row["kind"],
        "shared_code": row["shared_code"],
        "code_prefix": row["code_prefix"],
        "location_codes": row["location_codes"],
        "starts_at": row["starts_at"],
        "ends_at": row["ends_at"],
        "max_redemptions_per_code": row["max_redemptions_per_code"],
        "per_lead_limit": row["per_lead_limit"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


# Code batches ------------------------------------------------------------------------------


def _fresh_codes(count: int) -> list[str]:
    """`count` distinct new codes (a repeat inside one batch is redrawn)."""
    fresh = list(dict.fromkeys(codes.generate(count)))
    while len(fresh) < count:
        fresh = list(dict.fromkeys(fresh + codes.generate(count - len(fresh))))
    return fresh


def _mint(db: Database, offer_id: int, batch_id: int | None, owners: list[tuple], now: str) -> None:
    """Insert one fresh code per owner (lead_id, recipient_id).

    A clash with an existing code (55 random bits: practically never) is skipped by the
    INSERT and that owner simply gets another draw.
    """
    pending = owners
    while pending:
        rows = [
            (code, offer_id, "unique", batch_id, lead, recipient, now)
            for code, (lead, recipient) in zip(_fresh_codes(len(pending)), pending, strict=True)
        ]
        made = sum(storage.insert_codes(db, rows[i : i + 5000]) for i in range(0, len(rows), 5000))
        if made == len(rows):
            return
        pending = [
            owner
            for row, owner in zip(rows, pending, strict=True)
            if _batch_of(db, row[0]) != batch_id
        ]


def _batch_of(db: Database, code: str) -> int | None:
    """The batch of a code that exists (an insert just collided with it)."""
    row = storage.get_code(db, code)
    assert row is not None
    return row["batch_id"]


def generate_batch(db: Database, offer_id: int, payload: dict) -> dict:
    """A batch of unique codes: `count` anonymous ones, or one per recipient of a link."""
    offer = get(db, offer_id)
    validation.require_object(payload)
    validation.reject_unknown(payload, {"count", "recipients_link_id"})
    if offer["kind"] != "unique":
        raise ValidationError(
            "A shared offer has one public code; batches are for unique offers.",
            field="count",
            code=ErrorCode.SHARED_OFFER,
        )
    link_id = validation.integer(payload, "recipients_link_id")
    count = validation.integer(payload, "count", required=link_id is None)
    if count is not None and count > MAX_BATCH:
        raise ValidationError(f"A batch has {MAX_BATCH:,} codes at most.", field="count")
    now = clock.now_iso()
    with dbmod.immediate(db):
        if link_id is not None:
            if storage.get_link(db, link_id) is None:
                raise ValidationError(
                    f"No link with id {link_id}.",
                    field="recipients_link_id",
                    code=ErrorCode.UNKNOWN_LINK,
                )
            owners = [
                (lead, recipient)
                for recipient, lead in storage.recipients_without_code(db, link_id, offer_id)
            ]
        else:
            assert count is not None  # required without recipients_link_id
            owners = [(None, None)] * count
        batch_id = storage.insert_batch(
            db,
            {
                "offer_id": offer_id,
                "count": len(owners),
                "recipients_link_id": link_id,
                "created_at": now,
            },
        )
        _mint(db, offer_id, batch_id, owners, now)
    batch = storage.get_batch(db, batch_id)
    assert batch is not None
    return batch


def get_batch(db: Database, offer_id: int, batch_id: int) -> dict:
    """One batch of this offer (a batch of another offer is not found)."""
    batch = storage.get_batch(db, batch_id)
    if batch is None or batch["offer_id"] != offer_id:
        raise NotFound(f"No batch {batch_id} for offer {offer_id}.", code=ErrorCode.BATCH_NOT_FOUND)
    return batch


def batch_page(db: Database, offer: dict, batch_id: int, page: int, per_page: int) -> dict:
    """One page of a batch's codes in display form, in the export's order.

    {"batch", "page", "pages", "first" (the position of the page's first code), "codes"}.
    """
    batch = get_batch(db, offer["id"], batch_id)
    pages = max(1, -(-batch["count"] // per_page))
    if not 1 <= page <= pages:
        raise NotFound(
            f"Batch {batch_id} has {pages} page{'s' if pages > 1 else ''} of codes.",
            code=ErrorCode.PAGE_NOT_FOUND,
        )
    offset = (page - 1) * per_page
    raw = storage.batch_codes(db, offer["id"], batch_id, per_page, offset)
    return {
        "batch": batch,
        "page": page,
        "pages": pages,
        "first": offset + 1,
        "codes": [codes.display(code, offer["code_prefix"]) for code in raw],
    }


def export_rows(db: Database, offer_id: int, batch_id: int | None):
    """Rows for the CSV/JSON export: display code, raw code, lead, email, redemptions."""
    offer = get(db, offer_id)
    if batch_id is not None:
        get_batch(db, offer_id, batch_id)
    for code, kind, batch, lead_id, email, _, redemption_count, created_at in storage.iter_codes(
        db, offer_id, batch_id
    ):
        yield {
            "code": codes.display(code, offer["code_prefix"] if kind == "unique" else None),
            "normalized": code,
            "batch_id": batch,
            "lead_id": lead_id,
            "email": email,
            "redemption_count": redemption_count,
            "created_at": created_at,
        }
