"""Tracked links: creation rules, the UTM merge and the redirect decision."""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from sqlite_utils import Database

from app import storage
from app.clicks import audience, campaigns, domains, slugs, tags
from app.clicks.link_tokens import LinkTokens
from app.core import clock, validation
from app.core import db as dbmod
from app.core.error_codes import ErrorCode
from app.core.errors import Conflict, NotFound

_CREATE_FIELDS = {
    "campaign_id",
    "destination",
    "label",
    "store_code",
    "utm_content",
    "utm_term",
    "expires_at",
    "fallback_url",
    "offer_id",
    "partner_code",
    "domain",
    "slug",
    "tags",
}
_PATCH_FIELDS = {"destination", "label", "active", "expires_at", "fallback_url", "tags", "archived"}
TEMPLATE_FIELDS = campaigns.TEMPLATE_FIELDS  # what utm templates may name
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")


def create(db: Database, payload: dict, *, public_base_url: str = "") -> dict:
    """A new link from an API payload; `public_base_url` tells which host is the default
    domain (a `domain` naming it is the default domain)."""
    values, link_tags = clean_new(db, payload, public_base_url=public_base_url)
    with dbmod.immediate(db):
        link_id = insert(db, values, link_tags)
    return get(db, link_id)


def insert(db: Database, values: dict, link_tags: list[str]) -> int:
    """Store a link `clean_new` accepted, inside the caller's transaction; 409 slug_taken
    when its slug was taken since (the unique index decides, not an earlier read)."""
    now = clock.now_iso()
    link_id = storage.insert_link(db, {**values, "created_at": now, "updated_at": now})
    if link_id is None:
        raise Conflict(
            f"Another link on {values['domain'] or 'the default domain'} has the slug "
            f"'{values['slug']}'.",
            field="slug",
            code=ErrorCode.SLUG_TAKEN,
        )
    if link_tags:
        storage.set_tags(db, "link", link_id, link_tags)
    return link_id


def clean_new(
    db: Database,
    payload: dict,
    *,
    public_base_url: str = "",
    campaign: dict | None = None,
) -> tuple[dict, list[str]]:
    """(the links row, its tags) for a new link, every field error reported at once; 409
    slug_taken for a slug another link on the domain has. `campaign` saves a read when the
    caller has it (bulk creation)."""
    validation.require_object(payload)
    check = validation.Collector()
    check(validation.reject_unknown, payload, _CREATE_FIELDS)
    campaign_id = check(validation.integer, payload, "campaign_id", required=True)
    values: dict[str, Any] = {
        "campaign_id": campaign_id,
        "destination": check(validation.http_url, payload, "destination"),
        "offer_id": check(validation.integer, payload, "offer_id"),
        "label": check(validation.text, payload, "label"),
        "store_code": check(validation.code, payload, "store_code"),
        "utm_content": check(validation.text, payload, "utm_content"),
        "utm_term": check(validation.text, payload, "utm_term"),
        "expires_at": check(validation.timestamp, payload, "expires_at"),
        "fallback_url": check(validation.http_url, payload, "fallback_url"),
        "partner_code": None,
        "domain": check(
            domains.existing_host, db, payload.get("domain"), public_base_url=public_base_url
        ),
        "slug": check(slugs.parse, payload.get("slug")),
        "active": 1,
    }
    link_tags = check(tags.parse, payload.get("tags")) or []
    if payload.get("partner_code") not in (None, ""):
        from app.people import partners  # people builds on clicks, not the other way

        values["partner_code"] = check(partners.existing_code, db, payload["partner_code"])
    store = values["store_code"]
    if (
        isinstance(store, str)
        and check.ok("store_code")
        and storage.get_location(db, store) is None
    ):
        check.add(
            f"No location with code '{store}'; create it first (POST /api/v1/locations).",
            field="store_code",
            code=ErrorCode.UNKNOWN_LOCATION,
        )
    if check.ok("destination", "offer_id") and (values["destination"] is None) == (
        values["offer_id"] is None
    ):
        check.add(
            "Give a destination URL, or an offer for a coupon landing page (not both).",
            field="destination",
            code=ErrorCode.REQUIRED
            if values["destination"] is None
            else ErrorCode.VALIDATION_ERROR,
        )
    if campaign is None or campaign["id"] != campaign_id:
        campaign = storage.get_campaign(db, campaign_id) if campaign_id is not None else None
    if campaign_id is not None and campaign is None:
        check.add(
            f"No campaign with id {campaign_id}.",
            field="campaign_id",
            code=ErrorCode.UNKNOWN_CAMPAIGN,
        )
    if values["offer_id"] is not None:
        offer = storage.get_offer(db, int(values["offer_id"]))
        if offer is None:
            check.add(
                f"No offer with id {values['offer_id']}.",
                field="offer_id",
                code=ErrorCode.UNKNOWN_OFFER,
            )
        elif offer["campaign_id"] != campaign_id and check.ok("campaign_id"):
            check.add(
                "The offer belongs to another campaign.",
                field="offer_id",
                code=ErrorCode.WRONG_CAMPAIGN,
            )
    check.done()
    assert campaign is not None
    for field in ("utm_content", "utm_term"):
        template = campaign.get(f"{field}_template")
        if values[field] is None and template:
            values[field] = fill_template(template, values)
    values["slug_key"] = None
    slug = values["slug"]
    if isinstance(slug, str):
        values["slug_key"] = slug_key = slugs.key(values["domain"], slug)
        if storage.link_id_by_slug_key(db, slug_key) is not None:
            raise Conflict(
                f"Another link on {values['domain'] or 'the default domain'} has the slug "
                f"'{values['slug']}'.",
                field="slug",
                code=ErrorCode.SLUG_TAKEN,
            )
    return values, link_tags


