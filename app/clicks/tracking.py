"""A click (/r/) or QR scan (/q/) as one domain operation: check the token, decide where the hit
goes, log it, and say what the visitor should get.

It works on the WSGI environ, not on Flask's request, because the hot path answers outside
Flask's routing and response machinery (views/redirect.py says why). Every hit is one event
row, committed before the answer is built.
"""

from __future__ import annotations

from dataclasses import dataclass

from app import storage
from app.clicks import bots, hit_log, links, visits
from app.core import clock
from app.core.runtime import Runtime

MAX_PATH = 512  # of an unknown path, kept for the orphan-hit log


@dataclass(frozen=True, slots=True)
class Hit:
    """The outcome of a hit: redirect (to `location`), landing (an offer's page), gone, or
    not_found. `visitor` is the cookie's visitor id to (re)send; None for GPC/DNT visitors and
    for hits that were not a valid link."""

    outcome: str
    location: str | None = None
    visitor: str | None = None
    click_id: str | None = None
    link_id: int | None = None
    offer_id: int | None = None


NOT_FOUND = Hit("not_found")


def request_path(environ: dict) -> str:
    """The path as Flask would show it: WSGI carries it as latin-1 text of the raw bytes."""
    raw = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    return raw.encode("latin-1", "replace").decode("utf-8", "replace")


def client_ip(rt: Runtime, environ: dict) -> str | None:
    """The anonymised client address, honouring only configured proxies."""
    return visits.anonymize_ip(
        visits.client_address(
            environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR"), rt.trusted_proxies
        )
    )


def _cookie(environ: dict, name: str) -> str | None:
    header = environ.get("HTTP_COOKIE", "")
    # Most hits are first visits without our cookie: parse only when it is there.
    if name not in header:
        return None
    from werkzeug.http import parse_cookie

    return parse_cookie(header).get(name)


def record(rt: Runtime, environ: dict, token: str, kind: str) -> Hit:
    """Log one hit of `kind` ('click' or 'scan') on `token` and decide what the visitor gets."""
    db = rt.hot_db()
    now = clock.now_iso()
    user_agent = hit_log.cut(environ.get("HTTP_USER_AGENT"), hit_log.MAX_USER_AGENT)
    referrer = hit_log.cut(environ.get("HTTP_REFERER"), hit_log.MAX_REFERRER)
    ip = client_ip(rt, environ)

    ref = rt.link_tokens.verify(token)
    click_id = clock.new_event_id()
    target = None
    if ref is not None:
        target = links.resolve(db, ref.link_id, now, click_id, rt.config["CLICK_ID_PARAM"])
    if target is None:
        hit_log.record_orphan(
            rt, db, now, request_path(environ)[:MAX_PATH], ip, user_agent, referrer
        )
        return NOT_FOUND

    visitor = None
    private = visits.wants_privacy(environ.get("HTTP_SEC_GPC"), environ.get("HTTP_DNT"))
    if not private:
        visitor, _ = visits.visitor_id(_cookie(environ, rt.config["VISITOR_COOKIE"]))
    reason = bots.classify(environ["REQUEST_METHOD"], user_agent, referrer)
    lead_id = None
    if ref.recipient_id is not None:
        lead_id = storage.recipient_lead(db, ref.recipient_id, ref.link_id)
        if lead_id is None:
            hit_log.record_orphan(
                rt, db, now, request_path(environ)[:MAX_PATH], ip, user_agent, referrer
            )
            return NOT_FOUND
    # GPC/DNT: logged anonymously, so not even the recipient is kept.
    event = (
        click_id,
        kind,
        now,
        ref.link_id,
        target.campaign_id,
        target.store_code,
        visitor,
        ip,
        user_agent,
        referrer,
        0 if reason is None else 1,
        reason,
        target.outcome,
        None if private else ref.recipient_id,
        None if private else lead_id,
    )
    if lead_id is None or private:
        hit_log.record_event(rt, db, event)
    else:
        rules = rt.scanner_rules
        hit_log.record_recipient_hit(
            rt,
            db,
            event,
            lead_id=lead_id,
            visitor_id=visitor,
            is_human=reason is None,
            burst_since=clock.shift_iso(now, -rules.burst_seconds),
            burst_links=rules.burst_links,
            repeat_since=clock.shift_iso(now, -rules.repeat_seconds),
        )
    outcome = target.outcome
    if target.location is not None:
        outcome = "redirect"  # a fallback URL is a redirect too
    return Hit(outcome, target.location, visitor, click_id, ref.link_id, target.offer_id)
