"""Every JSON error has one shape: `{"error": {"code", "message", "field"?}}`, plus only the
keys its code documents (app/core/error_codes.py EXTRA_KEYS; `errors` when several fields of
one request are refused). One parametrised test asks a real app for every error code the
API answers, each by a request a client could send, and checks body, status and headers.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.access import api_tokens
from app.core.error_codes import EXTRA_KEYS, PAGES_ONLY, ErrorCode, api_codes

from . import backends
from .conftest import BROWSER_UA, Api, api_for, make_app
from .coupon_helpers import codes_for, location, offer, redeem, staff
from .test_guessing import mistype

ROOT = Path(__file__).resolve().parent.parent
E = ErrorCode
JOB_ROWS = 3  # uploads of more lines than this become background jobs in these apps
FUTURE = "2100-01-01T00:00:00Z"
PAST = "2001-01-01T00:00:00Z"


SITE = "https://shop.example.com/"


class World:
    """One app with a little of everything, built once for the module: errors change nothing,
    so the cases share it. Cases that need other settings ask for a `fresh` app."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory
        self.app = make_app(tmp_path_factory.mktemp("world"), RECIPIENTS_JOB_ROWS=JOB_ROWS)
        api = self.api = api_for(self.app)
        db = self.app.extensions["touchpoint"].db()
        secret, _ = api_tokens.create(db, "marketer", "marketer")
        self.marketer = Api(self.app.test_client(), secret)
        self.anonymous = self.app.test_client()
        location(api, "NYC-5TH")
        location(api, "BOS-1")
        location(api, "EXPO-1", "booth")
        location(api, "EXPO-2", "booth")
        self.till = staff(api, "NYC-5TH")
        self.campaign = api.campaign()
        self.link = api.link(self.campaign["id"])
        domain = api.post("/api/v1/domains", json={"host": "used.fernway.example"}).get_json()
        self.domain_in_use = domain["id"]
        api.link(self.campaign["id"], domain="used.fernway.example", slug="taken-slug")
        api.link(self.campaign["id"], slug="taken-slug")
        self.offer = offer(api, self.campaign["id"])
        self.codes = codes_for(api, self.offer["id"], 3)
        self.shared = offer(api, self.campaign["id"], kind="shared", shared_code="SPRING2026")
        self.expired = self._one_code(starts_at=PAST, ends_at="2002-01-01T00:00:00Z")
        self.not_yet = self._one_code(starts_at=FUTURE)
        self.boston_only = self._one_code(location_codes=["BOS-1"])
        self.redeemed = self.codes[1]
        done = self.till.post(
            "/api/v1/redemptions",
            json={"code": self.redeemed, "transaction_id": "T-redeemed"},
            headers={"Idempotency-Key": "R-1"},
        )
        assert done.status_code == 201, done.get_json()
        self.voided = done.get_json()["redemption"]["id"]
        voided = self.till.post(f"/api/v1/redemptions/{self.voided}/void", json={"reason": "x"})
        assert voided.status_code == 200, voided.get_json()
        redeem(self.till, self.redeemed, "T-redeemed-again")
        hit = self.anonymous.get(f"/r/{self.link['token']}", headers={"User-Agent": BROWSER_UA})
        self.click_id = hit.headers["Location"].rpartition("tp_cid=")[2]
        for value, currency in (("10.00", "EUR"), ("1000", "JPY")):
            sale = {"type": "sale", "click_id": self.click_id, "value": value, "currency": currency}
            assert api.post("/api/v1/conversions", json=sale).status_code == 201
        order = {
            "type": "sale",
            "email": "web@example.com",
            "value": "5.00",
            "external_id": "ORD-77",
        }
        assert api.post("/api/v1/conversions", json=order).status_code == 201
        won = {"type": "sale", "email": "won@example.com", "value": "5.00"}
        self.won_lead = api.post("/api/v1/conversions", json=won).get_json()["lead_id"]
        erased = {"type": "lead", "email": "gone@example.com"}
        self.erased_lead = api.post("/api/v1/conversions", json=erased).get_json()["lead_id"]
        assert api.delete(f"/api/v1/leads/{self.erased_lead}").status_code == 200
        self.scan_id = str(uuid.uuid4())
        scanned = api.post("/api/v1/scans", json=self.scan(self.scan_id, location="EXPO-1"))
        assert scanned.status_code == 201, scanned.get_json()
        queued = self.upload_csv(self.link["id"], rows=JOB_ROWS + 1)
        assert queued.status_code == 202, queued.get_json()
        self.queued_job = queued.get_json()["id"]

    def _one_code(self, **fields) -> str:
        return codes_for(self.api, offer(self.api, self.campaign["id"], **fields)["id"], 1)[0]

    @staticmethod
    def scan(scan_id: str | None = None, **extra) -> dict:
        return {
            "code": "badge text",
            "scan_id": scan_id or str(uuid.uuid4()),
            "scanned_at": "2026-11-20T10:15:00Z",
            **extra,
        }

    def upload_csv(self, link_id: int, *, rows: int = 1, body: bytes | None = None, api=None):
        if body is None:
            body = ("email\n" + "".join(f"p{i}@example.com\n" for i in range(rows))).encode()
        return (api or self.api).post(
            f"/api/v1/links/{link_id}/recipients",
            data=body,
            headers={"Content-Type": "text/csv"},
        )

    def fresh(self, **settings) -> Api:
        """An admin client on an app of its own, with these settings."""
        return api_for(make_app(self._tmp.mktemp("fresh"), **settings))

    def staff_browser(self):
        """A tablet's browser signed in at NYC-5TH; its posts need its pages' CSRF token."""
        key = self.api.post("/api/v1/locations/NYC-5TH/staff-keys", json={"label": "Tab"})
        browser = self.app.test_client()
        page = browser.get("/staff").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        signed = browser.post("/staff", data={"key": key.get_json()["key"], "csrf_token": token})
        assert signed.status_code == 303
        return browser


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return World(tmp_path_factory)