def fill_template(template: str, values: dict) -> str | None:
    """A campaign's utm template for one link: '{store_code}-{label}' -> 'S12-Window'. A
    placeholder the link has no value for is left empty; nothing left is no tag at all."""
    text = template
    for name in TEMPLATE_FIELDS:
        text = text.replace("{" + name + "}", str(values.get(name) or ""))
    text = text.strip(" -_")
    return text or None


def update(db: Database, link_id: int, payload: dict) -> dict:
    current = get(db, link_id)
    validation.require_object(payload)
    check = validation.Collector()
    for key in payload:
        if key not in _PATCH_FIELDS:
            code = ErrorCode.NOT_UPDATABLE if key in _CREATE_FIELDS else ErrorCode.UNKNOWN_FIELD
            check.add(
                f"'{key}' cannot be changed; updatable fields: {', '.join(sorted(_PATCH_FIELDS))}.",
                field=key,
                code=code,
            )
    values: dict = {}
    if "destination" in payload:
        if current["offer_id"] is not None:
            check.add(
                "This link leads to an offer's landing page; it has no destination.",
                field="destination",
                code=ErrorCode.NOT_UPDATABLE,
            )
        else:
            values["destination"] = check(
                validation.http_url, payload, "destination", required=True
            )
    if "label" in payload:
        values["label"] = check(validation.text, payload, "label")
    if "active" in payload:
        if payload["active"] is None:
            check.add("Active must be true or false.", field="active")
        else:
            values["active"] = int(bool(check(validation.boolean, payload, "active")))
    if "expires_at" in payload:
        values["expires_at"] = check(validation.timestamp, payload, "expires_at")
    if "fallback_url" in payload:
        values["fallback_url"] = check(validation.http_url, payload, "fallback_url")
    new_tags = check(tags.parse, payload.get("tags")) if "tags" in payload else None
    if "archived" in payload:
        archived = check(validation.boolean, payload, "archived")
        if archived is None:
            check.add("Archived must be true or false.", field="archived")
        elif archived != (current["archived_at"] is not None):
            values["archived_at"] = clock.now_iso() if archived else None
    check.done()
    with dbmod.immediate(db):
        if values:
            values["updated_at"] = clock.now_iso()
            storage.update_link(db, link_id, values)
        if new_tags is not None:
            storage.set_tags(db, "link", link_id, new_tags)
    return get(db, link_id)


