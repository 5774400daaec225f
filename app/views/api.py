"""The marketer JSON API under /api/v1: parse, call the domain, shape the answer."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, Response, g, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from app import storage
from app.access import api_tokens, staff_keys
from app.clicks import bulk_links, campaigns, domains, link_lists, links
from app.core import clock, validation
from app.core.error_codes import ErrorCode
from app.core.errors import BadRequest, TouchpointError, ValidationError
from app.coupons import booth_scans, locations, offers
from app.people import calls, conversions, leads, partners, pipeline, recipients
from app.reports import params as report_params
from app.views import qr

from .common import (
    base_url,
    csv_download,
    id_arg,
    json_body,
    json_value,
    qr_response,
    revenue_types,
    runtime,
)
from .permissions import ADMIN, ANY_TOKEN, PUBLIC, allow, guard

bp = Blueprint("api", __name__, url_prefix="/api/v1")

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "openapi.json"
# Who may call each view is declared on it with @allow (permissions.py); a view that says
# nothing stops the app from starting.
bp.before_request(guard)


@bp.after_request
def no_store(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def page_args() -> tuple[int, int]:
    """(after_id, limit) from ?cursor= and ?limit=."""
    limit = validation.integer_text(
        request.args.get("limit", "100"),
        "limit",
        maximum=1000,
        message="'limit' must be a whole number between 1 and 1000.",
    )
    after = validation.integer_text(
        request.args.get("cursor") or "0",
        "cursor",
        minimum=0,
        message="'cursor' is not a cursor this API gave out.",
    )
    return after, limit


def listing(items: list[dict], raw: list[dict], limit: int) -> Response:
    """A page of at most `limit` items; callers fetch limit + 1 rows to know if more exist."""
    next_cursor = str(raw[limit - 1]["id"]) if len(raw) > limit else None
    return jsonify({"items": items[:limit], "next_cursor": next_cursor})


def created(body: dict, location: str) -> Response:
    response = jsonify(body)
    response.status_code = 201
    response.headers["Location"] = location
    return response


# Campaigns ---------------------------------------------------------------------------------


@bp.post("/campaigns")
@allow(*ANY_TOKEN)
def create_campaign() -> Response:
    rt = runtime()
    row = campaigns.create(rt.db(), json_body(), default_currency=rt.config["DEFAULT_CURRENCY"])
    return created(campaigns.to_json(row), f"/api/v1/campaigns/{row['id']}")


@bp.get("/campaigns")
@allow(*ANY_TOKEN)
def list_campaigns() -> Response:
    rows, next_cursor = link_lists.search_campaigns(
        runtime().db(), request.args, now=clock.utcnow()
    )
    return jsonify({"items": [campaigns.to_json(r) for r in rows], "next_cursor": next_cursor})


@bp.get("/campaigns/<id:campaign_id>")
@allow(*ANY_TOKEN)
def get_campaign(campaign_id: int) -> Response:
    return jsonify(campaigns.to_json(campaigns.get(runtime().db(), campaign_id)))


@bp.get("/campaigns/<id:campaign_id>/stats")
@allow(*ANY_TOKEN)
def campaign_stats(campaign_id: int) -> Response:
    return jsonify(campaigns.stats(runtime().db(), campaign_id))


@bp.patch("/campaigns/<id:campaign_id>")
@allow(*ANY_TOKEN)
def update_campaign(campaign_id: int) -> Response:
    rt = runtime()
    row = campaigns.update(
        rt.db(), campaign_id, json_body(), default_currency=rt.config["DEFAULT_CURRENCY"]
    )
    return jsonify(campaigns.to_json(row))


# Links -------------------------------------------------------------------------------------


def _link_json(row: dict) -> dict:
    rt = runtime()
    campaign = campaigns.get(rt.db(), row["campaign_id"])
    return links.to_json(row, rt.link_tokens, base_url(rt), campaign)


@bp.post("/links")
@allow(*ANY_TOKEN)
def create_link() -> Response:
    rt = runtime()
    row = links.create(rt.db(), json_body(), public_base_url=rt.config["PUBLIC_BASE_URL"])
    return created(_link_json(row), f"/api/v1/links/{row['id']}")


@bp.get("/links")
@allow(*ANY_TOKEN)
def list_links() -> Response:
    rt = runtime()
    rows, next_cursor = link_lists.search_links(
        rt.db(), request.args, now=clock.utcnow(), public_base_url=rt.config["PUBLIC_BASE_URL"]
    )
    return jsonify({"items": [_link_json(r) for r in rows], "next_cursor": next_cursor})


@bp.post("/links/bulk")
@allow(*ANY_TOKEN)
def create_links_in_bulk() -> Response:
    """CSV body, multipart file or JSON in; the links with their URLs out (JSON or CSV)."""
    rt = runtime()
    as_csv = _wants_csv()
    skip_invalid = _flag("skip_invalid")
    request.max_content_length = rt.config["RECIPIENTS_MAX_BYTES"]
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ValidationError(
                "Attach the CSV as the form field 'file'.", field="file", code=ErrorCode.REQUIRED
            )
        rows = bulk_links.rows_from_csv(upload.read())
    elif request.mimetype in recipients.CSV_TYPES:
        rows = bulk_links.rows_from_csv(request.get_data())
    else:
        rows = bulk_links.rows_from_json(json_value())
    result = bulk_links.create(
        rt.db(), rows, public_base_url=rt.config["PUBLIC_BASE_URL"], skip_invalid=skip_invalid
    )
    shaped = bulk_links.shaper(rt.db(), rt.link_tokens, base_url(rt))
    headers = {"X-Touchpoint-Created": str(len(result.links))}
    if as_csv:
        headers["Content-Disposition"] = 'attachment; filename="links.csv"'
        body = "".join(bulk_links.csv_rows(result, shaped))
        return Response(body, status=201, mimetype="text/csv", headers=headers)
    response = jsonify(
        {
            "created": len(result.links),
            "links": [shaped(link) for link in result.links],
            "invalid": result.invalid,
        }
    )
    response.status_code = 201
    response.headers.update(headers)
    return response


@bp.get("/links/<id:link_id>")
@allow(*ANY_TOKEN)
def get_link(link_id: int) -> Response:
    return jsonify(_link_json(links.get(runtime().db(), link_id)))


@bp.patch("/links/<id:link_id>")
@allow(*ANY_TOKEN)
def update_link(link_id: int) -> Response:
    return jsonify(_link_json(links.update(runtime().db(), link_id, json_body())))


@bp.get("/links/<id:link_id>/stats")
@allow(*ANY_TOKEN)
def link_stats(link_id: int) -> Response:
    return jsonify(links.stats(runtime().db(), link_id))


@bp.get("/links/<id:link_id>/qr.<fmt>")
@allow(*ANY_TOKEN)
def link_qr(link_id: int, fmt: str) -> Response:
    if fmt not in qr.FORMATS:
        raise BadRequest(f"Unknown image format '{fmt}'; use qr.svg or qr.png.", field="format")
    rt = runtime()
    row = links.get(rt.db(), link_id)
    options = qr.parse_options(request.args)
    token = rt.link_tokens.mint(link_id)
    return qr_response(links.qr_target(row, token, base_url(rt)), fmt, options, public=False)


# Branded domains ---------------------------------------------------------------------------


@bp.post("/domains")
@allow(ADMIN)
def create_domain() -> Response:
    rt = runtime()
    row = domains.create(rt.db(), json_body(), public_base_url=rt.config["PUBLIC_BASE_URL"])
    return created(row, f"/api/v1/domains/{row['id']}")


@bp.get("/domains")
@allow(*ANY_TOKEN)
def list_domains() -> Response:
    return jsonify({"items": domains.list_all(runtime().db()), "next_cursor": None})


@bp.get("/domains/<id:domain_id>")
@allow(*ANY_TOKEN)
def get_domain(domain_id: int) -> Response:
    return jsonify(domains.get(runtime().db(), domain_id))


@bp.patch("/domains/<id:domain_id>")
@allow(ADMIN)
def update_domain(domain_id: int) -> Response:
    return jsonify(domains.update(runtime().db(), domain_id, json_body()))


@bp.delete("/domains/<id:domain_id>")
@allow(ADMIN)
def delete_domain(domain_id: int) -> Response:
    domains.delete(runtime().db(), domain_id)
    return Response(status=204)


# Recipients --------------------------------------------------------------------------------


def _flag(name: str) -> bool:
    raw = (request.args.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise ValidationError(f"'{name}' must be true or false.", field=name)


def _wants_csv() -> bool:
    fmt = request.args.get("format")
    if fmt is not None:
        if fmt not in ("csv", "json"):
            raise ValidationError(
                "'format' must be csv or json.", field="format", code=ErrorCode.INVALID_CHOICE
            )
        return fmt == "csv"
    best = request.accept_mimetypes.best_match(["application/json", "text/csv"])
    return (
        best == "text/csv"
        and request.accept_mimetypes["text/csv"] > request.accept_mimetypes["application/json"]
    )


@bp.post("/links/<id:link_id>/recipients")
@allow(*ANY_TOKEN)
def upload_recipients(link_id: int) -> Response:
    """CSV body, multipart file or JSON in; every row with lead_id and tracked_url out."""
    as_csv = _wants_csv()
    try:
        return _import_recipients(link_id, as_csv)
    except (TouchpointError, RequestEntityTooLarge) as exc:
        if not as_csv:
            raise
        return _refused_as_csv(link_id, exc)


def _import_recipients(link_id: int, as_csv: bool) -> Response:
    rt = runtime()
    db = rt.db()
    links.get(db, link_id)
    skip_invalid = _flag("skip_invalid")
    request.max_content_length = rt.config["RECIPIENTS_MAX_BYTES"]
    stream = None
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ValidationError(
                "Attach the CSV as the form field 'file'.", field="file", code=ErrorCode.REQUIRED
            )
        stream = upload.stream
    elif request.mimetype in recipients.CSV_TYPES:
        stream = request.stream
    else:
        parsed = recipients.parse_json(recipients.json_records(json_body()))
    if stream is not None:
        from .jobs import accepted, take_upload  # jobs imports this module

        saved = take_upload(stream, link_id, base_url(rt), skip_invalid=skip_invalid)
        if isinstance(saved, dict):
            return accepted(saved)
        with saved:
            parsed = recipients.parse_csv(saved)
    result = recipients.import_parsed(
        db, link_id, parsed, rt.link_tokens, base_url(rt), skip_invalid=skip_invalid
    )
    headers = {
        "X-Touchpoint-Imported": str(result.imported),
        "X-Touchpoint-Invalid": str(len(result.invalid)),
    }
    if as_csv:
        headers["Content-Disposition"] = f'attachment; filename="link-{link_id}-recipients.csv"'
        return Response(recipients.csv_chunks(result), mimetype="text/csv", headers=headers)
    return Response(recipients.json_chunks(result), mimetype="application/json", headers=headers)


def _refused_as_csv(link_id: int, exc: TouchpointError | RequestEntityTooLarge) -> Response:
    """The refusal as a CSV error report, with the status JSON would have had.

    Whoever asked for CSV saves the answer as the merge file (`curl -o merge.csv`); what
    lands there then says what went wrong, and `curl --fail-with-body` exits non-zero.
    """
    error: TouchpointError | str
    if isinstance(exc, TouchpointError):
        status, headers, error = exc.status, dict(exc.headers), exc
    else:
        limit = runtime().config["RECIPIENTS_MAX_BYTES"]
        status, headers = 413, {}
        error = f"The upload is larger than the server accepts ({limit:,} bytes at most)."
    headers["Content-Disposition"] = f'attachment; filename="link-{link_id}-recipients-errors.csv"'
    return Response(
        recipients.error_report(error), status=status, mimetype="text/csv", headers=headers
    )


# Leads -------------------------------------------------------------------------------------


def _actor_name() -> str | None:
    """Who did it, for the audit columns: the API token's name."""
    token = getattr(g, "api_token", None)
    return token["name"] if token else None


