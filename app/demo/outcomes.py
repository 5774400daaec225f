"""What follows a visit: coupon claims, till redemptions and returns, online orders, club
sign-ups, team-order leads through the CRM stages, and booth scans.

Each is one call of the domain function the API or a page would call, at its own time, and
may queue what comes next (a redemption days after a claim, the next CRM stage).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from app.access import staff_keys
from app.clicks import visits
from app.core import clock
from app.core.errors import Conflict
from app.core.runtime import Runtime
from app.coupons import booth_scans, claims, codes, offers, redemptions, till_sales
from app.people import calls, conversions, leads, pipeline

from . import plan
from .people import Device, Person, address
from .replay import Replay
from .setup import Shop, amount

STAGES = ("lead", "mql", "sql", "opportunity", "sale")
ADVANCE = (0.55, 0.55, 0.65, 0.55)  # chance to reach the next stage
GAP_DAYS = ((1, 6), (2, 10), (3, 14), (4, 21))  # and how long that takes
VOID_REASONS = ("returned, wrong size", "returned unworn", "till error", "price match")
# The sales team that works the CRM leads, and what it does with them (issue 14's pipeline).
REPS = ("jo.baker@example.com", "sam.ortiz@example.com", "lee.chen@example.com")
NO_CALL = 0.15  # handed off and never called: the leak the pipeline page shows
LOST = 0.6  # a lead that stops advancing is marked lost (else it just stalls)
LOST_REASONS = (
    ("no_response", 5),
    ("competitor", 4),
    ("no_budget", 3),
    ("timing", 3),
    ("no_decision", 2),
    ("bad_fit", 2),
    ("no_approval", 1),
    ("other", 1),
)
LOST_NOTES = {
    "competitor": "went with the incumbent supplier",
    "no_budget": "club budget spent for the year",
    "timing": "ask again before next season",
    "other": "coach left the club",
}
_TIMEZONES = {spec.code: ZoneInfo(spec.timezone) for spec in plan.LOCATIONS}
CALLER_AREAS = ("212", "646", "917", "718", "347", "617", "857", "312", "773", "872")


def lognormal(rng: random.Random, median: float, sigma: float, low: float, high: float) -> float:
    return min(high, max(low, median * math.exp(rng.gauss(0, sigma))))


class Outcomes:
    def __init__(
        self,
        db: Database,
        replay: Replay,
        shop: Shop,
        rt: Runtime,
        rng: random.Random,
        nurture: Callable[[Person, int], None],
    ) -> None:
        self.db = db
        self.replay = replay
        self.shop = shop
        self.rt = rt
        self.rng = rng
        self.nurture = nurture  # a visit on the way to a deal, made by the traffic
        self.currency = shop.currency
        self._receipts = itertools.count(40_001)
        self._orders = itertools.count(100_001)
        self._calls = itertools.count()
        self._in_crm: set[int] = set()
        self._left_unknown = False  # an unreadable badge kept unmatched so far
        self._till_addresses = {code: address(rng) for code in _TIMEZONES}

    def store_hours(self, code: str, day: datetime) -> int:
        """A moment on `day` (its date, at the location) while the location is open."""
        local = datetime(day.year, day.month, day.day, 10, tzinfo=_TIMEZONES[code])
        return clock.epoch_ms(local + timedelta(seconds=self.rng.randrange(585 * 60)))

    def _actor(self, code: str) -> redemptions.Actor:
        key_id, secret = self.rng.choice(self.shop.staff[code])
        # Signing in as the till does keeps the staff key's "last used" true.
        staff_keys.authenticate(self.db, secret)
        return redemptions.Actor(code, key_id, self._till_addresses[code])

    # Coupons -----------------------------------------------------------------------------

    def claim(
        self, person: Person, device: Device, key: str, link: dict, click_id: str, agent: str
    ) -> None:
        """The offer page's "Get my code" button pressed; some go to a store with the code."""
        offer = self.shop.offers[key]
        if offers.validity(offer, clock.now_iso()) is not None:
            return  # the page said the offer is over
        lead = person.lead if link["id"] in person.recipient else None
        row, created = claims.claim(
            self.db,
            offer,
            visitor_id=device.visitor or f"pageview:{self.replay.guid()}",
            lead_id=lead,
            link_id=link["id"],
            campaign_id=link["campaign_id"],
            click_id=click_id,
            ip=visits.anonymize_ip(device.address),
            user_agent=agent,
        )
        if created and self.rng.random() < 0.6:
            day = self.replay.now + timedelta(days=self.rng.choice((0, 1, 1, 2, 3, 5, 7, 10, 13)))
            code = link["store_code"] or person.home
            offer_spec = self.shop.specs[key].offer
            assert offer_spec is not None  # a claim is for an offer
            minimum = offer_spec.min_basket
            shown = codes.display(row["code"], offer["code_prefix"])
            self.redeem_before_end(key, shown, code, day, basket_at_least=minimum)

    def redeem_before_end(
        self, key: str, code: str, store_code: str, day: datetime, basket_at_least: float
    ) -> None:
        at_ms = self.store_hours(store_code, day)
        if at_ms <= self.replay.now_ms:  # the store is closed by now: tomorrow, then
            at_ms = self.store_hours(store_code, day + timedelta(days=1))
        if at_ms < clock.epoch_ms(self.shop.offer_ends(key)):
            self.replay.at(at_ms, self.redeem, code, store_code, basket_at_least)

    def redeem(self, code: str, store_code: str, basket_at_least: float) -> None:
        basket = max(basket_at_least, lognormal(self.rng, 95, 0.45, 25, 420))
        _, body = redemptions.redeem(
            self.db,
            self._actor(store_code),
            {
                "code": code,
                "transaction_id": f"{store_code[:3]}-{next(self._receipts)}",
                "amount": amount(basket, self.currency),
            },
            None,
            limit=self.rt.config["GUESS_LIMIT_PER_MINUTE"],
            default_currency=self.currency,
        )
        if self.rng.random() < 0.05:
            day = self.replay.now + timedelta(days=self.rng.randrange(1, 12))
            redemption_id = body["redemption"]["id"]
            self.replay.at(self.store_hours(store_code, day), self.void, redemption_id, store_code)

    def void(self, redemption_id: int, store_code: str) -> None:
        reason = self.rng.choice(VOID_REASONS)
        redemptions.void(self.db, self._actor(store_code), redemption_id, {"reason": reason})

    # The shop's site and the CRM ---------------------------------------------------------

    def _record(self, payload: dict) -> dict:
        row, _ = conversions.record(
            self.db,
            payload,
            default_currency=self.currency,
            default_country=self.rt.config["DEFAULT_COUNTRY"],
            rules=self.rt.pipeline_rules,
        )
        return row

    def order(self, person: Person, click_id: str) -> None:
        """A web-shop order; the checkout gives the email, so the buyer becomes a lead.

        Posted as `purchase`, not one of the CRM's funnel stages: a shop order is revenue,
        not a step of the team-sales funnel (the README's demo section says so).
        """
        value = round(lognormal(self.rng, 110, 0.5, 35, 450), 2)
        row = self._record(
            {
                "type": "purchase",
                "click_id": click_id,
                "email": person.email,
                "value": amount(value, self.currency),
                "external_id": f"order-{next(self._orders)}",
                "properties": {"channel": "web shop"},
            }
        )
        person.lead = row["lead_id"]
        if self.rng.random() < plan.PICKUP_SHARE:
            # Buy online, pick up in store: at the customer's store in the next days.
            day = self.replay.now + timedelta(days=self.rng.choice((0, 1, 1, 2, 3)))
            at_ms = self.store_hours(person.home, day)
            if at_ms <= self.replay.now_ms:
                at_ms = self.store_hours(person.home, day + timedelta(days=1))
            if at_ms < clock.epoch_ms(self.shop.season.end):
                self.replay.at(at_ms, self.pickup, row["external_id"], person.home)

    def signup(self, person: Person, click_id: str) -> None:
        """Joined the running club from the till's QR code: a lead that stays a lead."""
        row = self._record(
            {
                "type": "lead",
                "click_id": click_id,
                "email": person.email,
                "properties": {"form": "club"},
            }
        )
        person.lead = row["lead_id"]

    def team_lead(self, person: Person, click_id: str | None, source: str) -> None:
        """A team-order quote request: the first stage of the CRM funnel, given to a rep."""
        if person.number in self._in_crm:
            return
        self._in_crm.add(person.number)
        payload: dict[str, Any] = {
            "type": "lead",
            "external_id": f"crm-{person.number}-lead",
            "properties": {"team": person.team, "source": source},
        }
        if click_id is not None:
            payload.update(click_id=click_id, email=person.email)
        else:
            payload["lead_id"] = person.lead
        person.lead = self._record(payload)["lead_id"]
        fields = {"owner": self.rng.choice(REPS), "name": person.name}
        if source == "booth":
            fields["source"] = f"trade_show:{plan.BOOTH.lower()}"
        leads.update(
            self.db,
            person.lead,
            fields,
            default_currency=self.currency,
            default_country=self.rt.config["DEFAULT_COUNTRY"],
        )
        self._next_stage(person, 1, None)

    def offline_lead(self, person: Person, origin: str, source: str) -> None:
        """A lead no tracked link brought: a call to the sales line or to the flyers'
        tracking number (the telephony webhook makes the lead from the caller's number), or
        a reseller's referral. It is in the pipeline report's cohort all the same."""
        self._in_crm.add(person.number)
        payload: dict[str, Any] = {
            "type": "lead",
            "email": person.email,
            "external_id": f"crm-{person.number}-lead",
            "properties": {"team": person.team, "source": source},
        }
        fields: dict[str, Any] = {"owner": self.rng.choice(REPS), "name": person.name}
        if source.startswith(("phone:", "inbound:phone")):
            dialled = plan.FLYER_HOTLINE if source == "phone:flyers" else plan.SALES_LINE
            payload["lead_id"] = self.call(dialled)
            fields["origin"] = origin
        elif origin == "partner":
            fields.update(source=source, partner_code=plan.PARTNER[0])
        else:
            fields.update(origin=origin, source=source)
        row = self._record(payload)
        person.lead = row["lead_id"]
        leads.update(
            self.db,
            person.lead,
            fields,
            default_currency=self.currency,
            default_country=self.rt.config["DEFAULT_COUNTRY"],
        )
        self._next_stage(person, 1, None)

    def call(self, dialled: str) -> str:
        """A prospect rings; a sixth of the first calls nobody answers (a missed call is a
        touch, not a contact), and they ring again a little later. Returns the lead."""
        n = next(self._calls)
        # 555-0100 to 555-0199 are fictional in every North American area code.
        caller = f"+1 {CALLER_AREAS[n // 100 % len(CALLER_AREAS)]} 555 01{n % 100:02d}"
        missed = self.rng.random() < 1 / 6
        row, _ = calls.record(
            self.db,
            {
                "to": dialled,
                "from": caller,
                "started_at": clock.now_iso(),
                "duration_s": 0 if missed else self.rng.randrange(45, 900),
                "external_id": f"CA{n:06d}",
            },
            default_country="US",
            rules=self.rt.pipeline_rules,
            by=None,
        )
        if missed:
            later = self.replay.now_ms + self.rng.randrange(10, 120) * 60_000
            self.replay.at(later, self._call_back, dialled, caller, n)
        return str(row["lead_id"])

    def _call_back(self, dialled: str, caller: str, n: int) -> None:
        calls.record(
            self.db,
            {
                "to": dialled,
                "from": caller,
                "started_at": clock.now_iso(),
                "duration_s": self.rng.randrange(45, 600),
                "external_id": f"CA{n:06d}-again",
            },
            default_country="US",
            rules=self.rt.pipeline_rules,
            by=None,
        )

    # The till: sales without a code, web orders picked up ---------------------------------

    def till_sale(self, store_code: str) -> None:
        """A sale with no coupon; some customers say which campaign brought them."""
        here = till_sales.campaigns_here(self.db, store_code)
        mentioned = None
        if here and self.rng.random() < plan.MENTIONED_SHARE:
            mentioned = self.rng.choice(here)["id"]
        basket = lognormal(self.rng, 70, 0.5, 12, 380)
        body: dict[str, Any] = {
            "transaction_id": f"{store_code[:3]}-{next(self._receipts)}",
            "amount": amount(basket, self.currency),
        }
        if mentioned is not None:
            body["mentioned_campaign_id"] = mentioned
        till_sales.record_sale(
            self.db,
            self._actor(store_code),
            body,
            None,
            default_currency=self.currency,
            default_country="US",
            rules=self.rt.pipeline_rules,
        )

    def pickup(self, order_id: str, store_code: str) -> None:
        till_sales.pickup(self.db, self._actor(store_code), {"order_id": order_id})

    def _next_stage(self, person: Person, index: int, value: float | None) -> None:
        rng = self.rng
        if index >= len(STAGES):
            return
        if rng.random() >= ADVANCE[index - 1]:
            if index >= 2 and rng.random() < LOST:  # past mql: Sales closes it out, later
                at_ms = self.replay.now_ms + int(rng.uniform(5, 45) * 86_400_000)
                self.replay.at(at_ms, self.lose, person)
            return
        low, high = GAP_DAYS[index - 1]
        at_ms = self.replay.now_ms + int(rng.uniform(low, high) * 86_400_000)
        if STAGES[index] == "opportunity":
            value = round(lognormal(rng, 3200, 0.6, 900, 15_000), -1)
        elif STAGES[index] == "sale":
            assert value is not None  # the opportunity stage before it set one
            value = round(value * rng.uniform(0.8, 1.0), -1)
        if index >= 3 and rng.random() < 0.6:  # a look at the catalogue before a meeting
            self.nurture(person, at_ms - rng.randrange(3_600_000, 3 * 86_400_000))
        if index >= 2:  # a meeting, a demo, a last meeting before each later stage
            before = at_ms - rng.randrange(3_600_000, 2 * 86_400_000)
            if before > self.replay.now_ms:
                kind = {"sql": "meeting", "opportunity": "demo"}.get(STAGES[index], "meeting")
                self.replay.at(before, self.activity, person, kind, "")
        self.replay.at(at_ms, self.stage, person, index, value)

    def stage(self, person: Person, index: int, value: float | None) -> None:
        payload = {
            "type": STAGES[index],
            "lead_id": person.lead,
            "external_id": f"crm-{person.number}-{STAGES[index]}",
        }
        if value is not None:
            payload["value"] = amount(value, self.currency)
        self._record(payload)
        rng = self.rng
        if STAGES[index] == "mql" and rng.random() >= NO_CALL:
            hours = lognormal(rng, 20, 0.9, 0.5, 150)  # some reps are slow: past the 48 h rule
            self.replay.at(
                self.replay.now_ms + int(hours * 3_600_000), self.activity, person, "call", ""
            )
        # The rep's estimate once the lead is qualified; the opportunity's value replaces it.
        estimate = value if STAGES[index] == "opportunity" else None
        if STAGES[index] == "sql":
            estimate = round(lognormal(rng, 2500, 0.6, 500, 12_000), -2)
        if estimate is not None and person.lead is not None:
            leads.update(
                self.db,
                person.lead,
                {"value": amount(estimate, self.currency), "currency": self.currency},
                default_currency=self.currency,
                default_country=self.rt.config["DEFAULT_COUNTRY"],
            )
        self._next_stage(person, index + 1, value)

    def activity(self, person: Person, kind: str, note: str) -> None:
        """What the lead's rep did, logged in the CRM and posted to Touchpoint."""
        assert person.lead is not None  # only CRM leads get activities
        owner = leads.get(self.db, person.lead)["owner"]
        pipeline.add_activity(
            self.db,
            person.lead,
            {"kind": kind, "by": owner, **({"note": note} if note else {})},
            self.rt.pipeline_rules,
            "crm",
        )

    def lose(self, person: Person) -> None:
        """The rep marks a lead that went nowhere as lost, with why."""
        assert person.lead is not None
        reasons, weights = zip(*LOST_REASONS, strict=True)
        reason = self.rng.choices(reasons, weights)[0]
        payload = {"reason": reason}
        if reason in LOST_NOTES and self.rng.random() < 0.7:
            payload["note"] = LOST_NOTES[reason]
        with contextlib.suppress(Conflict):  # won or lost meanwhile
            pipeline.mark_lost(self.db, person.lead, payload, self.rt.pipeline_rules, "crm")

    # The booth ---------------------------------------------------------------------------

    def booth_scan(
        self, text: str, scanned_ms: int, person: Person | None, rating: int | None, note: str
    ) -> None:
        """A scan reaching the server (maybe late: the phone queues it while offline)."""
        row, _ = booth_scans.record(
            self.db,
            self._actor(plan.BOOTH),
            {
                "code": text,
                "scan_id": self.replay.guid(),
                "scanned_at": clock.to_iso(clock.from_epoch_ms(scanned_ms)),
                "rating": rating,
                "note": note or None,
            },
            self.rt.link_tokens,
            self.rt.badge_tokens,
        )
        if person is None:
            if row["lead_id"] is None:
                # The first unreadable badge always stays unknown: the season ends at the
                # moment it is built, and with only a few such scans a draw could otherwise
                # leave the booth's "unmatched" list empty.
                if self.rng.random() < 0.4 and self._left_unknown:
                    later = self.replay.now_ms + self.rng.randrange(86_400_000, 3 * 86_400_000)
                    self.replay.at(later, self.assign, row["id"])
                else:
                    self._left_unknown = True
            return
        person.lead = row["lead_id"]
        if self.rng.random() < 0.6:
            later = self.replay.now_ms + self.rng.randrange(3_600_000, 3 * 86_400_000)
            self.replay.at(later, self.team_lead, person, None, "booth")

    def assign(self, scan_id: str) -> None:
        """The booth team types in who that unreadable scan was, back at the office."""
        person_email = f"booth.visitor{self.rng.randrange(100, 999)}@example.org"
        booth_scans.assign(self.db, scan_id, {"email": person_email})
