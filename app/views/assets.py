"""Files every page asks for that are not pages: the favicon.

Its own blueprint so the redirect path stays as it is: one more static rule in the URL map,
no hook and no work per request.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

import werkzeug
from flask import Blueprint, Response, current_app, request

bp = Blueprint("assets", __name__)

ONE_YEAR = 365 * 24 * 3600


@cache
def _icon(static_folder: str) -> tuple[bytes, str]:
    """static/favicon.ico and its ETag, read once per process (5 KiB)."""
    data = (Path(static_folder) / "favicon.ico").read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:16]


@bp.get("/favicon.ico")
def favicon() -> werkzeug.Response:
    """The icon, cached for a year (browsers ask for it on every site they open)."""
    data, tag = _icon(current_app.static_folder)
    response = Response(data, mimetype="image/x-icon")
    response.set_etag(tag)
    response.cache_control.public = True
    response.cache_control.max_age = ONE_YEAR
    return response.make_conditional(request)
