"""Small helpers shared by the blueprints."""

from __future__ import annotations

from flask import Response, current_app, request

from .. import Runtime, qr, visits


def runtime() -> Runtime:
    return current_app.extensions["touchpoint"]


def request_scheme(rt: Runtime) -> str:
    """The scheme the client used; X-Forwarded-Proto only counts from a trusted proxy."""
    remote = request.environ.get("REMOTE_ADDR")
    if visits.peer_is_trusted(remote, rt.trusted_proxies):
        proto = request.environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[0].strip().lower()
        if proto in ("http", "https"):
            return proto
    return request.scheme


def base_url(rt: Runtime) -> str:
    """PUBLIC_BASE_URL, or the scheme and host this request came in on."""
    if rt.config["PUBLIC_BASE_URL"]:
        return rt.config["PUBLIC_BASE_URL"]
    host = request.host
    if visits.peer_is_trusted(request.environ.get("REMOTE_ADDR"), rt.trusted_proxies):
        host = request.environ.get("HTTP_X_FORWARDED_HOST", "").split(",")[0].strip() or host
    return f"{request_scheme(rt)}://{host}"


def qr_response(data: str, fmt: str, options: qr.Options, *, public: bool) -> Response:
    """The image with a strong ETag; 304 when the client already has it."""
    tag = qr.etag(data, fmt, options)
    cache = "public, max-age=31536000, immutable" if public else "private, max-age=86400"
    if tag in request.if_none_match:
        response = Response(status=304)
    else:
        response = Response(qr.render(data, fmt, options), mimetype=qr.FORMATS[fmt])
    response.set_etag(tag)
    response.headers["Cache-Control"] = cache
    return response
