"""Staff pages: sign in with a staff key, redeem codes at a till, log leads at a booth.

The audience is shop and booth staff on a till or a phone, signed in with the same `tps_…` key
the POS API takes as a Bearer token. The key itself is never stored in the browser: the Flask
session (a signed cookie) holds the key's id and location, and every request checks that the
key is still active, so revoking it in the API signs the device out.

Pages work as plain HTML forms; static/staff.js adds the camera, the double-submit guard and
the booth's offline queue (which posts to the small JSON endpoint at the end of this module).
Every POST carries a CSRF token bound to the session (see `_check_csrf`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import werkzeug
from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)

from app import storage
from app.access import staff_keys, throttle
from app.access.throttle import Backoff
from app.clicks import campaigns
from app.core import clock
from app.core.error_codes import ErrorCode
from app.core.errors import NotFound, TouchpointError, Unauthorized
from app.coupons import booth_scans, locations, redemptions, till_sales
from app.coupons.redemptions import Actor

from .common import (
    add_default_headers,
    client_address,
    content_security_policy,
    json_body,
    runtime,
)
from .csrf import check_csrf, csrf_token, renew_csrf

bp = Blueprint("staff", __name__, url_prefix="/staff")

# Wrong keys from a client address: ten free, then each further one waits twice as long
# (1 s up to a minute) and answers 429 until then; forgotten an hour after the last. A staff
# key has 256 random bits, so this is not what keeps keys safe (no number of tries finds
# one); it keeps a script from hammering the form. For the same reason a right key is never
# refused, delay or not: the tills of a shop share its router's address, and one guesser (or
# a till with a stale key) behind it must not keep the others from signing in. A right key
# is proof on its own, so tills need no known-device cookie; the guesser's wrong keys wait.
KEY_DELAYS = Backoff(
    "signin", free=10, base_seconds=1, cap_seconds=60, forget_seconds=3600, what="wrong keys"
)
RECENT_ROWS = 15
_OPEN_ENDPOINTS = {"staff.signin", "staff.service_worker"}
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": content_security_policy(camera=True),
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
}


# Who is signed in --------------------------------------------------------------------------


@dataclass(frozen=True)
class Staff:
    """The signed-in staff key: its id, its label and the location it works at."""

    key_id: int
    label: str
    location: dict
    actor: Actor


def _active_key(db, key_id: int, location_code: str) -> dict | None:
    # The session holds the key's id, not the secret, so look it up among its location's keys.
    try:
        keys = staff_keys.list_for_location(db, location_code)
    except NotFound:
        return None
    return next((k for k in keys if k["id"] == key_id and k["revoked_at"] is None), None)


def _signed_in_staff() -> Staff | None:
    info = session.get("staff")
    if not isinstance(info, dict):
        return None
    rt = runtime()
    db = rt.db()
    key_id, location_code = info.get("key"), info.get("location")
    key = None
    if isinstance(key_id, int) and isinstance(location_code, str):
        key = _active_key(db, key_id, location_code)
    if key is None:
        session.pop("staff", None)
        g.revoked = True
        return None
    return Staff(
        key_id=key["id"],
        label=key["label"],
        location=locations.get(db, key["location_code"]),
        actor=Actor(key["location_code"], key["id"], client_address(rt)),
    )


def _is_api() -> bool:
    return request.path.startswith(f"{bp.url_prefix}/api/")


@bp.before_request
def _authenticate() -> werkzeug.Response | None:
    g.revoked = False
    g.staff = _signed_in_staff()
    if g.staff is None and request.endpoint not in _OPEN_ENDPOINTS:
        if _is_api():
            raise Unauthorized(
                "Signed out: sign in again on this device.", code=ErrorCode.SIGNED_OUT
            )
        reason = "revoked" if g.revoked else "required"
        return redirect(url_for("staff.signin", signed_out=reason), 303)
    if request.method == "POST":
        check_csrf()
    return None


@bp.after_request
def _security_headers(response: Response) -> Response:
    return add_default_headers(response, _HEADERS)


@bp.context_processor
def _template_context() -> dict:
    return {"staff": g.get("staff"), "csrf_token": csrf_token}


@bp.errorhandler(TouchpointError)
def _error(exc: TouchpointError) -> Response:
    """JSON for staff.js under /staff/api/, a staff page otherwise (the app's is for customers)."""
    if _is_api():
        response = jsonify(exc.body())
    else:
        staff = g.get("staff")
        back = _home(staff.location) if staff else url_for("staff.signin")
        response = Response(
            render_template(
                "staff/message.html", title=_ERROR_TITLES.get(exc.status), exc=exc, back=back
            )
        )
    response.status_code = exc.status
    response.headers.update(exc.headers)
    response.headers["Cache-Control"] = "no-store"
    return response


_ERROR_TITLES = {
    400: "Please reload and try again",
    404: "Not found here",
    409: "Already done",
    422: "Please check the form",
    429: "Too many tries",
}


def _page(template: str, status: int = 200, **context) -> Response:
    return Response(render_template(template, **context), status=status)


def _local_time(text: str | None, location: dict) -> str | None:
    """A stored UTC time as staff read it: the location's own clock."""
    if not text:
        return None
    try:
        zone = ZoneInfo(location["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    try:
        moment: datetime = clock.parse_input_time(text).astimezone(zone)
    except ValueError:
        return text
    return f"{moment.day} {moment:%b %Y, %H:%M}"


# Sign in and out ---------------------------------------------------------------------------


def _home(location: dict) -> str:
    """Where a signed-in device starts: booths log leads, stores redeem."""
    return url_for("staff.booth_scan_page" if location["kind"] == "booth" else "staff.redeem_page")


@bp.route("", methods=["GET", "POST"])
def signin() -> werkzeug.Response:
    """The sign-in form; a signed-in device goes straight to its location's page."""
    if request.method == "GET":
        if g.staff is not None:
            return redirect(_home(g.staff.location), 303)
        return _page("staff/signin.html", signed_out=request.args.get("signed_out"))
    rt = runtime()
    db = rt.db()
    address = throttle.source(client_address(rt))
    presented = request.form.get("key", "").strip()
    # The sign-in sheet's QR code is the sign-in address with the key after #key=; a scanner
    # or the page's camera types all of it.
    presented = presented.rpartition("#key=")[2]
    if not presented:
        return _page("staff/signin.html", 422, error="Enter or scan your staff key.")
    key = staff_keys.authenticate(db, presented)
    if key is None:
        KEY_DELAYS.attempt(db, address)  # 429 while this address must wait
        KEY_DELAYS.failed(db, address)
        return _page(
            "staff/signin.html",
            422,
            error="This staff key is not valid: it is mistyped, revoked or from another server.",
        )
    # A fresh CSRF nonce at every sign-in: no form from before survives it. A dashboard
    # account signed in in the same browser stays signed in (its own session key).
    session.permanent = True
    session["staff"] = {"key": key["id"], "location": key["location_code"]}
    renew_csrf()
    return redirect(_home(locations.get(db, key["location_code"])), 303)


@bp.post("/sign-out")
def sign_out() -> werkzeug.Response:
    session.pop("staff", None)
    return redirect(url_for("staff.signin", signed_out="done"), 303)


# Till: redeem and void ---------------------------------------------------------------------


_FORM_FIELDS = ("code", "amount", "transaction_id")  # the till's form, in its order


def _redeem_context(staff: Staff, **extra) -> dict:
    db = runtime().db()
    rows = redemptions.recent(db, staff.location["code"], RECENT_ROWS)
    for row in rows:
        row["redeemed_local"] = _local_time(row["redeemed_at"], staff.location)
    currency = locations.currency_of(staff.location, runtime().config["DEFAULT_CURRENCY"])
    return {
        "recent": rows,
        "submission": str(uuid.uuid4()),
        "form": {},
        "errors": {},
        "sale_form": {},
        "sale_errors": {},
        "pickup_form": {},
        "pickup_errors": {},
        "open_panel": None,
        "campaigns_here": till_sales.campaigns_here(db, staff.location["code"]),
        "currency": currency,
        **extra,
    }


@bp.get("/redeem")
def redeem_page() -> Response:
    return _page("staff/redeem.html", **_redeem_context(g.staff))


def _amount(text: str) -> str | None:
    # Tills in much of Europe type a decimal comma; the API takes "12.50".
    text = text.strip()
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    return text or None


@bp.post("/redeem")
def redeem() -> Response:
    """Redeem what was scanned or typed; the page shows the outcome in words, colour and icon."""
    staff: Staff = g.staff
    rt = runtime()
    db = rt.db()
    form = {k: request.form.get(k, "").strip() for k in _FORM_FIELDS}
    submission = request.form.get("submission", "").strip()[:64] or str(uuid.uuid4())
    payload = {
        "code": form["code"],
        # The page makes one id per form: a resubmitted form is the same transaction.
        "transaction_id": form["transaction_id"] or f"staff-{submission}",
        "amount": _amount(form["amount"]),
    }
    started = clock.now_iso()
    try:
        status, body = redemptions.redeem(
            db,
            staff.actor,
            payload,
            submission,
            limit=rt.config["GUESS_LIMIT_PER_MINUTE"],
            default_currency=rt.config["DEFAULT_CURRENCY"],
        )
    except TouchpointError as exc:
        return _refused(staff, exc, form, submission)
    result = _redeemed_result(db, staff, body, replayed=body["redemption"]["redeemed_at"] < started)
    return _page("staff/redeem.html", status, **_redeem_context(staff, result=result))


def _redeemed_result(db, staff: Staff, body: dict, replayed: bool) -> dict:
    offer = body["offer"]
    redemption = body["redemption"]
    try:
        campaign = campaigns.get(db, body["campaign_id"])["name"]
    except NotFound:
        campaign = f"#{body['campaign_id']}"
    facts = [
        ("Offer", offer["title"]),
        ("Discount", offer["discount"] or "as printed on the offer"),
        ("Code", redemption["code"]),
        ("Campaign", campaign),
        (
            "Claimed online",
            _local_time(body["claimed_at"], staff.location) or "no (printed or sent code)",
        ),
    ]
    if redemption["amount"]:
        facts.append(("Amount", f"{redemption['amount']} {redemption['currency']}"))
    note = None
    if replayed:
        note = (
            "This form was sent before: it is still one redemption, at "
            f"{_local_time(redemption['redeemed_at'], staff.location)}."
        )
    return {"tone": "ok", "icon": "✓", "word": "REDEEMED", "facts": facts, "note": note}


# What staff read for each refusal: (tone, icon, word).
_REFUSALS = {
    ErrorCode.ALREADY_REDEEMED: ("bad", "✕", "ALREADY REDEEMED"),
    ErrorCode.WRONG_LOCATION: ("bad", "✕", "WRONG STORE"),
    ErrorCode.EXPIRED: ("bad", "✕", "EXPIRED"),
    ErrorCode.NOT_YET_VALID: ("bad", "✕", "NOT YET VALID"),
    ErrorCode.CHECK_CHARACTER_MISMATCH: ("warn", "!", "TYPO — RETYPE"),
    ErrorCode.UNKNOWN_CODE: ("bad", "?", "UNKNOWN CODE"),
    ErrorCode.RATE_LIMITED: ("warn", "⏸", "TOO MANY TRIES"),
    ErrorCode.IDEMPOTENCY_KEY_REUSED: ("warn", "!", "FORM ALREADY USED — SCAN AGAIN"),
}


def _field_errors(exc: TouchpointError) -> dict[str, str]:
    """Every field problem (no code, a bad amount, a too-long receipt number) at its field of
    the form; one about a field the form does not have is shown at the code."""
    errors: dict[str, str] = {}
    for error in exc.errors:
        field = error.field if error.field in _FORM_FIELDS else "code"
        message = error.message
        if error.field == "code" and error.code == ErrorCode.REQUIRED:
            message = "Scan or type a code."
        errors.setdefault(field, message)
    return errors


def _refused(staff: Staff, exc: TouchpointError, form: dict, submission: str) -> Response:
    db = runtime().db()
    if exc.code not in _REFUSALS:
        # Keep what was typed and the form's id (the corrected form is the same sale).
        context = _redeem_context(
            staff, form=form, errors=_field_errors(exc), submission=submission
        )
        response = _page("staff/redeem.html", exc.status, **context)
        response.headers.update(exc.headers)
        return response
    tone, icon, word = _REFUSALS[exc.code]
    facts: list[tuple[str, str]] = [("Code", form["code"])]
    message = exc.message
    if exc.code == ErrorCode.ALREADY_REDEEMED:
        where = exc.extra.get("location")
        place = storage.get_location(db, where) if where else None
        if place:
            where = f"{place['name']} ({where})"
        facts += [
            ("When", _local_time(exc.extra.get("redeemed_at"), staff.location) or "unknown"),
            ("Where", where or "unknown"),
        ]
        message = "Do not give the discount again."
    elif exc.code == ErrorCode.RATE_LIMITED:
        word = f"TOO MANY TRIES — WAIT {exc.extra['retry_after']} S"
        message = (
            "Too many unknown codes from this till in the last minute. "
            f"Wait {exc.extra['retry_after']} seconds, then scan again."
        )
    elif exc.code == ErrorCode.IDEMPOTENCY_KEY_REUSED:
        message = "This form was already sent with another code or amount. Scan the code again."
    elif exc.code == ErrorCode.EXPIRED:
        facts.append(("Ended", _local_time(exc.extra.get("ends_at"), staff.location) or "?"))
    elif exc.code == ErrorCode.NOT_YET_VALID:
        facts.append(("Starts", _local_time(exc.extra.get("starts_at"), staff.location) or "?"))
    elif exc.code == ErrorCode.WRONG_LOCATION:
        valid_at = exc.extra.get("valid_at") or []
        facts.append(("Valid at", ", ".join(valid_at) or "other stores"))
    result = {"tone": tone, "icon": icon, "word": word, "message": message, "facts": facts}
    context = _redeem_context(staff, result=result)
    if exc.code == ErrorCode.CHECK_CHARACTER_MISMATCH:
        # The same customer, one character wrong: keep the code (and the rest) to fix it.
        context.update(form=form, submission=submission)
    response = _page("staff/redeem.html", exc.status, **context)
    response.headers.update(exc.headers)
    return response


@bp.post("/redemptions/<id:redemption_id>/void")
def void(redemption_id: int) -> Response:
    """Void a redemption at this location (a returned purchase), with a reason."""
    staff: Staff = g.staff
    reason = request.form.get("reason", "").strip()
    try:
        row = redemptions.void(runtime().db(), staff.actor, redemption_id, {"reason": reason})
    except TouchpointError as exc:
        # Back on the till page, input focused: the next customer should not wait on this.
        context = _redeem_context(staff, void_error=f"Not voided: {exc.message}")
        return _page("staff/redeem.html", exc.status, **context)
    notice = f"Voided redemption #{row['id']} (code {row['code']}). The code can be used again."
    return _page("staff/redeem.html", **_redeem_context(staff, notice=notice))


# Till: sales without a code and web-order pickups ------------------------------------------

_SALE_FIELDS = ("amount", "transaction_id", "lead", "mentioned_campaign_id")


@bp.post("/sale")
def sale() -> Response:
    """A sale with no code: amount, receipt, optionally who and the campaign they named."""
    staff: Staff = g.staff
    rt = runtime()
    form = {k: request.form.get(k, "").strip() for k in _SALE_FIELDS}
    submission = request.form.get("submission", "").strip()[:64] or str(uuid.uuid4())
    payload: dict = {
        "transaction_id": form["transaction_id"] or f"staff-{submission}",
        "amount": _amount(form["amount"]),
    }
    if form["lead"]:
        payload["lead"] = form["lead"]
    if form["mentioned_campaign_id"].isdigit():
        payload["mentioned_campaign_id"] = int(form["mentioned_campaign_id"])
    try:
        status, body = till_sales.record_sale(
            rt.db(),
            staff.actor,
            payload,
            f"sale-{submission}",
            default_currency=rt.config["DEFAULT_CURRENCY"],
            default_country=rt.config["DEFAULT_COUNTRY"],
            rules=rt.pipeline_rules,
        )
    except TouchpointError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors:
            field = error.field if error.field in _SALE_FIELDS else "amount"
            errors.setdefault(field, error.message)
        context = _redeem_context(
            staff,
            sale_form=form,
            sale_errors=errors,
            submission=submission,
            open_panel="sale",
        )
        return _page("staff/redeem.html", exc.status, **context)
    sold = body["sale"]
    facts = [
        ("Amount", f"{sold['amount']} {sold['currency']}"),
        ("Receipt", sold["transaction_id"]),
    ]
    if body["lead"]:
        who = body["lead"]
        facts.append(("Customer", who["name"] or who["email"] or who["ref_code"] or "known"))
    mentioned = body["mentioned_campaign"]
    facts.append(("Customer mentioned", mentioned["name"] if mentioned else "nothing"))
    result = {"tone": "ok", "icon": "✓", "word": "SALE RECORDED", "facts": facts}
    return _page("staff/redeem.html", status, **_redeem_context(staff, result=result))


@bp.post("/pickup")
def pickup() -> Response:
    """A web order collected here: what to hand over, or where it already went."""
    staff: Staff = g.staff
    db = runtime().db()
    order_id = request.form.get("order_id", "").strip()
    try:
        body = till_sales.pickup(db, staff.actor, {"order_id": order_id})
    except TouchpointError as exc:
        if exc.code in (ErrorCode.ALREADY_PICKED_UP, ErrorCode.ORDER_NOT_FOUND):
            word = (
                "ALREADY PICKED UP" if exc.code == ErrorCode.ALREADY_PICKED_UP else "UNKNOWN ORDER"
            )
            facts = [("Order", order_id)]
            order = exc.extra.get("order")
            if order:
                place = storage.get_location(db, order["picked_up_location"] or "")
                facts += [
                    ("When", _local_time(order["picked_up_at"], staff.location) or "?"),
                    ("Where", place["name"] if place else order["picked_up_location"] or "?"),
                ]
            result = {
                "tone": "bad",
                "icon": "✕",
                "word": word,
                "message": exc.message,
                "facts": facts,
            }
            return _page("staff/redeem.html", exc.status, **_redeem_context(staff, result=result))
        errors = {"order_id": exc.message}
        context = _redeem_context(
            staff, pickup_form={"order_id": order_id}, pickup_errors=errors, open_panel="pickup"
        )
        return _page("staff/redeem.html", exc.status, **context)
    order = body["order"]
    customer = order["customer"] or {}
    facts = [
        ("Order", order["order_id"]),
        ("Value", f"{order['value']} {order['currency']}" if order["value"] else "—"),
        ("Customer", customer.get("name") or customer.get("email") or "—"),
        ("Ordered", _local_time(order["ordered_at"], staff.location) or "?"),
    ]
    result = {"tone": "ok", "icon": "✓", "word": "HAND OVER THE ORDER", "facts": facts}
    return _page("staff/redeem.html", **_redeem_context(staff, result=result))


# Booth: scans ------------------------------------------------------------------------------


def _recent_booth_scans(staff: Staff) -> list[dict]:
    rows = storage.list_booth_scans(runtime().db(), staff.location["code"], False, RECENT_ROWS)
    db = runtime().db()
    items = [{**booth_scans.to_json(r), "who": booth_scans.who(db, r)} for r in rows]
    for item in items:
        item["scanned_local"] = _local_time(item["scanned_at"], staff.location)
    return items


_SCAN_FIELDS = ("code", "rating", "note")  # the booth's form


@bp.get("/scan")
def booth_scan_page() -> Response:
    return _page(
        "staff/booth_scan.html",
        recent=_recent_booth_scans(g.staff),
        scan_id=str(uuid.uuid4()),
        errors={},
    )


@bp.post("/scan")
def booth_scan() -> Response:
    """The form without JavaScript: no offline queue, so the server's clock is the scan time."""
    staff: Staff = g.staff
    rt = runtime()
    rating = request.form.get("rating", "").strip()
    payload = {
        "code": request.form.get("code", ""),
        "scan_id": request.form.get("scan_id", ""),
        "scanned_at": clock.now_iso(),
        "rating": (int(rating) if rating.isdigit() else -1) if rating else None,
        "note": request.form.get("note") or None,
    }
    try:
        row, created = booth_scans.record(
            rt.db(), staff.actor, payload, rt.link_tokens, rt.badge_tokens
        )
    except TouchpointError as exc:
        # Keep the scan_id: the corrected form is still the same scan. Problems with fields
        # of the form go next to them; any other (a signed-out booth, a taken scan id) above.
        errors: dict[str, str] = {}
        for error in exc.errors:
            errors.setdefault(error.field if error.field in _SCAN_FIELDS else "", error.message)
        return _page(
            "staff/booth_scan.html",
            exc.status,
            recent=_recent_booth_scans(staff),
            scan_id=payload["scan_id"] or str(uuid.uuid4()),
            form=request.form,
            errors=errors,
        )
    return _page(
        "staff/booth_scan.html",
        201 if created else 200,
        recent=_recent_booth_scans(staff),
        scan_id=str(uuid.uuid4()),
        saved={**booth_scans.to_json(row), "who": booth_scans.who(rt.db(), row)},
        errors={},
    )


@bp.post("/api/scans")
def api_booth_scan() -> Response:
    """staff.js's offline queue sends here; the same scan_id again answers 200 with the original."""
    rt = runtime()
    row, created = booth_scans.record(
        rt.db(), g.staff.actor, json_body(), rt.link_tokens, rt.badge_tokens
    )
    # The booth says who it was; never the raw token.
    response = jsonify({**booth_scans.to_json(row), "who": booth_scans.who(rt.db(), row)})
    response.status_code = 201 if created else 200
    return response


@bp.get("/sw.js")
def service_worker() -> Response:
    """The booth page's service worker, served from /staff/ so its scope covers /staff/scan."""
    response = send_from_directory(str(current_app.static_folder), "staff-sw.js", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response
