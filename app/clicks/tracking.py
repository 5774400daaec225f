"""A click (/r/<token>, /<slug>) or QR scan (/q/<token>, /q/<slug>) as one domain operation:
find the link, decide where the hit goes and what it records, log it, and say what the
visitor should get.

`decide` is the decision, shared with the demo's replay (app/demo/replay.py): where the link
sends this visitor now, whether it is a bot, whose recipient link it is, and the Hit to store.
`record` is the live operation around it. It works on the WSGI environ, not on Flask's
request, because the hot path answers outside Flask's routing and response machinery
(views/redirect.py says why). Every hit is one event row, committed before the answer is built.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlite_utils import Database

from app import storage
from app.clicks import bots, domains, hit_log, links, slugs, visits
from app.clicks.hit import Hit, Visitor
from app.core import clock
from app.core import db as dbmod
from app.core.runtime import Runtime

MAX_PATH = 512  # of an unknown path, kept for the orphan-hit log


class Answer(NamedTuple):
    """What the visitor gets: redirect (to `location`), landing (an offer's page), gone, or
    not_found. `visitor` is the cookie's visitor id to (re)send; None for GPC/DNT visitors and
    for hits that were not a valid link. (A NamedTuple, as the values of hit.py are.)"""

    outcome: str
    location: str | None = None
    visitor: str | None = None
    click_id: str | None = None
    link_id: int | None = None
    offer_id: int | None = None


NOT_FOUND = Answer("not_found")


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


def decide(
    db: Database,
    visitor: Visitor,
    kind: str,
    link_id: int,
    recipient_id: int | None,
    *,
    at: str,
    click_id: str,
    click_param: str,
    target: links.Target | None = None,
) -> tuple[links.Target, Hit] | None:
    """Where a hit of `kind` ('click' or 'scan') on a link goes at `at`, and the Hit it
    records; None when the link does not exist or the recipient is not one of the link's.

    A visitor asking for privacy (no visitor id) is logged anonymously: not even the
    recipient is kept, so no scanner rule or stitching applies to the hit. `target` is the
    decision when the caller read the link already (a slug hit).
    """
    target = target or links.resolve(db, link_id, at, click_id, click_param)
    if target is None:
        return None
    lead_id = None
    if recipient_id is not None:
        lead_id = storage.recipient_lead(db, recipient_id, link_id)
        if lead_id is None:
            return None
    reason = bots.classify(visitor.method, visitor.user_agent, visitor.referrer)
    private = visitor.visitor_id is None
    hit = Hit(
        id=click_id,
        type=kind,
        at=at,
        link_id=link_id,
        campaign_id=target.campaign_id,
        store_code=target.store_code,
        visitor_id=visitor.visitor_id,
        ip=visitor.ip,
        user_agent=visitor.user_agent,
        referrer=visitor.referrer,
        is_bot=0 if reason is None else 1,
        bot_reason=reason,
        outcome=target.outcome,
        recipient_id=None if private else recipient_id,
        lead_id=None if private else lead_id,
        country=visitor.country,
    )
    return target, hit


def record(rt: Runtime, environ: dict, token: str, kind: str) -> Answer:
    """Log one hit of `kind` ('click' or 'scan') on `token` and decide what the visitor gets."""
    db = rt.hot_db()
    now = clock.now_iso()
    visitor = Visitor.from_environ(rt, environ)
    ref = rt.link_tokens.verify(token)
    click_id = clock.new_event_id()
    decided = None
    if ref is not None and ref.recipient_id is None and dbmod.is_postgres(db):
        answer = _record_in_one_statement(rt, db, visitor, kind, ref.link_id, now, click_id)
        if answer is not None:
            return answer
    if ref is not None:
        decided = decide(
            db,
            visitor,
            kind,
            ref.link_id,
            ref.recipient_id,
            at=now,
            click_id=click_id,
            click_param=rt.config["CLICK_ID_PARAM"],
        )
    elif kind == "scan" and (slug := slugs.from_path(token)) is not None:
        # /q/<slug>: the QR code of a link with a slug
        return _record_slug(rt, db, environ, visitor, slug, kind, now, click_id)
    if decided is None:
        path = request_path(environ)[:MAX_PATH]
        hit_log.record_orphan(rt, db, now, path, visitor.ip, visitor.user_agent, visitor.referrer)
        return NOT_FOUND
    return _logged(rt, db, visitor, decided)


def record_slug(rt: Runtime, environ: dict, path: str) -> Answer:
    """Log one click on /<slug> (`path`, as the request has it) on the request's domain."""
    db = rt.hot_db()
    now = clock.now_iso()
    visitor = Visitor.from_environ(rt, environ)
    click_id = clock.new_event_id()
    slug = slugs.from_path(path)
    if slug is None:
        return _missed(rt, db, environ, visitor, now)
    return _record_slug(rt, db, environ, visitor, slug, "click", now, click_id)


def _record_slug(
    rt: Runtime,
    db: Database,
    environ: dict,
    visitor: Visitor,
    slug: str,
    kind: str,
    now: str,
    click_id: str,
) -> Answer:
    host, bare = visits.request_host(environ, rt.trusted_proxies)
    slug_key = slugs.key(domains.host_domain(db, rt.database_path, host, bare), slug)
    click_param = rt.config["CLICK_ID_PARAM"]
    if dbmod.is_postgres(db):
        answer = _record_in_one_statement(
            rt, db, visitor, kind, None, now, click_id, slug_key=slug_key
        )
        if answer is not None:
            return answer
    row = storage.link_for_slug(db, slug_key)
    if row is None:
        return _missed(rt, db, environ, visitor, now)
    link_id = row[0]
    target = links.target(row[1:], now, click_id, click_param)
    decided = decide(
        db,
        visitor,
        kind,
        link_id,
        None,
        at=now,
        click_id=click_id,
        click_param=click_param,
        target=target,
    )
    assert decided is not None  # no recipient to refuse
    return _logged(rt, db, visitor, decided)


def _missed(rt: Runtime, db: Database, environ: dict, visitor: Visitor, now: str) -> Answer:
    """A path that is no link on the request's domain: an orphan hit, and the domain's
    default_redirect (a branded domain can have one) or the not-found page."""
    host, bare = visits.request_host(environ, rt.trusted_proxies)
    known = domains.host_domain(db, rt.database_path, host, bare)
    domain = None if known is None else storage.get_domain_by_host(db, known)
    path = request_path(environ)
    if domain is not None:
        path = domain["host"] + path  # which domain's visitors get lost shows in the log
    path = path[:MAX_PATH]
    hit_log.record_orphan(rt, db, now, path, visitor.ip, visitor.user_agent, visitor.referrer)
    if domain is not None and domain["default_redirect"]:
        return Answer("redirect", links.to_uri(domain["default_redirect"]))
    return NOT_FOUND


def record_domain_root(rt: Runtime, environ: dict) -> Answer | None:
    """A visit to / on a branded domain (its default_redirect or the not-found page, an
    orphan hit either way); None on any other host, whose / is the server's own page."""
    db = rt.hot_db()
    host, bare = visits.request_host(environ, rt.trusted_proxies)
    if domains.host_domain(db, rt.database_path, host, bare) is None:
        return None
    return _missed(rt, db, environ, Visitor.from_environ(rt, environ), clock.now_iso())


def _logged(
    rt: Runtime, db: Database, visitor: Visitor, decided: tuple[links.Target, Hit]
) -> Answer:
    target, hit = decided
    hit_log.write(rt, db, hit)
    outcome = target.outcome
    if target.location is not None:
        outcome = "redirect"  # a fallback URL is a redirect too
    return Answer(
        outcome, target.location, visitor.visitor_id, hit.id, hit.link_id, target.offer_id
    )


def _record_in_one_statement(
    rt: Runtime,
    db: Database,
    visitor: Visitor,
    kind: str,
    link_id: int | None,
    now: str,
    click_id: str,
    *,
    slug_key: str | None = None,
) -> Answer | None:
    """PostgreSQL: read the link and log the hit in one round trip (storage/core.py says why).
    The link is `link_id`, or the one with `slug_key`.

    None sends the hit down the two-statement path: for an unknown link (an orphan hit), and
    when PostgreSQL refuses the write, so that path reads the link alone and spools the hit.
    """
    reason = bots.classify(visitor.method, visitor.user_agent, visitor.referrer)
    hit = {
        "id": click_id,
        "type": kind,
        "at": now,
        "visitor_id": visitor.visitor_id,
        "ip": visitor.ip,
        "user_agent": visitor.user_agent,
        "referrer": visitor.referrer,
        "is_bot": 0 if reason is None else 1,
        "bot_reason": reason,
        "country": visitor.country,
    }
    try:
        if slug_key is None:
            row = storage.link_for_redirect_logging_hit(db, {**hit, "link_id": link_id})
        else:
            found = storage.link_for_slug_logging_hit(db, hit, slug_key)
            row = None if found is None else found[1:]
            link_id = None if found is None else found[0]
    except dbmod.DATABASE_ERRORS as exc:
        if not hit_log.refused(exc):
            raise
        return None
    if row is None:
        return None
    hit_log.written(rt)
    target = links.target(row, now, click_id, rt.config["CLICK_ID_PARAM"])
    outcome = "redirect" if target.location is not None else target.outcome
    return Answer(outcome, target.location, visitor.visitor_id, click_id, link_id, target.offer_id)
