"""The season's visits: who arrives each day through which campaign, and what they do next.

Daily arrivals follow each campaign's weekday rhythm, launches that fade over days, a season
that builds towards today, and brand searches that rise after every mailing and drop. Some
people come back through other campaigns before they buy, so journeys cross channels; bots,
link previewers and email security gateways come as they do to a live server.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from app import storage
from app.clicks import visits
from app.core import clock
from app.core.runtime import Runtime

from . import plan
from .outcomes import Outcomes, lognormal
from .people import IN_APP_AGENT, PHONE_AGENTS, Crowd, Device, Person, address
from .replay import Replay, Request
from .setup import Shop, import_list

DAY = timedelta(days=1)
Made = tuple[plan.LinkSpec, dict]  # a link as planned, and as created
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
# Where people who come back come from, if that campaign is running.
RETURNS = {"brand": 5, "retarget": 3, "drop": 1, "club": 1, "trail": 1}
BOOTH_NOTES = (
    "",
    "",
    "wants a quote for 25 pairs",
    "club of 40, spring order",
    "asked about team discounts",
    "coach, call next week",
    "race director, sponsor talk",
)
UNREADABLE = ("???", "Dana K. - no badge", "4711", "call back re club order", "badge torn", "")
PROBES = ("/r/wp-login.php", "/r/.env", "/q/admin", "/r/index.php?id=1", "/r/favicon.ico")


class Traffic:
    def __init__(
        self,
        db: Database,
        replay: Replay,
        shop: Shop,
        crowd: Crowd,
        rng: random.Random,
        rt: Runtime,
    ) -> None:
        self.db = db
        self.replay = replay
        self.shop = shop
        self.crowd = crowd
        self.rng = rng
        self.rt = rt
        self.outcomes = Outcomes(db, replay, shop, rt, rng, self.nurture)
        self._zone = ZoneInfo(plan.AUDIENCE_TIMEZONE)

    def schedule(self) -> None:
        """Queue the whole season; outcomes queue what follows them while it runs."""
        season = self.shop.season
        for day in range(season.days):
            self._day(season.start + day * DAY)
        for spec in plan.CAMPAIGNS:
            if spec.sends:
                self._mailings(spec)
            if spec.show:
                self._show(spec)
            if spec.offer is not None:
                self._codes_at_tills(spec)
        self._probes()
        self._offline_leads()
        self._till_sales()

    # Moments -----------------------------------------------------------------------------

    def moment_on(self, day: datetime) -> int:
        """A moment on that date, in the audience's time zone, busier in the evening."""
        hour = self.rng.choices(range(24), plan.HOURS)[0]
        local = datetime(day.year, day.month, day.day, hour, tzinfo=self._zone)
        return clock.epoch_ms(local) + self.rng.randrange(HOUR_MS)

    def _active(self, key: str, at: datetime) -> bool:
        starts, ends = self.shop.window(key)
        return starts <= at < ends

    def _lift(self, spec: plan.CampaignSpec, day: datetime) -> float:
        """Launches fade over days; brand searches follow every mailing and launch."""
        season = self.shop.season
        lift = 1.0
        for launch in spec.launches:
            since = (day - season.day_of(launch)) / DAY
            lift += 2.5 * math.exp(-since / 3) if since >= 0 else 0
        if spec.key == "brand":
            for other in plan.CAMPAIGNS:
                for moment in other.sends + other.launches:
                    since = (day - season.day_of(moment)) / DAY
                    lift += 0.5 * math.exp(-since / 2) if since >= 0 else 0
        return lift

    # Daily arrivals ----------------------------------------------------------------------

    def _day(self, day: datetime) -> None:
        rng = self.rng
        season = self.shop.season
        growth = 0.85 + 0.3 * ((day - season.start) / (season.end - season.start))
        for spec in plan.CAMPAIGNS:
            if not spec.daily or not self._active(spec.key, day):
                continue
            rhythm = plan.RHYTHMS[spec.rhythm][day.weekday()]
            mean = spec.daily * rhythm * self._lift(spec, day) * growth
            arrivals = round(mean * rng.lognormvariate(0, 0.12))
            for _ in range(arrivals):
                self.arrival(spec, self.moment_on(day))
            for _ in range(round(arrivals * spec.bots * rng.lognormvariate(0, 0.3))):
                self._bot(spec, self.moment_on(day))

    def _pick(self, spec: plan.CampaignSpec, mailing: str | None = None) -> Made:
        """A link of the campaign: a public one, or one of the personal links of a mailing."""
        made = [m for m in self.shop.links[spec.key] if m[0].recipients == mailing]
        return self.rng.choices(made, [m[0].weight for m in made])[0]

    def arrival(self, spec: plan.CampaignSpec, at_ms: int) -> None:
        person = self.crowd.arrival()
        click = self.visit(person, spec, self._pick(spec), at_ms)
        if click is not None:
            self.after_visit(person, spec, click, at_ms)

    def after_visit(self, person: Person, spec: plan.CampaignSpec, click: str, at_ms: int) -> None:
        rng = self.rng
        roll = rng.random()
        if roll < spec.sale:
            self._towards_order(person, click, at_ms)
        elif roll < spec.sale + spec.team_lead:
            person.team = person.team or rng.choice(plan.TEAMS)
            later = at_ms + rng.randrange(5 * MINUTE_MS, 90 * MINUTE_MS)
            self.replay.at(later, self.outcomes.team_lead, person, click, spec.key)
        elif roll < spec.sale + spec.team_lead + spec.signup:
            later = at_ms + rng.randrange(MINUTE_MS, 10 * MINUTE_MS)
            self.replay.at(later, self.outcomes.signup, person, click)
        elif rng.random() < 0.15:
            self.revisit(person, at_ms + int(lognormal(rng, 2, 1, 0.05, 20) * 86_400_000))

    def visit(
        self,
        person: Person,
        spec: plan.CampaignSpec,
        made: Made,
        at_ms: int,
        device: Device | None = None,
    ) -> str | None:
        """One click or scan by this person; a coupon page may end in a claim."""
        rng = self.rng
        link_spec, link = made
        kind = link_spec.hit or spec.hit
        device = device or person.device(rng, spec.device)
        agent = device.agent
        if spec.channel == "social" and device.phone and rng.random() < 0.6:
            agent = IN_APP_AGENT
        recipient = person.recipient.get(link["id"])
        request = Request(
            kind,
            link["id"],
            device.visitor,
            device.address,
            agent,
            None if kind == "scan" or recipient else spec.referrer,
            recipient_id=recipient,
        )
        click = self.replay.hit(at_ms, request)
        if click is not None and link["offer_id"] is not None and rng.random() < 0.45:
            later = at_ms + rng.randrange(15_000, 180_000)
            self.replay.at(later, self.outcomes.claim, person, device, spec.key, link, click, agent)
        return click

    def revisit(self, person: Person, at_ms: int) -> str | None:
        """The person comes back through whichever campaign reaches them then."""
        at = clock.from_epoch_ms(at_ms)
        running = [key for key in RETURNS if self._active(key, at)]
        if not running:
            return None
        key = self.rng.choices(running, [RETURNS[k] for k in running])[0]
        spec = self.shop.specs[key]
        # Often on the other device: found on the phone, back on the laptop to look closer.
        device = person.device(self.rng, 0.4)
        return self.visit(person, spec, self._pick(spec), at_ms, device)

    def nurture(self, person: Person, at_ms: int) -> None:
        """A team lead looks again: from the follow-up mail if they got it, else as anyone."""
        spec = self.shop.specs["expo"]
        follow_up = self._pick(spec, plan.BOOTH_LEADS)
        if follow_up[1]["id"] in person.recipient and self.rng.random() < 0.9:
            self.visit(person, spec, follow_up, at_ms)
        else:
            self.revisit(person, at_ms)

    def _towards_order(self, person: Person, click: str, at_ms: int) -> None:
        """Maybe a visit or two more, then an order from the latest one."""
        rng = self.rng
        for _ in range(rng.choice((0, 0, 1, 1, 1, 2))):
            when = at_ms + int(lognormal(rng, 1.5, 1, 0.01, 10) * 86_400_000)
            again = self.revisit(person, when)
            if again is not None:
                at_ms, click = when, again
        delay = int(lognormal(rng, 20, 1.2, 2, 2880) * MINUTE_MS)
        self.replay.at(at_ms + delay, self.outcomes.order, person, click)

    def _bot(self, spec: plan.CampaignSpec, at_ms: int) -> None:
        method, agent, referrer = self.crowd.bot(spec.bot_kinds)
        link_spec, link = self._pick(spec)
        visitor = self.replay.guid()  # bots keep no cookie: a new visitor every time
        kind = link_spec.hit or spec.hit
        request = Request(kind, link["id"], visitor, address(self.rng), agent, referrer, method)
        self.replay.hit(at_ms, request)

    def _codes_at_tills(self, spec: plan.CampaignSpec) -> None:
        """Codes nobody claimed online: printed on the flyer, or the shared code of a post."""
        assert spec.offer is not None  # run() calls this for campaigns with an offer
        rng = self.rng
        season = self.shop.season
        starts, _ = self.shop.window(spec.key)
        ends = min(self.shop.offer_ends(spec.key), season.end)
        if ends <= starts:
            return
        span_days = (ends - starts) / DAY
        stores = [s for s in plan.LOCATIONS if s.kind == "store"]
        pending = [(code, 0.3) for code in self.shop.printed.get(spec.key, ())]
        if spec.offer.shared_code:
            daily = 2.5 * span_days
            pending += [(spec.offer.shared_code, 1.0)] * round(daily)
        for code, chance in pending:
            if rng.random() >= chance:
                continue
            day = starts + int(rng.random() * span_days) * DAY
            location = rng.choices(stores, [s.weight for s in stores])[0].code
            self.outcomes.redeem_before_end(spec.key, code, location, day, spec.offer.min_basket)

    # Mailings ----------------------------------------------------------------------------

    def _mailings(self, spec: plan.CampaignSpec) -> None:
        rng = self.rng
        season = self.shop.season
        mailing = next(m[0].recipients for m in self.shop.links[spec.key] if m[0].recipients)
        personal = [m for m in self.shop.links[spec.key] if m[0].recipients == mailing]
        people = self.shop.lists[mailing]
        for person in people:
            # Company mail passes security gateways that open every link first.
            person.gateway = self.crowd.gateway() if rng.random() < 0.08 else None
        for send in spec.sends:
            day = season.day_of(send)
            sent = clock.epoch_ms(datetime(day.year, day.month, day.day, 10, tzinfo=self._zone))
            for person in people:
                delivered = sent + rng.randrange(20 * MINUTE_MS)
                if person.gateway is not None:
                    self._gateway(person, personal, delivered + rng.randrange(2000, 40_000))
                if rng.random() < 0.16:
                    self._reader(person, spec, mailing, delivered)

    def _reader(
        self, person: Person, spec: plan.CampaignSpec, mailing: str, delivered: int
    ) -> None:
        """Someone who opens the mail, clicks a link or two, and maybe buys."""
        rng = self.rng
        at_ms = delivered + int(lognormal(rng, 120, 1.3, 1, 7200) * MINUTE_MS)
        device = person.device(rng, spec.device)
        click = self.visit(person, spec, self._pick(spec, mailing), at_ms, device)
        if rng.random() < 0.25:
            other = self._pick(spec, mailing)
            second = at_ms + rng.randrange(MINUTE_MS, 8 * MINUTE_MS)
            click = self.visit(person, spec, other, second, device) or click
            at_ms = second
        if click is not None:
            self.after_visit(person, spec, click, at_ms)

    def _gateway(self, person: Person, personal: list, at_ms: int) -> None:
        gateway = person.gateway
        assert gateway is not None  # only people behind a gateway get here
        targets = personal[:1] if gateway.style == "networks" else personal
        for _, link in targets:
            at_ms += self.rng.randrange(150, 1500)
            recipient = person.recipient[link["id"]]
            for network in gateway.addresses[: 2 if gateway.style == "networks" else 1]:
                request = Request(
                    "click",
                    link["id"],
                    self.replay.guid(),
                    network,
                    gateway.agent,
                    gateway.referrer,
                    recipient_id=recipient,
                )
                self.replay.hit(at_ms, request)
                at_ms += self.rng.randrange(50, 400)

    # The trade show ----------------------------------------------------------------------

    def _show(self, spec: plan.CampaignSpec) -> None:
        assert spec.show is not None  # run() calls this for campaigns with a trade show
        rng = self.rng
        season = self.shop.season
        first, last = (season.day_of(f) for f in spec.show)
        days = [first + i * DAY for i in range((last - first) // DAY + 1)]
        invitees = self.shop.lists[plan.INVITEES]
        attending = [p for p in invitees if rng.random() < 0.5]
        walk_ins = [self.crowd.new_person(team=True) for _ in range(plan.SIZES.expo_walk_ins)]
        for person in attending + walk_ins:
            if person in attending:
                ticket = self.shop.tickets[person.number]
                assert person.lead is not None  # invitees were imported as leads
                badge = self.rt.badge_tokens.mint(person.lead)
                text = ticket if rng.random() < 0.6 else badge
            else:
                text = person.email  # no badge with them: typed in
            self._booth(rng.choice(days), text, person)
        for _ in range(plan.SIZES.unmatched_scans):
            self._booth(rng.choice(days), rng.choice(UNREADABLE) or "?", None)
        after = clock.epoch_ms(days[-1] + DAY + timedelta(hours=14))
        self.replay.at(after, self._follow_up, spec, attending + walk_ins)
        poster = next(made for made in self.shop.links[spec.key] if made[0].store_code)
        for day in days:
            for _ in range(round(40 * rng.lognormvariate(0, 0.15))):
                person = (
                    rng.choice(attending) if rng.random() < 0.3 else self.crowd.new_person(True)
                )
                at_ms = self.outcomes.store_hours(plan.BOOTH, day)
                click = self.visit(person, spec, poster, at_ms, person.phone)
                if click is not None:
                    self.after_visit(person, spec, click, at_ms)

    def _follow_up(self, spec: plan.CampaignSpec, scanned: list[Person]) -> None:
        """The day after the show: everyone the booth scanned gets the team catalogue."""
        people = [p for p in scanned if p.lead is not None]
        records = [{"email": p.email, "name": p.name, "team": p.team} for p in people]
        made = self._pick(spec, plan.BOOTH_LEADS)
        import_list(self.db, self.rt, made[1], people, records, self.shop.base_url)
        self.shop.lists[plan.BOOTH_LEADS] = people
        for person in people:
            if self.rng.random() < 0.4:
                at_ms = self.replay.now_ms + int(lognormal(self.rng, 180, 1.2, 2, 4000) * MINUTE_MS)
                self.visit(person, spec, made, at_ms)

    def _booth(self, day: datetime, text: str, person: Person | None) -> None:
        rng = self.rng
        scanned = self.outcomes.store_hours(plan.BOOTH, day)
        # One scan in five waits in the phone's queue while the hall's Wi-Fi is down.
        delay = rng.randrange(MINUTE_MS, 40 * MINUTE_MS) if rng.random() < 0.2 else 800
        rating = rng.choice((None, 3, 4, 4, 5, 5)) if person else None
        note = rng.choice(BOOTH_NOTES) if person else "unreadable badge"
        self.replay.at(
            scanned + delay, self.outcomes.booth_scan, text, scanned, person, rating, note
        )

    def _offline_leads(self) -> None:
        """Team enquiries no link brought: phone calls to the sales line and a reseller's
        referrals, spread over the season."""
        season = self.shop.season
        for origin, source, count in plan.OFFLINE_LEADS:
            for _ in range(count):
                day = season.start + self.rng.randrange(season.days) * DAY
                person = self.crowd.new_person(team=True)
                at_ms = self.outcomes.store_hours(plan.BOOTH, day)
                self.replay.at(at_ms, self.outcomes.offline_lead, person, origin, source)

    def _till_sales(self) -> None:
        """Sales with no coupon at every store, on the days it is open."""
        season = self.shop.season
        for day in range(season.days):
            moment = season.start + day * DAY
            for store in plan.STORES:
                count = round(plan.TILL_SALES_PER_DAY * self.rng.lognormvariate(0, 0.5))
                for _ in range(count):
                    at_ms = self.outcomes.store_hours(store, moment)
                    if at_ms < clock.epoch_ms(season.end):
                        self.replay.at(at_ms, self.outcomes.till_sale, store)

    # Noise -------------------------------------------------------------------------------

    def _probes(self) -> None:
        """Requests for tokens that do not exist: scanners of the web, and typos."""
        rng = self.rng
        season = self.shop.season
        links = [link for made in self.shop.links.values() for _, link in made]
        for _ in range(plan.SIZES.orphan_hits):
            day = season.start + rng.randrange(season.days) * DAY
            if rng.random() < 0.5:
                path = rng.choice(PROBES)
                agent = "python-requests/2.32.3"
            else:
                token = self.rt.link_tokens.mint(rng.choice(links)["id"])
                typo = rng.choice([c for c in "0123456789" if c != token[9]])
                path = f"/r/{token[:9]}{typo}{token[10:]}"  # one character misread
                agent = PHONE_AGENTS[0]
            self.replay.at(self.moment_on(day), self._orphan, path, address(rng), agent)

    def _orphan(self, path: str, client: str, agent: str) -> None:
        ip = visits.anonymize_ip(client)
        storage.insert_orphan_hit(self.db, clock.now_iso(), path, ip, agent, None)
