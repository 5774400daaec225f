"""Public coupon pages: an offer's landing page, the claim (POST only) and the coupon view."""

from __future__ import annotations

import uuid

import werkzeug
from flask import Blueprint, Response, redirect, render_template, request
from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer

from app import storage
from app.clicks import links, tracking
from app.core import clock, local_time
from app.core.errors import Gone
from app.core.runtime import Runtime
from app.coupons import claims, codes, offers
from app.views import pages, qr

from .common import content_security_policy, runtime

bp = Blueprint("coupon", __name__)

CLAIM_FORM_MAX_AGE = 24 * 3600
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # The dashboard's policy; the not-found and gone pages keep their one inline <style>.
    "Content-Security-Policy": content_security_policy(styles=(pages.STYLE_SOURCE,)),
}


def _form_signer(rt: Runtime) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(rt.config["SECRET_KEY"], salt="touchpoint.claim-form")


def _coupon_signer(rt: Runtime) -> URLSafeSerializer:
    return URLSafeSerializer(rt.config["SECRET_KEY"], salt="touchpoint.coupon")


def _html(body: str, status: int = 200) -> Response:
    return Response(body, status=status, content_type="text/html; charset=utf-8", headers=_HEADERS)


def _places(db, offer: dict) -> dict:
    """The stores the page lists (none: every store) and the zones its times are shown in."""
    valid_at = offers.locations_of(db, offer)
    return {
        "stores": valid_at if offer["location_codes"] else [],
        "zones": local_time.zones_of(valid_at),
    }


def landing(
    rt: Runtime,
    token: str,
    link_id: int,
    offer_id: int,
    visitor: str | None,
    click_id: str,
    status: int = 200,
) -> Response:
    """The offer page a GET shows: it never mints anything.

    A browser that already claimed this offer sees its code again instead of the button.
    Otherwise the form carries a signed, dated token naming this link, this browser and this
    click; a visitor without our cookie (GPC/DNT) gets a one-page-view key instead.
    """
    db = rt.db()
    offer = offers.get(db, offer_id)
    existing = claims.existing(db, offer_id, visitor) if visitor else None
    if existing is not None:
        return _coupon_page(rt, db, offer, existing, False)
    visitor_key = visitor or f"pageview:{uuid.uuid4()}"
    form_token = _form_signer(rt).dumps([link_id, visitor_key, click_id])
    body = render_template(
        "offer_landing.html",
        **_places(db, offer),
        offer=offer,
        state=offers.validity(offer, clock.now_iso()),
        csrf_token=form_token,
        action=f"/r/{token}",
    )
    return _html(body, status)


@bp.post("/r/<path:token>")
def claim(token: str) -> werkzeug.Response:
    rt = runtime()
    db = rt.db()
    ref = rt.link_tokens.verify(token)
    # The link decides as for a GET of the same URL: a dead link's claim goes where its page
    # would (fallback or gone); only a live link shows, and so claims, its offer.
    target = links.resolve(db, ref.link_id, clock.now_iso(), "", "") if ref else None
    if ref is None or target is None or target.offer_id is None:
        return _html(pages.NOT_FOUND_HTML, 404)
    try:
        link_id, visitor_key, click_id = _form_signer(rt).loads(
            request.form.get("csrf_token", ""), max_age=CLAIM_FORM_MAX_AGE
        )
    except (BadSignature, ValueError, TypeError):
        return _html(
            pages.page(
                "Please try again",
                "This page was open too long or did not come from us. "
                "Go back, reload the page and press the button again.",
            ),
            400,
        )
    cookie = request.cookies.get(rt.config["VISITOR_COOKIE"])
    if link_id != ref.link_id or (
        cookie and not visitor_key.startswith("pageview:") and cookie != visitor_key
    ):
        return _html(
            pages.page("Please try again", "Reload the offer page and press the button again."), 400
        )
    if target.outcome != "landing":
        if target.location is not None:
            return redirect(target.location, 302)
        return _html(pages.GONE_HTML, 410)
    offer = offers.get(db, target.offer_id)
    lead_id = (
        storage.recipient_lead(db, ref.recipient_id, ref.link_id) if ref.recipient_id else None
    )
    try:
        row, created = claims.claim(
            db,
            offer,
            visitor_id=visitor_key,
            lead_id=lead_id,
            link_id=ref.link_id,
            campaign_id=target.campaign_id,
            click_id=click_id,
            ip=tracking.client_ip(rt, request.environ),
            user_agent=request.headers.get("User-Agent"),
        )
    except Gone as exc:
        return _html(pages.page("This offer is not available", exc.message), 410)
    return _coupon_page(rt, db, offer, row, created)


def _coupon_page(rt: Runtime, db, offer: dict, row: dict, created: bool) -> Response:
    display = codes.display(row["code"], offer["code_prefix"])
    permalink = f"/c/{_coupon_signer(rt).dumps(row['id'])}"
    body = render_template(
        "coupon.html",
        offer=offer,
        **_places(db, offer),
        state=offers.validity(offer, clock.now_iso()),
        code=display,
        qr_svg=qr.svg(display, qr.Options(scale=6, ecc="M")),
        claimed_at=row["claimed_at"],
        created=created,
        permalink=permalink,
    )
    return _html(body)


@bp.get("/c/<token>")
def coupon(token: str) -> Response:
    """A claimed coupon again, for the customer who saved the link."""
    rt = runtime()
    try:
        claim_id = _coupon_signer(rt).loads(token)
    except BadSignature:
        return _html(pages.NOT_FOUND_HTML, 404)
    db = rt.db()
    row = storage.get_claim(db, claim_id)
    if row is None:
        return _html(pages.NOT_FOUND_HTML, 404)
    return _coupon_page(rt, db, offers.get(db, row["offer_id"]), row, False)