def _offset_page() -> tuple[int, int]:
    """(offset, limit) for lists sorted by something other than id; the cursor is opaque."""
    limit = validation.integer_text(
        request.args.get("limit", "100"),
        "limit",
        maximum=1000,
        message="'limit' must be a whole number between 1 and 1000.",
    )
    raw = request.args.get("cursor") or "o0"
    offset = validation.integer_text(
        raw[1:] if raw.startswith("o") else "x",
        "cursor",
        minimum=0,
        message="'cursor' is not a cursor this API gave out.",
    )
    return offset, limit


_LEAD_LIST_ARGS = {
    "ref_code",
    "phone",
    "stage",
    "status",
    "owner",
    "campaign_id",
    "q",
    "uncontacted",
    "created_from",
    "created_to",
    "email",
    "sort",
    "cursor",
    "limit",
}


@bp.get("/leads")
@allow(*ANY_TOKEN)
def find_leads() -> Response:
    unknown = sorted(set(request.args) - _LEAD_LIST_ARGS)
    if unknown:
        raise ValidationError(
            f"Unknown parameter '{unknown[0]}'; known: {', '.join(sorted(_LEAD_LIST_ARGS))}.",
            field=unknown[0],
            code=ErrorCode.UNKNOWN_PARAMETER,
        )
    offset, limit = _offset_page()
    rt = runtime()
    db = rt.db()
    rules = rt.pipeline_rules
    pipeline.ensure_current(db, rules)
    items = leads.list_page(
        db,
        request.args,
        rules,
        clock.utcnow(),
        offset=offset,
        limit=limit + 1,
        default_country=rt.config["DEFAULT_COUNTRY"],
    )
    next_cursor = f"o{offset + limit}" if len(items) > limit else None
    return jsonify({"items": items[:limit], "next_cursor": next_cursor})


