"""The shop before its customers arrive: stores, staff keys, campaigns, links, offers, lists.

Everything goes through the same domain functions as the API, each at the moment a
marketer would have done it (a few days before a campaign starts, the day before a mailing).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlite_utils import Database

from app.access import staff_keys
from app.clicks import campaigns, links
from app.core import money
from app.core.runtime import Runtime
from app.coupons import locations, offers
from app.people import calls, partners, recipients

from . import plan
from .people import Crowd, Person
from .replay import Replay

DAY = timedelta(days=1)


@dataclass
class Shop:
    """What the traffic needs to know about what was set up."""

    season: plan.Season
    currency: str
    base_url: str  # of the tracked URLs in mailing lists and on printed tickets
    specs: dict[str, plan.CampaignSpec]
    campaigns: dict[str, dict] = field(default_factory=dict)
    links: dict[str, list[tuple[plan.LinkSpec, dict]]] = field(default_factory=dict)
    offers: dict[str, dict] = field(default_factory=dict)
    printed: dict[str, list[str]] = field(default_factory=dict)  # codes on paper, by campaign
    staff: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # (key id, secret)
    lists: dict[str, list[Person]] = field(default_factory=dict)
    tickets: dict[int, str] = field(default_factory=dict)  # person number -> invitation URL

    def window(self, key: str) -> tuple[datetime, datetime]:
        row = self.campaigns[key]
        return datetime.fromisoformat(row["starts_at"]), datetime.fromisoformat(row["ends_at"])

    def offer_ends(self, key: str) -> datetime:
        return datetime.fromisoformat(self.offers[key]["ends_at"])


def amount(major: float, currency: str) -> str:
    """An amount in major units as the API takes it, rounded to the currency's minor unit."""
    minor = round(major * 10 ** money.exponent(currency))
    return money.to_decimal_string(minor, currency)


def _given(payload: dict) -> dict:
    return {k: v for k, v in payload.items() if v is not None}


def set_up(
    db: Database, replay: Replay, crowd: Crowd, rt: Runtime, season: plan.Season, base_url: str
) -> Shop:
    currency = rt.config["DEFAULT_CURRENCY"]
    shop = Shop(season, currency, base_url, {spec.key: spec for spec in plan.CAMPAIGNS})
    replay.set_time(season.start - 40 * DAY + timedelta(hours=15))
    for spec in plan.LOCATIONS:
        locations.create(
            db,
            {
                "code": spec.code,
                "name": spec.name,
                "kind": spec.kind,
                "timezone": spec.timezone,
                "address": spec.address,
            },
        )
        # Secrets stay in memory for the replayed tills; they are never printed.
        shop.staff[spec.code] = [
            (row["id"], secret)
            for secret, row in (
                staff_keys.create(db, spec.code, {"label": label}) for label in spec.staff
            )
        ]
    for campaign_spec in sorted(plan.CAMPAIGNS, key=lambda s: s.window[0]):
        _campaign(db, replay, shop, campaign_spec)
    for campaign_spec in plan.CAMPAIGNS:
        lists = {link.recipients for link in campaign_spec.links if link.recipients}
        for name in sorted(lists - {plan.BOOTH_LEADS}):
            _mailing_list(db, replay, crowd, rt, shop, campaign_spec, name, base_url)
    code, name, kind, commission = plan.PARTNER
    partners.create(
        db, {"code": code, "name": name, "kind": kind, "commission_percent": commission}
    )
    calls.add_number(
        db,
        shop.campaigns["flyers"]["id"],
        {"number": plan.FLYER_HOTLINE, "label": "Flyer hotline"},
        default_country="US",
    )
    return shop


