"""The public hot path: /r/<token> (clicks) and /q/<token> (QR scans), plus public QR images.

Every hit is one event row, committed before the response leaves. Nothing here renders a
template or touches a session.
"""

from __future__ import annotations

from flask import Blueprint, Response, request
from werkzeug.datastructures import Headers

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


class _Redirect(Response):
    """A 302 whose headers are final as built.

    Werkzeug re-parses Location as an IRI on every response; ours is already an ASCII URI
    (links.to_uri), and skipping that work is the largest single saving on the hot path.
    """

    def get_wsgi_headers(self, environ: dict) -> Headers:
        return self.headers


def _redirect(location: str, cookie: str | None) -> Response:
    headers = Headers(
        [
            ("Location", location),
            ("Cache-Control", _NO_STORE),
            ("Referrer-Policy", _REFERRER_POLICY),
            ("Content-Length", "0"),
        ]
    )
    if cookie:
        headers.add("Set-Cookie", cookie)
    return _Redirect(status=302, headers=headers)


def _visitor_cookie(name: str, visitor: str, secure: bool) -> str:
    # Built by hand: werkzeug's dump_cookie validates and formats dates on every call, and
    # this value (a UUID we made) needs neither. Max-Age alone sets the lifetime.
    return f"{name}={visitor}; Max-Age={ONE_YEAR}; Path=/; HttpOnly; SameSite=Lax" + (
        "; Secure" if secure else ""
    )


def _hit(token: str, kind: str) -> Response:
    rt = runtime()
    db = rt.hot_db()
    now = clock.now_iso()
    environ = request.environ
    user_agent = environ.get("HTTP_USER_AGENT")
    referrer = environ.get("HTTP_REFERER")
    ip = _client_ip(rt)

    ref = rt.link_tokens.verify(token)
    click_id = clock.new_event_id()
    target = None
    if ref is not None:
        target = links.resolve(db, ref.link_id, now, click_id, rt.config["CLICK_ID_PARAM"])
    if target is None:
        store.insert_orphan_hit(db, now, request.path[:512], ip, user_agent, referrer)
        return _html(404, pages.NOT_FOUND_HTML)

    visitor = None
    private = visits.wants_privacy(environ.get("HTTP_SEC_GPC"), environ.get("HTTP_DNT"))
    if not private:
        name = rt.config["VISITOR_COOKIE"]
        # Parse cookies only when ours is there: most hits are first visits without it.
        sent = request.cookies.get(name) if name in environ.get("HTTP_COOKIE", "") else None
        visitor, _ = visits.visitor_id(sent)
    reason = bots.classify(environ["REQUEST_METHOD"], user_agent, referrer)
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

    # Re-sent on every visit so the one-year lifetime rolls forward.
    cookie = None
    if visitor is not None:
        cookie = _visitor_cookie(
            rt.config["VISITOR_COOKIE"], visitor, request_scheme(rt) == "https"
        )
    if target.location is not None:
        return _redirect(target.location, cookie)
    if target.outcome == "landing":
        response = coupon.landing(rt, token, ref.link_id, target.offer_id, visitor, click_id)
    else:
        response = _html(410, pages.GONE_HTML)
    if cookie:
        response.headers.add("Set-Cookie", cookie)
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
