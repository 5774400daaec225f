"""Checking, redeeming and voiding codes at a till or booth, exactly once, with guess limits."""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass

from sqlite_utils import Database

from app import storage
from app.access import throttle
from app.core import clock, money, validation
from app.core import db as dbmod
from app.core.error_codes import ErrorCode
from app.core.errors import Conflict, Forbidden, Gone, NotFound, RateLimited, ValidationError
from app.coupons import codes, offers

_REDEEM_FIELDS = {"code", "location", "transaction_id", "amount", "currency"}
WINDOW_SECONDS = 60
ADDRESS_FACTOR = 3


@dataclass(frozen=True)
class Actor:
    """Who is at the till: a staff key (bound to a location) or an admin token."""

    location_code: str | None  # None for admins: any location
    staff_key_id: int | None
    client_address: str | None

    def buckets(self, limit: int) -> list[tuple[str, int]]:
        """(counter, its limit). Tills behind one shop router share an address, so the
        address gets ADDRESS_FACTOR times the per-key limit: one guessing till must not lock
        out the whole store, but a guesser rotating keys from one address still stops."""
        found = []
        if self.staff_key_id is not None:
            found.append((f"staff:{self.staff_key_id}", limit))
        if self.client_address:
            found.append((f"ip:{throttle.source(self.client_address)}", limit * ADDRESS_FACTOR))
        return found


def resolve_location(db: Database, actor: Actor, requested: str | None) -> dict:
    """The location to act at: the staff key's own, or the one an admin names."""
    if requested is None and actor.location_code is None:
        raise ValidationError("Location is required.", field="location", code=ErrorCode.REQUIRED)
    code = requested or actor.location_code
    if actor.location_code is not None and code != actor.location_code:
        raise Forbidden(
            f"This staff key works at '{actor.location_code}' only.",
            field="location",
            code=ErrorCode.LOCATION_NOT_ALLOWED,
        )
    location = storage.get_location(db, code) if code is not None else None
    if location is None:
        raise ValidationError(
            f"No location with code '{code}'.", field="location", code=ErrorCode.UNKNOWN_LOCATION
        )
    return location


# Guessing limits ---------------------------------------------------------------------------


