"""What the demo season is made of: a running-shoe retailer's stores, campaigns and offers.

Plain data. Times are fractions of the season (0 = its first day, 1 = now), so a short
season (`--days 14`) still has every campaign, send and the trade show, only squeezed.
Volumes are people arriving per day at a rhythm of 1; costs are per campaign day in major
units of the configured currency, so a campaign's cost follows how long it ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

SHOP = "https://shop.example.com"


@dataclass(frozen=True)
class Season:
    """`days` days up to `end` (now): day 0 starts at midnight UTC, the last one is today."""

    end: datetime
    days: int

    @property
    def start(self) -> datetime:
        today = self.end.replace(hour=0, minute=0, second=0, microsecond=0)
        return today - timedelta(days=self.days - 1)

    def at(self, fraction: float) -> datetime:
        """The moment a fraction of the way from the start to the end."""
        return self.start + (self.end - self.start) * fraction

    def day_of(self, fraction: float) -> datetime:
        """Midnight UTC of the day that moment falls on."""
        return self.at(fraction).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class LocationSpec:
    code: str
    name: str
    kind: str
    timezone: str
    address: str
    staff: tuple[str, ...]  # labels of its staff keys
    weight: float = 1.0  # share of shoppers who call it their store


LOCATIONS = (
    LocationSpec(
        "NYC-SOHO",
        "Fernway Running SoHo",
        "store",
        "America/New_York",
        "120 Example Street, New York, NY",
        ("Till 1", "Till 2"),
        1.4,
    ),
    LocationSpec(
        "BOS-BACKBAY",
        "Fernway Running Back Bay",
        "store",
        "America/New_York",
        "45 Sample Avenue, Boston, MA",
        ("Till 1", "Till 2"),
        1.0,
    ),
    LocationSpec(
        "CHI-LOOP",
        "Fernway Running Loop",
        "store",
        "America/Chicago",
        "300 Placeholder Boulevard, Chicago, IL",
        ("Till 1",),
        0.8,
    ),
    LocationSpec(
        "EXPO-B14",
        "City Marathon Expo, booth B14",
        "booth",
        "America/New_York",
        "Convention Center, Hall B",
        ("Booth phone 1", "Booth phone 2"),
        0.0,
    ),
)
STORES = tuple(spec.code for spec in LOCATIONS if spec.kind == "store")
BOOTH = next(spec.code for spec in LOCATIONS if spec.kind == "booth")


@dataclass(frozen=True)
class LinkSpec:
    label: str
    destination: str | None = None  # None: the campaign offer's landing page
    utm_content: str | None = None
    utm_term: str | None = None
    store_code: str | None = None
    weight: float = 1.0  # share of the campaign's traffic
    hit: str | None = None  # "scan" for a QR code in a campaign of clicks
    recipients: str | None = None  # a mailing list: one personal link per person
    expires: float | None = None  # fraction of the season; later hits go to fallback_url
    fallback_url: str | None = None


@dataclass(frozen=True)
class OfferSpec:
    title: str
    discount: str
    terms: str
    kind: str = "unique"
    shared_code: str | None = None
    code_prefix: str | None = None
    ends_after: float = 0.0  # valid this much of the season after the campaign ends
    printed_codes: int = 0  # codes printed on paper, redeemed without a claim
    personal_codes: bool = False  # one code per recipient of the campaign's mailing list
    per_lead_limit: int | None = None
    min_basket: float = 0.0  # what a purchase must reach for the discount


@dataclass(frozen=True)
class CampaignSpec:
    key: str
    name: str
    channel: str
    utm_source: str
    utm_medium: str
    window: tuple[float, float]
    cost_per_day: int
    daily: float  # people arriving per day (0: only mailings, returns or the booth)
    rhythm: str  # weekday pattern: "retail", "business" or "store"
    links: tuple[LinkSpec, ...]
    hit: str = "click"  # "scan" for QR codes on paper and screens
    device: float = 0.5  # how likely people come on their phone
    launches: tuple[float, ...] = ()  # spikes (posts, drops) that fade over days
    bots: float = 0.05  # bot hits per human arrival
    bot_kinds: tuple[str, ...] = ("crawler", "tool")
    sale: float = 0.0  # chance an arrival orders online (after some return visits)
    team_lead: float = 0.0  # chance an arrival asks for a team-order quote (the CRM funnel)
    signup: float = 0.0  # chance an arrival joins the club (a lead that goes no further)
    referrer: str | None = None
    sends: tuple[float, ...] = ()  # mailings to the campaign's list
    show: tuple[float, float] | None = None  # trade-show days: booth scans
    offer: OfferSpec | None = None
    notes: str | None = None


MEMBERS = "members"
INVITEES = "invitees"
BOOTH_LEADS = "booth leads"  # made after the show from the booth's scans

CAMPAIGNS = (
    CampaignSpec(
        "brand",
        "Brand search",
        "search",
        "google",
        "cpc",
        (0.0, 1.0),
        cost_per_day=65,
        daily=80,
        rhythm="retail",
        device=0.45,
        sale=0.045,
        team_lead=0.002,
        bots=0.06,
        bot_kinds=("crawler", "ads", "tool"),
        referrer="https://search.example.com/",
        links=(
            LinkSpec("Homepage", f"{SHOP}/", utm_term="fernway", weight=3),
            LinkSpec("Store finder", f"{SHOP}/stores", utm_term="fernway near me", weight=1.5),
            LinkSpec("Sale", f"{SHOP}/sale", utm_term="fernway sale", weight=1),
        ),
        notes="Always on; bids on our own name.",
    ),
    CampaignSpec(
        "members",
        "Members newsletter",
        "email",
        "newsletter",
        "email",
        (0.03, 1.0),
        cost_per_day=6,
        daily=0,
        rhythm="retail",
        device=0.6,
        sale=0.06,
        team_lead=0.004,
        sends=(0.1, 0.45, 0.8),
        offer=OfferSpec(
            "$20 off $100 for members",
            "$20 off $100",
            "One per member, in any store. Not valid on sale items.",
            code_prefix="MBR",
            ends_after=0.2,
            personal_codes=True,
            per_lead_limit=1,
            min_basket=100,
        ),
        links=(
            LinkSpec(
                "Hero: new arrivals", f"{SHOP}/new?ref=mail", "hero", weight=4, recipients=MEMBERS
            ),
            LinkSpec("Product grid", f"{SHOP}/c/road", "grid", weight=3, recipients=MEMBERS),
            LinkSpec("Members coupon", None, "coupon", weight=2, recipients=MEMBERS),
        ),
    ),
    CampaignSpec(
        "club",
        "Running club partners",
        "referral",
        "partners",
        "referral",
        (0.0, 1.0),
        cost_per_day=30,
        daily=14,
        rhythm="business",
        device=0.3,
        sale=0.03,
        team_lead=0.06,
        bots=0.08,
        referrer="https://runclub.example.org/blog/",
        links=(
            LinkSpec("Club blog post", f"{SHOP}/team-orders?partner=club", "blog", weight=2),
            LinkSpec("Coach newsletter", f"{SHOP}/guides/coaching", "coach-mail", weight=1),
        ),
        notes="Commission paid monthly to three clubs.",
    ),
    CampaignSpec(
        "till",
        "Till QR: join the club",
        "in_store",
        "store",
        "qr",
        (0.0, 1.0),
        cost_per_day=6,
        daily=24,
        rhythm="store",
        hit="scan",
        device=1.0,
        signup=0.22,
        sale=0.01,
        bots=0.01,
        links=tuple(
            LinkSpec(f"Till display {code}", f"{SHOP}/club", "till", store_code=code, weight=w)
            for code, w in (("NYC-SOHO", 1.4), ("BOS-BACKBAY", 1.0), ("CHI-LOOP", 0.8))
        ),
    ),
    CampaignSpec(
        "retarget",
        "Retargeting banners",
        "display",
        "gdn",
        "display",
        (0.1, 0.95),
        cost_per_day=120,
        daily=70,
        rhythm="retail",
        device=0.55,
        sale=0.004,
        bots=0.2,
        bot_kinds=("crawler", "ads", "tool", "headless"),
        referrer="https://news.example.net/",
        links=(
            LinkSpec("300x250 banner", f"{SHOP}/new", "300x250", weight=2),
            LinkSpec("728x90 banner", f"{SHOP}/sale", "728x90", weight=1),
            LinkSpec("Mobile banner", f"{SHOP}/sale?m=1", "320x50", weight=2),
        ),
    ),
    CampaignSpec(
        "trail",
        "Search: trail shoes",
        "search",
        "google",
        "cpc",
        (0.15, 0.85),
        cost_per_day=85,
        daily=50,
        rhythm="retail",
        device=0.4,
        sale=0.025,
        team_lead=0.004,
        bots=0.06,
        bot_kinds=("crawler", "ads"),
        referrer="https://search.example.com/",
        links=(
            LinkSpec("Trail shoes", f"{SHOP}/c/trail", utm_term="trail running shoes", weight=3),
            LinkSpec(
                "Waterproof",
                f"{SHOP}/c/trail?filter=waterproof",
                utm_term="waterproof trail shoes",
                weight=1.5,
            ),
            LinkSpec("Buying guide", f"{SHOP}/guides/trail-shoes", utm_term="best trail shoes"),
        ),
    ),
    CampaignSpec(
        "flyers",
        "Neighbourhood flyers",
        "print",
        "flyer",
        "print",
        (0.45, 0.9),
        cost_per_day=75,
        daily=20,
        rhythm="retail",
        hit="scan",
        device=1.0,
        launches=(0.45,),
        sale=0.005,
        bots=0.01,
        offer=OfferSpec(
            "15% off in store",
            "15% off",
            "One purchase per code, at any Fernway store.",
            code_prefix="FLY",
            ends_after=0.1,
            printed_codes=300,
        ),
        links=tuple(
            LinkSpec(f"Flyer QR {code}", None, "qr", store_code=code, weight=w)
            for code, w in (("NYC-SOHO", 1.4), ("BOS-BACKBAY", 1.0), ("CHI-LOOP", 0.8))
        ),
        notes="20,000 flyers around the three stores.",
    ),
    CampaignSpec(
        "drop",
        "New collection drop",
        "social",
        "instagram",
        "social",
        (0.3, 0.75),
        cost_per_day=100,
        daily=45,
        rhythm="retail",
        device=0.85,
        launches=(0.3, 0.5),
        sale=0.012,
        bots=0.15,
        bot_kinds=("preview", "crawler"),
        referrer="https://social.example.com/",
        offer=OfferSpec(
            "15% off the new collection with DROP15",
            "15% off",
            "Show the code at the till.",
            kind="shared",
            shared_code="DROP15",
            ends_after=0.1,
        ),
        links=(
            LinkSpec("Bio link", f"{SHOP}/new", "bio", weight=2),
            LinkSpec("Story swipe-up", f"{SHOP}/new#story", "story", weight=3),
            LinkSpec(
                "Early access",
                f"{SHOP}/new/early-access",
                "early-access",
                weight=1,
                expires=0.4,
                fallback_url=f"{SHOP}/new",
            ),
        ),
    ),
    CampaignSpec(
        "expo",
        "City Marathon Expo",
        "trade_show",
        "expo",
        "booth",
        (0.55, 0.72),
        cost_per_day=700,
        daily=0,
        rhythm="business",
        device=0.9,
        team_lead=0.3,
        sends=(0.56, 0.61),
        show=(0.63, 0.66),
        links=(
            LinkSpec("Invitation", f"{SHOP}/expo", "invite", recipients=INVITEES),
            LinkSpec(
                "Booth poster QR",
                f"{SHOP}/team-orders",
                "poster",
                store_code=BOOTH,
                hit="scan",
                expires=0.7,
                fallback_url=f"{SHOP}/team-orders?expo=over",
            ),
            LinkSpec(
                "Follow-up: team catalogue",
                f"{SHOP}/team-orders/catalogue",
                "follow-up",
                recipients=BOOTH_LEADS,
            ),
        ),
        notes="Booth, travel and badge scanner rental.",
    ),
)

# Weekday (Monday first) patterns of the rhythms.
RHYTHMS = {
    "retail": (0.8, 0.85, 0.9, 0.95, 1.1, 1.45, 1.3),
    "business": (1.15, 1.2, 1.15, 1.1, 0.9, 0.5, 0.45),
    "store": (0.8, 0.85, 0.9, 1.0, 1.2, 1.5, 0.75),
}
# People's activity by local hour (US evenings are busiest); stores trade 10:00-20:00.
HOURS = (
    0.2, 0.1, 0.08, 0.06, 0.06, 0.12, 0.3, 0.55, 0.75, 0.9, 1.0, 1.0,
    1.1, 1.0, 0.95, 0.95, 1.0, 1.05, 1.15, 1.3, 1.35, 1.2, 0.8, 0.45,
)  # fmt: skip
AUDIENCE_TIMEZONE = "America/New_York"


@dataclass(frozen=True)
class Sizes:
    """Counts that do not follow the number of days."""

    members: int = 1200
    invitees: int = 240
    expo_walk_ins: int = 90
    unmatched_scans: int = 6
    orphan_hits: int = 25


SIZES = Sizes()
# Team leads no tracked link brought: (origin, source, how many in the season).
# (origin, source, how many): phone enquiries to the sales line (no campaign's number), calls
# to the flyers' tracking number (the flyers' touches), and a reseller's referrals.
OFFLINE_LEADS = (
    ("sales", "inbound:phone", 15),
    ("marketing", "phone:flyers", 15),
    ("partner", "var:fleetfoot-sports", 18),
)
SALES_LINE = "+1 212 555 0100"
FLYER_HOTLINE = "+1 212 555 0142"
# The reseller: its referrals are partner touches, its commission its cost by partner.
PARTNER = ("fleetfoot-sports", "FleetFoot Sports", "var", "10")
# Till sales without a code per store and open day, and how often the customer names a
# campaign; the share of web orders collected in a store.
TILL_SALES_PER_DAY = 1.5
MENTIONED_SHARE = 0.4
PICKUP_SHARE = 0.25


FIRST_NAMES = (
    "Ava", "Ben", "Chloe", "Dan", "Ella", "Finn", "Grace", "Hugo", "Iris", "Jack", "Kara", "Leo",
    "Mia", "Noah", "Olive", "Paul", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Victor", "Wren",
    "Xavier", "Yara", "Zane", "Amir", "Bea", "Carlos", "Dina", "Eli", "Fatima", "Gabe", "Hana",
    "Ivan", "June", "Kofi", "Lena", "Marco", "Nina", "Omar", "Priya", "Raj", "Sofia", "Theo",
    "Valentina", "Wei", "Yusuf", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Baker", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jensen",
    "Kim", "Lopez", "Murphy", "Novak", "Okafor", "Patel", "Quinn", "Rossi", "Silva", "Tanaka",
    "Ueda", "Vargas", "Walsh", "Xu", "Young", "Zimmer", "Ahmed", "Brooks", "Costa", "Dubois",
    "Ekstrom", "Fontaine", "Gupta", "Haddad", "Ivanova", "Jones", "Kowalski", "Larsen", "Moreau",
    "Nguyen",
)  # fmt: skip
TEAMS = (
    "Riverside Runners",
    "Harbor Track Club",
    "Northside Striders",
    "Hill & Dale Harriers",
    "Lakeshore Run Crew",
    "Midtown Marathoners",
    "Parkway Pacers",
    "Canal Street Joggers",
    "Summit Trail Team",
    "Eastend Athletics",
)
MAIL_DOMAINS = ("example.com", "example.org", "example.net")