def _lead_answer(row: dict) -> Response:
    rt = runtime()
    db = rt.db()
    lead = {
        **leads.to_json(row, db, rules=rt.pipeline_rules),
        "badge_code": rt.badge_tokens.mint(row["id"]),
    }
    return jsonify({"lead": lead, "events": leads.timeline(db, row["id"])})


@bp.get("/leads/<lead_id>")
@allow(*ANY_TOKEN)
def get_lead(lead_id: str) -> Response:
    rt = runtime()
    pipeline.ensure_current(rt.db(), rt.pipeline_rules)
    return _lead_answer(leads.get(rt.db(), lead_id))


@bp.patch("/leads/<lead_id>")
@allow(*ANY_TOKEN)
def update_lead(lead_id: str) -> Response:
    rt = runtime()
    row = leads.update(
        rt.db(),
        lead_id,
        json_body(),
        default_currency=rt.config["DEFAULT_CURRENCY"],
        default_country=rt.config["DEFAULT_COUNTRY"],
        by=_actor_name(),
    )
    return _lead_answer(row)


@bp.post("/leads/<lead_id>/lost")
@allow(*ANY_TOKEN)
def lose_lead(lead_id: str) -> Response:
    rt = runtime()
    row = pipeline.mark_lost(rt.db(), lead_id, json_body(), rt.pipeline_rules, _actor_name())
    return _lead_answer(row)


