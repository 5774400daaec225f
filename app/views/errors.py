"""One place that turns errors into responses: JSON under /api/, a plain page elsewhere.

Registered on the app, not on blueprints, because routing errors (404, 405) never reach a
blueprint's handlers.
"""

from __future__ import annotations

import sqlite3

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from app.core import postgres
from app.core.error_codes import ErrorCode
from app.core.errors import TouchpointError
from app.views import pages

# The errors the web framework raises itself under /api/ (routing, body size, form parsing);
# any other status gets the generic `http_error` (a 416 for a Range past a file's end).
_HTTP_CODES = {
    400: ErrorCode.BAD_REQUEST,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
}
_HTTP_MESSAGES = {
    404: "No such resource or route.",
    405: "This method is not allowed here.",
    413: "The request body is larger than the server accepts.",
}


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _json_error(status: int, body: dict, headers: dict | None = None) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _html_error(status: int, title: str, message: str) -> Response:
    return Response(
        pages.page(title, message),
        status=status,
        content_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-store"},
    )


# SQLite errors that mean "storage cannot take writes now", not a bug: answered 503 with
# Retry-After so clients try again (clicks never get here: app/clicks/hit_log.py spools them).
_STORAGE_TROUBLE = ("full", "locked", "readonly", "disk i/o error")
RETRY_AFTER_S = 30


def _storage_unavailable() -> Response:
    headers = {"Retry-After": str(RETRY_AFTER_S)}
    if _wants_json():
        body = {
            "error": {
                "code": ErrorCode.STORAGE_UNAVAILABLE,
                "message": "The database cannot take writes right now; try again later.",
            }
        }
        return _json_error(503, body, headers)
    response = _html_error(503, "Try again in a moment", "We cannot save anything right now.")
    response.headers.update(headers)
    return response


def register(app: Flask) -> None:
    @app.errorhandler(sqlite3.OperationalError)
    def storage_error(exc: sqlite3.OperationalError) -> Response:
        if any(word in str(exc).lower() for word in _STORAGE_TROUBLE):
            app.logger.warning(
                "storage unavailable on %s %s: %s", request.method, request.path, exc
            )
            return _storage_unavailable()
        return unexpected(exc)

    @app.errorhandler(postgres.OperationalError)
    @app.errorhandler(postgres.ReadOnly)
    def postgres_unavailable(exc: postgres.Error) -> Response:
        # The server is unreachable, restarting, out of connections or a lock waited too
        # long: each passes, so the client is told to try again, not that we broke.
        app.logger.warning("database unavailable on %s %s: %s", request.method, request.path, exc)
        return _storage_unavailable()

    @app.errorhandler(TouchpointError)
    def touchpoint_error(exc: TouchpointError) -> Response:
        if _wants_json():
            headers = dict(exc.headers)
            if exc.status == 401:
                headers["WWW-Authenticate"] = "Bearer"
            return _json_error(exc.status, exc.body(), headers)
        response = _html_error(exc.status, "Something is not right", exc.message)
        response.headers.update(exc.headers)
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        headers = {}
        allowed = getattr(exc, "valid_methods", None)  # only MethodNotAllowed has them
        if status == 405 and allowed:
            headers["Allow"] = ", ".join(allowed)
        if _wants_json():
            code = _HTTP_CODES.get(status, ErrorCode.HTTP_ERROR)
            message = _HTTP_MESSAGES.get(status) or exc.description or exc.name
            return _json_error(status, {"error": {"code": code, "message": message}}, headers)
        if status == 404:
            response = _html_error(404, pages.NOT_FOUND_TITLE, pages.NOT_FOUND_MESSAGE)
        else:
            response = _html_error(status, exc.name, exc.description or "")
        response.headers.update(headers)
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if _wants_json():
            return _json_error(
                500,
                {
                    "error": {
                        "code": ErrorCode.INTERNAL_ERROR,
                        "message": "Something went wrong on our side; it has been logged.",
                    }
                },
            )
        return _html_error(500, "Something went wrong", "Please try again in a moment.")
