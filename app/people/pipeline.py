"""The lead pipeline: where a lead stands (stage, status), losing and reopening it, and what
Sales did (activities, follow-up).

A stage is reached only by a conversion of that type (one source of truth for the funnel and
for attribution); the derived columns on leads (stage, status, handoff_at, contact times...)
are recomputed by `restage` in the transaction of every change that can move them, so lists
can filter on them. The rules are the pipeline settings (app/core/runtime.py PipelineRules).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlite_utils import Database

from app import storage
from app.core import clock, validation
from app.core.db import immediate
from app.core.error_codes import ErrorCode
from app.core.errors import Conflict
from app.core.runtime import PipelineRules
from app.people import leads

# missed_call: the prospect rang and nobody answered (a touch, not a contact).
ACTIVITY_KINDS = ("call", "missed_call", "meeting", "demo", "email", "chat", "note")
# A note is written down, not said to the lead: it is not contact.
NOT_CONTACT = frozenset({"note"})
FUTURE_TOLERANCE = timedelta(minutes=5)
_ACTIVITY_FIELDS = {"kind", "at", "by", "note", "campaign_id"}


def restage(db: Database, lead_id: str, rules: PipelineRules) -> None:
    """Recompute a lead's derived pipeline columns from its conversions, losses, activities."""
    lead = storage.get_lead(db, lead_id)
    if lead is None:
        return
    first: dict[str, str] = {}  # stage -> when first reached
    won_at = None
    for _, kind, at in storage.lead_stage_conversions(db, lead_id):
        first.setdefault(kind, at)
        if kind in rules.won_stages and won_at is None:
            won_at = at
    reached = [(rules.rank(kind), at) for kind, at in first.items() if rules.rank(kind) >= 0]
    stage = stage_at = handoff_at = None
    if reached:
        top = max(rank for rank, _ in reached)
        stage, stage_at = rules.stages[top], first[rules.stages[top]]
        handoff = rules.rank(rules.handoff_stage)
        if handoff >= 0:
            handoff_at = min((at for rank, at in reached if rank >= handoff), default=None)
    losses = storage.lead_losses(db, lead_id)
    open_loss = next((x for x in reversed(losses) if x["reopened_at"] is None), None)
    first_contact, last_contact, last_activity = storage.lead_contact_times(db, lead_id)
    moments = [lead["created_at"] or lead["first_seen"], last_activity, *first.values()]
    moments += [x["reopened_at"] for x in losses]
    status = "won" if won_at else ("lost" if open_loss else "open")
    lost = open_loss if status == "lost" else None
    storage.set_lead_columns(
        db,
        lead_id,
        {
            "stage": stage,
            "stage_at": stage_at,
            "status": status,
            "won_at": won_at,
            "handoff_at": handoff_at,
            "first_contacted_at": first_contact,
            "last_contacted_at": last_contact,
            "last_activity_at": max(m for m in moments if m),
            "lost_reason": lost["reason"] if lost else None,
            "lost_note": lost["note"] if lost else None,
            "lost_at": lost["at"] if lost else None,
            "lost_stage": lost["stage"] if lost else None,
            "restage_due": 0,
        },
    )


def ensure_current(db: Database, rules: PipelineRules) -> None:
    """Restage every lead when the stage settings changed since they were computed, and the
    leads a newly stitched browser brought conversions to (lists and reports call this)."""
    signature = rules.signature()
    if storage.pipeline_signature(db) != signature:
        with immediate(db):
            if storage.pipeline_signature(db) != signature:  # not done meanwhile elsewhere
                for lead_id in storage.lead_ids(db):
                    restage(db, lead_id, rules)
                storage.set_pipeline_signature(db, signature)
    if storage.lead_ids(db, due_only=True):
        with immediate(db):
            for lead_id in storage.lead_ids(db, due_only=True):
                restage(db, lead_id, rules)


def stage_history(db: Database, lead_id: str, rules: PipelineRules) -> list[dict]:
    """Each stage the first time it was reached, and each loss, in time order."""
    history = []
    seen: set[str] = set()
    for conversion_id, kind, at in storage.lead_stage_conversions(db, lead_id):
        if kind in seen or (rules.rank(kind) < 0 and kind not in rules.won_stages):
            continue
        seen.add(kind)
        history.append({"stage": kind, "at": at, "conversion_id": conversion_id})
    for loss in storage.lead_losses(db, lead_id):
        history.append(
            {
                "stage": "lost",
                "at": loss["at"],
                "conversion_id": None,
                "reason": loss["reason"],
                "note": loss["note"],
                "from_stage": loss["stage"],
                "by": loss["by"],
                "reopened_at": loss["reopened_at"],
            }
        )
    history.sort(key=lambda item: item["at"])
    return history