@bp.post("/leads/<lead_id>/reopen")
@allow(*ANY_TOKEN)
def reopen_lead(lead_id: str) -> Response:
    rt = runtime()
    return _lead_answer(pipeline.reopen(rt.db(), lead_id, rt.pipeline_rules, _actor_name()))


@bp.post("/leads/<lead_id>/activities")
@allow(*ANY_TOKEN)
def add_activity(lead_id: str) -> Response:
    rt = runtime()
    row = pipeline.add_activity(rt.db(), lead_id, json_body(), rt.pipeline_rules, _actor_name())
    return created(pipeline.activity_json(row), f"/api/v1/leads/{row['lead_id']}/activities")


@bp.get("/leads/<lead_id>/activities")
@allow(*ANY_TOKEN)
def list_activities(lead_id: str) -> Response:
    db = runtime().db()
    row = leads.get(db, lead_id)
    items = [pipeline.activity_json(a) for a in storage.lead_activities(db, row["id"])]
    return jsonify({"items": items, "next_cursor": None})


@bp.delete("/leads/<lead_id>")
@allow(ADMIN)
def erase_lead(lead_id: str) -> Response:
    db = runtime().db()
    return jsonify({"lead": leads.to_json(leads.erase(db, lead_id), db)})


# Partners ----------------------------------------------------------------------------------


@bp.post("/partners")
@allow(*ANY_TOKEN)
def create_partner() -> Response:
    row = partners.create(runtime().db(), json_body())
    return created(partners.to_json(row), f"/api/v1/partners/{row['code']}")


@bp.get("/partners")
@allow(*ANY_TOKEN)
def list_partners() -> Response:
    rows = partners.list_all(runtime().db(), request.args)
    return jsonify({"items": [partners.to_json(r) for r in rows], "next_cursor": None})


@bp.get("/partners/<code>")
@allow(*ANY_TOKEN)
def get_partner(code: str) -> Response:
    return jsonify(partners.to_json(partners.get(runtime().db(), code)))


