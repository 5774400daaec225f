"""Every API operation refuses the credentials it was not declared for, generated from the
route table so a new route cannot be forgotten (app/views/permissions.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from flask import Blueprint, Flask
from werkzeug.routing import IntegerConverter

from app import create_app
from app.access import api_tokens, staff_keys
from app.coupons import locations
from app.views import permissions
from app.views.permissions import ADMIN, MARKETER, PUBLIC, STAFF

from .conftest import make_app

REFUSALS = {"missing_token", "invalid_token", "admin_only", "staff_key_not_allowed"}


def _operations() -> list[tuple[str, str, str, frozenset[str]]]:
    """(method, url, endpoint, who) for every method of every guarded rule."""
    app = create_app(instance_path=Path(tempfile.mkdtemp()) / "instance", environ={})
    adapter = app.url_map.bind("localhost")
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".", 1)[0] not in permissions.GUARDED:
            continue
        values = {
            # ids that do not exist: an admin call must not revoke the credentials under test
            name: 999999 if isinstance(conv, IntegerConverter) else "NYC-5TH"
            for name, conv in rule._converters.items()
        }
        who = permissions.allowed(app.view_functions[rule.endpoint])
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            url = adapter.build(rule.endpoint, values, method=method)
            found.append((method, url, rule.endpoint, who))
    return found


OPERATIONS = _operations()
IDS = [f"{m} {e}" for m, _, e, _ in OPERATIONS]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    app = make_app(tmp_path_factory.mktemp("permissions"))
    db = app.extensions["touchpoint"].db()
    locations.create(
        db, {"code": "NYC-5TH", "name": "Fifth Ave", "kind": "store", "timezone": "UTC"}
    )
    credentials = {  # the admin last: its calls may change data the others read
        STAFF: staff_keys.create(db, "NYC-5TH", {"label": "Till"})[0],
        MARKETER: api_tokens.create(db, "marketer", "marketer")[0],
        ADMIN: api_tokens.create(db, "admin", "admin")[0],
    }
    return app.test_client(), credentials


def _call(client, method: str, url: str, secret: str | None):
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    kwargs = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    response = client.open(url, method=method, headers=headers, **kwargs)
    body = response.get_json(silent=True) or {}
    code = body.get("error", {}).get("code") if isinstance(body, dict) else None
    return response.status_code, code


def test_every_api_route_declares_who_may_call_it():
    assert OPERATIONS, "no guarded routes found"
    undeclared = [e for _, _, e, who in OPERATIONS if who is None]
    assert undeclared == []


def test_least_privilege_for_marketer_tokens():
    """A marketer cannot mint credentials, manage locations or branded domains (a domain
    routes every request on its host), read lockouts or erase people."""
    admin_only = {e for _, _, e, who in OPERATIONS if who == {ADMIN}}
    assert admin_only == {
        "api.list_tokens",
        "api.create_token",
        "api.revoke_token",
        "api.create_location",
        "api.update_location",
        "api.create_staff_key",
        "api.list_staff_keys",
        "api.revoke_staff_key",
        "api.security_log",
        "api.erase_lead",
        "api.create_domain",
        "api.update_domain",
        "api.delete_domain",
    }


@pytest.mark.parametrize(("method", "url", "endpoint", "who"), OPERATIONS, ids=IDS)
def test_credentials_are_refused_unless_declared(setup, method, url, endpoint, who):
    client, credentials = setup
    status, code = _call(client, method, url, None)
    if PUBLIC in who:
        assert code not in REFUSALS, (status, code)
        return
    assert (status, code) == (401, "missing_token")
    assert _call(client, method, url, "tpa_not-a-real-token") == (401, "invalid_token")

    for kind, secret in credentials.items():
        status, code = _call(client, method, url, secret)
        if kind in who:
            assert code not in REFUSALS, (kind, status, code)
        elif kind == STAFF:
            assert (status, code) == (403, "staff_key_not_allowed"), kind
        else:
            assert (status, code) == (403, "admin_only"), kind


def _app_with(bp: Blueprint) -> Flask:
    app = Flask(__name__)
    app.register_blueprint(bp)
    return app


def test_an_undeclared_api_route_stops_the_app_from_starting():
    bp = Blueprint("api", __name__, url_prefix="/api/v1")

    @bp.get("/new-thing")
    def new_thing() -> str:
        return "open to anyone?"

    with pytest.raises(RuntimeError, match="/api/v1/new-thing"):
        permissions.check_declared(_app_with(bp))


def test_an_api_route_outside_the_guarded_blueprints_stops_the_app():
    bp = Blueprint("elsewhere", __name__, url_prefix="/api/v1")

    @bp.get("/side-door")
    @permissions.allow(ADMIN)
    def side_door() -> str:
        return "no guard runs here"

    with pytest.raises(RuntimeError, match="not in a guarded blueprint"):
        permissions.check_declared(_app_with(bp))


def test_a_declared_route_passes_the_check():
    bp = Blueprint("api", __name__, url_prefix="/api/v1")

    @bp.get("/declared")
    @permissions.allow(ADMIN)
    def declared() -> str:
        return "admins only"

    permissions.check_declared(_app_with(bp))
