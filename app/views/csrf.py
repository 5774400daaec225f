"""CSRF tokens for the staff and dashboard forms (and the fetches their scripts make).

The session holds a random nonce; forms carry it signed. A POST must send it back in the
`csrf_token` field or the X-CSRF-Token header. Signing in replaces the nonce, so a form
rendered before sign-in cannot be replayed after it.
"""

from __future__ import annotations

import hmac
import secrets

from flask import current_app, request, session
from itsdangerous import BadSignature, URLSafeSerializer

from app.core.error_codes import ErrorCode
from app.core.errors import BadRequest


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="touchpoint.staff-csrf")


def csrf_token() -> str:
    """The token every form sends back; bound to this session."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(16)
    return _serializer().dumps(session["csrf"])


def renew_csrf() -> None:
    session["csrf"] = secrets.token_urlsafe(16)


def check_csrf() -> None:
    presented = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    expected = session.get("csrf")
    try:
        nonce = _serializer().loads(presented) if presented else None
    except BadSignature:
        nonce = None
    if not expected or not isinstance(nonce, str) or not hmac.compare_digest(nonce, expected):
        raise BadRequest(
            "This form is out of date or did not come from this page. Reload the page and "
            "try again.",
            code=ErrorCode.CSRF_FAILED,
        )
