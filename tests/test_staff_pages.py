"""Staff pages with the Flask test client: sign-in, CSRF, till outcomes, voids, scope, scans."""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from app.access import throttle
from app.coupons import codes, redemptions

from .conftest import Api, api_for, make_app

TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
SUBMISSION_RE = re.compile(r'name="submission" value="([^"]+)"')


@dataclass
class Shop:
    app: object
    api: Api
    keys: dict[str, str]  # location code -> staff key
    campaign: dict


def _location(api: Api, code: str, name: str, kind: str = "store") -> str:
    response = api.post(
        "/api/v1/locations",
        json={"code": code, "name": name, "kind": kind, "timezone": "Europe/Berlin"},
    )
    assert response.status_code == 201, response.get_json()
    response = api.post(f"/api/v1/locations/{code}/staff-keys", json={"label": f"{code} till"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["key"]


def make_shop(tmp_path, **settings) -> Shop:
    app = make_app(tmp_path, **settings)
    api = api_for(app)
    keys = {
        "BER": _location(api, "BER", "Berlin Mitte"),
        "HAM": _location(api, "HAM", "Hamburg Hafen"),
        "FAIR": _location(api, "FAIR", "Trade fair booth", kind="booth"),
    }
    return Shop(app, api, keys, api.campaign(name="Boot Week"))


@pytest.fixture
def shop(tmp_path) -> Shop:
    return make_shop(tmp_path)


def offer_codes(shop: Shop, count: int = 1, **fields) -> list[str]:
    body = {
        "campaign_id": shop.campaign["id"],
        "title": "10% off boots",
        "discount": "10%",
        "kind": "unique",
        "code_prefix": "BOOT",
        **fields,
    }
    response = shop.api.post("/api/v1/offers", json=body)
    assert response.status_code == 201, response.get_json()
    offer_id = response.get_json()["id"]
    response = shop.api.post(f"/api/v1/offers/{offer_id}/codes", json={"count": count})
    assert response.status_code == 201, response.get_json()
    items = shop.api.get(f"/api/v1/offers/{offer_id}/codes?format=json").get_json()["items"]
    return [item["code"] for item in items]


def token_of(response) -> str:
    found = TOKEN_RE.search(response.get_data(as_text=True))
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(client, key: str):
    token = token_of(client.get("/staff"))
    return client.post("/staff", data={"key": key, "csrf_token": token})


def signed_in(shop: Shop, location: str = "BER"):
    client = shop.app.test_client()
    response = sign_in(client, shop.keys[location])
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


def redeem(client, code: str, **fields):
    page = client.get("/staff/redeem")
    data = {
        "csrf_token": token_of(page),
        "submission": SUBMISSION_RE.search(page.get_data(as_text=True)).group(1),
        "code": code,
        **fields,
    }
    return client.post("/staff/redeem", data=data)


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def rows(shop: Shop, sql: str) -> list[dict]:
    return list(shop.app.extensions["touchpoint"].db().query(sql))


def mistype(code: str) -> str:
    """The same code with one character of its random part changed: a typo, not a guess."""
    position = len(code) - 2
    replacement = next(c for c in codes.ALPHABET if c != code[position])
    return code[:position] + replacement + code[position + 1 :]


@pytest.fixture
def frozen_minute(monkeypatch):
    """Keep both guess counters inside one minute, so a test never straddles two windows."""
    fake = SimpleNamespace(time=lambda: 1_800_000_000.0)
    monkeypatch.setattr(redemptions, "time", fake)
    monkeypatch.setattr(throttle, "time", fake)


# Sign-in -----------------------------------------------------------------------------------


def test_sign_in_sends_a_store_to_the_till_and_a_booth_to_the_scan_page(shop):
    client = shop.app.test_client()
    response = sign_in(client, shop.keys["BER"])
    assert response.status_code == 303
    assert response.headers["Location"] == "/staff/redeem"
    page = client.get("/staff/redeem")
    assert page.status_code == 200
    assert "Berlin Mitte" in text(page) and "BER till" in text(page)
    assert client.get("/staff").headers["Location"] == "/staff/redeem"

    booth = shop.app.test_client()
    assert sign_in(booth, shop.keys["FAIR"]).headers["Location"] == "/staff/scan"


def test_the_session_cookie_is_httponly_lax_and_secure_over_https(shop):
    client = shop.app.test_client()
    cookie = sign_in(client, shop.keys["BER"]).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP on a shop LAN: a Secure cookie would be lost

    secure = shop.app.test_client()
    token = token_of(secure.get("/staff", base_url="https://tp.example"))
    response = secure.post(
        "/staff",
        data={"key": shop.keys["BER"], "csrf_token": token},
        base_url="https://tp.example",
    )
    assert response.status_code == 303
    assert "Secure" in response.headers["Set-Cookie"]


def test_the_staff_key_never_reaches_the_browser(shop):
    client = shop.app.test_client()
    sign_in(client, shop.keys["BER"])
    cookie = client.get_cookie("session")
    assert cookie is not None and shop.keys["BER"] not in cookie.value
    assert shop.keys["BER"] not in text(client.get("/staff/redeem"))


def test_a_wrong_key_shows_the_form_again_with_the_error_at_the_field(shop):
    client = shop.app.test_client()
    response = sign_in(client, "tps_not-a-real-key")
    assert response.status_code == 422
    page = text(response)
    assert '<label for="key">Staff key</label>' in page
    assert 'aria-invalid="true"' in page and 'id="key-error"' in page
    assert "This staff key is not valid" in page
    assert "tps_not-a-real-key" not in page  # a secret is never echoed back
    assert client.get("/staff/redeem").status_code == 303  # still signed out

    response = client.post("/staff", data={"key": "  ", "csrf_token": token_of(response)})
    assert response.status_code == 422 and "Enter or scan your staff key" in text(response)


def test_a_revoked_key_is_signed_out_on_its_next_page(shop):
    client = signed_in(shop)
    assert client.get("/staff/redeem").status_code == 200
    keys = shop.api.get("/api/v1/locations/BER/staff-keys").get_json()["items"]
    assert shop.api.delete(f"/api/v1/locations/BER/staff-keys/{keys[0]['id']}").status_code == 204

    response = client.get("/staff/redeem")
    assert response.status_code == 303
    assert response.headers["Location"] == "/staff?signed_out=revoked"
    assert "staff key was revoked" in text(client.get(response.headers["Location"]))
    assert client.get("/staff/redeem").status_code == 303
    assert sign_in(client, shop.keys["BER"]).status_code == 422  # and it cannot come back


def test_sign_out(shop):
    client = signed_in(shop)
    token = token_of(client.get("/staff/redeem"))
    response = client.post("/staff/sign-out", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == "/staff?signed_out=done"
    assert client.get("/staff/redeem").status_code == 303
    # The old page's token died with the session, even once the device signs in again.
    assert sign_in(client, shop.keys["BER"]).status_code == 303
    assert client.post("/staff/sign-out", data={"csrf_token": token}).status_code == 400
    assert client.get("/staff/redeem").status_code == 200


def test_pages_need_a_session_and_the_json_endpoint_says_so_in_json(shop):
    client = shop.app.test_client()
    for path in ("/staff/redeem", "/staff/scan"):
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["Location"] == "/staff?signed_out=required"
    response = client.post("/staff/api/scans", json={})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "signed_out"


def test_staff_pages_carry_security_headers(shop):
    response = signed_in(shop).get("/staff/redeem")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert '<html lang="en">' in text(response)


# CSRF --------------------------------------------------------------------------------------


def _posts(shop: Shop, client) -> list[tuple[str, dict]]:
    code = offer_codes(shop)[0]
    redeem(client, code)
    [row] = rows(shop, "SELECT id FROM redemptions")
    return [
        ("/staff", {"key": shop.keys["BER"]}),
        ("/staff/sign-out", {}),
        ("/staff/redeem", {"code": code, "submission": str(uuid.uuid4())}),
        (f"/staff/redemptions/{row['id']}/void", {"reason": "returned"}),
        ("/staff/scan", {"code": "ada@example.com", "scan_id": str(uuid.uuid4())}),
        ("/staff/sale", {"amount": "5.00", "submission": str(uuid.uuid4())}),
        ("/staff/pickup", {"order_id": "WEB-1"}),
    ]


@pytest.mark.parametrize("token", ["missing", "forged", "other_session"])
def test_every_post_is_refused_without_this_sessions_token(shop, token):
    client = signed_in(shop)
    other = signed_in(shop, "HAM")
    tokens = {
        "missing": None,
        "forged": "not-a-token",
        "other_session": token_of(other.get("/staff/redeem")),
    }
    for path, data in _posts(shop, client):
        if tokens[token] is not None:
            data = {**data, "csrf_token": tokens[token]}
        response = client.post(path, data=data)
        assert response.status_code == 400, path
        assert "Reload the page" in text(response), path

    headers = {"X-CSRF-Token": tokens[token]} if tokens[token] else {}
    scan = {"code": "x", "scan_id": str(uuid.uuid4()), "scanned_at": "2026-11-02T09:00:00Z"}
    response = client.post("/staff/api/scans", json=scan, headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf_failed"
    # Nothing got through: still one redemption, not voided; still signed in; no scans.
    [row] = rows(shop, "SELECT voided_at FROM redemptions")
    assert row["voided_at"] is None
    assert client.get("/staff/redeem").status_code == 200
    assert rows(shop, "SELECT * FROM booth_scans") == []
    assert rows(shop, "SELECT * FROM conversions WHERE type = 'store_sale'") == []


# The till ----------------------------------------------------------------------------------


def test_redeemed_shows_offer_discount_campaign_and_claim(shop):
    client = signed_in(shop)
    code = offer_codes(shop)[0]
    response = redeem(client, code, amount="49,90", transaction_id="R-1001")
    assert response.status_code == 201
    page = text(response)
    assert 'class="result result-ok"' in page and "✓" in page and "REDEEMED" in page
    for fact in ("10% off boots", "10%", "Boot Week", code, "49.90 USD", "no (printed"):
        assert fact in page, fact
    # The input is empty again and has the focus, for the next customer.
    assert re.search(r'<input id="code" name="code"[^>]*value=""[^>]*autofocus', page)
    [row] = rows(shop, "SELECT * FROM redemptions")
    assert (row["location_code"], row["transaction_id"], row["amount_minor"]) == (
        "BER",
        "R-1001",
        4990,
    )
    assert code in page.split('id="recent-title"')[1]  # and it is in the list below


def sell(client, **fields):
    page = client.get("/staff/redeem")
    data = {
        "csrf_token": token_of(page),
        "submission": SUBMISSION_RE.search(page.get_data(as_text=True)).group(1),
        **fields,
    }
    return client.post("/staff/sale", data=data), data


def test_a_sale_without_a_code_with_what_the_customer_mentioned(shop):
    running = shop.api.post(
        "/api/v1/links",
        json={
            "campaign_id": shop.campaign["id"],
            "destination": "https://x.example/",
            "store_code": "BER",
        },
    )
    assert running.status_code == 201
    elsewhere = shop.api.campaign(name="Hamburg radio")
    shop.api.post(
        "/api/v1/links",
        json={
            "campaign_id": elsewhere["id"],
            "destination": "https://x.example/",
            "store_code": "HAM",
        },
    )
    client = signed_in(shop)
    page = text(client.get("/staff/redeem"))
    picker = page.split("Customer mentioned")[1].split("</fieldset>")[0]
    assert "Boot Week" in picker and "Hamburg radio" not in picker  # running here only
    response, data = sell(
        client,
        amount="19,90",
        transaction_id="R-77",
        mentioned_campaign_id=str(shop.campaign["id"]),
    )
    assert response.status_code == 201
    shown = text(response)
    assert "SALE RECORDED" in shown and "19.90 USD" in shown and "Boot Week" in shown
    # The form sent again (a double tap, a reload): one sale.
    assert client.post("/staff/sale", data=data).status_code == 201
    [row] = rows(shop, "SELECT * FROM conversions WHERE type = 'store_sale'")
    assert (row["location_code"], row["value_minor"]) == ("BER", 1990)
    [touch] = rows(shop, "SELECT * FROM offline_touches")
    assert touch["kind"] == "mentioned" and touch["campaign_id"] == shop.campaign["id"]

    bad, _ = sell(client, amount="lots", lead="nobody-at-all")
    assert bad.status_code == 422
    page = text(bad)
    assert 'id="sale-panel" open' in page and 'id="sale-amount-error"' in page


def test_a_web_order_is_handed_over_once(shop):
    order = {"type": "sale", "email": "web@example.com", "value": "80.00", "external_id": "WEB-9"}
    assert shop.api.post("/api/v1/conversions", json=order).status_code == 201
    client = signed_in(shop)
    token = token_of(client.get("/staff/redeem"))
    first = client.post("/staff/pickup", data={"csrf_token": token, "order_id": "WEB-9"})
    assert first.status_code == 200
    assert "HAND OVER THE ORDER" in text(first) and "web@example.com" in text(first)
    other = signed_in(shop, "HAM")
    token = token_of(other.get("/staff/redeem"))
    again = other.post("/staff/pickup", data={"csrf_token": token, "order_id": "WEB-9"})
    assert again.status_code == 409
    assert "ALREADY PICKED UP" in text(again) and "Berlin Mitte" in text(again)
    unknown = other.post("/staff/pickup", data={"csrf_token": token, "order_id": "WEB-0"})
    assert unknown.status_code == 404 and "UNKNOWN ORDER" in text(unknown)


def test_the_same_form_sent_twice_redeems_once(shop):
    client = signed_in(shop)
    code = offer_codes(shop)[0]
    page = client.get("/staff/redeem")
    data = {
        "csrf_token": token_of(page),
        "submission": SUBMISSION_RE.search(text(page)).group(1),
        "code": code,
    }
    first = client.post("/staff/redeem", data=data)
    again = client.post("/staff/redeem", data=data)
    assert first.status_code == again.status_code == 201
    assert "This form was sent before" in text(again)
    [row] = rows(shop, "SELECT * FROM redemptions")
    assert row["transaction_id"].startswith("staff-")


def test_already_redeemed_says_when_and_where(shop):
    code = offer_codes(shop)[0]
    assert redeem(signed_in(shop, "HAM"), code).status_code == 201
    response = redeem(signed_in(shop), code)
    assert response.status_code == 409
    page = text(response)
    assert 'class="result result-bad"' in page and "✕" in page
    assert "ALREADY REDEEMED" in page and "Hamburg Hafen (HAM)" in page
    assert "Do not give the discount again" in page


@pytest.mark.parametrize(
    ("fields", "status", "word", "fact"),
    [
        ({"location_codes": ["HAM"]}, 403, "WRONG STORE", "HAM"),
        ({"ends_at": "2020-01-31T23:00:00Z"}, 410, "EXPIRED", "1 Feb 2020, 00:00"),
        ({"starts_at": "2099-06-01T08:00:00Z"}, 410, "NOT YET VALID", "1 Jun 2099, 10:00"),
    ],
)
def test_codes_that_are_not_valid_here_and_now(shop, fields, status, word, fact):
    response = redeem(signed_in(shop), offer_codes(shop, **fields)[0])
    assert response.status_code == status
    page = text(response)
    assert word in page and 'class="result result-bad"' in page and fact in page
    assert rows(shop, "SELECT * FROM redemptions") == []


def test_a_typo_asks_to_retype_and_an_unknown_code_says_so(shop):
    client = signed_in(shop)
    code = offer_codes(shop)[0]
    response = redeem(client, mistype(code))
    assert response.status_code == 422
    assert "TYPO — RETYPE" in text(response) and 'class="result result-warn"' in text(response)

    response = redeem(client, "NOSUCHCODE")
    assert response.status_code == 404
    assert "UNKNOWN CODE" in text(response) and 'class="result result-bad"' in text(response)
    assert rows(shop, "SELECT * FROM redemptions") == []


def test_a_typo_keeps_the_typed_code_in_the_field_to_fix_one_character(shop):
    client = signed_in(shop)
    code = offer_codes(shop)[0]
    typed = mistype(code)
    response = redeem(client, typed, amount="49,90", transaction_id="R-7")
    assert response.status_code == 422
    page = text(response)
    assert "TYPO — RETYPE" in page
    # The code as typed, focused; the amount and receipt stay too: the same customer.
    assert re.search(rf'<input id="code" name="code"[^>]*value="{typed}"[^>]*autofocus', page)
    assert 'value="49,90"' in page and 'value="R-7"' in page
    assert rows(shop, "SELECT * FROM redemptions") == []
    # Fixing the one character in that same form redeems.
    data = {
        "csrf_token": token_of(response),
        "submission": SUBMISSION_RE.search(page).group(1),
        "code": code,
        "amount": "49,90",
        "transaction_id": "R-7",
    }
    fixed = client.post("/staff/redeem", data=data)
    assert fixed.status_code == 201 and "REDEEMED" in text(fixed)
    # Any other result clears the field for the next customer.
    unknown = redeem(client, "NOSUCHCODE")
    assert "UNKNOWN CODE" in text(unknown)
    assert re.search(r'<input id="code" name="code"[^>]*value=""[^>]*autofocus', text(unknown))


def field_errors_of(page: str) -> dict[str, str]:
    """{field id: message} of the errors shown next to the till's or booth's fields."""
    found = re.findall(r'<p class="field-error" id="([\w-]+)-error">.*?</span> ([^<]*)</p>', page)
    return dict(found)


def test_every_field_problem_of_the_till_form_is_shown_at_once(shop):
    client = signed_in(shop)
    receipt = "R" * 101
    response = redeem(client, "", amount="twelve", transaction_id=receipt)
    assert response.status_code == 422
    page = text(response)
    assert field_errors_of(page) == {
        "code": "Scan or type a code.",
        "transaction_id": "Receipt number is longer than 100 characters.",
        "amount": "Amount must be a decimal number such as 49.99.",
    }
    for name in ("code", "amount", "transaction_id"):
        control = re.search(rf'<input id="{name}"[^>]*>', page).group(0)
        assert 'aria-invalid="true"' in control and f"{name}-error" in control, name
    assert f'value="{receipt}"' in page and 'value="twelve"' in page
    # The first field at fault has the focus; here the code.
    assert re.search(r'<input id="code"[^>]*autofocus', page)
    assert len(re.findall(r"\bautofocus\b", page)) == 1

    code = offer_codes(shop)[0]
    response = redeem(client, code, amount="-3", transaction_id=receipt)
    page = text(response)
    assert set(field_errors_of(page)) == {"amount", "transaction_id"}
    assert f'value="{code}"' in page
    assert re.search(r'<input id="amount"[^>]*autofocus', page)
    assert rows(shop, "SELECT * FROM redemptions") == []


def test_too_many_unknown_codes_says_how_long_to_wait(tmp_path, frozen_minute):
    shop = make_shop(tmp_path, GUESS_LIMIT_PER_MINUTE=3)
    client = signed_in(shop)
    for _ in range(3):
        assert redeem(client, "NOSUCHCODE").status_code == 404
    response = redeem(client, offer_codes(shop)[0])
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert re.search(r"TOO MANY TRIES — WAIT \d+ S", text(response))


def test_a_bad_amount_keeps_the_code_and_points_at_the_amount(shop):
    client = signed_in(shop)
    code = offer_codes(shop)[0]
    response = redeem(client, code, amount="twelve")
    assert response.status_code == 422
    page = text(response)
    assert 'id="amount-error"' in page and f'value="{code}"' in page
    assert re.search(r'<input id="amount"[^>]*aria-invalid="true"[^>]*autofocus', page)
    response = redeem(client, "")
    assert response.status_code == 422 and "Scan or type a code" in text(response)


def test_void_asks_for_a_reason_and_frees_the_code(shop):
    client = signed_in(shop)
    code = offer_codes(shop)[0]
    page = redeem(client, code)
    [row] = rows(shop, "SELECT id FROM redemptions")
    action = f"/staff/redemptions/{row['id']}/void"
    assert f'action="{action}"' in text(page)

    response = client.post(action, data={"csrf_token": token_of(page), "reason": ""})
    assert response.status_code == 422
    assert "Not voided: Reason is required" in text(response)

    response = client.post(action, data={"csrf_token": token_of(page), "reason": "returned"})
    assert response.status_code == 200
    assert f"Voided redemption #{row['id']}" in text(response)
    assert 'class="voided"' in text(response)
    [row] = rows(shop, "SELECT voided_at, void_reason FROM redemptions")
    assert row["voided_at"] and row["void_reason"] == "returned"
    assert redeem(client, code).status_code == 201  # the customer may use it again

    again = client.post(action, data={"csrf_token": token_of(page), "reason": "twice"})
    assert again.status_code == 409


def test_a_store_sees_and_voids_only_its_own_redemptions(shop):
    ber, ham = signed_in(shop, "BER"), signed_in(shop, "HAM")
    code_ber, code_ham = offer_codes(shop, count=2)
    redeem(ber, code_ber)
    redeem(ham, code_ham)
    ham_id = rows(shop, "SELECT id FROM redemptions WHERE location_code = 'HAM'")[0]["id"]

    page = text(ber.get("/staff/redeem"))
    listed = page.split('id="recent-title"')[1]
    assert code_ber in listed and code_ham not in listed
    assert f"/staff/redemptions/{ham_id}/void" not in page

    response = ber.post(
        f"/staff/redemptions/{ham_id}/void",
        data={"csrf_token": token_of(ber.get("/staff/redeem")), "reason": "not mine"},
    )
    assert response.status_code == 404
    voided = rows(shop, f"SELECT voided_at FROM redemptions WHERE id = {ham_id}")
    assert voided == [{"voided_at": None}]


# The booth ---------------------------------------------------------------------------------


def _scan(client, token: str, **fields):
    body = {"scan_id": str(uuid.uuid4()), "scanned_at": "2026-11-02T09:30:00Z", **fields}
    return client.post("/staff/api/scans", json=body, headers={"X-CSRF-Token": token})


def test_the_booth_endpoint_stores_each_scan_once(shop):
    client = signed_in(shop, "FAIR")
    token = token_of(client.get("/staff/scan"))
    scan_id = str(uuid.uuid4())
    body = {
        "scan_id": scan_id,
        "scanned_at": "2026-11-02T09:30:00+01:00",
        "code": "ada@example.com",
        "rating": 4,
        "note": "wants a demo",
        "location": "FAIR",
    }
    first = client.post("/staff/api/scans", json=body, headers={"X-CSRF-Token": token})
    assert first.status_code == 201
    assert first.get_json()["id"] == scan_id and first.get_json()["matched"] is True
    # The answer was lost and the queue sends it again: same scan, nothing new stored.
    again = client.post("/staff/api/scans", json=body, headers={"X-CSRF-Token": token})
    assert again.status_code == 200 and again.get_json() == first.get_json()
    [row] = rows(shop, "SELECT * FROM booth_scans")
    assert (row["scanned_at"], row["rating"], row["location_code"]) == (
        "2026-11-02T08:30:00.000Z",
        4,
        "FAIR",
    )
    assert "ada@example.com" in text(client.get("/staff/scan"))


def test_the_booth_endpoint_refuses_bad_scans_in_json(shop):
    client = signed_in(shop, "FAIR")
    token = token_of(client.get("/staff/scan"))
    response = _scan(client, token, code="x", scan_id="not-a-uuid")
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "scan_id"
    response = _scan(client, token, code="x", rating=9)
    assert response.status_code == 422
    # A phone signed in at another booth by now: refused (and parked by staff.js), not misfiled.
    response = _scan(client, token, code="x", location="BER")
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "location_not_allowed"
    response = client.post("/staff/api/scans", data="{", headers={"X-CSRF-Token": token})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_json"
    assert rows(shop, "SELECT * FROM booth_scans") == []


def test_the_scan_form_works_without_javascript(shop):
    client = signed_in(shop, "FAIR")
    page = client.get("/staff/scan")
    scan_id = re.search(r'name="scan_id" value="([^"]+)"', text(page)).group(1)
    form = {"csrf_token": token_of(page), "scan_id": scan_id, "code": "bob@example.com"}
    response = client.post("/staff/scan", data={**form, "rating": "5", "note": "hot lead"})
    # The booth says who was scanned, in words.
    assert response.status_code == 201 and "SCANNED: bob@example.com" in text(response)
    response = client.post("/staff/scan", data={**form, "rating": "5", "note": "hot lead"})
    assert response.status_code == 200  # the same form again is the same scan
    [row] = rows(shop, "SELECT * FROM booth_scans")
    assert (row["id"], row["rating"], row["note"]) == (scan_id, 5, "hot lead")
    # A lead the booth made is a booth lead, in the pipeline cohort though it never clicked.
    [lead] = rows(shop, "SELECT source FROM leads")
    assert lead["source"] == "booth:FAIR"

    form["scan_id"] = str(uuid.uuid4())
    form["code"] = "tpb_" + "x" * 40  # a badge from another event: nobody
    response = client.post("/staff/scan", data=form)
    assert response.status_code == 201 and "UNKNOWN BADGE – SAVED" in text(response)
    form["code"] = "bob@example.com"

    form["scan_id"] = str(uuid.uuid4())
    response = client.post("/staff/scan", data={**form, "rating": "7"})
    assert response.status_code == 422 and "NOT SAVED" in text(response)
    assert 'value="bob@example.com"' in text(response)


def test_every_field_problem_of_the_scan_form_is_shown_at_once(shop):
    client = signed_in(shop, "FAIR")
    page = client.get("/staff/scan")
    scan_id = re.search(r'name="scan_id" value="([^"]+)"', text(page)).group(1)
    note = "n" * 2001
    form = {"csrf_token": token_of(page), "scan_id": scan_id, "code": " ", "note": note}
    response = client.post("/staff/scan", data={**form, "rating": "9"})
    assert response.status_code == 422
    body = text(response)
    assert "NOT SAVED" in body and "Fix the marked fields" in body
    assert field_errors_of(body) == {
        "code": "Code is required.",
        "rating": "Rating is 1 to 5.",
        "note": "Note is longer than 2000 characters.",
    }
    assert re.search(r'<input id="code"[^>]*aria-describedby="code-hint code-error"', body)
    assert f">{note}</textarea>" in body
    assert f'name="scan_id" value="{scan_id}"' in body  # still the same scan once fixed
    response = client.post(
        "/staff/scan", data={**form, "code": "eve@example.com", "rating": "4", "note": "ok"}
    )
    assert response.status_code == 201
    [row] = rows(shop, "SELECT * FROM booth_scans")
    assert (row["id"], row["raw_code"], row["rating"]) == (scan_id, "eve@example.com", 4)


def test_the_service_worker_is_served_for_the_staff_scope(shop):
    response = shop.app.test_client().get("/staff/sw.js")
    assert response.status_code == 200
    assert response.mimetype in ("text/javascript", "application/javascript")
    assert response.headers["Cache-Control"] == "no-cache"
    response.close()