def _window(now: float) -> int:
    return int(now // WINDOW_SECONDS)


def check_not_locked(db: Database, actor: Actor, limit: int) -> None:
    now = time.time()
    window = _window(now)
    for bucket, bucket_limit in actor.buckets(limit):
        if storage.failures(db, bucket, window) >= bucket_limit:
            retry = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
            raise RateLimited(f"Too many unknown codes; try again in {retry} s.", retry_after=retry)


def count_failed_lookup(db: Database, actor: Actor, limit: int, text: str) -> None:
    now = time.time()
    window = _window(now)
    for bucket, bucket_limit in actor.buckets(limit):
        if storage.count_failure(db, bucket, window) == bucket_limit:
            storage.log_security(
                db,
                clock.now_iso(),
                "lockout",
                bucket,
                f"{bucket_limit} unknown codes within a minute; last tried {text[:40]!r}",
            )
    if window % 10 == 0:
        # Sign-in throttles (app/access/throttle.py) look back up to an hour in the same table.
        storage.prune_rate_limits(db, window - throttle.KEEP_MINUTES)


# Looking codes up --------------------------------------------------------------------------


def _only_a_typo(db: Database, reading: codes.Reading) -> bool:
    """Whether a miss can be answered as a mistyped unique code without counting it as a guess.

    Every miss that could have found a code is a guess. Text whose last 12 characters look
    like a unique code with a wrong check character can never match a unique code, but it
    could still be a shared code: `BLACKFRIDAY2026` ends in `CKFRIDAY2026`, which reads as
    Crockford base32, and 31 in 32 such guesses used to be free. So a typo is only exempt
    when a shared code cannot have the same shape:

    - what comes before the 12 characters is nothing or a prefix an offer prints on its
      unique codes (prefixes are public; any other text in front may be part of a shared
      code, and letting it through would let a guesser learn a shared code's start
      character by character from 422s and 404s);
    - and no shared code has that length, starts with that prefix and ends in 12 characters
      of unique-code shape. If one does, every such miss counts. That this switches tells a
      guesser only that a shared code of this one shape exists, and its guesses then count.
    """
    if not reading.typo:
        return False
    prefix = reading.prefix
    if prefix and not storage.is_code_prefix(db, prefix):
        return False
    lookalikes = storage.shared_codes_of_length(db, len(reading.shared), prefix)
    return not any(codes.unique_shaped(code[len(prefix) :]) for code in lookalikes)


def find_code(db: Database, actor: Actor, text: str, limit: int) -> dict:
    """The code row for typed or scanned text; a typo is 422, an unknown code 404 (a guess)."""
    check_not_locked(db, actor, limit)
    reading = codes.read(text)
    row = storage.get_code(db, reading.shared) if reading.shared else None
    if row is None and reading.unique:
        row = storage.get_code(db, reading.unique)
    if row is None:
        if _only_a_typo(db, reading):
            raise ValidationError(
                "The check character does not match: a character was mistyped. Please retype "
                "the code.",
                field="code",
                code=ErrorCode.CHECK_CHARACTER_MISMATCH,
            )
        count_failed_lookup(db, actor, limit, text)
        raise NotFound("No such code.", field="code", code=ErrorCode.UNKNOWN_CODE)
    return row


def _shown(code_row: dict, offer: dict) -> str:
    """The code as printed: grouped, with the offer's prefix (unique codes only)."""
    prefix = offer["code_prefix"] if code_row["kind"] == "unique" else None
    return codes.display(code_row["code"], prefix)


def _redemption_json(row: dict, shown_code: str) -> dict:
    return {
        "id": row["id"],
        "code": shown_code,
        "location": row["location_code"],
        "transaction_id": row["transaction_id"],
        "amount": money.to_decimal_string(row["amount_minor"], row["currency"]),
        "currency": row["currency"],
        "redeemed_at": row["redeemed_at"],
        "voided_at": row["voided_at"],
        "void_reason": row["void_reason"],
    }


def _offer_summary(offer: dict) -> dict:
    return {
        "id": offer["id"],
        "title": offer["title"],
        "discount": offer["discount"],
        "terms": offer["terms"],
        "kind": offer["kind"],
        "ends_at": offer["ends_at"],
    }


def check(db: Database, actor: Actor, text: str, location_code: str | None, limit: int) -> dict:
    """Validate without redeeming: what the till would get, and whether it is valid here."""
    location = resolve_location(db, actor, location_code)
    row = find_code(db, actor, text, limit)
    offer = offers.get(db, row["offer_id"])
    now = clock.now_iso()
    status = offers.validity(offer, now)
    if status is None and not offers.valid_at(offer, location["code"]):
        status = "wrong_location"
    if (
        status is None
        and offer["max_redemptions_per_code"] is not None
        and row["redemption_count"] >= offer["max_redemptions_per_code"]
    ):
        status = "already_redeemed"
    claim = storage.claim_of_code(db, row["code"])
    last = storage.last_redemption(db, row["code"])
    shown = _shown(row, offer)
    return {
        "code": shown,
        "status": status or "valid",
        "valid_here": status is None,
        "location": location["code"],
        "offer": _offer_summary(offer),
        "campaign_id": offer["campaign_id"],
        "claimed_at": claim["claimed_at"] if claim else None,
        "redemption_count": row["redemption_count"],
        "last_redemption": _redemption_json(last, shown) if last else None,
    }


def _request_hash(
    code: str, location: str, transaction_id: str, amount: int | None, currency: str | None
) -> str:
    text = json.dumps([code, location, transaction_id, amount, currency])
    return hashlib.sha256(text.encode()).hexdigest()


def redeem(
    db: Database,
    actor: Actor,
    payload: dict,
    idempotency_key: str | None,
    *,
    limit: int,
    default_currency: str,
) -> tuple[int, dict]:
    """Redeem a code once; returns (status, body). Retries with the same key get the same."""
    validation.require_object(payload)
    check = validation.Collector()
    check(validation.reject_unknown, payload, _REDEEM_FIELDS)
    text = check(validation.text, payload, "code", required=True, max_len=100)
    requested = check(validation.text, payload, "location", max_len=64)
    location = check(resolve_location, db, actor, requested) if check.ok("location") else None
    transaction_id = check(validation.text, payload, "transaction_id", required=True, max_len=100)
    currency = check(validation.currency, payload)
    amount = None
    if location is not None and check.ok("currency", "location"):
        # The till's own currency unless it says otherwise (a Berlin store on a USD install).
        till_currency = currency or location.get("currency") or default_currency
        amount = check(validation.amount, payload, "amount", till_currency)
        if amount is not None:
            currency = till_currency
    check.done()
    # None means refused, and check.done() raised for it.
    assert text is not None and location is not None and transaction_id is not None
    # Without a header, the receipt and the code together are the key: a retry is the same
    # pair, while a second coupon on the same receipt is a new redemption.
    reading = codes.read(text)
    key = (idempotency_key or "").strip()[:200] or (
        f"txn:{transaction_id}:{reading.unique or reading.shared}"
    )

    # A retry is answered before anything else, even during a lockout: the till may be
    # resending a redemption that already went through. Only with its own Idempotency-Key,
    # though: a key made from transaction_id and code holds the code, so answering it during
    # a lockout would let a guesser who knows a receipt number test codes for free.
    if not idempotency_key or not idempotency_key.strip():
        check_not_locked(db, actor, limit)
    seen = storage.find_idempotent(db, location["code"], key)
    if seen is not None:
        candidates = {c for c in (reading.shared, reading.unique) if c is not None}
        if any(
            _request_hash(c, location["code"], transaction_id, amount, currency)
            == seen["request_hash"]
            for c in candidates
        ):
            return seen["status"], json.loads(seen["body"])
        raise ValidationError(
            "This Idempotency-Key (or transaction_id) was used for a different redemption.",
            field="transaction_id",
            code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
        )

    row = find_code(db, actor, text, limit)
    code = row["code"]
    request_hash = _request_hash(code, location["code"], transaction_id, amount, currency)
    offer = offers.get(db, row["offer_id"])
    now = clock.now_iso()

    with dbmod.immediate(db):
        seen = storage.find_idempotent(db, location["code"], key)
        if seen is not None:
            if seen["request_hash"] != request_hash:
                raise ValidationError(
                    "This Idempotency-Key (or transaction_id) was used for a different redemption.",
                    field="transaction_id",
                    code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
                )
            return seen["status"], json.loads(seen["body"])
        state = offers.validity(offer, now)
        if state == "not_yet_valid":
            raise Gone(
                f"This offer starts {offer['starts_at']}.",
                field="code",
                code=ErrorCode.NOT_YET_VALID,
                extra={"starts_at": offer["starts_at"]},
            )
        if state == "expired":
            raise Gone(
                f"This offer ended {offer['ends_at']}.",
                field="code",
                code=ErrorCode.EXPIRED,
                extra={"ends_at": offer["ends_at"]},
            )
        if not offers.valid_at(offer, location["code"]):
            raise Forbidden(
                f"This offer is not valid at {location['name']}.",
                field="location",
                code=ErrorCode.WRONG_LOCATION,
                extra={"valid_at": offer["location_codes"]},
            )
        if not storage.take_redemption(db, code):
            last = storage.last_redemption(db, code)
            where = f" at {last['location_code']} on {last['redeemed_at']}" if last else ""
            raise Conflict(
                f"Already redeemed{where}.",
                field="code",
                code=ErrorCode.ALREADY_REDEEMED,
                extra={
                    "redeemed_at": last["redeemed_at"] if last else None,
                    "location": last["location_code"] if last else None,
                },
            )
        claim = storage.claim_of_code(db, code)
        lead_id = (claim or {}).get("lead_id") or row["lead_id"]
        visitor_id = (claim or {}).get("visitor_id")
        redemption_id = storage.insert_redemption(
            db,
            {
                "code": code,
                "offer_id": offer["id"],
                "campaign_id": offer["campaign_id"],
                "location_code": location["code"],
                "transaction_id": transaction_id,
                "amount_minor": amount,
                "currency": currency,
                "staff_key_id": actor.staff_key_id,
                "claim_id": claim["id"] if claim else None,
                "lead_id": lead_id,
                "visitor_id": visitor_id,
                "redeemed_at": now,
            },
        )
        storage.insert_event_row(
            db,
            {
                "id": clock.new_event_id(),
                "type": "redemption",
                "at": now,
                "link_id": claim["link_id"] if claim else None,
                "campaign_id": offer["campaign_id"],
                "store_code": location["code"],
                "visitor_id": visitor_id,
                "lead_id": lead_id,
                "outcome": "redeemed",
            },
        )
        if lead_id:
            storage.touch_lead(db, lead_id, now)
        redemption = storage.get_redemption(db, redemption_id)
        assert redemption is not None
        body = {
            "status": "redeemed",
            "redemption": _redemption_json(redemption, _shown(row, offer)),
            "offer": _offer_summary(offer),
            "claimed_at": claim["claimed_at"] if claim else None,
            "campaign_id": offer["campaign_id"],
        }
        storage.save_idempotent(
            db,
            {
                "location_code": location["code"],
                "key": key,
                "request_hash": request_hash,
                "status": 201,
                "body": json.dumps(body),
                "created_at": now,
            },
        )
    return 201, body


def void(db: Database, actor: Actor, redemption_id: int, payload: dict) -> dict:
    """Void a redemption (a returned purchase): the code can be used again; both stay logged."""
    validation.require_object(payload)
    validation.reject_unknown(payload, {"reason"})
    reason = validation.text(payload, "reason", required=True, max_len=500)
    row = storage.get_redemption(db, redemption_id)
    if row is None or (actor.location_code and row["location_code"] != actor.location_code):
        raise NotFound(f"No redemption {redemption_id} here.", code=ErrorCode.REDEMPTION_NOT_FOUND)
    now = clock.now_iso()
    with dbmod.immediate(db):
        if not storage.void_redemption(db, redemption_id, now, reason):
            raise Conflict("This redemption is already voided.", code=ErrorCode.ALREADY_VOIDED)
        storage.give_back_redemption(db, row["code"])
        storage.insert_event_row(
            db,
            {
                "id": clock.new_event_id(),
                "type": "void",
                "at": now,
                "campaign_id": row["campaign_id"],
                "store_code": row["location_code"],
                "visitor_id": row["visitor_id"],
                "lead_id": row["lead_id"],
                "outcome": "voided",
            },
        )
    code_row = storage.get_code(db, row["code"])
    assert code_row is not None
    shown = _shown(code_row, offers.get(db, row["offer_id"]))
    voided = storage.get_redemption(db, redemption_id)
    assert voided is not None
    return _redemption_json(voided, shown)


def recent(db: Database, location_code: str, limit: int = 20) -> list[dict]:
    return [
        {
            **_redemption_json(
                r,
                codes.display(r["code"], r["code_prefix"] if r["code_kind"] == "unique" else None),
            ),
            "offer_title": r["offer_title"],
        }
        for r in storage.recent_redemptions(db, location_code, limit)
    ]
