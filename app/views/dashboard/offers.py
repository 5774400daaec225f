"""Offers: the index of every offer, the list on the campaign page, create and edit, code
batches with their CSV, the printable code sheet, and tracked links to an offer's landing
page."""

from __future__ import annotations

import re
from typing import Any

import werkzeug
from flask import Response, redirect, request, url_for
from werkzeug.datastructures import MultiDict

from app import storage
from app.clicks import campaigns, links
from app.core import clock, local_time
from app.core.errors import TouchpointError, ValidationError
from app.coupons import offers
from app.views import qr

from ..common import base_url, csv_download, id_arg, runtime
from . import bp, field_errors, form_values, page

CREATE_FIELDS = (
    "title",
    "discount",
    "terms",
    "kind",
    "shared_code",
    "code_prefix",
    "starts_at",
    "ends_at",
    "max_redemptions_per_code",
    "per_lead_limit",
)
EDIT_FIELDS = (
    "title",
    "discount",
    "terms",
    "starts_at",
    "ends_at",
    "max_redemptions_per_code",
    "per_lead_limit",
)
_WHOLE_NUMBER = re.compile(r"^[+-]?\d{1,18}$")
KIND_OPTIONS = [
    ("unique", "Unique codes: one per customer, printed or sent"),
    ("shared", "One shared code for everyone, e.g. HOLIDAY10"),
]
PAPERS = ("a4", "letter")
# A printed page holds 2 × 10 cells on A4 and on Letter (static/print.css); a sheet shows 25
# printed pages, so a 100,000-code batch is 200 sheets rather than one page nobody can open.
CELLS_PER_PRINTED_PAGE = 20
SHEET_CODES = 25 * CELLS_PER_PRINTED_PAGE
# The till reads what the coupon page shows (views/coupon.py): the same text and error
# correction. Mask and version are pinned, which makes a sheet several times faster to
# encode (bench/dashboard times the code sheet).
SHEET_ECC = "M"
_MESSAGES = {
    "created": "Offer created. Next: a link to its landing page, or a batch of unique codes.",
    "saved": "Saved.",
    "batch": "Codes made. Download them as CSV or print a sheet.",
}


def _number(text: str) -> int | str:
    """A typed whole number as an int; anything else as typed, for the API's message."""
    return int(text) if _WHOLE_NUMBER.match(text) else text


def _payload(names: tuple[str, ...], *, blank_as_null: bool) -> dict:
    """The form as an API payload. Editing sends blanks as null (clear the field); the
    location boxes always go as a list (none ticked: valid at every location)."""
    values: dict = form_values(*names)
    if blank_as_null:
        for name in names:
            values.setdefault(name, None)
    for name in ("max_redemptions_per_code", "per_lead_limit"):
        if values.get(name) is not None:
            values[name] = _number(values[name])
    values["location_codes"] = request.form.getlist("location_codes")
    return values


def _input_time(stored: str | None) -> str:
    """A stored UTC time as a datetime-local input value (minutes)."""
    return stored[:16] if stored else ""


def _edit_form(offer: dict) -> MultiDict:
    form = MultiDict(
        {name: "" if offer[name] is None else str(offer[name]) for name in EDIT_FIELDS}
    )
    for name in ("starts_at", "ends_at"):
        form[name] = _input_time(offer[name])
    form.setlist("location_codes", offer["location_codes"])
    return form


def _form_page(
    campaign: dict,
    form: MultiDict,
    status: int = 200,
    *,
    offer: dict | None = None,
    errors: dict | None = None,
) -> Response:
    return page(
        "dashboard/offer_form.html",
        status,
        campaign=campaigns.to_json(campaign),
        offer=offer,
        form=form,
        errors=errors or {},
        kinds=KIND_OPTIONS,
        locations=storage.location_names(runtime().db()),
    )


# Lists of offers: every offer, a campaign's -------------------------------------------------


def _with_state(rows: list[dict]) -> list[dict]:
    now = clock.now_iso()
    for row in rows:
        row["state"] = offers.validity(row, now)
    return rows


@bp.get("/offers")
def offers_page() -> Response:
    """Every offer, newest first, with its campaign, codes, places, validity and counts."""
    db = runtime().db()
    rows = _with_state(storage.all_offers(db))
    has_campaigns = bool(rows) or bool(storage.campaign_names(db))
    return page("dashboard/offers.html", offer_rows=rows, has_campaigns=has_campaigns)


@bp.app_template_global()
def campaign_offers(campaign_id: int) -> list[dict]:
    """The offers section of the campaign page loads its rows itself (one query), so the
    campaign view does not have to know about offers."""
    return _with_state(storage.campaign_offers(runtime().db(), campaign_id))


# Create and edit ---------------------------------------------------------------------------


@bp.route("/campaigns/<id:campaign_id>/offers/new", methods=["GET", "POST"])
def offer_new(campaign_id: int) -> werkzeug.Response:
    db = runtime().db()
    campaign = campaigns.get(db, campaign_id)
    if request.method == "GET":
        return _form_page(campaign, MultiDict({"kind": "unique"}))
    payload = {"campaign_id": campaign_id, **_payload(CREATE_FIELDS, blank_as_null=False)}
    try:
        row = offers.create(db, payload)
    except TouchpointError as exc:
        return _form_page(campaign, request.form, exc.status, errors=field_errors(exc))
    return redirect(url_for("dash.offer", offer_id=row["id"], m="created"), 303)


