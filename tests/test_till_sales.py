"""Sales without a code at a till ("customer mentioned" a campaign) and web orders picked up
in a store: exactly once, in the till's currency, credited where the money came in."""

from __future__ import annotations

import pytest

from .conftest import api_for, make_app, row_count
from .coupon_helpers import location, staff
from .live import in_processes
from .test_reports import around, attribution, click, rows_by_key


def sell(till, transaction_id: str = "R-1001", key: str | None = None, **fields):
    headers = {"Idempotency-Key": key} if key else {}
    return till.client.post(
        "/api/v1/sales",
        json={"transaction_id": transaction_id, "amount": "45.00", **fields},
        headers={**till.headers, **headers},
    )


@pytest.fixture
def store(api):
    location(api, "BER-1", currency="EUR")
    location(api, "NYC-5TH")
    return staff(api, "BER-1")


def test_a_sale_with_a_mentioned_campaign_is_credited_to_it_at_that_store(api, store, fake_clock):
    mall = api.campaign(name="Mall posters", channel="print")
    first = sell(store, mentioned_campaign_id=mall["id"], key="till-1-0001")
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert body["sale"]["currency"] == "EUR" and body["sale"]["amount"] == "45.00"
    assert body["sale"]["location"] == "BER-1" and body["sale"]["transaction_id"] == "R-1001"
    assert body["mentioned_campaign"] == {"id": mall["id"], "name": "Mall posters"}
    # The till lost the answer and sent it again: the same sale, once.
    again = sell(store, mentioned_campaign_id=mall["id"], key="till-1-0001")
    assert again.status_code == 201 and again.get_json() == body
    assert row_count(api.client.application, "conversions") == 1
    # Without a key, the receipt number is the key.
    assert sell(store, "R-1002").status_code == 201
    assert (
        sell(store, "R-1002").get_json()["sale"]["id"]
        == sell(store, "R-1002").get_json()["sale"]["id"]
    )
    # The same receipt sent under another key is a second sale of one receipt: refused.
    dup = sell(store, "R-1002", key="other-key")
    assert dup.status_code == 409
    assert dup.get_json()["error"]["code"] == "sale_already_recorded"
    # The same key for another sale is a till bug, never a silent replay.
    reused = sell(store, "R-1003", key="till-1-0001")
    assert reused.status_code == 422
    assert reused.get_json()["error"]["code"] == "idempotency_key_reused"

    fake_clock.advance(hours=1)
    window = {**around(fake_clock), "currency": "EUR"}
    by_campaign = rows_by_key(attribution(api, **window))
    assert by_campaign[mall["id"]]["revenue"] == "45.00"
    assert by_campaign[mall["id"]]["touches"] == 1
    assert by_campaign["(unattributed)"]["revenue"] == "45.00"  # R-1002: nobody said
    by_store = rows_by_key(attribution(api, group_by="location", **window))
    assert by_store["BER-1"]["revenue"] == "90.00"  # both were paid at BER-1
    by_link = rows_by_key(attribution(api, group_by="link", **window))
    assert by_link["(mentioned at the till)"]["revenue"] == "45.00"


def test_a_named_customer_and_bad_sales(api, store):
    lead_id = api.post(
        "/api/v1/conversions", json={"type": "lead", "email": "vip@example.com"}
    ).get_json()["lead_id"]
    code = api.get(f"/api/v1/leads/{lead_id}").get_json()["lead"]["ref_code"]
    for who in (code.lower(), "vip@example.com", lead_id):
        response = sell(store, f"R-{who[:6]}", lead=who)
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["lead"]["id"] == lead_id
    events = api.get(f"/api/v1/leads/{lead_id}").get_json()["events"]
    assert [e["stage"] for e in events if e["type"] == "conversion"].count("store_sale") == 3

    cases = [
        ({"amount": "abc"}, "amount", None),
        ({"amount": None}, "amount", "required"),
        ({"transaction_id": ""}, "transaction_id", "required"),
        ({"mentioned_campaign_id": 999}, "mentioned_campaign_id", "unknown_campaign"),
        ({"lead": "nobody-at-all"}, "lead", "unknown_lead"),
        ({"location": "NYC-5TH"}, "location", "location_not_allowed"),
        ({"occurred_at": "2099-01-01T00:00:00Z"}, "occurred_at", "in_future"),
        ({"coupon": "x"}, "coupon", "unknown_field"),
    ]
    for fields, field, code_ in cases:
        body = {"transaction_id": "R-bad", "amount": "1.00", **fields}
        response = store.client.post("/api/v1/sales", json=body, headers=store.headers)
        assert response.status_code in (403, 422), (fields, response.get_json())
        error = response.get_json()["error"]
        assert error["field"] == field, (fields, error)
        if code_:
            assert error["code"] == code_, (fields, error)
    # An admin token names the location; without one it is asked for.
    missing = api.post("/api/v1/sales", json={"transaction_id": "A-1", "amount": "5.00"})
    assert missing.status_code == 422 and missing.get_json()["error"]["field"] == "location"
    admin = api.post(
        "/api/v1/sales", json={"transaction_id": "A-1", "amount": "5.00", "location": "NYC-5TH"}
    )
    assert admin.status_code == 201 and admin.get_json()["sale"]["currency"] == "USD"