def _campaign(db: Database, replay: Replay, shop: Shop, spec: plan.CampaignSpec) -> None:
    season = shop.season
    starts = season.day_of(spec.window[0])
    # Always-on campaigns are budgeted a month past today.
    ends = season.day_of(spec.window[1]) + (31 * DAY if spec.window[1] >= 1 else DAY)
    replay.set_time(starts - 3 * DAY + timedelta(hours=10))
    row = campaigns.create(
        db,
        _given(
            {
                "name": spec.name,
                "channel": spec.channel,
                "utm_source": spec.utm_source,
                "utm_medium": spec.utm_medium,
                "cost": amount(spec.cost_per_day * ((ends - starts) / DAY), shop.currency),
                "currency": shop.currency,
                "starts_at": starts.isoformat(),
                "ends_at": ends.isoformat(),
                "notes": spec.notes,
            }
        ),
        default_currency=shop.currency,
    )
    shop.campaigns[spec.key] = row
    if spec.offer is not None:
        shop.offers[spec.key] = _offer(db, shop, spec, row, starts, ends)
    made = []
    for link in spec.links:
        payload = {
            "campaign_id": row["id"],
            "destination": link.destination,
            "offer_id": shop.offers[spec.key]["id"] if link.destination is None else None,
            "label": link.label,
            "store_code": link.store_code,
            "utm_content": link.utm_content,
            "utm_term": link.utm_term,
            "expires_at": season.at(link.expires).isoformat() if link.expires else None,
            "fallback_url": link.fallback_url,
        }
        made.append((link, links.create(db, _given(payload))))
    shop.links[spec.key] = made


def _offer(
    db: Database,
    shop: Shop,
    spec: plan.CampaignSpec,
    campaign: dict,
    starts: datetime,
    ends: datetime,
) -> dict:
    offer = spec.offer
    assert offer is not None  # called for campaigns with an offer
    ends_at = ends + (shop.season.end - shop.season.start) * offer.ends_after
    created = offers.create(
        db,
        _given(
            {
                "campaign_id": campaign["id"],
                "title": offer.title,
                "discount": offer.discount,
                "terms": offer.terms,
                "kind": offer.kind,
                "shared_code": offer.shared_code,
                "code_prefix": offer.code_prefix,
                "per_lead_limit": offer.per_lead_limit,
                "location_codes": list(plan.STORES),
                "starts_at": starts.isoformat(),
                "ends_at": ends_at.isoformat(),
            }
        ),
    )
    if offer.printed_codes:
        batch = offers.generate_batch(db, created["id"], {"count": offer.printed_codes})
        shop.printed[spec.key] = [
            row["code"] for row in offers.export_rows(db, created["id"], batch["id"])
        ]
    return created


def _attributes(rng: random.Random, person: Person, name: str) -> dict:
    if name == plan.MEMBERS:
        return {
            "tier": rng.choices(("Gold", "Silver", "Basic"), (1, 3, 6))[0],
            "home_store": person.home,
            "member_since": str(2018 + rng.randrange(8)),
        }
    return {
        "team": person.team,
        "role": rng.choice(("Coach", "Team captain", "Race director", "Club secretary")),
    }


def _mailing_list(
    db: Database,
    replay: Replay,
    crowd: Crowd,
    rt: Runtime,
    shop: Shop,
    spec: plan.CampaignSpec,
    name: str,
    base_url: str,
) -> None:
    """The list uploaded to each of its links the day before the first mailing."""
    team = name == plan.INVITEES
    size = plan.SIZES.members if name == plan.MEMBERS else plan.SIZES.invitees
    people = [crowd.new_person(team=team) for _ in range(size)]
    records = [
        {"email": p.email, "name": p.name, **_attributes(crowd.rng, p, name)} for p in people
    ]
    replay.set_time(shop.season.at(spec.sends[0]) - DAY)
    for link_spec, link in shop.links[spec.key]:
        if link_spec.recipients != name:
            continue
        urls = import_list(db, rt, link, people, records, base_url)
        if team:
            shop.tickets.update((p.number, url) for p, url in zip(people, urls, strict=True))
        if link_spec.destination is None and spec.offer and spec.offer.personal_codes:
            offers.generate_batch(
                db, shop.offers[spec.key]["id"], {"recipients_link_id": link["id"]}
            )
    shop.lists[name] = people


def import_list(
    db: Database, rt: Runtime, link: dict, people: list[Person], records: list[dict], base_url: str
) -> list[str]:
    """Upload a mailing list to a link as the API would; returns each person's tracked URL."""
    result = recipients.import_parsed(
        db, link["id"], recipients.parse_json(records), rt.link_tokens, base_url, skip_invalid=False
    )
    urls = []
    for batch in result.spool.batches():
        for line, _, lead_id, url, *_ in batch:
            person = people[line - 1]
            person.lead = lead_id
            ref = rt.link_tokens.verify(url.rsplit("/", 1)[1])
            assert ref is not None  # minted just now
            person.recipient[link["id"]] = ref.recipient_id
            urls.append(url)
    return urls