def get(db: Database, link_id: int) -> dict:
    """The links row with its `tags`."""
    row = storage.get_link_with_tags(db, link_id)
    if row is None:
        raise NotFound(f"No link with id {link_id}.", code=ErrorCode.LINK_NOT_FOUND)
    return row


def with_tags(db: Database, rows: list[dict]) -> list[dict]:
    found = storage.tags_of(db, "link", [r["id"] for r in rows])
    return [{**r, "tags": found.get(r["id"], [])} for r in rows]


def list_page(
    db: Database, *, after_id: int = 0, limit: int = 100, campaign_id: int | None = None
) -> list[dict]:
    return with_tags(
        db, storage.list_links(db, after_id=after_id, limit=limit, campaign_id=campaign_id)
    )


def stats(db: Database, link_id: int) -> dict:
    """Totals, the day series and the audience breakdowns of one link's hits."""
    get(db, link_id)
    return {**storage.link_stats(db, link_id), **audience_of(db, "link_id", link_id)}


def audience_of(db: Database, column: str, value: int) -> dict:
    """by_device, by_browser, by_os, by_country, by_referrer (host) of human hits."""
    rows = storage.audience_counts(db, column, value)
    return audience.breakdowns(
        ((agent, n) for agent, _, _, n in rows),
        ((country, n) for _, country, _, n in rows),
        ((_referrer_host(referrer), n) for _, _, referrer, n in rows),
    )


def _referrer_host(referrer: str | None) -> str | None:
    if not referrer:
        return None
    try:
        return (urlsplit(referrer).hostname or "").lower() or None
    except ValueError:
        return None


def short_origin(row: dict, base_url: str) -> str:
    """Where a link's slug URLs live: its domain (with the base URL's scheme), else the base."""
    if row.get("domain"):
        return f"{base_url.split('://', 1)[0]}://{row['domain']}"
    return base_url


def qr_target(row: dict, token: str, base_url: str) -> str:
    """What a link's QR code encodes: /q/<slug> on its domain for a slug, else /q/<token>.
    Both are scans; the slug form is shorter, so the code has fewer, larger modules."""
    if row.get("slug"):
        return f"{short_origin(row, base_url)}/q/{row['slug']}"
    return f"{base_url}/q/{token}"


def to_json(row: dict, tokens: LinkTokens, base_url: str, campaign: dict | None = None) -> dict:
    """The API shape of a link, with its token and every URL a marketer needs: `url` is what
    to share (the slug URL when there is one), `token_url` the signed /r/ URL every link
    keeps, `qr_url` what its QR code encodes."""
    token = tokens.mint(row["id"])
    out = {k: v for k, v in row.items() if k not in ("slug_key", "hits")}
    out["active"] = bool(row["active"])
    out["archived"] = row.get("archived_at") is not None
    out["tags"] = row.get("tags", [])
    out["token"] = token
    out["token_url"] = f"{base_url}/r/{token}"
    slug = row.get("slug")
    out["url"] = f"{short_origin(row, base_url)}/{slug}" if slug else out["token_url"]
    out["qr_url"] = qr_target(row, token, base_url)
    out["qr"] = {"svg": f"{base_url}/q/{token}.svg", "png": f"{base_url}/q/{token}.png"}
    if "hits" in row:
        out["clicks_30d"] = row["hits"]
    if campaign is not None and row["destination"]:
        out["tracked_destination"] = tracked_destination(
            row["destination"], utm_pairs(campaign, row)
        )
    return out


def utm_pairs(campaign: dict, link: dict) -> tuple[tuple[str, str], ...]:
    values: dict[str, Any] = {
        **{k: campaign.get(k) for k in UTM_KEYS[:3]},
        **{k: link.get(k) for k in UTM_KEYS[3:]},
    }
    return tuple((k, values[k]) for k in UTM_KEYS if values.get(k))


# The UTM merge -----------------------------------------------------------------------------

_SAFE_PATH = "/:@!$&'()*+,;=-._~%"
_SAFE_QUERY = _SAFE_PATH + "?"


