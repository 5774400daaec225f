"""The demo's crowd: people with a phone and maybe a laptop, their networks, and the bots.

Browsers keep their visitor cookie, so a person's device is one visitor GUID for the whole
season; one in twenty-five sends Global Privacy Control and is logged without one. Bots
never keep cookies. User agents are real ones, so app/clicks/bots.py classifies them as it would
live; none of them names a real site.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from . import plan

PHONE_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 15; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
)
DESKTOP_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
)
# Links opened from the social app itself come from its in-app browser.
IN_APP_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Instagram 356.0.0.41.109 (iPhone15,3; iOS 18_1; en_US)"
)
# (method, user agent, referrer) of bots, by kind.
BOTS: dict[str, tuple[tuple[str, str | None, str | None], ...]] = {
    "preview": (
        ("GET", "facebookexternalhit/1.1", None),
        ("GET", "Twitterbot/1.0", None),
        ("GET", "WhatsApp/2.24.22.79 A", None),
        ("GET", "Slackbot-LinkExpanding 1.0", None),
        ("GET", "TelegramBot (like TwitterBot)", None),
        ("GET", "Mozilla/5.0 (compatible; Discordbot/2.0)", None),
        ("HEAD", "LinkedInBot/1.0 (compatible; Mozilla/5.0)", None),
    ),
    "crawler": (
        ("GET", "Mozilla/5.0 (compatible; Googlebot/2.1)", None),
        ("GET", "Mozilla/5.0 (compatible; bingbot/2.0)", None),
        ("GET", "Mozilla/5.0 (compatible; AhrefsBot/7.0)", None),
        ("GET", "Mozilla/5.0 (compatible; SemrushBot/7~bl)", None),
        ("GET", "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2)", None),
        ("GET", "Mozilla/5.0 (compatible; PetalBot)", None),
    ),
    "ads": (
        ("GET", "AdsBot-Google", None),
        ("GET", "Mozilla/5.0 (compatible; adidxbot/2.0)", None),
    ),
    "tool": (
        ("GET", "curl/8.5.0", None),
        ("GET", "python-requests/2.32.3", None),
        ("GET", "Go-http-client/2.0", None),
        ("HEAD", DESKTOP_AGENTS[0], None),
        ("GET", None, None),
        ("GET", "Mozilla/5.0 (compatible; UptimeRobot/2.0)", None),
    ),
    "headless": (
        (
            "GET",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/131.0.0.0 Safari/537.36",
            None,
        ),
    ),
}
# Email security gateways that say who they are; others look like browsers and are only
# caught by behaviour (app/clicks/scanners.py).
GATEWAY_AGENTS = (
    "Mozilla/5.0 (compatible; Barracuda Sentinel URL Check)",
    "Mozilla/5.0 (compatible; Mimecast URL Protect)",
    "Mozilla/5.0 (compatible; Proofpoint URL Defense)",
)
GATEWAY_REFERRER = "https://scanner.mailguard.example.net/check"
_RESERVED_FIRST_OCTETS = {0, 10, 100, 127, 169, 172, 192, 198, 203}


@dataclass
class Device:
    visitor: str | None  # None: Global Privacy Control, logged without a cookie
    agent: str
    address: str
    phone: bool


@dataclass
class Gateway:
    """How a recipient's mail server fetches links: 'burst', 'networks' or 'agent'."""

    style: str
    addresses: tuple[str, ...]
    agent: str
    referrer: str | None = None


@dataclass
class Person:
    number: int
    name: str
    email: str
    home: str  # the store they would redeem at
    phone: Device
    desktop: Device | None
    team: str | None = None
    lead: str | None = None  # the lead GUID, once Touchpoint knows them
    gateway: Gateway | None = None
    recipient: dict[int, int] = field(default_factory=dict)  # link id -> recipient id

    def device(self, rng: random.Random, phone_share: float) -> Device:
        if self.desktop is None or rng.random() < phone_share:
            return self.phone
        return self.desktop


def address(rng: random.Random) -> str:
    """A client address: IPv4 outside private and documentation ranges, or an IPv6 one."""
    if rng.random() < 0.2:
        return f"2001:db8:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}::{rng.getrandbits(16):x}"
    first = rng.randrange(11, 224)
    while first in _RESERVED_FIRST_OCTETS:
        first = rng.randrange(11, 224)
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


class Crowd:
    """Everyone the season meets, made on demand from the seed."""

    def __init__(self, rng: random.Random, guid: Callable[[], str]) -> None:
        self.rng = rng
        self.guid = guid
        self.people: list[Person] = []
        self._homes = [spec.code for spec in plan.LOCATIONS if spec.kind == "store"]
        self._home_weights = [spec.weight for spec in plan.LOCATIONS if spec.kind == "store"]

    def _device(self, phone: bool) -> Device:
        rng = self.rng
        agents = PHONE_AGENTS if phone else DESKTOP_AGENTS
        private = rng.random() < 0.04
        return Device(
            None if private else self.guid(),
            agents[rng.randrange(len(agents))],
            address(rng),
            phone,
        )

    def new_person(self, team: bool = False) -> Person:
        rng = self.rng
        first = rng.choice(plan.FIRST_NAMES)
        last = rng.choice(plan.LAST_NAMES)
        number = len(self.people) + 1
        domain = plan.MAIL_DOMAINS[number % len(plan.MAIL_DOMAINS)]
        local = f"{first}.{last}{number}".lower()
        person = Person(
            number=number,
            name=f"{first} {last}",
            email=f"{local}@{domain}",
            home=rng.choices(self._homes, self._home_weights)[0],
            phone=self._device(phone=True),
            desktop=self._device(phone=False) if rng.random() < 0.55 else None,
            team=rng.choice(plan.TEAMS) if team else None,
        )
        self.people.append(person)
        return person

    def arrival(self, returning_share: float = 0.2) -> Person:
        """Whoever clicks next: mostly someone new, sometimes someone met before."""
        if self.people and self.rng.random() < returning_share:
            return self.people[self.rng.randrange(len(self.people))]
        return self.new_person()

    def gateway(self) -> Gateway:
        rng = self.rng
        roll = rng.random()
        if roll < 0.2:
            agent = GATEWAY_AGENTS[rng.randrange(len(GATEWAY_AGENTS))]
            return Gateway("agent", (address(rng),), agent)
        if roll < 0.3:
            return Gateway("agent", (address(rng),), DESKTOP_AGENTS[0], GATEWAY_REFERRER)
        style = "networks" if roll < 0.5 else "burst"
        return Gateway(style, (address(rng), address(rng)), DESKTOP_AGENTS[0])

    def bot(self, kinds: tuple[str, ...]) -> tuple[str, str | None, str | None]:
        choices = BOTS[kinds[self.rng.randrange(len(kinds))]]
        return choices[self.rng.randrange(len(choices))]