@bp.get("/partners/<code>/statement.csv")
@allow(*ANY_TOKEN)
def partner_statement(code: str) -> Response:
    """What you send the reseller each month: its leads and its sales with commission."""
    rt = runtime()
    period = report_params.statement_params(request.args, clock.utcnow())
    rows = partners.statement_rows(
        rt.db(), code, period.start, period.end, revenue_types(rt.config)
    )
    slug = partners.get(rt.db(), code)["code"]
    name = f"partner-{slug}-{period.start[:10]}-to-{period.end[:10]}.csv"
    return csv_download(iter(rows), partners.STATEMENT_COLUMNS, name)


@bp.patch("/partners/<code>")
@allow(*ANY_TOKEN)
def update_partner(code: str) -> Response:
    return jsonify(partners.to_json(partners.update(runtime().db(), code, json_body())))


# Tracking numbers and calls ----------------------------------------------------------------


@bp.post("/campaigns/<id:campaign_id>/phone-numbers")
@allow(*ANY_TOKEN)
def add_phone_number(campaign_id: int) -> Response:
    rt = runtime()
    row, is_new = calls.add_number(
        rt.db(), campaign_id, json_body(), default_country=rt.config["DEFAULT_COUNTRY"]
    )
    body = calls.number_json(row)
    if is_new:
        return created(body, f"/api/v1/campaigns/{campaign_id}/phone-numbers/{row['number']}")
    return jsonify(body)


@bp.get("/campaigns/<id:campaign_id>/phone-numbers")
@allow(*ANY_TOKEN)
def list_phone_numbers(campaign_id: int) -> Response:
    rows = calls.numbers(runtime().db(), campaign_id)
    return jsonify({"items": [calls.number_json(r) for r in rows], "next_cursor": None})


@bp.delete("/campaigns/<id:campaign_id>/phone-numbers/<number>")
@allow(*ANY_TOKEN)
def remove_phone_number(campaign_id: int, number: str) -> Response:
    rt = runtime()
    calls.remove_number(rt.db(), campaign_id, number, default_country=rt.config["DEFAULT_COUNTRY"])
    return Response(status=204)


@bp.post("/calls")
@allow(*ANY_TOKEN)
def record_call() -> Response:
    rt = runtime()
    row, is_new = calls.record(
        rt.db(),
        json_body(),
        default_country=rt.config["DEFAULT_COUNTRY"],
        rules=rt.pipeline_rules,
        by=_actor_name(),
    )
    if is_new:
        return created(calls.to_json(row), f"/api/v1/calls/{row['id']}")
    return jsonify(calls.to_json(row))


@bp.get("/calls")
@allow(*ANY_TOKEN)
def list_calls() -> Response:
    after, limit = page_args()
    db = runtime().db()
    args = {k: v for k, v in request.args.items() if k not in ("cursor", "limit")}
    rows = calls.list_page(db, args, after_id=after, limit=limit + 1)
    return listing([calls.to_json(r) for r in rows[:limit]], rows, limit)


@bp.get("/calls/<id:call_id>")
@allow(*ANY_TOKEN)
def get_call(call_id: int) -> Response:
    return jsonify(calls.to_json(calls.get(runtime().db(), call_id)))


# Conversions -------------------------------------------------------------------------------


@bp.post("/conversions")
@allow(*ANY_TOKEN)
def create_conversion() -> Response:
    rt = runtime()
    row, is_new = conversions.record(
        rt.db(),
        json_body(),
        default_currency=rt.config["DEFAULT_CURRENCY"],
        default_country=rt.config["DEFAULT_COUNTRY"],
        rules=rt.pipeline_rules,
    )
    if is_new:
        return created(conversions.to_json(row, rt.db()), f"/api/v1/conversions/{row['id']}")
    return jsonify(conversions.to_json(row, rt.db()))


@bp.get("/conversions")
@allow(*ANY_TOKEN)
def list_conversions() -> Response:
    after, limit = page_args()
    db = runtime().db()
    args = {k: v for k, v in request.args.items() if k not in ("cursor", "limit")}
    rows = conversions.list_page(db, args, after_id=after, limit=limit + 1)
    return listing([conversions.to_json(r) for r in rows[:limit]], rows, limit)


@bp.get("/conversions/<id:conversion_id>")
@allow(*ANY_TOKEN)
def get_conversion(conversion_id: int) -> Response:
    db = runtime().db()
    return jsonify(conversions.to_json(conversions.get(db, conversion_id), db))


