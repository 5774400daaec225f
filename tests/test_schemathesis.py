"""Schemathesis over the served OpenAPI document, against a real gunicorn (issue 12).

Every operation of /api/v1/openapi.json gets generated requests, valid and invalid, with an
admin token, on a database seeded with a campaign, links, an offer with codes, a location, a
lead and a conversion, so that small generated ids hit real rows. Three checks: no 5xx, every
status is one the document lists, every JSON body matches the documented schema.

Bounded and repeatable: SCHEMATHESIS_EXAMPLES examples per operation (default 25), with a fixed
derandomized seed; `pytest -s` prints the number of cases run. A failing operation stops at its
first failure (shrunk), so the failures counted are failing operations.
"""

from __future__ import annotations

import os
import urllib.request
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from app.views.api import OPENAPI_PATH

from . import coupon_helpers
from .conftest import Api
from .live import served_app

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
SECRET = "schemathesis-secret-key-of-enough-length"

cases = Counter()


def _seed(api: Api) -> None:
    """Rows for ids 1 and 2 of most kinds, so generated ids find something."""
    for n in (1, 2):
        campaign = api.campaign(name=f"Campaign {n}")
        link = api.link(campaign["id"])
        imported = api.post(
            f"/api/v1/links/{link['id']}/recipients",
            json={"recipients": [{"email": f"ada{n}@example.com", "first_name": "Ada"}]},
        )
        assert imported.status_code == 200, imported.get_json()
        offer = coupon_helpers.offer(api, campaign["id"])
        coupon_helpers.codes_for(api, offer["id"], count=2)
        sale = {"type": "sale", "email": f"ada{n}@example.com", "value": "10.00"}
        assert api.post("/api/v1/conversions", json=sale).status_code == 201
    coupon_helpers.location(api, "NYC-5TH")
    coupon_helpers.staff(api, "NYC-5TH")
    assert api.post("/api/v1/tokens", json={"name": "spare"}).status_code == 201


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("schemathesis")
    with served_app(folder, SECRET) as (app, base):
        from app.access import api_tokens

        secret, row = api_tokens.create(app.extensions["touchpoint"].db(), "st", "admin")
        _seed(Api(app.test_client(), secret))
        yield base, secret, row["id"]
    print(f"\nschemathesis: {sum(cases.values())} cases over {len(cases)} operations")


# The document file, loaded at collection; test_the_served_document_is_the_file checks that
# the server answers exactly these bytes. (schemathesis.pytest.from_fixture, which would load
# it from the server, fails on pytest 9: 'Function' object has no attribute '_nodeid'.)
schema = schemathesis.openapi.from_path(str(OPENAPI_PATH))


def test_the_served_document_is_the_file(served):
    base, _, _ = served
    with urllib.request.urlopen(f"{base}/api/v1/openapi.json", timeout=10) as response:
        assert response.read() == OPENAPI_PATH.read_bytes()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_its_document(case, served):
    base, secret, own_token_id = served
    if case.path_parameters and case.path_parameters.get("token_id") == own_token_id:
        # Revoking the token the run signs in with would turn every later case into a 401.
        case.path_parameters["token_id"] = own_token_id + 1
    headers = {"Authorization": f"Bearer {secret}"}
    cases[case.operation.label] += 1
    case.call_and_validate(base_url=base, headers=headers, checks=CHECKS, timeout=30)