@bp.route("/offers/<id:offer_id>/edit", methods=["GET", "POST"])
def offer_edit(offer_id: int) -> werkzeug.Response:
    db = runtime().db()
    offer = offers.get(db, offer_id)
    campaign = campaigns.get(db, offer["campaign_id"])
    if request.method == "GET":
        return _form_page(campaign, _edit_form(offer), offer=offer)
    payload = _payload(EDIT_FIELDS, blank_as_null=True)
    if payload["title"] is None:
        payload["title"] = ""  # "is required", not a silent keep
    try:
        offers.update(db, offer_id, payload)
    except TouchpointError as exc:
        return _form_page(campaign, request.form, exc.status, offer=offer, errors=field_errors(exc))
    return redirect(url_for("dash.offer", offer_id=offer_id, m="saved"), 303)


# The offer page ----------------------------------------------------------------------------


def _offer_page(offer_id: int, status: int = 200, **extra) -> Response:
    rt = runtime()
    db = rt.db()
    offer = offers.summary(db, offer_id)
    offer["state"] = offers.validity(offer, clock.now_iso())
    campaign = campaigns.get(db, offer["campaign_id"])
    base = base_url(rt)
    landing_links, recipient_choices = [], [("", "Anyone: printed or handed out")]
    for link in storage.campaign_links_with_recipients(db, offer["campaign_id"]):
        if link["offer_id"] == offer_id:
            landing_links.append(links.to_json(link, rt.link_tokens, base))
        if link["recipients"]:
            name = link["label"] or f"link #{link['id']}"
            recipient_choices.append(
                (str(link["id"]), f"Each recipient of {name} ({link['recipients']:,})")
            )
    context = {
        "link_form": {},
        "link_errors": {},
        "batch_form": {},
        "batch_errors": {},
        "notice": _MESSAGES.get(request.args.get("m", "")),
        **extra,
    }
    return page(
        "dashboard/offer.html",
        status,
        offer=offer,
        campaign=campaigns.to_json(campaign),
        batches=storage.list_batches(db, offer_id),
        landing_links=landing_links,
        recipient_choices=recipient_choices,
        **context,
    )


@bp.get("/offers/<id:offer_id>")
def offer(offer_id: int) -> Response:
    return _offer_page(offer_id)


@bp.post("/offers/<id:offer_id>/links")
def offer_link_new(offer_id: int) -> werkzeug.Response:
    """A tracked link to the offer's landing page, where visitors claim a code."""
    db = runtime().db()
    row = offers.get(db, offer_id)
    payload = {"campaign_id": row["campaign_id"], "offer_id": offer_id, **form_values("label")}
    try:
        link = links.create(db, payload)
    except TouchpointError as exc:
        return _offer_page(
            offer_id, exc.status, link_form=request.form, link_errors=field_errors(exc)
        )
    return redirect(url_for("dash.link", link_id=link["id"], m="link_created"), 303)


@bp.post("/offers/<id:offer_id>/batches")
def offer_batch_new(offer_id: int) -> werkzeug.Response:
    """A batch of codes: a number of anonymous ones, or one per recipient of a link."""
    link_choice = request.form.get("recipients_link_id", "").strip()
    count = request.form.get("count", "").strip()
    payload: dict[str, Any]
    if link_choice:
        payload = {"recipients_link_id": _number(link_choice)}
    else:
        payload = {"count": _number(count) if count else None}
    try:
        batch = offers.generate_batch(runtime().db(), offer_id, payload)
    except TouchpointError as exc:
        return _offer_page(
            offer_id, exc.status, batch_form=request.form, batch_errors=field_errors(exc)
        )
    return redirect(
        url_for("dash.offer", offer_id=offer_id, m="batch", _anchor=f"batch-{batch['id']}"), 303
    )


@bp.get("/offers/<id:offer_id>/codes.csv")
def offer_codes_csv(offer_id: int) -> Response:
    """The codes of one batch (?batch_id=) or of the whole offer: the API export as CSV."""
    batch_id = id_arg("batch_id")
    rows = offers.export_rows(runtime().db(), offer_id, batch_id)
    name = f"offer-{offer_id}-codes.csv"
    if batch_id is not None:
        name = f"offer-{offer_id}-batch-{batch_id}-codes.csv"
    return csv_download(rows, offers.EXPORT_COLUMNS, name)


# The printable code sheet ------------------------------------------------------------------


@bp.get("/offers/<id:offer_id>/sheet")
def code_sheet(offer_id: int) -> Response:
    """A batch's codes to print and cut: a QR code the till scans and the code as text."""
    db = runtime().db()
    row = offers.get(db, offer_id)
    batch_id = id_arg("batch_id")
    if batch_id is None:
        raise ValidationError("Choose a batch: a sheet prints one batch.", field="batch_id")
    number = id_arg("page", minimum=0)  # page 0 is a page that does not exist: 404
    sheet = offers.batch_page(db, row, batch_id, 1 if number is None else number, SHEET_CODES)
    paper = request.args.get("paper", "a4")
    cells = []
    if sheet["codes"]:
        # The codes of a batch have one length and alphabet, so they share a version.
        version = qr.fitting_version(max(sheet["codes"], key=len), SHEET_ECC)
        options = qr.Options(scale=4, ecc=SHEET_ECC, mask=qr.SHEET_MASK, version=version)
        cells = [{"code": code, "svg": qr.svg(code, options)} for code in sheet["codes"]]
    return page(
        "dashboard/code_sheet.html",
        offer=row,
        sheet=sheet,
        cells=cells,
        per_printed_page=CELLS_PER_PRINTED_PAGE,
        # Printed codes reach customers: their dates on the stores' clock, as on the
        # landing page.
        zones=local_time.zones_of(offers.locations_of(db, row)),
        paper=paper if paper in PAPERS else "a4",
    )