@bp.patch("/conversions/<id:conversion_id>")
@allow(*ANY_TOKEN)
def update_conversion(conversion_id: int) -> Response:
    rt = runtime()
    db = rt.db()
    row = conversions.update(
        db,
        conversion_id,
        json_body(),
        default_currency=rt.config["DEFAULT_CURRENCY"],
        by=_actor_name(),
    )
    return jsonify(conversions.to_json(row, db))


@bp.post("/conversions/<id:conversion_id>/void")
@allow(*ANY_TOKEN)
def void_conversion(conversion_id: int) -> Response:
    rt = runtime()
    db = rt.db()
    row = conversions.void(db, conversion_id, json_body(), rt.pipeline_rules, _actor_name())
    return jsonify(conversions.to_json(row, db))


# Locations and staff keys ------------------------------------------------------------------


@bp.post("/locations")
@allow(ADMIN)
def create_location() -> Response:
    rt = runtime()
    row = locations.create(rt.db(), json_body())
    return created(
        locations.to_json(row, rt.config["DEFAULT_CURRENCY"]), f"/api/v1/locations/{row['code']}"
    )


@bp.get("/locations")
@allow(*ANY_TOKEN)
def list_locations() -> Response:
    kind = request.args.get("kind")
    if kind is not None and kind not in locations.KINDS:
        raise ValidationError(
            "'kind' must be store or booth.", field="kind", code=ErrorCode.INVALID_CHOICE
        )
    rt = runtime()
    default = rt.config["DEFAULT_CURRENCY"]
    items = [locations.to_json(row, default) for row in locations.list_all(rt.db(), kind)]
    return jsonify({"items": items, "next_cursor": None})


@bp.get("/locations/<code>")
@allow(*ANY_TOKEN)
def get_location(code: str) -> Response:
    rt = runtime()
    return jsonify(locations.to_json(locations.get(rt.db(), code), rt.config["DEFAULT_CURRENCY"]))


@bp.patch("/locations/<code>")
@allow(ADMIN)
def update_location(code: str) -> Response:
    rt = runtime()
    row = locations.update(rt.db(), code, json_body())
    return jsonify(locations.to_json(row, rt.config["DEFAULT_CURRENCY"]))


@bp.post("/locations/<code>/staff-keys")
@allow(ADMIN)
def create_staff_key(code: str) -> Response:
    secret, row = staff_keys.create(runtime().db(), code, json_body())
    response = jsonify({**row, "key": secret})
    response.status_code = 201
    return response


@bp.get("/locations/<code>/staff-keys")
@allow(ADMIN)
def list_staff_keys(code: str) -> Response:
    return jsonify(
        {"items": staff_keys.list_for_location(runtime().db(), code), "next_cursor": None}
    )


@bp.delete("/locations/<code>/staff-keys/<id:key_id>")
@allow(ADMIN)
def revoke_staff_key(code: str, key_id: int) -> Response:
    staff_keys.revoke(runtime().db(), code, key_id)
    return Response(status=204)


# Offers and codes --------------------------------------------------------------------------


@bp.post("/offers")
@allow(*ANY_TOKEN)
def create_offer() -> Response:
    row = offers.create(runtime().db(), json_body())
    return created(offers.to_json(row), f"/api/v1/offers/{row['id']}")


@bp.get("/offers")
@allow(*ANY_TOKEN)
def list_offers() -> Response:
    after, limit = page_args()
    campaign_id = id_arg("campaign_id")
    rows = offers.list_page(
        runtime().db(), after_id=after, limit=limit + 1, campaign_id=campaign_id
    )
    return listing([offers.to_json(r) for r in rows[:limit]], rows, limit)


@bp.get("/offers/<id:offer_id>")
@allow(*ANY_TOKEN)
def get_offer(offer_id: int) -> Response:
    return jsonify(offers.to_json(offers.get(runtime().db(), offer_id)))


@bp.patch("/offers/<id:offer_id>")
@allow(*ANY_TOKEN)
def update_offer(offer_id: int) -> Response:
    return jsonify(offers.to_json(offers.update(runtime().db(), offer_id, json_body())))