def test_a_web_order_picked_up_in_store_is_credited_there_once(app, api, store, fake_clock):
    campaign = api.campaign(name="Newsletter", channel="email")
    click_id = click(app.test_client(), api.link(campaign["id"]))
    order = api.post(
        "/api/v1/conversions",
        json={
            "type": "sale",
            "click_id": click_id,
            "email": "web@example.com",
            "value": "80.00",
            "currency": "EUR",
            "external_id": "WEB-5531",
        },
    )
    assert order.status_code == 201
    fake_clock.advance(days=1)
    picked = store.client.post(
        "/api/v1/pickups", json={"order_id": "WEB-5531"}, headers=store.headers
    )
    assert picked.status_code == 200, picked.get_json()
    shown = picked.get_json()["order"]
    assert shown["value"] == "80.00" and shown["customer"]["email"] == "web@example.com"
    assert shown["picked_up_location"] == "BER-1"

    twice = store.client.post(
        "/api/v1/pickups", json={"order_id": "WEB-5531"}, headers=store.headers
    )
    assert twice.status_code == 409
    error = twice.get_json()["error"]
    assert error["code"] == "already_picked_up" and "Store BER-1" in error["message"]
    unknown = store.client.post(
        "/api/v1/pickups", json={"order_id": "WEB-0000"}, headers=store.headers
    )
    assert unknown.status_code == 404 and unknown.get_json()["error"]["code"] == "order_not_found"

    fake_clock.advance(hours=1)
    window = {**around(fake_clock), "currency": "EUR"}
    report = attribution(api, group_by="location", **window)
    rows = rows_by_key(report)
    assert rows["BER-1"]["revenue"] == "80.00"
    # No new revenue: the pickup moved no money, the order's 80.00 counts once.
    assert report["totals"]["revenue"] == "80.00" and report["totals"]["conversions"] == 1
    by_campaign = rows_by_key(attribution(api, **window))
    assert by_campaign[campaign["id"]]["revenue"] == "80.00"


@pytest.mark.slow
def test_one_sale_sent_from_several_processes_at_once_is_one_sale(tmp_path):
    app = make_app(tmp_path)
    api = api_for(app)
    location(api, "BER-1", currency="EUR")
    script = (
        "import json\n"
        "from app import create_app\n"
        "from app.coupons import till_sales\n"
        "from app.coupons.redemptions import Actor\n"
        "rt = create_app().extensions['touchpoint']\n"
        "actor = Actor(None, None, None)\n"
        "out = []\n"
        "for n in range(8):\n"
        "    body = {'location': 'BER-1', 'transaction_id': f'R-{n}', 'amount': '9.99'}\n"
        "    status, answer = till_sales.record_sale(rt.db(), actor, body, f'key-{n}',\n"
        "        default_currency='USD', default_country='US', rules=rt.pipeline_rules)\n"
        "    out.append([status, answer['sale']['id']])\n"
        "print(json.dumps(out))\n"
    )
    results = in_processes(app, script)
    for n in range(8):
        answers = [r[n] for r in results]
        assert {tuple(a) for a in answers} == {(201, answers[0][1])}
    assert row_count(app, "conversions") == 8


def test_a_code_claimed_from_a_stores_link_is_credited_to_that_store(app, api, fake_clock):
    from .coupon_helpers import claim, offer, redeem, shown_code

    location(api, "SOHO")  # the flyer's store
    location(api, "NYC-5TH")
    campaign = api.campaign(name="Flyers", channel="print")
    made = offer(api, campaign["id"])
    link = api.post(
        "/api/v1/links",
        json={"campaign_id": campaign["id"], "offer_id": made["id"], "store_code": "SOHO"},
    ).get_json()
    _, html = claim(app.test_client(), link)
    # Redeemed at another store than the one whose flyer brought the customer.
    assert redeem(staff(api, "NYC-5TH"), shown_code(html), amount="30.00").status_code == 201
    fake_clock.advance(hours=1)
    rows = rows_by_key(attribution(api, group_by="location", **around(fake_clock)))
    assert rows["SOHO"]["revenue"] == "30.00" and rows["SOHO"]["claims"] == 1
    assert None not in rows or rows[None]["revenue"] == "0.00"
