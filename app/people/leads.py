"""Leads: one GUID per person, the browsers stitched to it, its timeline, and erasure."""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from datetime import datetime

from sqlite_utils import Database

from app import storage
from app.core import clock, money, validation
from app.core.db import immediate
from app.core.error_codes import ErrorCode
from app.core.errors import Conflict, NotFound, ValidationError
from app.core.runtime import PipelineRules
from app.people import phones, ref_codes

_ATOM = r"[^@\s\"<>(),;:\\\[\]]"
_EMAIL_RE = re.compile(rf"^{_ATOM}+@{_ATOM}+\.{_ATOM}{{2,}}$")


def normalize_email(raw: object) -> str | None:
    """Trim and lowercase the domain; None when it is not a plausible address."""
    if not isinstance(raw, str):
        return None
    email = raw.strip()
    if len(email) > 254 or not _EMAIL_RE.match(email):
        return None
    local, _, domain = email.rpartition("@")
    if len(local) > 64 or domain.startswith((".", "-")) or ".." in domain:
        return None
    return f"{local}@{domain.lower()}"


def email_key(email: str) -> str:
    """Identity key: addresses differing only in case are one person in practice."""
    return email.lower()


def new_id() -> str:
    return str(uuid.uuid4())


def get(db: Database, lead_id: str) -> dict:
    """A lead by its GUID or its reference code (`R7KQ-4X9M`, read forgivingly); 404 when
    none (a path names a resource: a mistyped code is one that is not there)."""
    lead_id = lead_id.strip().lower() if isinstance(lead_id, str) else lead_id
    row = None
    hint = ""
    if _is_guid(lead_id):
        row = storage.get_lead(db, lead_id)
    elif isinstance(lead_id, str):
        reading = ref_codes.read(lead_id)
        if reading.typo:
            hint = " It looks like a reference code with a mistyped character."
        elif reading.code is not None:
            row = storage.find_lead_by_ref_code(db, reading.code)
    if row is None:
        raise NotFound(f"No lead with id {lead_id}.{hint}", code=ErrorCode.LEAD_NOT_FOUND)
    return row


def _ref_code_typo(field: str) -> ValidationError:
    return ValidationError(
        f"'{field}' looks like a reference code with a mistyped character; check and retype it.",
        field=field,
        code=ErrorCode.CHECK_CHARACTER_MISMATCH,
    )