def to_uri(url: str) -> str:
    """Make an IRI safe for a Location header: IDNA host, percent-encoded non-ASCII."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if not netloc.isascii():
        host = parts.hostname or ""
        try:
            ascii_host = host.encode("idna").decode("ascii")
        except UnicodeError:
            ascii_host = quote(host, safe="")
        netloc = ascii_host + (f":{parts.port}" if parts.port else "")
    return urlunsplit(
        (
            parts.scheme,
            netloc,
            quote(parts.path, safe=_SAFE_PATH),
            quote(parts.query, safe=_SAFE_QUERY + "="),
            quote(parts.fragment, safe=_SAFE_QUERY + "=#"),
        )
    )


def tracked_destination(destination: str, pairs: tuple[tuple[str, str], ...]) -> str:
    """The destination with the UTM tags added; a tag already on the destination wins.

    The destination's own query string is kept byte for byte and the fragment stays last.
    """
    prefix, fragment = _split_for_click_id(destination, pairs, "")
    return prefix + fragment


@lru_cache(maxsize=8192)
def _split_for_click_id(
    destination: str, pairs: tuple[tuple[str, str], ...], click_param: str
) -> tuple[str, str]:
    """Return (URL up to where the click id goes, '#fragment' or '').

    Cached: links are few and clicked often, and their text only changes through PATCH, which
    changes the cache key.
    """
    parts = urlsplit(to_uri(destination))
    query = parts.query
    present = {k for k, _ in parse_qsl(query, keep_blank_values=True)}
    if click_param and click_param in present:
        query = "&".join(p for p in query.split("&") if p.split("=", 1)[0] != click_param)
    extra = [(k, v) for k, v in pairs if k not in present]
    if extra:
        query = (query + "&" if query else "") + urlencode(extra, quote_via=quote)
    if click_param:
        query = (query + "&" if query else "") + click_param + "="
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    if not query:
        base = base.rstrip("?")
    return base, (f"#{parts.fragment}" if parts.fragment else "")


# The redirect decision ---------------------------------------------------------------------


class Target:
    """Where a hit goes: outcome is redirect, landing (an offer's page), fallback or gone."""

    __slots__ = ("outcome", "location", "campaign_id", "store_code", "offer_id")

    def __init__(
        self,
        outcome: str,
        location: str | None,
        campaign_id: int,
        store_code: str | None,
        offer_id: int | None = None,
    ) -> None:
        self.outcome = outcome
        self.location = location
        self.campaign_id = campaign_id
        self.store_code = store_code
        self.offer_id = offer_id


def resolve(db: Database, link_id: int, now: str, click_id: str, click_param: str) -> Target | None:
    """Decide where a hit on `link_id` goes at time `now`; None when the link does not exist.

    The one liveness rule of a link (active, not expired), for hits and for claims alike."""
    row = storage.link_for_redirect(db, link_id)
    return None if row is None else target(row, now, click_id, click_param)


def target(row: tuple, now: str, click_id: str, click_param: str) -> Target:
    """Where a hit goes, from the link row of storage.link_for_redirect. The rule is also
    spelled in SQL for PostgreSQL's one-statement click (storage/core.py): change both."""
    (
        destination,
        active,
        expires_at,
        fallback_url,
        store_code,
        utm_content,
        utm_term,
        campaign_id,
        utm_source,
        utm_medium,
        utm_campaign,
        offer_id,
    ) = row
    if not active or (expires_at is not None and expires_at <= now):
        # offer_id is kept: a claim on a dead offer link (views/coupon.py) is told so.
        if fallback_url:
            return Target("fallback", to_uri(fallback_url), campaign_id, store_code, offer_id)
        return Target("gone", None, campaign_id, store_code, offer_id)
    if offer_id is not None:
        return Target("landing", None, campaign_id, store_code, offer_id)
    pairs = tuple(
        (k, v)
        for k, v in (
            ("utm_source", utm_source),
            ("utm_medium", utm_medium),
            ("utm_campaign", utm_campaign),
            ("utm_content", utm_content),
            ("utm_term", utm_term),
        )
        if v
    )
    prefix, fragment = _split_for_click_id(destination, pairs, click_param)
    return Target("redirect", prefix + click_id + fragment, campaign_id, store_code)
