"""Web coupons: a visitor presses "Get my code" on an offer's landing page.

Only that POST mints or hands out a code: email scanners and link previewers fetch with GET
(some run JavaScript), and must never consume or mint codes.
"""

from __future__ import annotations

from sqlite_utils import Database

from app import storage
from app.core import clock
from app.core import db as dbmod
from app.core.error_codes import ErrorCode
from app.core.errors import Gone
from app.coupons import codes, offers


def existing(db: Database, offer_id: int, visitor_id: str) -> dict | None:
    """The claim this browser already made on the offer, to show again (a GET never mints)."""
    return storage.find_claim(db, offer_id, visitor_id)


def claim(
    db: Database,
    offer: dict,
    *,
    visitor_id: str,
    lead_id: str | None,
    link_id: int | None,
    campaign_id: int | None,
    click_id: str | None,
    ip: str | None,
    user_agent: str | None,
) -> tuple[dict, bool]:
    """Return (claim row, created). The same visitor, or a lead at its limit, gets its code."""
    now = clock.now_iso()
    state = offers.validity(offer, now)
    if state is not None:
        raise Gone(
            "This offer has ended." if state == "expired" else "This offer has not started yet.",
            code=ErrorCode.EXPIRED if state == "expired" else ErrorCode.NOT_YET_VALID,
        )
    existing = storage.find_claim(db, offer["id"], visitor_id)
    if existing is not None:
        return existing, False
    with dbmod.immediate(db):
        existing = storage.find_claim(db, offer["id"], visitor_id)
        if existing is not None:
            return existing, False
        if lead_id is None:
            lead_id = storage.lead_of_visitor(db, visitor_id)
        if lead_id and offer["per_lead_limit"]:
            earlier = storage.lead_claims(db, offer["id"], lead_id)
            if len(earlier) >= offer["per_lead_limit"]:
                return earlier[-1], False
        code = None
        if lead_id:
            personal = storage.personal_code(db, offer["id"], lead_id)
            if personal and storage.claim_of_code(db, personal) is None:
                code = personal  # the code the mailer already printed for this person
        if code is None:
            while True:
                code = codes.generate(1)[0]
                if storage.insert_codes(
                    db, [(code, offer["id"], "unique", None, lead_id, None, now)]
                ):
                    break
        event_id = clock.new_event_id()
        # The store whose link brought the customer: reports by location credit it.
        link = storage.get_link(db, link_id) if link_id is not None else None
        storage.insert_event_row(
            db,
            {
                "id": event_id,
                "type": "claim",
                "at": now,
                "link_id": link_id,
                "campaign_id": campaign_id,
                "store_code": link["store_code"] if link else None,
                "visitor_id": visitor_id,
                "lead_id": lead_id,
                "ip": ip,
                "user_agent": user_agent,
                "outcome": "claimed",
            },
        )
        # Under the write lock the visitor has no claim yet, so this insert cannot conflict.
        storage.insert_claim(
            db,
            {
                "offer_id": offer["id"],
                "code": code,
                "visitor_id": visitor_id,
                "lead_id": lead_id,
                "link_id": link_id,
                "campaign_id": campaign_id,
                "click_id": click_id,
                "event_id": event_id,
                "claimed_at": now,
            },
        )
    row = storage.find_claim(db, offer["id"], visitor_id)
    assert row is not None  # inserted just above, in this transaction
    return row, True
