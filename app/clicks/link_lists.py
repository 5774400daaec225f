"""Finding links and campaigns among hundreds: the list parameters of GET /links and
GET /campaigns (search, tag, domain, state, sort, paging), checked and turned into a page.

Pages sorted by creation (the default) are cut by id, so a cursor stays right while links
are added; the other sorts are cut by position (cursor `o<offset>`), as the lead list is.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlite_utils import Database

from app import storage
from app.clicks import campaigns, domains, links, tags
from app.core import clock, validation
from app.core.error_codes import ErrorCode
from app.core.errors import ValidationError

CLICK_WINDOW_DAYS = 30  # what sort=clicks and clicks_30d count
_COMMON = {"q", "tag", "archived", "sort", "cursor", "limit"}
LINK_ARGS = frozenset({*_COMMON, "campaign_id", "domain", "active"})
CAMPAIGN_ARGS = frozenset({*_COMMON, "channel"})


def _reject_unknown(args: Mapping[str, str], known: frozenset[str]) -> None:
    unknown = sorted(set(args) - known)
    if unknown:
        raise ValidationError(
            f"Unknown parameter '{unknown[0]}'; known: {', '.join(sorted(known))}.",
            field=unknown[0],
            code=ErrorCode.UNKNOWN_PARAMETER,
        )


def _choice(args: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = (args.get(name) or default).strip().lower()
    if value not in choices:
        raise ValidationError(
            f"'{name}' must be one of: {', '.join(choices)}.",
            field=name,
            code=ErrorCode.INVALID_CHOICE,
        )
    return value


def _page(args: Mapping[str, str], sort: str) -> tuple[int, int, int]:
    """(after_id, offset, limit)."""
    limit = validation.integer_text(
        args.get("limit", "100"),
        "limit",
        maximum=1000,
        message="'limit' must be a whole number between 1 and 1000.",
    )
    raw = args.get("cursor") or ""
    message = "'cursor' is not a cursor this API gave out."
    if sort == "created":
        after = validation.integer_text(raw or "0", "cursor", minimum=0, message=message)
        return after, 0, limit
    offset = validation.integer_text(
        raw[1:] if raw.startswith("o") else ("0" if not raw else "x"),
        "cursor",
        minimum=0,
        message=message,
    )
    return 0, offset, limit


def _common(args: Mapping[str, str], sorts: tuple[str, ...]) -> dict:
    q = (args.get("q") or "").strip() or None
    if q is not None and len(q) > 200:
        raise ValidationError("'q' is longer than 200 characters.", field="q")
    tag = None
    if args.get("tag"):
        tag = tags.normalize(args["tag"])
        if tag is None:
            raise ValidationError(f"'{args['tag']}' is not a tag.", field="tag")
    sort = _choice(args, "sort", sorts, "created")
    after, offset, limit = _page(args, sort)
    return {
        "q": q,
        "tag": tag,
        "archived": _choice(args, "archived", ("false", "true", "any"), "false"),
        "sort": sort,
        "after_id": after,
        "offset": offset,
        "limit": limit,
    }


def _since(now: datetime) -> str:
    return clock.to_iso(now - timedelta(days=CLICK_WINDOW_DAYS))


def _next_cursor(rows: list[dict], filters: dict) -> str | None:
    limit = filters["limit"]
    if len(rows) <= limit:
        return None
    if filters["sort"] == "created":
        return str(rows[limit - 1]["id"])
    return f"o{filters['offset'] + limit}"


def search_links(
    db: Database, args: Mapping[str, str], *, now: datetime, public_base_url: str = ""
) -> tuple[list[dict], str | None]:
    """(a page of links with their tags and 30-day human hits, the next cursor or None)."""
    _reject_unknown(args, LINK_ARGS)
    filters = _common(args, storage.LINK_SORTS)
    campaign_id = validation.integer_text(
        args.get("campaign_id"), "campaign_id", message="'campaign_id' must be a whole number."
    )
    domain = None
    if "domain" in args:
        # '' (or the default domain's own host) lists the default domain's links.
        domain = domains.existing_host(db, args["domain"], public_base_url=public_base_url) or ""
    active = None
    if args.get("active"):
        active = _choice(args, "active", ("true", "false"), "true") == "true"
    limit = filters["limit"]
    rows = storage.search_links(
        db,
        since=_since(now),
        campaign_id=campaign_id,
        domain=domain,
        active=active,
        **{**filters, "limit": limit + 1},
    )
    return links.with_tags(db, rows[:limit]), _next_cursor(rows, filters)


def search_campaigns(
    db: Database, args: Mapping[str, str], *, now: datetime
) -> tuple[list[dict], str | None]:
    """(a page of campaigns with their tags and 30-day human hits, the next cursor or None)."""
    _reject_unknown(args, CAMPAIGN_ARGS)
    filters = _common(args, storage.CAMPAIGN_SORTS)
    channel = args.get("channel")
    if channel is not None and channel not in campaigns.CHANNELS:
        raise ValidationError(
            f"'channel' must be one of: {', '.join(campaigns.CHANNELS)}.",
            field="channel",
            code=ErrorCode.INVALID_CHOICE,
        )
    limit = filters["limit"]
    rows = storage.search_campaigns(
        db, since=_since(now), channel=channel, **{**filters, "limit": limit + 1}
    )
    return campaigns.with_tags(db, rows[:limit]), _next_cursor(rows, filters)
