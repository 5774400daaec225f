"""Stores and booths, and their staff keys (admins create and revoke; everyone can look)."""

from __future__ import annotations

from datetime import date
from typing import Any

import werkzeug
from flask import Response, redirect, request, url_for
from markupsafe import Markup

from app import storage
from app.access import staff_keys
from app.core import clock
from app.core.error_codes import ErrorCode
from app.core.errors import NotFound, TouchpointError, ValidationError
from app.coupons import booth_scans, locations, redemptions

from .. import qr
from ..common import base_url, csv_download, runtime
from . import bp, field_errors, form_values, page, require_admin

LOCATION_FIELDS = ("code", "name", "kind", "timezone", "address", "currency")


def _list_page(status: int = 200, **extra) -> Response:
    rt = runtime()
    default = rt.config["DEFAULT_CURRENCY"]
    rows = [locations.to_json(row, default) for row in locations.list_all(rt.db())]
    context = {"locations": rows, "form": {}, "errors": {}, "default_currency": default, **extra}
    return page("dashboard/locations.html", status, kinds=locations.KINDS, **context)


@bp.get("/locations")
def locations_page() -> Response:
    return _list_page()


@bp.post("/locations")
def location_new() -> werkzeug.Response:
    require_admin()
    try:
        row = locations.create(runtime().db(), form_values(*LOCATION_FIELDS))
    except TouchpointError as exc:
        return _list_page(exc.status, form=request.form, errors=field_errors(exc))
    return redirect(url_for("dash.location", code=row["code"], m="created"), 303)


def _location_page(code: str, status: int = 200, **extra) -> Response:
    rt = runtime()
    db = rt.db()
    row = locations.get(db, code)
    context = {
        "location": locations.to_json(row, rt.config["DEFAULT_CURRENCY"]),
        "follows_default": row["currency"] is None,
        "default_currency": rt.config["DEFAULT_CURRENCY"],
        "keys": staff_keys.list_for_location(db, code),
        "recent": redemptions.recent(db, code, 10),
        "form": {},
        "errors": {},
        **extra,
    }
    return page("dashboard/location.html", status, kinds=locations.KINDS, **context)


@bp.get("/locations/<code>")
def location(code: str) -> Response:
    notice = "Location created. Next: give its staff a key." if request.args.get("m") else None
    return _location_page(code, notice=notice)


@bp.post("/locations/<code>")
def location_edit(code: str) -> Response:
    require_admin()
    payload: dict[str, Any] = form_values("name", "timezone", "address", "currency")
    for required in ("name", "timezone"):
        payload.setdefault(required, "")  # "is required", not a silent keep
    payload.setdefault("address", None)
    payload.setdefault("currency", None)  # blank: the install's default currency
    try:
        locations.update(runtime().db(), code, payload)
    except TouchpointError as exc:
        return _location_page(code, exc.status, form=request.form, errors=field_errors(exc))
    return _location_page(code, notice="Saved.")


@bp.post("/locations/<code>/keys")
def staff_key_new(code: str) -> Response:
    require_admin()
    try:
        secret, row = staff_keys.create(runtime().db(), code, form_values("label"))
    except TouchpointError as exc:
        return _location_page(code, exc.status, key_form=request.form, key_errors=field_errors(exc))
    # The key is shown once: its sign-in sheet (a QR code to scan at the till or with a
    # phone's camera) is made now, in the page, and never stored.
    link = f"{base_url(runtime())}{url_for('staff.signin')}#key={secret}"
    sheet = Markup(qr.svg(link))  # our own drawing of the link: nothing typed in it
    return _location_page(code, new_key={"secret": secret, "qr_svg": sheet, "link": link, **row})


@bp.post("/locations/<code>/keys/<id:key_id>/revoke")
def staff_key_revoke(code: str, key_id: int) -> Response:
    require_admin()
    staff_keys.revoke(runtime().db(), code, key_id)
    return _location_page(code, notice=f"Key {key_id} revoked: devices using it are signed out.")


# A booth's scans, day by day: the sales team's follow-up list ------------------------------


def _day(code: str, raw: str | None = None) -> tuple[dict, date, list]:
    rt = runtime()
    db = rt.db()
    row = locations.get(db, code)
    days = booth_scans.days_with_scans(db, row)
    raw = request.args.get("day", "") if raw is None else raw
    try:
        day = date.fromisoformat(raw) if raw else (days[0][0] if days else clock.utcnow().date())
    except ValueError:
        raise ValidationError("'day' is a date such as 2026-11-05.", field="day") from None
    return row, day, days


def _scans_page(code: str, status: int = 200, day_text: str | None = None, **extra) -> Response:
    row, day, days = _day(code, day_text)
    items = booth_scans.of_day(runtime().db(), row, day)
    context = {
        "location": row,
        "day": day,
        "days": days,
        "scans": items,
        "match_errors": {},
        "match_form": {},
        **extra,
    }
    return page("dashboard/booth_scans.html", status, **context)


@bp.get("/locations/<code>/scans")
def booth_scans_page(code: str) -> Response:
    return _scans_page(code, notice=request.args.get("m") and "Matched.")


@bp.get("/locations/<code>/scans.csv")
def booth_scans_csv(code: str) -> Response:
    row, day, _ = _day(code)
    items = booth_scans.of_day(runtime().db(), row, day)
    return csv_download(
        iter(booth_scans.csv_rows(items)),
        booth_scans.CSV_COLUMNS,
        f"booth-scans-{row['code']}-{day.isoformat()}.csv",
    )


@bp.post("/locations/<code>/scans/<scan_id>/match")
def booth_scan_match(code: str, scan_id: str) -> werkzeug.Response:
    db = runtime().db()
    scan = storage.get_booth_scan(db, scan_id)
    if scan is None or scan["location_code"] != code:
        raise NotFound(f"No scan {scan_id} here.", code=ErrorCode.SCAN_NOT_FOUND)
    text = request.form.get("lead", "")
    day = request.form.get("day", "")
    try:
        booth_scans.match_by_search(db, scan_id, text)
    except TouchpointError as exc:
        return _scans_page(
            code,
            exc.status,
            day_text=day,
            match_errors={scan_id: exc.message},
            match_form={scan_id: text},
        )
    return redirect(url_for("dash.booth_scans_page", code=code, day=day or None, m="matched"), 303)
