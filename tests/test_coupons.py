"""Stores, staff keys, offers, code batches and every redemption outcome, via the real API."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from app.coupons import codes as codetext

from . import backends
from .conftest import Api, row_count
from .coupon_helpers import codes_for, location, offer, redeem, staff


def err(response) -> dict:
    return response.get_json()["error"]


@pytest.fixture
def till(api):
    location(api, "NYC-5TH")
    location(api, "BOS-1")
    return staff(api, "NYC-5TH")


# Locations and staff keys ------------------------------------------------------------------


def test_locations_crud_and_validation(api):
    created = location(api, "BOOTH-7", "booth", address="Hall 3, stand 7")
    assert created["kind"] == "booth"
    assert api.get("/api/v1/locations/BOOTH-7").get_json() == created
    assert (
        api.patch("/api/v1/locations/BOOTH-7", json={"name": "Expo"}).get_json()["name"] == "Expo"
    )
    assert api.post("/api/v1/locations", json={**created, "created_at": None}).status_code == 422
    assert (
        api.post(
            "/api/v1/locations",
            json={"code": "BOOTH-7", "name": "x", "kind": "booth", "timezone": "UTC"},
        ).status_code
        == 409
    )
    for body, field in [
        ({"kind": "kiosk"}, "kind"),
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"code": "has space"}, "code"),
        ({"name": ""}, "name"),
    ]:
        full = {"code": "X1", "name": "X", "kind": "store", "timezone": "UTC", **body}
        response = api.post("/api/v1/locations", json=full)
        assert response.status_code == 422 and err(response)["field"] == field
    assert api.get("/api/v1/locations/NOPE").status_code == 404
    assert [loc["code"] for loc in api.get("/api/v1/locations?kind=booth").get_json()["items"]] == [
        "BOOTH-7"
    ]


def test_staff_keys_are_shown_once_stored_hashed_and_revocable(app, api):
    location(api)
    response = api.post("/api/v1/locations/NYC-5TH/staff-keys", json={"label": "Till 1"})
    key = response.get_json()["key"]
    assert key.startswith("tps_")
    assert key not in backends.dump(app.extensions["touchpoint"].db())
    listed = api.get("/api/v1/locations/NYC-5TH/staff-keys").get_json()["items"]
    assert [k["label"] for k in listed] == ["Till 1"] and "key" not in listed[0]
    till = Api(app.test_client(), key)
    assert till.get("/api/v1/redemptions").status_code == 200
    assert api.delete(f"/api/v1/locations/NYC-5TH/staff-keys/{listed[0]['id']}").status_code == 204
    assert till.get("/api/v1/redemptions").status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/campaigns",
        "/api/v1/links",
        "/api/v1/offers",
        "/api/v1/locations",
        "/api/v1/tokens",
        "/api/v1/locations/NYC-5TH/staff-keys",
    ],
)
def test_staff_keys_read_nothing_else(till, path):
    response = till.get(path)
    assert response.status_code == 403
    assert err(response)["code"] == "staff_key_not_allowed"


def test_staff_keys_work_only_at_their_location(api, till):
    code = codes_for(api, offer(api)["id"], 1)[0]
    response = redeem(till, code, location="BOS-1")
    assert response.status_code == 403 and err(response)["code"] == "location_not_allowed"
    assert till.get(f"/api/v1/codes/{code}?location=BOS-1").status_code == 403
    assert till.get("/api/v1/redemptions?location=BOS-1").status_code == 403
    boston = staff(api, "BOS-1")
    done = redeem(api, code, location="NYC-5TH").get_json()  # admins can act anywhere
    response = boston.post(
        f"/api/v1/redemptions/{done['redemption']['id']}/void", json={"reason": "not ours"}
    )
    assert response.status_code == 404


# Offers and batches ------------------------------------------------------------------------


def test_offer_validation(api):
    campaign = api.campaign()
    location(api)
    cases = [
        ({"title": ""}, "title"),
        ({"kind": "bogus"}, "kind"),
        ({"kind": "shared"}, "shared_code"),
        ({"kind": "shared", "shared_code": "x!"}, "shared_code"),
        ({"shared_code": "HOLIDAY10"}, "shared_code"),
        ({"location_codes": ["NOWHERE"]}, "location_codes"),
        ({"location_codes": "NYC-5TH"}, "location_codes"),
        ({"max_redemptions_per_code": 0}, "max_redemptions_per_code"),
        ({"code_prefix": "9X"}, "code_prefix"),
        ({"starts_at": "2026-12-01T00:00:00Z", "ends_at": "2026-11-01T00:00:00Z"}, "ends_at"),
        ({"campaign_id": 999}, "campaign_id"),
    ]
    for change, field in cases:
        body = {"campaign_id": campaign["id"], "title": "T", **change}
        response = api.post("/api/v1/offers", json=body)
        assert response.status_code == 422, (change, response.get_json())
        assert err(response)["field"] == field, change


def test_shared_code_is_unique_across_offers(api):
    offer(api, kind="shared", shared_code="holiday-10")
    response = api.post(
        "/api/v1/offers",
        json={
            "campaign_id": api.campaign()["id"],
            "title": "Again",
            "kind": "shared",
            "shared_code": "HOLIDAY10",
        },
    )
    assert response.status_code == 409 and err(response)["code"] == "code_taken"


def test_batch_export_as_csv_and_json(api):
    created = offer(api, code_prefix="boot")
    batch = api.post(f"/api/v1/offers/{created['id']}/codes", json={"count": 250}).get_json()
    assert batch["count"] == 250
    text = api.get(batch["download"]["csv"]).get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 250 and len({r["code"] for r in rows}) == 250
    assert all(r["code"].startswith("BOOT-") and len(r["code"]) == 19 for r in rows)
    items = api.get(batch["download"]["json"]).get_json()["items"]
    assert [i["code"] for i in items] == [r["code"] for r in rows]
    assert api.post(f"/api/v1/offers/{created['id']}/codes", json={"count": 0}).status_code == 422
    assert (
        api.post(f"/api/v1/offers/{created['id']}/codes", json={"count": 100_001}).status_code
        == 422
    )
    assert api.get(f"/api/v1/offers/{created['id']}/codes?batch_id=999").status_code == 404


def test_one_personal_code_per_recipient(api):
    campaign = api.campaign()
    link = api.link(campaign["id"])
    api.post(
        f"/api/v1/links/{link['id']}/recipients",
        json={"recipients": [{"email": "ann@example.com"}, {"email": "bob@example.com"}]},
    )
    created = offer(api, campaign["id"])
    batch = api.post(
        f"/api/v1/offers/{created['id']}/codes", json={"recipients_link_id": link["id"]}
    ).get_json()
    assert batch["count"] == 2
    again = api.post(
        f"/api/v1/offers/{created['id']}/codes", json={"recipients_link_id": link["id"]}
    ).get_json()
    assert again["count"] == 0  # everyone has a code already
    items = api.get(f"/api/v1/offers/{created['id']}/codes").get_json()["items"]
    assert sorted(i["email"] for i in items) == ["ann@example.com", "bob@example.com"]
    assert all(i["lead_id"] for i in items)


# Redemption outcomes -----------------------------------------------------------------------


def test_redeemed_then_already_redeemed(api, till):
    created = offer(api)
    code = codes_for(api, created["id"], 1)[0]
    response = redeem(till, code.lower().replace("-", " "), amount="59.90")
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "redeemed"
    assert body["offer"]["title"] == "20% off boots" and body["offer"]["discount"] == "20% off"
    assert body["campaign_id"] == created["campaign_id"]
    assert body["redemption"]["amount"] == "59.90" and body["redemption"]["location"] == "NYC-5TH"
    again = redeem(till, code, transaction_id="T-2")
    assert again.status_code == 409
    assert err(again)["code"] == "already_redeemed"
    assert err(again)["location"] == "NYC-5TH"
    assert err(again)["redeemed_at"] == body["redemption"]["redeemed_at"]


def test_same_idempotency_key_returns_the_original_answer(app, api, till):
    code = codes_for(api, offer(api)["id"], 1)[0]
    headers = {"Idempotency-Key": "till-1-receipt-0042"}
    first = till.post(
        "/api/v1/redemptions", json={"code": code, "transaction_id": "T-9"}, headers=headers
    )
    second = till.post(
        "/api/v1/redemptions", json={"code": code, "transaction_id": "T-9"}, headers=headers
    )
    assert first.status_code == second.status_code == 201
    assert first.get_json() == second.get_json()
    reused = till.post(
        "/api/v1/redemptions", json={"code": code, "transaction_id": "T-10"}, headers=headers
    )
    assert reused.status_code == 422 and err(reused)["code"] == "idempotency_key_reused"
    # Without a header the receipt and the code are the key: a retry is answered again,
    # a second coupon on the same receipt is its own redemption.
    other, third = codes_for(api, offer(api)["id"], 2)
    assert redeem(till, other, "T-77").status_code == 201
    assert redeem(till, other, "T-77").status_code == 201
    assert redeem(till, third, "T-77").status_code == 201
    assert row_count(app, "redemptions") == 3


def test_unknown_code_is_404_and_a_typo_is_422(api, till):
    real = codes_for(api, offer(api)["id"], 1)[0]
    body = real.replace("-", "")[-12:]
    typo = body[:5] + ("A" if body[5] != "A" else "B") + body[6:]
    response = redeem(till, typo)
    assert response.status_code == 422 and err(response)["code"] == "check_character_mismatch"
    unknown = codetext.generate(1)[0]
    response = redeem(till, unknown)
    assert response.status_code == 404 and err(response)["code"] == "unknown_code"


def test_expired_and_not_yet_valid_are_410(api, till):
    now = datetime.now(UTC)
    past = offer(api, ends_at=(now - timedelta(hours=1)).isoformat())
    future = offer(api, starts_at=(now + timedelta(days=2)).isoformat())
    response = redeem(till, codes_for(api, past["id"], 1)[0])
    assert response.status_code == 410 and err(response)["code"] == "expired"
    response = redeem(till, codes_for(api, future["id"], 1)[0])
    assert response.status_code == 410 and err(response)["code"] == "not_yet_valid"


def test_wrong_location_is_403_and_names_where_it_is_valid(api, till):
    boston_only = offer(api, location_codes=["BOS-1"])
    response = redeem(till, codes_for(api, boston_only["id"], 1)[0])
    assert response.status_code == 403
    assert err(response)["code"] == "wrong_location" and err(response)["valid_at"] == ["BOS-1"]


def test_validate_does_not_redeem(api, till):
    code = codes_for(api, offer(api, location_codes=["NYC-5TH"])["id"], 1)[0]
    checked = till.get(f"/api/v1/codes/{code}").get_json()
    assert checked["status"] == "valid" and checked["valid_here"] is True
    assert checked["code"] == code and checked["redemption_count"] == 0
    assert api.get(f"/api/v1/codes/{code}?location=BOS-1").get_json()["status"] == "wrong_location"
    redeem(till, code)
    after = till.get(f"/api/v1/codes/{code}").get_json()
    assert (
        after["status"] == "already_redeemed" and after["last_redemption"]["location"] == "NYC-5TH"
    )


def test_void_makes_the_code_usable_again_and_keeps_both_events(app, api, till):
    code = codes_for(api, offer(api)["id"], 1)[0]
    first = redeem(till, code).get_json()["redemption"]
    voided = till.post(f"/api/v1/redemptions/{first['id']}/void", json={"reason": "returned"})
    assert voided.status_code == 200 and voided.get_json()["void_reason"] == "returned"
    assert (
        till.post(f"/api/v1/redemptions/{first['id']}/void", json={"reason": "again"}).status_code
        == 409
    )
    assert till.post(f"/api/v1/redemptions/{first['id']}/void", json={}).status_code == 422
    assert redeem(till, code, "T-2").status_code == 201
    db = app.extensions["touchpoint"].db()
    types = [r["type"] for r in db.query("SELECT type FROM events ORDER BY at, rowid")]
    assert types == ["redemption", "void", "redemption"]
    recent = till.get("/api/v1/redemptions").get_json()["items"]
    assert [r["voided_at"] is not None for r in recent] == [False, True]


def test_shared_code_attributes_to_the_campaign_and_redeems_many_times(api, till):
    created = offer(api, kind="shared", shared_code="HOLIDAY10")
    for n in range(3):
        response = redeem(till, "holiday 10", f"T-{n}")
        assert response.status_code == 201
        assert response.get_json()["campaign_id"] == created["campaign_id"]


def test_multi_use_codes_stop_at_their_limit(api, till):
    code = codes_for(api, offer(api, max_redemptions_per_code=2)["id"], 1)[0]
    assert [redeem(till, code, f"T-{n}").status_code for n in range(3)] == [201, 201, 409]


# Guessing limits ---------------------------------------------------------------------------


def test_unknown_codes_lock_out_after_the_limit_and_are_logged(app, api, till):
    real = codes_for(api, offer(api)["id"], 1)[0]
    guesses = codetext.generate(10)
    assert [redeem(till, g, f"G-{i}").status_code for i, g in enumerate(guesses)] == [404] * 10
    locked = redeem(till, real, "T-real")
    assert locked.status_code == 429
    assert err(locked)["code"] == "rate_limited"
    assert 1 <= int(locked.headers["Retry-After"]) <= 60
    assert till.get(f"/api/v1/codes/{real}").status_code == 429
    log = api.get("/api/v1/security-log").get_json()["items"]
    assert [(entry["kind"], entry["subject"].split(":")[0]) for entry in log] == [
        ("lockout", "staff")
    ]
    # Another till in the same shop (same address) keeps working...
    second = staff(api, "NYC-5TH")
    assert second.get(f"/api/v1/codes/{real}").status_code == 200
    # ...until the address itself reaches three times the limit (keys rotated by a guesser).
    third = staff(api, "NYC-5TH")
    for i, guess in enumerate(codetext.generate(20)):
        redeem(second if i < 10 else third, guess, f"H-{i}")
    assert redeem(staff(api, "NYC-5TH"), real, "T-3").status_code == 429
    subjects = [
        e["subject"].split(":")[0] for e in api.get("/api/v1/security-log").get_json()["items"]
    ]
    assert "ip" in subjects


def test_typos_do_not_count_as_guesses(api, till):
    real = codes_for(api, offer(api)["id"], 1)[0].replace("-", "")[-12:]
    for i in range(15):
        typo = (
            real[:3]
            + codetext.ALPHABET[(codetext.ALPHABET.index(real[3]) + 1 + i % 30) % 32]
            + real[4:]
        )
        if typo != real:
            assert redeem(till, typo, f"T-{i}").status_code == 422
    assert redeem(till, real, "T-ok").status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"transaction_id": "T"}, "code"),
        ({"code": "X"}, "transaction_id"),
        ({"code": "X", "transaction_id": "T", "amount": "-1"}, "amount"),
        ({"code": "X", "transaction_id": "T", "currency": "dollars"}, "currency"),
        ({"code": "X", "transaction_id": "T", "tip": 1}, "tip"),
    ],
)
def test_redemption_validation(till, body, field):
    response = till.post("/api/v1/redemptions", json=body)
    assert response.status_code == 422 and err(response)["field"] == field


def test_admin_must_name_the_location(api):
    location(api)
    response = api.post("/api/v1/redemptions", json={"code": "X", "transaction_id": "T"})
    assert response.status_code == 422 and err(response)["field"] == "location"


def test_a_retry_gets_its_answer_even_during_a_lockout(api, till):
    code = codes_for(api, offer(api)["id"], 1)[0]
    key = {"Idempotency-Key": "3f0c9a52-till-1"}
    body = {"code": code, "transaction_id": "T-1"}
    first = till.post("/api/v1/redemptions", json=body, headers=key)
    for i, guess in enumerate(codetext.generate(10)):
        redeem(till, guess, f"G-{i}")
    assert till.get(f"/api/v1/codes/{code}").status_code == 429
    retry = till.post("/api/v1/redemptions", json=body, headers=key)
    assert retry.status_code == 201 and retry.get_json() == first.get_json()
    assert retry.get_json()["redemption"]["code"] == code  # shown as printed
    # Without its own key the retry's key is made of the receipt and the code: answering it
    # during a lockout would tell a guesser who knows a receipt number which code it used.
    assert redeem(till, code, "T-1").status_code == 429