# The cases: one request per code ---------------------------------------------------------


def _rate_limited(w: World):
    api = w.fresh(GUESS_LIMIT_PER_MINUTE=1)
    location(api, "NYC-5TH")
    till = staff(api, "NYC-5TH")
    for attempt in range(6):  # a clock minute may end between two guesses: try again
        response = redeem(till, f"NOPE-{attempt}")
        if response.status_code == 429:
            return response
    raise AssertionError("the guess limit never answered 429")


def _storage_unavailable(w: World):
    api = w.fresh()
    rt = api.client.application.extensions["touchpoint"]
    backends.refuse_writes(rt.db())  # as a read-only database (or a standby) does
    return api.post("/api/v1/campaigns", json={"name": "x", "channel": "email"})


def _internal_error(w: World):
    """No endpoint fails on purpose, so this app gets one route that raises, like a bug would."""
    api = w.fresh()

    def broken():
        raise RuntimeError("a bug")

    api.client.application.add_url_rule("/api/v1/broken", "broken", broken)
    return api.get("/api/v1/broken")


def _range_past_the_end(w: World):
    """A finished job's result file asked for bytes past its end: the framework's own 416."""
    api = w.fresh(RECIPIENTS_JOB_ROWS=JOB_ROWS)
    link = api.link()
    job = w.upload_csv(link["id"], rows=JOB_ROWS + 1, api=api).get_json()
    rt = api.client.application.extensions["touchpoint"]
    env = {
        **os.environ,
        **backends.environment(api.client.application),
        "TOUCHPOINT_SECRET_KEY": rt.config["SECRET_KEY"],
    }
    worker = ROOT / ".venv" / "bin" / "touchpoint"
    subprocess.run(
        [str(worker), "worker", "--once", "--poll", "0.05"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert api.get(f"/api/v1/jobs/{job['id']}").get_json()["status"] == "done"
    return api.get(f"/api/v1/jobs/{job['id']}/result", headers={"Range": "bytes=999999-"})


def _csrf_failed(w: World):
    return w.staff_browser().post("/staff/api/scans", json=w.scan())


@dataclass(frozen=True)
class Case:
    code: ErrorCode
    send: Callable[[World], object]
    status: int | None = None  # only for a code whose status varies


CASES = [
    # 400
    Case(E.BAD_REQUEST, lambda w: w.api.get(f"/api/v1/links/{w.link['id']}/qr.gif")),
    Case(
        E.INVALID_JSON,
        lambda w: w.api.post(
            "/api/v1/campaigns", data=b"{not json", headers={"Content-Type": "application/json"}
        ),
    ),
    Case(E.INVALID_QR_OPTION, lambda w: w.api.get(f"/api/v1/links/{w.link['id']}/qr.svg?scale=0")),
    Case(
        E.LOW_CONTRAST,
        lambda w: w.api.get(f"/api/v1/links/{w.link['id']}/qr.svg?fg=ffffff&bg=fefefe"),
    ),
    Case(E.CSRF_FAILED, _csrf_failed),
    # 401
    Case(E.MISSING_TOKEN, lambda w: w.anonymous.get("/api/v1/campaigns")),
    Case(
        E.INVALID_TOKEN,
        lambda w: w.anonymous.get(
            "/api/v1/campaigns", headers={"Authorization": "Bearer tpa_not-a-real-token"}
        ),
    ),
    Case(E.SIGNED_OUT, lambda w: w.anonymous.post("/staff/api/scans", json=w.scan())),
    # 403
    Case(E.ADMIN_ONLY, lambda w: w.marketer.get("/api/v1/tokens")),
    Case(E.STAFF_KEY_NOT_ALLOWED, lambda w: w.till.get("/api/v1/campaigns")),
    Case(E.LOCATION_NOT_ALLOWED, lambda w: redeem(w.till, w.codes[0], location="BOS-1")),
    Case(E.WRONG_LOCATION, lambda w: redeem(w.till, w.boston_only)),
    # 404
    Case(E.NOT_FOUND, lambda w: w.api.get("/api/v1/nothing-here")),
    Case(E.CAMPAIGN_NOT_FOUND, lambda w: w.api.get("/api/v1/campaigns/999")),
    Case(E.LINK_NOT_FOUND, lambda w: w.api.get("/api/v1/links/999")),
    Case(E.TOKEN_NOT_FOUND, lambda w: w.api.delete("/api/v1/tokens/999")),
    Case(E.LEAD_NOT_FOUND, lambda w: w.api.get(f"/api/v1/leads/{uuid.uuid4()}")),
    Case(E.CONVERSION_NOT_FOUND, lambda w: w.api.get("/api/v1/conversions/999")),
    Case(E.CALL_NOT_FOUND, lambda w: w.api.get("/api/v1/calls/999")),
    Case(E.PARTNER_NOT_FOUND, lambda w: w.api.get("/api/v1/partners/nobody")),
    Case(
        E.ORDER_NOT_FOUND,
        lambda w: w.api.post("/api/v1/pickups", json={"location": "NYC-5TH", "order_id": "NO-1"}),
    ),
    Case(
        E.ALREADY_PICKED_UP,
        lambda w: [
            w.api.post("/api/v1/pickups", json={"location": "NYC-5TH", "order_id": "ORD-77"})
            for _ in range(2)
        ][-1],
    ),
    Case(
        E.SALE_ALREADY_RECORDED,
        lambda w: [
            w.api.post(
                "/api/v1/sales",
                json={"location": "NYC-5TH", "transaction_id": "S-9", "amount": "1.00"},
                headers={"Idempotency-Key": key},
            )
            for key in ("k-1", "k-2")
        ][-1],
    ),
    Case(
        E.PHONE_NUMBER_NOT_FOUND,
        lambda w: w.api.delete(f"/api/v1/campaigns/{w.campaign['id']}/phone-numbers/+14155550100"),
    ),
    Case(E.LOCATION_NOT_FOUND, lambda w: w.api.get("/api/v1/locations/NOWHERE")),
    Case(E.STAFF_KEY_NOT_FOUND, lambda w: w.api.delete("/api/v1/locations/NYC-5TH/staff-keys/999")),
    Case(E.OFFER_NOT_FOUND, lambda w: w.api.get("/api/v1/offers/999")),
    Case(
        E.BATCH_NOT_FOUND,
        lambda w: w.api.get(f"/api/v1/offers/{w.offer['id']}/codes?batch_id=999&format=json"),
    ),
    Case(E.UNKNOWN_CODE, lambda w: w.till.get("/api/v1/codes/NO-SUCH-CODE")),
    Case(
        E.REDEMPTION_NOT_FOUND,
        lambda w: w.till.post("/api/v1/redemptions/999/void", json={"reason": "x"}),
    ),
    Case(E.SCAN_NOT_FOUND, lambda w: w.api.patch(f"/api/v1/scans/{uuid.uuid4()}", json={})),
    Case(E.JOB_NOT_FOUND, lambda w: w.api.get("/api/v1/jobs/999")),
    # 405
    Case(
        E.METHOD_NOT_ALLOWED,
        lambda w: w.api.client.put("/api/v1/campaigns", json={}, headers=w.api.headers),
    ),
    # 409
    Case(
        E.LOCATION_EXISTS,
        lambda w: w.api.post(
            "/api/v1/locations",
            json={"code": "NYC-5TH", "name": "Again", "kind": "store", "timezone": "UTC"},
        ),
    ),
    Case(
        E.CODE_TAKEN,
        lambda w: w.api.post(
            "/api/v1/offers",
            json={
                "campaign_id": w.campaign["id"],
                "title": "Again",
                "discount": "10%",
                "kind": "shared",
                "shared_code": "SPRING2026",
            },
        ),
    ),
    Case(E.ALREADY_REDEEMED, lambda w: redeem(w.till, w.redeemed, "T-third")),
    Case(
        E.ALREADY_VOIDED,
        lambda w: w.till.post(f"/api/v1/redemptions/{w.voided}/void", json={"reason": "x"}),
    ),
    Case(
        E.LEAD_CLOSED,
        lambda w: w.api.post(f"/api/v1/leads/{w.won_lead}/lost", json={"reason": "timing"}),
    ),
    Case(E.LEAD_NOT_LOST, lambda w: w.api.post(f"/api/v1/leads/{w.won_lead}/reopen", json={})),
    Case(
        E.PARTNER_EXISTS,
        lambda w: [
            w.api.post("/api/v1/partners", json={"code": "dup", "name": "D", "kind": "var"})
            for _ in range(2)
        ][-1],
    ),
    Case(E.DOMAIN_NOT_FOUND, lambda w: w.api.get("/api/v1/domains/999")),
    Case(E.INVALID_HOST, lambda w: w.api.post("/api/v1/domains", json={"host": "https://x.io/a"})),
    Case(
        E.DOMAIN_EXISTS,
        lambda w: [
            w.api.post("/api/v1/domains", json={"host": "dup.fernway.example"}) for _ in range(2)
        ][-1],
    ),
    Case(E.DOMAIN_IN_USE, lambda w: w.api.delete(f"/api/v1/domains/{w.domain_in_use}")),
    Case(
        E.UNKNOWN_DOMAIN,
        lambda w: w.api.post(
            "/api/v1/links",
            json={"campaign_id": w.campaign["id"], "destination": SITE, "domain": "no.example"},
        ),
    ),
    Case(
        E.INVALID_SLUG,
        lambda w: w.api.post(
            "/api/v1/links",
            json={"campaign_id": w.campaign["id"], "destination": SITE, "slug": "a b"},
        ),
    ),
    Case(
        E.SLUG_RESERVED,
        lambda w: w.api.post(
            "/api/v1/links",
            json={"campaign_id": w.campaign["id"], "destination": SITE, "slug": "api/x"},
        ),
    ),
    Case(
        E.SLUG_TAKEN,
        lambda w: w.api.post(
            "/api/v1/links",
            json={"campaign_id": w.campaign["id"], "destination": SITE, "slug": "Taken-Slug"},
        ),
    ),
    Case(
        E.UNKNOWN_PARTNER,
        lambda w: w.api.patch(f"/api/v1/leads/{w.won_lead}", json={"partner_code": "nobody"}),
    ),
    Case(
        E.PHONE_NUMBER_TAKEN,
        lambda w: [
            w.api.post(
                f"/api/v1/campaigns/{c['id']}/phone-numbers", json={"number": "+14155550177"}
            )
            for c in (w.campaign, w.api.campaign(name="Other"))
        ][-1],
    ),
    Case(
        E.LEAD_ERASED,
        lambda w: w.api.patch(f"/api/v1/leads/{w.erased_lead}", json={"owner": "x@y.io"}),
    ),
    Case(
        E.SCAN_ID_TAKEN,
        lambda w: w.api.post("/api/v1/scans", json=w.scan(w.scan_id, location="EXPO-2")),
    ),
    Case(E.JOB_NOT_FINISHED, lambda w: w.api.get(f"/api/v1/jobs/{w.queued_job}/result")),
    # 410
    Case(E.EXPIRED, lambda w: redeem(w.till, w.expired)),
    Case(E.NOT_YET_VALID, lambda w: redeem(w.till, w.not_yet)),
    # 413
    Case(
        E.PAYLOAD_TOO_LARGE,
        lambda w: w.fresh(MAX_CONTENT_LENGTH=1000).post(
            "/api/v1/campaigns", json={"name": "x" * 5000}
        ),
    ),
    # 422
    Case(
        E.VALIDATION_ERROR,
        lambda w: w.api.patch(f"/api/v1/campaigns/{w.campaign['id']}", json={"name": "x" * 500}),
    ),
    Case(E.REQUIRED, lambda w: w.api.post("/api/v1/campaigns", json={})),
    Case(
        E.RESERVED_TYPE,
        lambda w: w.api.post("/api/v1/conversions", json={"type": "lost", "email": "a@b.io"}),
    ),
    Case(
        E.INVALID_CHOICE,
        lambda w: w.api.patch(f"/api/v1/campaigns/{w.campaign['id']}", json={"channel": "fax"}),
    ),
    Case(
        E.UNKNOWN_FIELD,
        lambda w: w.api.patch(f"/api/v1/campaigns/{w.campaign['id']}", json={"utm_sourc": "x"}),
    ),
    Case(
        E.NOT_UPDATABLE,
        lambda w: w.api.patch(f"/api/v1/links/{w.link['id']}", json={"campaign_id": 1}),
    ),
    Case(
        E.INVALID_URL,
        lambda w: w.api.patch(f"/api/v1/links/{w.link['id']}", json={"destination": "ftp://x"}),
    ),
    Case(E.INVALID_BODY, lambda w: w.api.post("/api/v1/campaigns", json=[1, 2])),
    Case(
        E.INVALID_EMAIL,
        lambda w: w.api.post("/api/v1/conversions", json={"type": "sale", "email": "not-an-email"}),
    ),
    Case(
        E.INVALID_PHONE,
        lambda w: w.api.post("/api/v1/conversions", json={"type": "sale", "phone": "12"}),
    ),
    Case(
        E.UNKNOWN_CAMPAIGN,
        lambda w: w.api.post(
            "/api/v1/links", json={"campaign_id": 999, "destination": "https://shop.example.com/"}
        ),
    ),
    Case(
        E.UNKNOWN_OFFER,
        lambda w: w.api.post(
            "/api/v1/links", json={"campaign_id": w.campaign["id"], "offer_id": 999}
        ),
    ),
    Case(
        E.WRONG_CAMPAIGN,
        lambda w: w.api.post(
            "/api/v1/links",
            json={"campaign_id": w.api.campaign()["id"], "offer_id": w.offer["id"]},
        ),
    ),
    Case(
        E.UNKNOWN_LOCATION,
        lambda w: w.api.patch(
            f"/api/v1/offers/{w.offer['id']}", json={"location_codes": ["NOWHERE"]}
        ),
    ),
    Case(
        E.UNKNOWN_LINK,
        lambda w: w.api.post(
            f"/api/v1/offers/{w.offer['id']}/codes", json={"recipients_link_id": 999}
        ),
    ),
    Case(
        E.UNKNOWN_LEAD,
        lambda w: w.api.post("/api/v1/conversions", json={"type": "sale", "lead_id": "nobody"}),
    ),
    Case(E.IDENTIFIER_REQUIRED, lambda w: w.api.post("/api/v1/conversions", json={"type": "sale"})),
    Case(
        E.UNKNOWN_CLICK,
        lambda w: w.api.post("/api/v1/conversions", json={"type": "sale", "click_id": "nope"}),
    ),
    Case(
        E.UNKNOWN_VISITOR,
        lambda w: w.api.post(
            "/api/v1/conversions", json={"type": "sale", "visitor_id": str(uuid.uuid4())}
        ),
    ),
    Case(
        E.IN_FUTURE,
        lambda w: w.api.post(
            "/api/v1/conversions",
            json={"type": "sale", "click_id": w.click_id, "occurred_at": FUTURE},
        ),
    ),
    Case(
        E.BEFORE_CLICK,
        lambda w: w.api.post(
            "/api/v1/conversions",
            json={"type": "sale", "click_id": w.click_id, "occurred_at": PAST},
        ),
    ),
    Case(
        E.INVALID_ROWS,
        lambda w: w.api.post(
            f"/api/v1/links/{w.link['id']}/recipients",
            json={"recipients": [{"email": "ann@example.com"}, {"email": "x"}]},
        ),
    ),
    Case(
        E.MISSING_EMAIL_COLUMN,
        lambda w: w.upload_csv(w.link["id"], body=b"name\nAnn\n"),
    ),
    Case(E.EMPTY_FILE, lambda w: w.upload_csv(w.link["id"], body=b"\n")),
    Case(
        E.INVALID_ENCODING,
        lambda w: w.upload_csv(w.link["id"], body="email\n".encode("utf-16")),
    ),
    Case(
        E.SHARED_OFFER,
        lambda w: w.api.post(f"/api/v1/offers/{w.shared['id']}/codes", json={"count": 1}),
    ),
    Case(
        E.CHECK_CHARACTER_MISMATCH,
        lambda w: w.till.get(f"/api/v1/codes/{mistype(w.codes[2])}"),
    ),
    Case(
        E.IDEMPOTENCY_KEY_REUSED,
        lambda w: w.till.post(
            "/api/v1/redemptions",
            json={"code": w.codes[0], "transaction_id": "T-other"},
            headers={"Idempotency-Key": "R-1"},
        ),
    ),
    Case(E.UNKNOWN_PARAMETER, lambda w: w.api.get("/api/v1/reports/funnel?modle=linear")),
    Case(E.MIXED_CURRENCIES, lambda w: w.api.get("/api/v1/reports/attribution")),
    # 429, 500, 503 and the framework's own refusals
    Case(E.RATE_LIMITED, _rate_limited),
    Case(E.INTERNAL_ERROR, _internal_error),
    Case(E.STORAGE_UNAVAILABLE, _storage_unavailable),
    Case(E.HTTP_ERROR, _range_past_the_end, status=416),
]


def assert_error_object(error: object, code: str) -> None:
    assert isinstance(error, dict)
    assert error.get("code") == code, error
    assert isinstance(error.get("message"), str) and error["message"].strip(), error
    if "field" in error:
        assert isinstance(error["field"], str) and error["field"], error
    several = {"errors"} if ErrorCode(code).status == 422 else set()
    keys = set(error) - {"field"} - several
    assert keys == {"code", "message", *EXTRA_KEYS.get(ErrorCode(code), ())}, error


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c.status or c.code.status}-{c.code}" for c in CASES]
)
def test_every_error_has_the_one_shape(world, case):
    response = case.send(world)
    status = case.status or case.code.status
    body = response.get_json(silent=True)
    assert (response.status_code, body and body.get("error", {}).get("code")) == (
        status,
        case.code,
    ), response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert set(body) == {"error"}
    error = body["error"]
    assert_error_object(error, case.code)
    if "errors" in error:  # several fields refused: the first is also the error itself
        assert len(error["errors"]) >= 2
        for each in error["errors"]:
            assert_error_object(each, each.get("code"))
            assert "errors" not in each
        first = error["errors"][0]
        assert all(error.get(key) == first.get(key) for key in ("code", "message", "field"))
    api = response.request.path.startswith("/api/")
    assert (case.code in PAGES_ONLY) == (not api)
    if status == 401 and api:
        assert response.headers["WWW-Authenticate"] == "Bearer"
    if status == 405:
        assert "POST" in response.headers["Allow"]
    if case.code in (E.RATE_LIMITED, E.STORAGE_UNAVAILABLE):
        assert int(response.headers["Retry-After"]) >= 1


def test_every_code_the_api_answers_has_a_case_above():
    """So a new code comes with a request that produces it, and the cases stay true."""
    answered = {c.code for c in CASES if c.code not in PAGES_ONLY}
    assert answered == set(api_codes())
    assert len({c.code for c in CASES}) == len(CASES)