def by_ref_code(db: Database, text: object, field: str = "ref_code") -> dict:
    """The lead a reference code names; 422 `check_character_mismatch` for a typo, 422
    `unknown_lead` when no lead has it."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(f"'{field}' must be a reference code such as R7KQ-4X9M.", field=field)
    reading = ref_codes.read(text)
    if reading.typo:
        raise _ref_code_typo(field)
    row = storage.find_lead_by_ref_code(db, reading.code) if reading.code else None
    if row is None:
        raise ValidationError(
            f"No lead has the reference code '{text.strip()[:40]}'.",
            field=field,
            code=ErrorCode.UNKNOWN_LEAD,
        )
    return row


def find_by_phone(db: Database, phone: object, default_country: str) -> dict | None:
    """The lead with this number, however it is typed (422 `invalid_phone` if it is none)."""
    return storage.find_lead_by_phone(db, phones.normalize(phone, default_country))


def badge_subject(db: Database, lead_id: str) -> dict:
    """The lead a badge is drawn for; an erased lead has none, so it is 404 like an unknown
    one (a badge would hand out a code that still names a person who asked to be forgotten)."""
    row = get(db, lead_id)
    if row["erased_at"] is not None:
        raise NotFound(f"No lead with id {row['id']}.", code=ErrorCode.LEAD_NOT_FOUND)
    return row


def existing_id(db: Database, lead_id: str, field: str = "lead_id") -> str:
    """The canonical id of a lead named in a request body (its GUID or reference code);
    422 `unknown_lead` otherwise."""
    if isinstance(lead_id, str) and ref_codes.read(lead_id).typo:
        raise _ref_code_typo(field)
    try:
        return get(db, lead_id)["id"]
    except NotFound:
        raise ValidationError(
            f"No lead with id '{lead_id}'.", field=field, code=ErrorCode.UNKNOWN_LEAD
        ) from None


def is_guid(value: str) -> bool:
    """A lower-case lead or visitor GUID."""
    return _is_guid(value)


def _is_guid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except (ValueError, AttributeError, TypeError):
        return False


def find_by_email(db: Database, email: str) -> dict | None:
    normalized = normalize_email(email)
    if normalized is None:
        raise ValidationError(
            "'email' is not a valid email address.", field="email", code=ErrorCode.INVALID_EMAIL
        )
    return storage.find_lead_by_email_key(db, email_key(normalized))


def find_or_create_by_email(
    db: Database, email: str, field: str = "email", *, source: str | None = None
) -> dict:
    """The lead with this email, or a new one (`source` says where a new one came from)."""
    normalized = normalize_email(email)
    if normalized is None:
        raise ValidationError(
            f"'{field}' is not a valid email address.", field=field, code=ErrorCode.INVALID_EMAIL
        )
    return storage.insert_lead_if_new(
        db,
        {
            "id": new_id(),
            "email": normalized,
            "email_key": email_key(normalized),
            "name": None,
            "external_id": None,
            "attributes": None,
            "now": clock.now_iso(),
            "source": source,
        },
    )


def find_or_create_by_phone(db: Database, e164: str, *, source: str | None) -> dict:
    """The lead with this (normalised) number, or a new one with it; one at a time, so two
    calls from one unknown number at once make one lead."""
    with immediate(db):
        found = storage.find_lead_by_phone(db, e164)
        if found is not None:
            return found
        return storage.insert_lead_by_phone(
            db, {"id": new_id(), "phone": e164, "source": source, "now": clock.now_iso()}
        )


ORIGINS = ("marketing", "sales", "partner")
STATUSES = ("open", "won", "lost")
SORTS = ("created", "-created", "last_touch", "value")
_PATCH_FIELDS = {
    "owner",
    "source",
    "origin",
    "value",
    "currency",
    "name",
    "external_id",
    "attributes",
    "phone",
    "partner_code",
}
MAX_ATTRIBUTES_BYTES = 16 * 1024


def to_json(
    row: dict,
    db: Database | None = None,
    *,
    rules: PipelineRules | None = None,
    now: datetime | None = None,
) -> dict:
    """A lead as the API shows it; with `rules`, its stage history and follow-up state too."""
    out = {
        "id": row["id"],
        "ref_code": ref_codes.display(row["ref_code"]) if row["ref_code"] else None,
        "email": row["email"],
        "phone": row["phone"],
        "partner_code": row["partner_code"],
        "name": row["name"],
        "external_id": row["external_id"],
        "attributes": json.loads(row["attributes"]) if row["attributes"] else {},
        "first_seen": row["first_seen"],
        "last_seen": row["last_seen"],
        "erased_at": row["erased_at"],
        "created_at": row["created_at"],
        "stage": row["stage"],
        "status": row["status"],
        "owner": row["owner"],
        "source": row["source"],
        "origin": row["origin"],
        "value": money.to_decimal_string(row["value_minor"], row["currency"]),
        "currency": row["currency"],
        "first_contacted_at": row["first_contacted_at"],
        "last_contacted_at": row["last_contacted_at"],
        "handoff_at": row["handoff_at"],
        "won_at": row["won_at"],
        "lost_reason": row["lost_reason"],
        "lost_note": row["lost_note"],
        "lost_at": row["lost_at"],
        "lost_stage": row["lost_stage"],
    }
    if rules is not None:
        from app.people import pipeline  # pipeline builds on this module

        waited = pipeline.waiting_s(row, rules, now or clock.utcnow())
        out["uncontacted"] = waited is not None
        out["waiting_s"] = waited
        if db is not None:
            out["stage_history"] = pipeline.stage_history(db, row["id"], rules)
    if db is not None:
        out["visitor_ids"] = storage.lead_visitor_ids(db, row["id"])
    return out


def update(
    db: Database,
    lead_id: str,
    payload: dict,
    *,
    default_currency: str,
    default_country: str,
    by: str | None = None,
) -> dict:
    """PATCH: owner, source, origin, value, currency, name, external_id, phone, partner_code;
    attributes merge (null removes a key). Stages are not patched: a conversion of that type
    reaches one. A new partner_code is a partner touch now (app/people/partners.py)."""
    from app.people import partners  # partners builds on this module

    validation.require_object(payload)
    validation.reject_unknown(payload, _PATCH_FIELDS)
    row = get(db, lead_id)
    if row["erased_at"] is not None:
        raise Conflict(
            "The lead was erased; nothing more is recorded about it.", code=ErrorCode.LEAD_ERASED
        )
    check = validation.Collector()
    values: dict = {}
    for name, max_len in (("owner", 254), ("source", 200), ("name", 200), ("external_id", 200)):
        if name in payload:
            values[name] = check(validation.text, payload, name, max_len=max_len)
    if "origin" in payload:
        values["origin"] = check(validation.choice, payload, "origin", ORIGINS, required=True)
    if "phone" in payload:
        values["phone"] = check(phones.optional, payload, "phone", default_country)
    partner = None
    if payload.get("partner_code") is not None:
        partner = check(partners.existing_code, db, payload["partner_code"])
    elif "partner_code" in payload:
        values["partner_code"] = None
    if "value" in payload or "currency" in payload:
        if "value" not in payload and row["value_minor"] is not None:
            check.add(
                "Give 'value' with 'currency': the amount is read in that currency.",
                field="value",
                code=ErrorCode.REQUIRED,
            )
        else:
            currency = check(validation.currency, payload)
            in_currency = currency or row["currency"] or default_currency
            value = check(validation.amount, payload, "value", in_currency)
            values["value_minor"] = value
            values["currency"] = in_currency if value is not None else currency
    if "attributes" in payload:
        patch = payload["attributes"]
        if not isinstance(patch, dict):
            check.add("'attributes' must be a JSON object.", field="attributes")
        else:
            merged = json.loads(row["attributes"]) if row["attributes"] else {}
            for key, value in patch.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            text = json.dumps(merged, ensure_ascii=False)
            if len(text.encode()) > MAX_ATTRIBUTES_BYTES:
                check.add("'attributes' is larger than 16 KiB.", field="attributes")
            values["attributes"] = text if merged else None
    check.done()
    with immediate(db):
        if values:
            storage.set_lead_columns(db, row["id"], values)
        if partner is not None and partner != row["partner_code"]:
            partners.add_touch(
                db,
                partner,
                at=clock.now_iso(),
                lead_id=row["id"],
                by=by,
                origin="origin" not in values,
            )
            storage.set_lead_columns(db, row["id"], {"partner_code": partner})
    return get(db, row["id"])


def list_page(
    db: Database,
    args: dict[str, str],
    rules: PipelineRules,
    now: datetime,
    *,
    offset: int,
    limit: int,
    default_country: str,
) -> list[dict]:
    """Leads matching the list's filters (every bad one a 422 naming it), `limit` from
    `offset`, each with its last touch and first-touch campaign."""
    check = validation.Collector()
    filters: dict = {}
    stage = (args.get("stage") or "").strip().lower() or None
    if stage is not None:
        if stage == "none":
            filters["no_stage"] = True
        elif stage not in rules.stages:
            check.add(
                f"Stage must be one of: {', '.join(rules.stages)} (or none).",
                field="stage",
                code=ErrorCode.INVALID_CHOICE,
            )
        else:
            filters["stage"] = stage
    status = (args.get("status") or "").strip().lower() or None
    if status is not None and status not in STATUSES:
        check.add(
            f"Status must be one of: {', '.join(STATUSES)}.",
            field="status",
            code=ErrorCode.INVALID_CHOICE,
        )
    filters["status"] = status
    filters["owner"] = (args.get("owner") or "").strip() or None
    filters["q"] = (args.get("q") or "").strip() or None
    if filters["q"]:
        filters["q_code"] = ref_codes.read(filters["q"]).code
        # Not a phone number: then it is a name or email search, and no error.
        if sum(ch.isdigit() for ch in filters["q"]) >= 6:
            with contextlib.suppress(ValidationError):
                filters["q_phone"] = phones.normalize(filters["q"], default_country, "q")
    email = args.get("email")
    if email is not None:
        normalized = normalize_email(email)
        if normalized is None:
            check.add(
                "'email' is not a valid email address.",
                field="email",
                code=ErrorCode.INVALID_EMAIL,
            )
        else:
            filters["email_key"] = email_key(normalized)
    ref_code = args.get("ref_code")
    if ref_code is not None:
        lead = check(by_ref_code, db, ref_code)
        filters["id"] = lead["id"] if lead else None
    phone = args.get("phone")
    if phone is not None:
        filters["phone"] = check(phones.normalize, phone, default_country)
    raw_campaign = (args.get("campaign_id") or "").strip()
    if raw_campaign:
        campaign_id = check(
            validation.integer_text,
            raw_campaign,
            "campaign_id",
            message="'campaign_id' must be a campaign id.",
        )
        if campaign_id is not None and storage.get_campaign(db, campaign_id) is None:
            check.add(
                f"No campaign with id {campaign_id}.",
                field="campaign_id",
                code=ErrorCode.UNKNOWN_CAMPAIGN,
            )
        filters["campaign_id"] = campaign_id
    uncontacted = (args.get("uncontacted") or "").strip().lower()
    if uncontacted not in ("", "true", "false"):
        check.add("'uncontacted' is true or false.", field="uncontacted")
    elif uncontacted == "true":
        from app.people import pipeline

        filters["uncontacted_before"] = pipeline.uncontacted_before(rules, now)
    for name in ("created_from", "created_to"):
        filters[name] = check(validation.timestamp, args, name)
    sort = (args.get("sort") or "created").strip()
    if sort not in SORTS:
        check.add(
            f"Sort must be one of: {', '.join(SORTS)}.",
            field="sort",
            code=ErrorCode.INVALID_CHOICE,
        )
    check.done()
    rows = storage.list_leads(db, filters=filters, sort=sort, offset=offset, limit=limit)
    summary = storage.lead_touch_summary(db, [r["id"] for r in rows])
    items = []
    for row in rows:
        item = to_json(row, rules=rules, now=now)
        item.update(summary[row["id"]])
        item["visitor_ids"] = storage.lead_visitor_ids(db, row["id"])
        items.append(item)
    return items


def timeline(db: Database, lead_id: str) -> list[dict]:
    """Every touch, conversion, sales activity and loss in time order: the audit trail from
    first touch to sale. A voided conversion stays, marked with `voided_at`."""
    items = []
    scans = storage.booth_scans_of_lead(db, lead_id)
    for row in storage.lead_timeline(db, lead_id):
        item = {
            "id": row["id"],
            "type": row["type"],
            "at": row["at"],
            "campaign_id": row["campaign_id"],
            "channel": row["channel"],
            "link_id": row["link_id"],
            "visitor_id": row["visitor_id"],
        }
        if row["type"] == "conversion":
            item["id"] = int(row["id"])
            item["stage"] = row["stage"]
            item["value"] = money.to_decimal_string(row["value_minor"], row["currency"])
            item["currency"] = row["currency"]
            item["voided_at"] = row["voided_at"]
            item["void_reason"] = row["void_reason"]
        else:
            item["store_code"] = row["store_code"]
            item["is_bot"] = bool(row["is_bot"])
            item["bot_reason"] = row["bot_reason"]
            item["outcome"] = row["outcome"]
            # What the booth noted about the conversation, for the rep who follows up.
            scan = scans.get(row["id"]) if row["type"] == "booth_scan" else None
            scan = scan or {}
            item["scan_id"] = scan.get("id")
            item["rating"] = scan.get("rating")
            item["note"] = scan.get("note")
            item["staff_key"] = scan.get("staff_key")
        items.append(item)
    for row in storage.lead_activities(db, lead_id):
        items.append(
            {
                "id": row["id"],
                "type": "activity",
                "at": row["at"],
                "campaign_id": row["campaign_id"],
                "channel": row["channel"] or "sales",
                "link_id": None,
                "visitor_id": None,
                "kind": row["kind"],
                "by": row["by"],
                "note": row["note"],
            }
        )
    for touch in storage.offline_touches_of_lead(db, lead_id):
        items.append(
            {
                "id": touch["id"],
                "type": touch["kind"],
                "at": touch["at"],
                "campaign_id": touch["campaign_id"],
                "channel": touch["channel"] or touch["kind"],
                "link_id": None,
                "visitor_id": None,
                "partner_code": touch["partner_code"],
                "partner_name": touch["partner_name"],
                "location_code": touch["location_code"],
                "conversion_id": touch["conversion_id"],
                "by": touch["created_by"],
            }
        )
    for loss in storage.lead_losses(db, lead_id):
        moments = [("lost", loss["at"], loss["by"])]
        if loss["reopened_at"]:
            moments.append(("reopened", loss["reopened_at"], loss["reopened_by"]))
        for kind, at, by in moments:
            items.append(
                {
                    "id": loss["id"],
                    "type": kind,
                    "at": at,
                    "campaign_id": None,
                    "channel": None,
                    "link_id": None,
                    "visitor_id": None,
                    "reason": loss["reason"],
                    "note": loss["note"],
                    "stage": loss["stage"],
                    "by": by,
                }
            )
    # Stable: events and conversions keep their SQL order among equal times.
    items.sort(key=lambda item: item["at"])
    return items


def erase(db: Database, lead_id: str) -> dict:
    """Erase personal data (a data-protection request), keeping anonymous counts."""
    get(db, lead_id)
    storage.erase_lead(db, lead_id, clock.now_iso())
    return get(db, lead_id)