@bp.post("/offers/<id:offer_id>/codes")
@allow(*ANY_TOKEN)
def generate_codes(offer_id: int) -> Response:
    batch = offers.generate_batch(runtime().db(), offer_id, json_body())
    body = {
        **batch,
        "download": {
            "csv": f"/api/v1/offers/{offer_id}/codes?batch_id={batch['id']}&format=csv",
            "json": f"/api/v1/offers/{offer_id}/codes?batch_id={batch['id']}&format=json",
        },
    }
    return created(body, body["download"]["json"])


@bp.get("/offers/<id:offer_id>/batches")
@allow(*ANY_TOKEN)
def list_batches(offer_id: int) -> Response:
    db = runtime().db()
    offers.get(db, offer_id)
    return jsonify({"items": storage.list_batches(db, offer_id), "next_cursor": None})


@bp.get("/offers/<id:offer_id>/codes")
@allow(*ANY_TOKEN)
def export_codes(offer_id: int) -> Response:
    """Every code of an offer (or of one batch), streamed as CSV or JSON."""
    batch_id = id_arg("batch_id")
    as_csv = _wants_csv()
    rows = offers.export_rows(runtime().db(), offer_id, batch_id)
    if as_csv:
        return csv_download(rows, offers.EXPORT_COLUMNS, f"offer-{offer_id}-codes.csv")
    first = next(rows, None)  # runs the checks (404s) before the streaming starts
    return Response(_json_stream(first, rows), mimetype="application/json")


def _json_stream(first, rows):
    yield '{"items": ['
    if first is not None:
        yield json.dumps(first)
        chunk = []
        for row in rows:
            chunk.append(json.dumps(row))
            if len(chunk) == 5000:
                yield "," + ",".join(chunk)
                chunk = []
        if chunk:
            yield "," + ",".join(chunk)
    yield '], "next_cursor": null}'


# Booth scans and badges --------------------------------------------------------------------


@bp.get("/scans")
@allow(*ANY_TOKEN)
def list_booth_scans() -> Response:
    location = request.args.get("location") or None
    unmatched = _flag("unmatched")
    rows = storage.list_booth_scans(runtime().db(), location, unmatched, 1000)
    return jsonify({"items": [booth_scans.to_json(r) for r in rows], "next_cursor": None})


@bp.patch("/scans/<scan_id>")
@allow(*ANY_TOKEN)
def match_booth_scan(scan_id: str) -> Response:
    return jsonify(booth_scans.to_json(booth_scans.assign(runtime().db(), scan_id, json_body())))


@bp.get("/leads/<lead_id>/badge.<fmt>")
@allow(*ANY_TOKEN)
def lead_badge(lead_id: str, fmt: str) -> Response:
    """A lead's personal QR code for invitations and badges; booth scans of it name the lead."""
    if fmt not in qr.FORMATS:
        raise BadRequest(
            f"Unknown image format '{fmt}'; use badge.svg or badge.png.", field="format"
        )
    rt = runtime()
    lead = leads.badge_subject(rt.db(), lead_id)
    options = qr.parse_options(request.args)
    return qr_response(rt.badge_tokens.mint(lead["id"]), fmt, options, public=False)


@bp.get("/security-log")
@allow(ADMIN)
def security_log() -> Response:
    """Lockouts after repeated unknown codes, newest first."""
    return jsonify({"items": storage.security_log(runtime().db()), "next_cursor": None})


# API tokens --------------------------------------------------------------------------------


@bp.get("/tokens")
@allow(ADMIN)
def list_tokens() -> Response:
    return jsonify({"items": api_tokens.list_all(runtime().db()), "next_cursor": None})


@bp.post("/tokens")
@allow(ADMIN)
def create_token() -> Response:
    payload = json_body()
    validation.reject_unknown(payload, {"name", "role"})
    name = validation.text(payload, "name", required=True)
    role = api_tokens.role_of(payload)
    secret, row = api_tokens.create(runtime().db(), name, role)
    response = jsonify({**row, "token": secret})
    response.status_code = 201
    return response


@bp.delete("/tokens/<id:token_id>")
@allow(ADMIN)
def revoke_token(token_id: int) -> Response:
    api_tokens.revoke(runtime().db(), token_id)
    return Response(status=204)


# The API document --------------------------------------------------------------------------


@bp.get("/openapi.json")
@allow(PUBLIC)
def openapi() -> Response:
    return Response(OPENAPI_PATH.read_bytes(), mimetype="application/json")
