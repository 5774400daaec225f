"""The two small values of the click path: who made a request (`Visitor`), and the hit it
becomes (`Hit`, one events row).

A `Visitor` is read from the request once (or made by the demo from its own values) before
the domain sees it, as Shlink's Visitor is; app/clicks/tracking.py decides what it becomes.
A `Hit`'s fields are the events columns a click or scan writes: app/storage/core.py builds
its one INSERT from them, and the spool keeps them by name.

Both are NamedTuples: immutable, built by name, and cheap on the hot path (bench/redirect):
a frozen dataclass sets each field through object.__setattr__, several times the cost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from app.clicks import audience, visits

if TYPE_CHECKING:
    from app.core.runtime import Runtime

# Stored per hit at most (characters). Real browsers send user agents of 100-300 characters
# and referrers are page URLs; 8 KB headers are a flood filling the disk (issue 12), and
# bot classification only needs the start of a user agent.
MAX_USER_AGENT = 512
MAX_REFERRER = 1024


def cut(value: str | None, limit: int) -> str | None:
    """`value` shortened to `limit` characters (None stays None)."""
    return value if value is None or len(value) <= limit else value[:limit]


class Visitor(NamedTuple):
    """Who hit a link, as the request says: method, anonymised address, bounded headers, and
    the visitor id of our cookie (None when the browser asks for privacy: GPC or DNT)."""

    method: str
    ip: str | None
    user_agent: str | None
    referrer: str | None
    visitor_id: str | None
    country: str | None = None  # from the full address, which is not kept

    @classmethod
    def of(
        cls,
        method: str,
        address: str | None,
        user_agent: str | None,
        referrer: str | None,
        visitor_id: str | None,
    ) -> Visitor:
        """From plain values (the demo's): the address anonymised (its country kept), long
        headers cut."""
        return cls(
            method,
            visits.anonymize_ip(address),
            cut(user_agent, MAX_USER_AGENT),
            cut(referrer, MAX_REFERRER),
            visitor_id,
            audience.country_of(address),
        )

    @classmethod
    def from_environ(cls, rt: Runtime, environ: dict) -> Visitor:
        """From a WSGI environ, honouring only configured proxies and the privacy signals.

        A browser without (a well-formed) cookie gets a new visitor id here.
        """
        visitor_id = None
        if not visits.wants_privacy(environ.get("HTTP_SEC_GPC"), environ.get("HTTP_DNT")):
            visitor_id, _ = visits.visitor_id(_cookie(environ, rt.config["VISITOR_COOKIE"]))
        return cls.of(
            environ["REQUEST_METHOD"],
            visits.client_address(
                environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR"), rt.trusted_proxies
            ),
            environ.get("HTTP_USER_AGENT"),
            environ.get("HTTP_REFERER"),
            visitor_id,
        )


def _cookie(environ: dict, name: str) -> str | None:
    header = environ.get("HTTP_COOKIE", "")
    # Most hits are first visits without our cookie: parse only when it is there.
    if name not in header:
        return None
    from werkzeug.http import parse_cookie

    return parse_cookie(header).get(name)


class Hit(NamedTuple):
    """One click or scan as the events table keeps it. Build it by name; the field order is
    the column order of the INSERT (app/storage/core.py) and of the spool's old positional
    format (app/clicks/spool.py), so keep new fields at the end."""

    id: str
    type: str  # 'click' or 'scan'
    at: str
    link_id: int
    campaign_id: int
    store_code: str | None
    visitor_id: str | None
    ip: str | None
    user_agent: str | None
    referrer: str | None
    is_bot: int
    bot_reason: str | None
    outcome: str
    recipient_id: int | None
    lead_id: str | None
    country: str | None = None  # ISO 3166 alpha-2; None in spool entries older than m017

    @property
    def of_recipient(self) -> bool:
        """A hit on a per-recipient link by a known lead: the email-scanner rules apply
        (app/clicks/scanners.py). GPC/DNT hits keep no recipient, so they never do."""
        return self.lead_id is not None

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


FIELDS: tuple[str, ...] = Hit._fields
