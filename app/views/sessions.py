"""Flask's signed-cookie session, kept off the redirect hot path.

Staff and dashboard pages use the session; /r/ and /q/ never do, yet Flask would build an
itsdangerous serializer for every click to find that out (a measurable share of a click in
bench/redirect). The serializer is also built once per app instead of once per request.

The cookie is Secure whenever the client came in over HTTPS (directly or through a trusted
proxy): SESSION_COOKIE_SECURE is one value for the whole app, but the same server is reached
over plain HTTP on a shop's LAN (where a Secure cookie would be dropped) and over HTTPS.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, Request, has_request_context
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

_HOT_PREFIXES = ("/r/", "/q/")
# How long a sign-in lasts: the dashboard's server-side check, the cookie's Max-Age/Expires
# and the signature's max age are all this one value, so a browser never holds a cookie the
# server has stopped honouring (Flask's default cookie would live 31 days).
LIFETIME = timedelta(days=7)


def install(app: Flask) -> None:
    """Use this session interface with the one LIFETIME."""
    app.session_interface = SessionInterface()
    app.permanent_session_lifetime = LIFETIME


class SessionInterface(SecureCookieSessionInterface):
    def __init__(self) -> None:
        self._serializers: dict[tuple[int, object], URLSafeTimedSerializer] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        key = (id(app), app.secret_key)
        serializer = self._serializers.get(key)
        if serializer is None:
            serializer = super().get_signing_serializer(app)
            if serializer is not None:
                self._serializers[key] = serializer
        return serializer

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.method in ("GET", "HEAD") and request.path.startswith(_HOT_PREFIXES):
            return self.null_session_class()
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        if super().get_cookie_secure(app):
            return True
        if not has_request_context():
            return False
        from app.views.common import request_scheme, runtime

        return request_scheme(runtime()) == "https"
