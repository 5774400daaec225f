"""The public hot path: /r/<token> and /<slug> (clicks), /q/<token> and /q/<slug> (QR scans),
a branded domain's root, plus public QR images.

Clicks and scans are answered by `HotPath`, a WSGI layer in front of Flask: a redirect needs
no URL map, request object, session or response object, and skipping them is most of what a
redirect costs beyond its one INSERT (bench/redirect). Anything else, and the hits that end on
an offer's landing page (a template), go on to Flask; the Flask routes below serve those and
work on their own too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import Blueprint, Flask, Response, request

from app import storage
from app.clicks import links, slugs, tracking, visits
from app.core import db as dbmod
from app.core import postgres
from app.core.errors import TouchpointError
from app.core.runtime import Runtime
from app.views import pages, qr

from . import coupon, errors
from .common import base_url, qr_response, runtime

bp = Blueprint("redirect", __name__)

ONE_YEAR = 365 * 24 * 3600
_NO_STORE = "no-store"
_REFERRER_POLICY = "strict-origin-when-cross-origin"
_ANSWER_KEY = "touchpoint.answer"  # environ key: a hit HotPath logged, for Flask to render
_KINDS = {"/r/": "click", "/q/": "scan"}
_HTML_HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", _NO_STORE),
    ("Referrer-Policy", _REFERRER_POLICY),
]
_PAGES = {
    "not_found": ("404 Not Found", pages.NOT_FOUND_HTML.encode()),
    "gone": ("410 Gone", pages.GONE_HTML.encode()),
}
_ERROR_PAGE = pages.page("Something went wrong", "Please try the link again in a moment.").encode()

StartResponse = Callable[..., object]


def _visitor_cookie(name: str, visitor: str, secure: bool) -> str:
    # Built by hand: werkzeug's dump_cookie validates and formats dates on every call, and
    # this value (a UUID we made) needs neither. Max-Age alone sets the lifetime.
    return f"{name}={visitor}; Max-Age={ONE_YEAR}; Path=/; HttpOnly; SameSite=Lax" + (
        "; Secure" if secure else ""
    )


def _cookie_for(rt: Runtime, answer: tracking.Answer, environ: dict) -> str | None:
    # Re-sent on every visit so the one-year lifetime rolls forward.
    if answer.visitor is None:
        return None
    secure = visits.request_scheme(environ, rt.trusted_proxies) == "https"
    return _visitor_cookie(rt.config["VISITOR_COOKIE"], answer.visitor, secure)


class HotPath:
    """WSGI middleware that answers clicks and scans before Flask sees them."""

    def __init__(self, app: Flask, wsgi_app: Callable) -> None:
        self.app = app
        self.rt: Runtime = app.extensions["touchpoint"]
        self.flask = wsgi_app
        # First path segments the app answers itself; any other path may be a slug.
        self.own = frozenset(rule.rule.split("/")[1].lower() for rule in app.url_map.iter_rules())
        assert self.own - {""} <= slugs.RESERVED, "a route that slugs could shadow"

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return self._flask(environ, start_response)
        kind = _KINDS.get(path[:3])
        if kind is not None:
            if len(path) == 3 or (kind == "scan" and path.endswith((".svg", ".png"))):
                return self._flask(environ, start_response)
            return self._hit(
                environ,
                start_response,
                path,
                lambda: tracking.record(self.rt, environ, path[3:], kind),
            )
        if path in ("", "/"):
            return self._hit(
                environ, start_response, path, lambda: tracking.record_domain_root(self.rt, environ)
            )
        if path[1:].split("/", 1)[0].lower() in self.own:
            return self._flask(environ, start_response)
        return self._hit(
            environ, start_response, path, lambda: tracking.record_slug(self.rt, environ, path)
        )

    def _hit(
        self,
        environ: dict,
        start_response: StartResponse,
        path: str,
        record: Callable[[], tracking.Answer | None],
    ) -> Iterable[bytes]:
        try:
            answer = record()
        except postgres.OperationalError as exc:
            # PostgreSQL unreachable, restarting or every pooled connection busy: the link
            # cannot be read, so the visitor is asked to try again, as the API's 503 does.
            dbmod.release_connections()
            self.app.logger.warning("hit on %s: database unavailable: %s", path[:80], exc)
            return self._answer(
                environ,
                start_response,
                "503 Service Unavailable",
                _ERROR_PAGE,
                extra=[("Retry-After", str(errors.RETRY_AFTER_S))],
            )
        except Exception:
            dbmod.release_connections()
            self.app.logger.exception("hit on %s failed", path[:80])
            return self._answer(environ, start_response, "500 Internal Server Error", _ERROR_PAGE)
        if answer is None:  # / on the server's own host
            dbmod.release_connections()
            return self._flask(environ, start_response)
        if answer.outcome == "landing":
            environ[_ANSWER_KEY] = answer
            prefix = path[:3] if path[:3] in _KINDS else "/r/"
            if prefix != path[:3] or self.rt.link_tokens.verify(path[3:]) is None:
                # A slug on an offer's link: its landing page is rendered (and claimed from)
                # under the link's token, as a hit on the token's URL is.
                assert answer.link_id is not None
                environ["PATH_INFO"] = prefix + self.rt.link_tokens.mint(answer.link_id)
            return self._flask(environ, start_response)
        dbmod.release_connections()
        cookie = _cookie_for(self.rt, answer, environ)
        if answer.location is not None:
            headers = [
                ("Location", answer.location),
                ("Cache-Control", _NO_STORE),
                ("Referrer-Policy", _REFERRER_POLICY),
                ("Content-Length", "0"),
            ]
            if cookie:
                headers.append(("Set-Cookie", cookie))
            start_response("302 Found", headers)
            return ()
        status, body = _PAGES[answer.outcome]
        return self._answer(environ, start_response, status, body, cookie)

    def _flask(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        # The connections this request took go back to the pool once its body is sent, not
        # before: a streamed CSV still reads from its connection.
        return dbmod.ReleasingIterable(self.flask(environ, start_response))

    @staticmethod
    def _answer(
        environ: dict,
        start_response: StartResponse,
        status: str,
        body: bytes,
        cookie: str | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> Iterable[bytes]:
        headers = [*_HTML_HEADERS, ("Content-Length", str(len(body))), *(extra or ())]
        if cookie:
            headers.append(("Set-Cookie", cookie))
        start_response(status, headers)
        return () if environ.get("REQUEST_METHOD") == "HEAD" else (body,)


# Flask routes: the landing pages HotPath hands on, and the same hits without HotPath. -------


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


def _hit(token: str, kind: str) -> Response:
    rt = runtime()
    answer = request.environ.get(_ANSWER_KEY) or tracking.record(rt, request.environ, token, kind)
    cookie = _cookie_for(rt, answer, request.environ)
    if answer.location is not None:
        response = Response(status=302, headers={"Location": answer.location})
        response.autocorrect_location_header = False
        response.headers["Cache-Control"] = _NO_STORE
        response.headers["Referrer-Policy"] = _REFERRER_POLICY
    elif answer.outcome == "landing":
        # tracking.record sets all three for a landing
        assert answer.link_id and answer.offer_id and answer.click_id
        response = coupon.landing(
            rt, token, answer.link_id, answer.offer_id, answer.visitor, answer.click_id
        )
    elif answer.outcome == "gone":
        response = _html(410, pages.GONE_HTML)
    else:
        response = _html(404, pages.NOT_FOUND_HTML)
    if cookie:
        response.headers.add("Set-Cookie", cookie)
    return response


def _qr_image(token: str, fmt: str) -> Response:
    rt = runtime()
    ref = rt.link_tokens.verify(token)
    if ref is None:
        return _html(404, pages.NOT_FOUND_HTML)
    target = f"{base_url(rt)}/q/{token}"
    if ref.recipient_id is None:  # a link with a slug encodes its shorter /q/<slug>
        row = storage.get_link(rt.db(), ref.link_id)
        if row is None:
            return _html(404, pages.NOT_FOUND_HTML)
        target = links.qr_target(row, token, base_url(rt))
    try:
        options = qr.parse_options(request.args)
        return qr_response(target, fmt, options, public=True)
    except TouchpointError as exc:
        return Response(
            exc.message + "\n",
            status=400,
            content_type="text/plain; charset=utf-8",
            headers={"Cache-Control": _NO_STORE},
        )
