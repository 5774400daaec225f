"""The marketer dashboard under /dashboard: server-rendered pages over the same domain
functions the API calls.

Accounts sign in with email and password (app/access/users.py); the Flask session holds the user's
id and session epoch, checked on every request, so disabling an account or changing its
password signs it out everywhere. Every POST carries a CSRF token (views/csrf.py). Pages are
plain HTML forms; static/dashboard.js only adds conveniences (copy buttons, live QR preview,
auto-refresh, confirmations).

Views live in the modules imported at the bottom, one per area of the dashboard.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import werkzeug
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from app.access import users
from app.core import money
from app.core.error_codes import ErrorCode
from app.core.errors import Forbidden, TouchpointError
from app.views import sessions

from ..common import add_default_headers, content_security_policy, runtime
from ..csrf import check_csrf, csrf_token

bp = Blueprint("dash", __name__, url_prefix="/dashboard")

SESSION_SECONDS = sessions.LIFETIME.total_seconds()  # asked again after this, cookie or not
_OPEN_ENDPOINTS = {"dash.signin"}
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": content_security_policy(),
}
_ERROR_TITLES = {
    400: "Please reload and try again",
    403: "Not allowed",
    404: "Not found",
    409: "That cannot be done",
    413: "Too large",
    422: "Please check what you entered",
    429: "Too many tries",
}


@bp.app_template_filter("money")
def money_filter(text: str | None, blank: str = "—") -> str:
    """A decimal amount with thousands separators (1,234.50); `blank` for none."""
    return money.grouped(text) if isinstance(text, str) else blank


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    app.add_url_rule("/", "home", lambda: redirect(url_for("dash.overview"), 302))


# Who is signed in --------------------------------------------------------------------------


def _signed_in_user() -> dict | None:
    info = session.get("user")
    if not isinstance(info, dict):
        return None
    user_id, since = info.get("id"), info.get("since")
    if not isinstance(user_id, int) or not isinstance(since, int | float):
        return None
    if time.time() - since > SESSION_SECONDS:
        session.pop("user", None)
        return None
    user = users.get_or_none(runtime().db(), user_id)
    if not users.session_valid(user, info.get("epoch")):
        session.pop("user", None)
        return None
    return user


def sign_in_session(user: dict) -> None:
    session.permanent = True
    session["user"] = {"id": user["id"], "epoch": user["session_epoch"], "since": int(time.time())}


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: only a path on this dashboard, never another site."""
    default = url_for("dash.overview")
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(f"{bp.url_prefix}/"):
        return default
    if "\\" in target or target.startswith("//"):
        return default
    return target


@bp.before_request
def _authenticate() -> werkzeug.Response | None:
    g.user = _signed_in_user()
    if g.user is None and request.endpoint not in _OPEN_ENDPOINTS:
        target = request.full_path if request.method == "GET" else None
        return redirect(url_for("dash.signin", next=target and target.rstrip("?")), 303)
    if request.method == "POST":
        # The CSRF check reads the form: an upload view's own limit must be set before it.
        setting = getattr(
            current_app.view_functions.get(request.endpoint or ""), "upload_limit", None
        )
        if setting:
            request.max_content_length = runtime().config[setting]
        check_csrf()
    return None


def upload_limit(setting: str):
    """Let a view take bodies up to the setting's bytes instead of MAX_CONTENT_LENGTH."""

    def mark(view):
        view.upload_limit = setting
        return view

    return mark


def require_admin() -> None:
    if g.user["role"] != "admin":
        raise Forbidden("Only an admin can do this.", code=ErrorCode.ADMIN_ONLY)


@bp.after_request
def _security_headers(response: Response) -> Response:
    return add_default_headers(response, _HEADERS)


@bp.context_processor
def _template_context() -> dict:
    return {"user": g.get("user"), "csrf_token": csrf_token}


@bp.errorhandler(TouchpointError)
def _error(exc: TouchpointError) -> Response:
    response = page(
        "dashboard/message.html",
        exc.status,
        title=_ERROR_TITLES.get(exc.status, "Something went wrong"),
        exc=exc,
    )
    response.headers.update(exc.headers)
    return response


def page(template: str, status: int = 200, **context) -> Response:
    return Response(render_template(template, **context), status=status)


def form_values(*names: str) -> dict[str, str]:
    """The named form fields as typed (stripped); blank fields are left out."""
    values = {}
    for name in names:
        value = request.form.get(name, "").strip()
        if value:
            values[name] = value
    return values


def field_errors(exc: TouchpointError) -> dict[str, str]:
    """A domain error as {field: message} for the form, every field error of it in order
    (the first per field); '' holds one that names no field."""
    found: dict[str, str] = {}
    for error in exc.errors:
        found.setdefault(error.field or "", error.message)
    return found


# The areas of the dashboard, each registering its views on bp.
from . import (  # noqa: E402, F401
    account,
    activity,
    campaigns,
    jobs,
    leads,
    link_list,
    locations,
    offers,
    pipeline,
    report,
)
