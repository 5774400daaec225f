"""Phone calls: campaigns' tracking numbers, and calls as a telephony webhook reports them.

A call is a touch of the campaign whose tracking number was dialled, on the lead with the
caller's number (a new lead when nobody has it). It is written as a lead activity (`call`, or
`missed_call` when nobody answered), so it shows in the lead's timeline, counts as contact
for the follow-up rule when answered, and is a touch in every report like any activity that
names a campaign.
"""

from __future__ import annotations

from sqlite_utils import Database

from app import storage
from app.core import clock, validation
from app.core.db import immediate
from app.core.error_codes import ErrorCode
from app.core.errors import Conflict, NotFound, ValidationError
from app.core.runtime import PipelineRules
from app.people import leads, phones, pipeline

_NUMBER_FIELDS = {"number", "label"}
_CALL_FIELDS = {
    "to",
    "from",
    "started_at",
    "duration_s",
    "answered",
    "recording_url",
    "external_id",
}
# Caller ids a carrier sends for a withheld number: a call, but nobody to tie it to.
_WITHHELD = {"anonymous", "private", "restricted", "unknown", "unavailable", "withheld"}
MAX_DURATION_S = 7 * 24 * 3600


# Tracking numbers --------------------------------------------------------------------------


def add_number(
    db: Database, campaign_id: int, payload: dict, *, default_country: str
) -> tuple[dict, bool]:
    """Give a campaign a tracking number; (row, created). The same number on the same campaign
    again updates its label; on another campaign it is 409 `phone_number_taken`."""
    validation.require_object(payload)
    validation.reject_unknown(payload, _NUMBER_FIELDS)
    _campaign(db, campaign_id)
    check = validation.Collector()
    number = check(phones.normalize, payload.get("number"), default_country, "number")
    label = check(validation.text, payload, "label", max_len=200)
    check.done()
    assert number is not None
    with immediate(db):
        owner = storage.get_phone_number(db, number)
        if owner is not None and owner["campaign_id"] != campaign_id:
            raise Conflict(
                f"{number} is already a tracking number of campaign {owner['campaign_id']}; "
                "remove it there first (a number belongs to one campaign at a time).",
                code=ErrorCode.PHONE_NUMBER_TAKEN,
            )
        if owner is not None:
            if "label" in payload:
                storage.update_phone_number_label(db, number, label)
            created = False
        else:
            storage.insert_phone_number(
                db,
                {
                    "number": number,
                    "campaign_id": campaign_id,
                    "label": label,
                    "created_at": clock.now_iso(),
                },
            )
            created = True
    row = storage.get_phone_number(db, number)
    assert row is not None
    return row, created


def numbers(db: Database, campaign_id: int) -> list[dict]:
    _campaign(db, campaign_id)
    return storage.phone_numbers_of_campaign(db, campaign_id)


def remove_number(db: Database, campaign_id: int, raw: str, *, default_country: str) -> None:
    _campaign(db, campaign_id)
    try:
        number = phones.normalize(raw, default_country, "number")
    except ValidationError:
        number = None
    if number is None or not storage.delete_phone_number(db, campaign_id, number):
        raise NotFound(
            f"Campaign {campaign_id} has no tracking number {raw}.",
            code=ErrorCode.PHONE_NUMBER_NOT_FOUND,
        )


def number_json(row: dict) -> dict:
    return {
        "number": row["number"],
        "display": phones.display(row["number"]),
        "campaign_id": row["campaign_id"],
        "label": row["label"],
        "created_at": row["created_at"],
    }


def _campaign(db: Database, campaign_id: int) -> dict:
    row = storage.get_campaign(db, campaign_id)
    if row is None:
        raise NotFound(f"No campaign with id {campaign_id}.", code=ErrorCode.CAMPAIGN_NOT_FOUND)
    return row


# Calls -------------------------------------------------------------------------------------