def waiting_s(row: dict, rules: PipelineRules, now: datetime) -> int | None:
    """Seconds an uncontacted lead has waited since the handoff; None when it is not."""
    handoff = row.get("handoff_at")
    if row.get("status") != "open" or handoff is None:
        return None
    contacted = row.get("last_contacted_at")
    if contacted is not None and contacted >= handoff:
        return None
    waited = (now - clock.from_iso(handoff)).total_seconds()
    return int(waited) if waited > rules.follow_up_s else None


def uncontacted_before(rules: PipelineRules, now: datetime) -> str:
    """Handoffs at or before this time are overdue (the list filter's bound)."""
    return clock.to_iso(now - timedelta(seconds=rules.follow_up_s, microseconds=1))


def mark_lost(
    db: Database, lead_id: str, payload: dict, rules: PipelineRules, by: str | None
) -> dict:
    """Mark an open lead lost with one of the rules' reasons; 409 lead_closed otherwise."""
    validation.require_object(payload)
    validation.reject_unknown(payload, {"reason", "note"})
    check = validation.Collector()
    reason = check(validation.choice, payload, "reason", rules.lost_reasons, required=True)
    note = check(validation.text, payload, "note", max_len=2000)
    check.done()
    lead_id = leads.get(db, lead_id)["id"]
    with immediate(db):
        row = storage.get_lead(db, lead_id)
        assert row is not None
        if row["status"] != "open":
            raise Conflict(
                f"The lead is already {row['status']}; reopen a lost lead before losing it again.",
                code=ErrorCode.LEAD_CLOSED,
            )
        storage.insert_loss(
            db,
            {
                "lead_id": lead_id,
                "at": clock.now_iso(),
                "reason": reason,
                "note": note,
                "stage": row["stage"],
                "by": by,
            },
        )
        restage(db, lead_id, rules)
    return leads.get(db, lead_id)


def reopen(db: Database, lead_id: str, rules: PipelineRules, by: str | None) -> dict:
    """Reopen a lost lead: open again, the loss kept in its history."""
    lead_id = leads.get(db, lead_id)["id"]
    with immediate(db):
        row = storage.get_lead(db, lead_id)
        assert row is not None
        if row["status"] != "lost":
            raise Conflict(
                f"Only a lost lead can be reopened; this one is {row['status']}.",
                code=ErrorCode.LEAD_NOT_LOST,
            )
        storage.reopen_loss(db, lead_id, clock.now_iso(), by)
        restage(db, lead_id, rules)
    return leads.get(db, lead_id)


def add_activity(
    db: Database, lead_id: str, payload: dict, rules: PipelineRules, by: str | None
) -> dict:
    """Log a call, meeting, demo, email, chat or note; the first contact sets
    first_contacted_at. Returns the activity."""
    validation.require_object(payload)
    validation.reject_unknown(payload, _ACTIVITY_FIELDS)
    check = validation.Collector()
    kind = check(validation.choice, payload, "kind", ACTIVITY_KINDS, required=True)
    at = check(validation.timestamp, payload, "at")
    who = check(validation.text, payload, "by", max_len=254)
    note = check(validation.text, payload, "note", max_len=4000)
    campaign_id = check(validation.integer, payload, "campaign_id")
    now = clock.utcnow()
    if at is not None and clock.from_iso(at) > now + FUTURE_TOLERANCE:
        check.add(
            "'at' is more than 5 minutes in the future; give when it happened.",
            field="at",
            code=ErrorCode.IN_FUTURE,
        )
    if campaign_id is not None and storage.get_campaign(db, campaign_id) is None:
        check.add(
            f"No campaign with id {campaign_id}.",
            field="campaign_id",
            code=ErrorCode.UNKNOWN_CAMPAIGN,
        )
    check.done()
    row = leads.get(db, lead_id)
    if row["erased_at"] is not None:
        raise Conflict(
            "The lead was erased; nothing more is recorded about it.", code=ErrorCode.LEAD_ERASED
        )
    with immediate(db):
        activity_id = storage.insert_activity(
            db,
            {
                "lead_id": row["id"],
                "kind": kind,
                "at": at or clock.to_iso(now),
                "by": who,
                "note": note,
                "campaign_id": campaign_id,
                "created_at": clock.to_iso(now),
                "created_by": by,
            },
        )
        restage(db, row["id"], rules)
    return next(a for a in storage.lead_activities(db, row["id"]) if a["id"] == activity_id)


def activity_json(row: dict) -> dict:
    return {
        "id": row["id"],
        "lead_id": row["lead_id"],
        "kind": row["kind"],
        "at": row["at"],
        "by": row["by"],
        "note": row["note"],
        "campaign_id": row["campaign_id"],
        "channel": row["channel"] or "sales",
        "created_at": row["created_at"],
    }
