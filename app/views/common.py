"""Small helpers shared by the blueprints."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from flask import Response, current_app, g, request

from app.access import api_tokens, staff_keys
from app.clicks import visits
from app.core import settings, validation
from app.core.csv_cells import inert_values
from app.core.error_codes import ErrorCode
from app.core.errors import BadRequest, Unauthorized, ValidationError
from app.core.runtime import Runtime
from app.coupons.redemptions import Actor
from app.views import qr


def runtime() -> Runtime:
    return current_app.extensions["touchpoint"]


def funnel_stages(config: dict) -> tuple[str, ...]:
    """The conversion stages of the funnel, in order (TOUCHPOINT_FUNNEL_STAGES)."""
    return settings.names(config["FUNNEL_STAGES"])


def revenue_types(config: dict) -> tuple[str, ...]:
    """The conversion types reports count by default (TOUCHPOINT_REVENUE_TYPES)."""
    return settings.names(config["REVENUE_TYPES"])


def id_arg(name: str, minimum: int = 1) -> int | None:
    """An optional id in the query string (?campaign_id=, ?batch_id=), or None."""
    return validation.integer_text(
        request.args.get(name), name, minimum=minimum, message=f"'{name}' must be a whole number."
    )


def csv_download(rows: Iterator[dict], columns: tuple[str, ...], filename: str) -> Response:
    """Rows streamed as a CSV attachment, 5,000 at a time, so memory stays flat.

    Text cells that start like a formula are made inert (app/core/csv_cells.py); numbers stay.
    The first row is read before answering: a generator that checks its arguments (an
    unknown offer or batch) raises while an error page can still be sent.
    """
    first = next(rows, None)

    def chunks() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")
        writer.writeheader()
        if first is not None:
            writer.writerow(inert_values(first))
            for n, row in enumerate(rows, start=1):
                writer.writerow(inert_values(row))
                if n % 5000 == 0:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    return Response(
        chunks(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def content_security_policy(*, camera: bool = False, styles: tuple[str, ...] = ()) -> str:
    """The one Content-Security-Policy of our HTML pages (dashboard, staff, coupon pages).

    Everything from here, no inline script or style (a stored name cannot become code), no
    framing (a page elsewhere cannot trick a click on Redeem). data: images are the QR
    previews; `camera` adds the blob: frames of the till's scanner; `styles` are hashes of
    fixed inline styles (the self-contained error pages).
    """
    images = "'self' data: blob:; media-src 'self' blob:" if camera else "'self' data:"
    style = f"; style-src 'self' {' '.join(styles)}" if styles else ""
    return (
        f"default-src 'self'; img-src {images}{style}; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def request_scheme(rt: Runtime) -> str:
    """The scheme the client used; X-Forwarded-Proto only counts from a trusted proxy."""
    return visits.request_scheme(request.environ, rt.trusted_proxies)


def base_url(rt: Runtime) -> str:
    """PUBLIC_BASE_URL, or the scheme and host this request came in on.

    The latter is only as good as the Host header: a response built from it must not be
    stored by shared caches (see qr_response).
    """
    if rt.config["PUBLIC_BASE_URL"]:
        return rt.config["PUBLIC_BASE_URL"]
    host = request.host
    if visits.peer_is_trusted(request.environ.get("REMOTE_ADDR"), rt.trusted_proxies):
        host = request.environ.get("HTTP_X_FORWARDED_HOST", "").split(",")[0].strip() or host
    return f"{request_scheme(rt)}://{host}"


def qr_response(
    data: str, fmt: str, options: qr.Options, *, public: bool, logo: qr.Logo | None = None
) -> Response:
    """The image with a strong ETag; 304 when the client already has it.

    A `public` image (/q/<token>.svg) is cacheable by anyone only when its URL came from
    PUBLIC_BASE_URL: built from the request's Host, one request with `Host: evil.example`
    would put the attacker's address in the image a shared cache then hands to everyone.
    Without the setting it is revalidated by every client and kept by none in between.
    """
    tag = qr.etag(data, fmt, options, logo)
    if not public:
        cache = "private, max-age=86400"
    elif runtime().config["PUBLIC_BASE_URL"]:
        cache = "public, max-age=31536000, immutable"
    else:
        cache = "private, no-cache"
    if tag in request.if_none_match:
        response = Response(status=304)
    else:
        response = Response(qr.render(data, fmt, options, logo), mimetype=qr.FORMATS[fmt])
    response.set_etag(tag)
    response.headers["Cache-Control"] = cache
    return response


def json_body() -> dict:
    """The request's JSON object. Content-Type is not insisted on (curl -d sends form type)."""
    payload = json_value()
    if not isinstance(payload, dict):
        raise ValidationError(
            "The request body must be a JSON object.", code=ErrorCode.INVALID_BODY
        )
    return payload


def json_value() -> object:
    """The request's JSON value, whatever its type (a list, for bulk creation)."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise BadRequest(
            "The request body is empty; send a JSON object.", code=ErrorCode.INVALID_JSON
        )
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(
            f"The request body is not valid JSON: {exc}.", code=ErrorCode.INVALID_JSON
        ) from None
    except RecursionError:
        # json.loads recurses once per nesting level: 100,000 '[' used to answer 500.
        raise BadRequest(
            "The request body is nested too deeply to be read.", code=ErrorCode.INVALID_JSON
        ) from None
    return payload


def client_address(rt: Runtime) -> str | None:
    environ = request.environ
    return visits.client_address(
        environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR"), rt.trusted_proxies
    )


def authenticate_request() -> Actor:
    """Check the Bearer token: an admin API token or a staff key. Sets and returns g.actor."""
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented:
        raise Unauthorized("Send 'Authorization: Bearer <token>'.", code=ErrorCode.MISSING_TOKEN)
    rt = runtime()
    db = rt.db()
    if presented.startswith(staff_keys.PREFIX):
        key = staff_keys.authenticate(db, presented)
        if key is None:
            raise Unauthorized("The staff key is unknown or revoked.", code=ErrorCode.INVALID_TOKEN)
        g.actor = Actor(key["location_code"], key["id"], client_address(rt))
        return g.actor
    token = api_tokens.authenticate(db, presented)
    if token is None:
        raise Unauthorized("The token is unknown or revoked.", code=ErrorCode.INVALID_TOKEN)
    g.api_token = token
    g.actor = Actor(None, None, client_address(rt))
    return g.actor


def add_default_headers(response: Response, headers: dict[str, str]) -> Response:
    """The page headers of a blueprint, unless the view already set its own."""
    for name, value in headers.items():
        response.headers.setdefault(name, value)
    return response