def record(
    db: Database,
    payload: dict,
    *,
    default_country: str,
    rules: PipelineRules,
    by: str | None,
) -> tuple[dict, bool]:
    """Store a call; (row, created). A repeated external_id answers the first call."""
    validation.require_object(payload)
    validation.reject_unknown(payload, _CALL_FIELDS)
    check = validation.Collector()
    external_id = check(validation.text, payload, "external_id", required=True, max_len=200)
    to = check(phones.normalize, payload.get("to"), default_country, "to")
    caller = check(_caller, payload, default_country)
    started_at = check(validation.timestamp, payload, "started_at")
    if "started_at" not in payload or payload.get("started_at") in (None, ""):
        check.add(
            "'started_at' is required: when the call began.",
            field="started_at",
            code=ErrorCode.REQUIRED,
        )
    duration = check(validation.integer, payload, "duration_s", minimum=0, maximum=MAX_DURATION_S)
    answered = check(validation.boolean, payload, "answered")
    recording_url = check(validation.http_url, payload, "recording_url")
    check.done()
    assert external_id is not None and to is not None and started_at is not None
    if clock.from_iso(started_at) > clock.utcnow() + pipeline.FUTURE_TOLERANCE:
        raise ValidationError(
            "'started_at' is more than 5 minutes in the future; send when the call began.",
            field="started_at",
            code=ErrorCode.IN_FUTURE,
        )
    if answered is None:
        answered = duration is None or duration > 0
    now = clock.now_iso()
    with immediate(db):
        existing = storage.find_call_by_external_id(db, external_id)
        if existing is not None:
            return existing, False
        tracking = storage.get_phone_number(db, to)
        campaign_id = tracking["campaign_id"] if tracking else None
        lead = None
        created_lead = False
        if caller is not None:
            lead = storage.find_lead_by_phone(db, caller)
            if lead is None:
                lead = storage.insert_lead_by_phone(
                    db,
                    {"id": leads.new_id(), "phone": caller, "source": f"phone:{to}", "now": now},
                )
                created_lead = True
        activity_id = None
        if lead is not None and lead["erased_at"] is None:
            activity_id = storage.insert_activity(
                db,
                {
                    "lead_id": lead["id"],
                    "kind": "call" if answered else "missed_call",
                    "at": started_at,
                    "by": None,
                    "note": _note(to, tracking, duration, answered),
                    "campaign_id": campaign_id,
                    "created_at": now,
                    "created_by": by,
                },
            )
            storage.touch_lead(db, lead["id"], started_at)
            pipeline.restage(db, lead["id"], rules)
        call_id = storage.insert_call(
            db,
            {
                "external_id": external_id,
                "to_number": to,
                "from_number": caller,
                "started_at": started_at,
                "duration_s": duration,
                "answered": 1 if answered else 0,
                "recording_url": recording_url,
                "campaign_id": campaign_id,
                "lead_id": lead["id"] if lead else None,
                "activity_id": activity_id,
                "created_lead": 1 if created_lead else 0,
                "received_at": now,
            },
        )
    row = storage.get_call(db, call_id)
    assert row is not None
    return row, True


def _caller(payload: dict, default_country: str) -> str | None:
    raw = payload.get("from")
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("", *_WITHHELD)):
        return None
    return phones.normalize(raw, default_country, "from")


def _note(to: str, tracking: dict | None, duration: int | None, answered: bool) -> str:
    line = phones.display(to) or to
    if tracking and tracking["label"]:
        line = f"{line} ({tracking['label']})"
    if not answered:
        return f"Missed call to {line}"
    if duration is None:
        return f"Call to {line}"
    minutes, seconds = divmod(duration, 60)
    return f"Call to {line}, {minutes} min {seconds:02d} s"


def get(db: Database, call_id: int) -> dict:
    row = storage.get_call(db, call_id)
    if row is None:
        raise NotFound(f"No call with id {call_id}.", code=ErrorCode.CALL_NOT_FOUND)
    return row


def list_page(db: Database, args: dict[str, str], *, after_id: int, limit: int) -> list[dict]:
    """Calls by id, filtered by campaign_id, lead_id (GUID or ref code), from, to."""
    check = validation.Collector()
    filters: dict = {}
    if args.get("campaign_id"):
        filters["campaign_id"] = check(
            validation.integer_text,
            args["campaign_id"],
            "campaign_id",
            message="'campaign_id' must be a campaign id.",
        )
    if args.get("lead_id"):
        filters["lead_id"] = check(leads.existing_id, db, args["lead_id"])
    for name in ("from", "to"):
        filters[name] = check(validation.timestamp, args, name)
    unknown = sorted(set(args) - {"campaign_id", "lead_id", "from", "to"})
    for name in unknown:
        check.add(
            f"Unknown parameter '{name}'; known: campaign_id, lead_id, from, to.",
            field=name,
            code=ErrorCode.UNKNOWN_PARAMETER,
        )
    check.done()
    return storage.list_calls(db, after_id=after_id, limit=limit, filters=filters)


def to_json(row: dict) -> dict:
    return {
        "id": row["id"],
        "external_id": row["external_id"],
        "to": row["to_number"],
        "from": row["from_number"],
        "started_at": row["started_at"],
        "duration_s": row["duration_s"],
        "answered": bool(row["answered"]),
        "recording_url": row["recording_url"],
        "campaign_id": row["campaign_id"],
        "lead_id": row["lead_id"],
        "activity_id": row["activity_id"],
        "created_lead": bool(row["created_lead"]),
        "received_at": row["received_at"],
    }
