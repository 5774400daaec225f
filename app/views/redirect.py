"""The public hot path: /r/<token> (clicks) and /q/<token> (QR scans), plus public QR images.

Every hit is one event row, committed before the response leaves. Nothing here renders a
template or touches a session.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, Response, request

from .. import Runtime, bots, clock, links, pages, qr, store, visits
from ..errors import TouchpointError
from . import coupon
from .common import base_url, qr_response, request_scheme, runtime

bp = Blueprint("redirect", __name__)

ONE_YEAR = 365 * 24 * 3600
_NO_STORE = "no-store"
_REFERRER_POLICY = "strict-origin-when-cross-origin"


@bp.route("/r/<path:token>", methods=["GET", "HEAD"])
def click(token: str) -> Response:
    return _hit(token, "click")


@bp.route("/q/<path:token>", methods=["GET", "HEAD"])
def scan(token: str) -> Response:
    if token.endswith((".svg", ".png")):
        return _qr_image(token[:-4], token[-3:])
    return _hit(token, "scan")


def _html(status: int, body: str) -> Response:
    return Response(
        body,
        status=status,
        content_type="text/html; charset=utf-8",
        headers={"Cache-Control": _NO_STORE, "Referrer-Policy": _REFERRER_POLICY},
    )


def _client_ip(rt: Runtime) -> str | None:
    """The anonymised client address, honouring only configured proxies."""
    environ = request.environ
    return visits.anonymize_ip(
        visits.client_address(
            environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR"), rt.trusted_proxies
        )
    )


def _hit(token: str, kind: str) -> Response:
    rt = runtime()
    db = rt.db()
    now = clock.now_iso()
    headers = request.headers
    user_agent = headers.get("User-Agent")
    referrer = headers.get("Referer")
    ip = _client_ip(rt)

    ref = rt.link_tokens.verify(token)
    click_id = secrets.token_urlsafe(12)
    target = None
    if ref is not None:
        target = links.resolve(db, ref.link_id, now, click_id, rt.config["CLICK_ID_PARAM"])
    if target is None:
        store.insert_orphan_hit(db, now, request.path[:512], ip, user_agent, referrer)
        return _html(404, pages.NOT_FOUND_HTML)

    visitor = None
    private = visits.wants_privacy(headers.get("Sec-GPC"), headers.get("DNT"))
    if not private:
        visitor, _ = visits.visitor_id(request.cookies.get(rt.config["VISITOR_COOKIE"]))
    reason = bots.classify(request.method, user_agent, referrer)
    lead_id = None
    if ref.recipient_id is not None:
        lead_id = store.recipient_lead(db, ref.recipient_id, ref.link_id)
        if lead_id is None:
            store.insert_orphan_hit(db, now, request.path[:512], ip, user_agent, referrer)
            return _html(404, pages.NOT_FOUND_HTML)
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
        store.insert_event(db, event)
    else:
        rules = rt.scanner_rules
        store.record_recipient_hit(
            db,
            event,
            lead_id=lead_id,
            visitor_id=visitor,
            is_human=reason is None,
            burst_since=clock.shift_iso(now, -rules.burst_seconds),
            burst_links=rules.burst_links,
            repeat_since=clock.shift_iso(now, -rules.repeat_seconds),
        )

    if target.outcome == "landing":
        response = coupon.landing(rt, token, ref.link_id, target.offer_id, visitor, click_id)
    elif target.location is None:
        response = _html(410, pages.GONE_HTML)
    else:
        response = Response(
            status=302,
            headers={
                "Location": target.location,
                "Cache-Control": _NO_STORE,
                "Referrer-Policy": _REFERRER_POLICY,
            },
        )
    if visitor is not None:
        # Re-sent on every visit so the one-year lifetime rolls forward.
        response.set_cookie(
            rt.config["VISITOR_COOKIE"],
            visitor,
            max_age=ONE_YEAR,
            httponly=True,
            samesite="Lax",
            secure=request_scheme(rt) == "https",
        )
    return response


def _qr_image(token: str, fmt: str) -> Response:
    rt = runtime()
    if rt.link_tokens.verify(token) is None:
        return _html(404, pages.NOT_FOUND_HTML)
    try:
        options = qr.parse_options(request.args)
        return qr_response(f"{base_url(rt)}/q/{token}", fmt, options, public=True)
    except TouchpointError as exc:
        return Response(
            exc.message + "\n",
            status=400,
            content_type="text/plain; charset=utf-8",
            headers={"Cache-Control": _NO_STORE},
        )
