"""Who may call each API operation: declared on the view, checked before it runs, and
required of every route at startup, so a new or renamed view cannot be open by accident.

    @bp.post("/tokens")
    @allow(ADMIN)
    def create_token() -> Response: ...

`guard` is the before_request hook of every API blueprint (GUARDED). `check_declared` runs in
create_app: a rule of those blueprints, or any rule under /api/, whose view says nothing
stops the app from starting. tests/test_permissions.py calls every declared operation with
each kind of credential, generated from the route table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app, g, request

from app.core.error_codes import ErrorCode
from app.core.errors import Forbidden

from .common import authenticate_request

PUBLIC = "public"  # no credentials (the OpenAPI document)
ADMIN = "admin"  # admin API tokens
MARKETER = "marketer"  # marketer API tokens
STAFF = "staff"  # staff keys, at their own location only
WHO = (PUBLIC, ADMIN, MARKETER, STAFF)

ANY_TOKEN = (ADMIN, MARKETER)
TILL = (STAFF, ADMIN)

GUARDED = ("api", "pos", "reports", "jobs")
_ATTRIBUTE = "touchpoint_allowed"

View = TypeVar("View", bound=Callable)


def allow(*who: str) -> Callable[[View], View]:
    """Declare who may call the decorated view (see WHO)."""
    if not who or any(w not in WHO for w in who):
        raise ValueError(f"allow() takes some of {WHO}, got {who}")

    def declare(view: View) -> View:
        setattr(view, _ATTRIBUTE, frozenset(who))
        return view

    return declare


def allowed(view: Callable | None) -> frozenset[str] | None:
    """Who the view was declared for; None when it says nothing."""
    return getattr(view, _ATTRIBUTE, None)


def guard() -> None:
    """Authenticate the request and refuse a credential its view was not declared for."""
    if request.endpoint is None:
        return  # a routing 404/405: the error handler answers
    who = allowed(current_app.view_functions.get(request.endpoint))
    if who is None:
        # check_declared makes this unreachable in a started app; refuse rather than open.
        raise Forbidden("This needs an admin token.", code=ErrorCode.ADMIN_ONLY)
    if PUBLIC in who:
        return
    actor = authenticate_request()
    if actor.staff_key_id is not None:
        if STAFF not in who:
            raise Forbidden(
                "Staff keys can only validate, redeem, void and scan at their own location.",
                code=ErrorCode.STAFF_KEY_NOT_ALLOWED,
            )
        return
    if g.api_token["role"] not in who:
        if STAFF in who:
            # Redeeming moves money at a till: staff keys (scoped to a location) or an admin.
            raise Forbidden(
                "Redeeming, voiding and booth scans need a staff key or an admin token.",
                code=ErrorCode.ADMIN_ONLY,
            )
        raise Forbidden("This needs an admin token.", code=ErrorCode.ADMIN_ONLY)


def check_declared(app: Flask) -> None:
    """Refuse to start when an API route does not declare who may call it."""
    missing = []
    for rule in app.url_map.iter_rules():
        guarded = rule.endpoint.split(".", 1)[0] in GUARDED
        if rule.rule.startswith("/api/") and not guarded:
            missing.append(f"{rule.rule} ({rule.endpoint}: not in a guarded blueprint)")
        elif guarded and allowed(app.view_functions[rule.endpoint]) is None:
            missing.append(f"{rule.rule} ({rule.endpoint})")
    if missing:
        raise RuntimeError(
            "API routes without @allow(...) (app/views/permissions.py): " + ", ".join(missing)
        )
