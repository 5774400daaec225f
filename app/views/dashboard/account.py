"""Signing in and out, one's own account and API tokens, and (for admins) the users."""

from __future__ import annotations

import werkzeug
from flask import Response, g, redirect, request, session, url_for

from app.access import users
from app.core.errors import RateLimited, TouchpointError

from ..common import client_address, request_scheme, runtime
from ..csrf import renew_csrf
from . import bp, field_errors, form_values, page, require_admin, safe_next, sign_in_session


def _hash_method() -> str:
    return runtime().config["PASSWORD_HASH"]


@bp.route("/sign-in", methods=["GET", "POST"])
def signin() -> werkzeug.Response:
    next_url = request.values.get("next")
    if request.method == "GET":
        if g.user is not None:
            return redirect(safe_next(next_url), 303)
        return page("dashboard/signin.html", form={}, next=next_url, notice=request.args.get("m"))
    rt = runtime()
    db = rt.db()
    email = request.form.get("email", "").strip()
    password = request.form.get("password", "")
    address = client_address(rt)
    form = {"email": email}
    if not email or not password:
        error = "Enter your email address and password."
        return page("dashboard/signin.html", 422, form=form, next=next_url, error=error)
    try:
        result = users.sign_in(
            db,
            email,
            password,
            address=address,
            device_cookie=request.cookies.get(users.DEVICE_COOKIE),
            devices=users.KnownDevices(rt.config["SECRET_KEY"]),
            hash_method=_hash_method(),
        )
    except RateLimited as exc:
        response = page("dashboard/signin.html", 429, form=form, next=next_url, error=exc.message)
        response.headers.update(exc.headers)
        return response
    if result.user is None:
        # One message for unknown email, wrong password and disabled account: no hints.
        error = "This email and password do not match an active account."
        return page("dashboard/signin.html", 422, form=form, next=next_url, error=error)
    sign_in_session(result.user)
    renew_csrf()
    assert result.device_cookie is not None  # set whenever a user signed in
    signed_in = redirect(safe_next(next_url), 303)
    signed_in.set_cookie(
        users.DEVICE_COOKIE,
        result.device_cookie,
        max_age=users.DEVICE_COOKIE_DAYS * 86400,
        path=bp.url_prefix,
        httponly=True,
        samesite="Lax",
        secure=request_scheme(rt) == "https",
    )
    return signed_in


@bp.post("/sign-out")
def sign_out() -> werkzeug.Response:
    session.pop("user", None)
    renew_csrf()
    return redirect(url_for("dash.signin", m="signed_out"), 303)


# One's own account -------------------------------------------------------------------------


def _account_page(status: int = 200, **extra) -> Response:
    db = runtime().db()
    context = {
        "tokens": users.tokens(db, g.user["id"]),
        "errors": {},
        "form": {},
        **extra,
    }
    return page("dashboard/account.html", status, **context)


@bp.get("/account")
def account() -> Response:
    return _account_page()


@bp.post("/account/name")
def account_name() -> Response:
    try:
        g.user = users.set_name(runtime().db(), g.user["id"], request.form.get("name", ""))
    except TouchpointError as exc:
        return _account_page(exc.status, errors=field_errors(exc), form=request.form)
    return _account_page(notice="Your name is saved.")


@bp.post("/account/password")
def account_password() -> Response:
    db = runtime().db()
    try:
        user = users.change_password(
            db,
            g.user["id"],
            request.form.get("current_password", ""),
            request.form.get("new_password", ""),
            hash_method=_hash_method(),
        )
    except TouchpointError as exc:
        return _account_page(exc.status, errors=field_errors(exc), section="password")
    # The new epoch signed out every other browser; this one stays in with the new epoch.
    sign_in_session(user)
    g.user = user
    return _account_page(notice="Password changed. Other browsers were signed out.")


@bp.post("/account/sign-out-everywhere")
def sign_out_everywhere() -> werkzeug.Response:
    users.end_sessions(runtime().db(), g.user["id"])
    session.pop("user", None)
    return redirect(url_for("dash.signin", m="signed_out_everywhere"), 303)


@bp.post("/account/tokens")
def create_token() -> Response:
    db = runtime().db()
    try:
        secret, row = users.create_token(db, g.user, request.form.get("name", ""))
    except TouchpointError as exc:
        return _account_page(exc.status, errors=field_errors(exc), form=request.form)
    return _account_page(new_token={"secret": secret, **row})


@bp.post("/account/tokens/<id:token_id>/revoke")
def revoke_token(token_id: int) -> Response:
    users.revoke_token(runtime().db(), g.user, token_id)
    return _account_page(notice=f"Token {token_id} revoked: it no longer works.")


# Users (admins) ----------------------------------------------------------------------------


def _users_page(status: int = 200, **extra) -> Response:
    context = {"people": users.list_all(runtime().db()), "errors": {}, "form": {}, **extra}
    return page("dashboard/users.html", status, roles=users.ROLES, **context)


@bp.get("/users")
def users_page() -> Response:
    require_admin()
    return _users_page()


@bp.post("/users")
def create_user() -> Response:
    require_admin()
    form = form_values("email", "name", "role")
    try:
        password, row = users.create(
            runtime().db(),
            form.get("email"),
            form.get("role", "marketer"),
            name=form.get("name", ""),
            hash_method=_hash_method(),
        )
    except TouchpointError as exc:
        return _users_page(exc.status, errors=field_errors(exc), form=form)
    return _users_page(created={"password": password, **row})


@bp.post("/users/<id:user_id>/role")
def user_role(user_id: int) -> Response:
    require_admin()
    row = users.set_role(runtime().db(), user_id, request.form.get("role"), by=g.user)
    return _users_page(notice=f"{row['email']} is now {row['role']}.")


@bp.post("/users/<id:user_id>/disable")
def disable_user(user_id: int) -> Response:
    require_admin()
    row = users.disable(runtime().db(), user_id, by=g.user)
    return _users_page(notice=f"{row['email']} is disabled and signed out; its API tokens stop.")


@bp.post("/users/<id:user_id>/enable")
def enable_user(user_id: int) -> Response:
    require_admin()
    row = users.enable(runtime().db(), user_id)
    return _users_page(notice=f"{row['email']} can sign in again.")


@bp.post("/users/<id:user_id>/reset-password")
def reset_password(user_id: int) -> Response:
    require_admin()
    db = runtime().db()
    password = users.reset_password(db, user_id, hash_method=_hash_method())
    row = users.get(db, user_id)
    return _users_page(reset={"password": password, **row})
