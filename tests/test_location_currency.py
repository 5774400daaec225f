"""A location's currency: what its tills take, so a redemption without one is not silently
counted in the install's default currency."""

from __future__ import annotations

import re

from .coupon_helpers import codes_for, location, offer, redeem, staff
from .test_staff_pages import make_shop, offer_codes
from .test_staff_pages import redeem as redeem_at_till
from .test_staff_pages import signed_in as till_signed_in


def test_a_location_has_a_currency_defaulting_to_the_install_s(api):
    berlin = location(api, "BER-1", timezone="Europe/Berlin", currency="eur")
    assert berlin["currency"] == "EUR"
    plain = location(api, "NYC-1")
    assert plain["currency"] == "USD"  # TOUCHPOINT_DEFAULT_CURRENCY
    listed = {
        row["code"]: row["currency"] for row in api.get("/api/v1/locations").get_json()["items"]
    }
    assert listed == {"BER-1": "EUR", "NYC-1": "USD"}
    changed = api.patch("/api/v1/locations/NYC-1", json={"currency": "CAD"}).get_json()
    assert changed["currency"] == "CAD"
    back = api.patch("/api/v1/locations/NYC-1", json={"currency": None}).get_json()
    assert back["currency"] == "USD"


def test_a_bad_currency_names_the_field(api):
    response = api.post(
        "/api/v1/locations",
        json={"code": "X-1", "name": "X", "kind": "store", "timezone": "UTC", "currency": "EURO"},
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "currency"
    patched = api.patch("/api/v1/locations/X-1", json={"currency": "12"})
    assert patched.status_code == 404  # never created
    location(api, "X-1")
    assert api.patch("/api/v1/locations/X-1", json={"currency": 12}).status_code == 422


def test_a_redemption_without_a_currency_takes_its_location_s(api):
    location(api, "BER-1", timezone="Europe/Berlin", currency="EUR")
    location(api, "NYC-1")
    promo = offer(api)
    first, second, third = codes_for(api, promo["id"], 3)
    berlin, new_york = staff(api, "BER-1"), staff(api, "NYC-1")
    at_berlin = redeem(berlin, first, amount="12.50").get_json()["redemption"]
    assert (at_berlin["amount"], at_berlin["currency"]) == ("12.50", "EUR")
    at_new_york = redeem(new_york, second, amount="20").get_json()["redemption"]
    assert (at_new_york["amount"], at_new_york["currency"]) == ("20.00", "USD")
    # A till that names a currency is believed.
    named = redeem(berlin, third, transaction_id="T-2", amount="9.00", currency="CHF")
    assert named.get_json()["redemption"]["currency"] == "CHF"


def test_the_till_page_shows_the_currency_beside_the_amount(tmp_path):
    shop = make_shop(tmp_path)
    assert shop.api.patch("/api/v1/locations/BER", json={"currency": "EUR"}).status_code == 200
    till = till_signed_in(shop, "BER")
    page = till.get("/staff/redeem").get_data(as_text=True)
    assert re.search(r'<label for="amount">Amount in EUR', page)
    assert '<span class="unit" id="amount-currency">EUR</span>' in page
    [code] = offer_codes(shop)
    done = redeem_at_till(till, code, amount="15,00").get_data(as_text=True)
    assert "15.00 EUR" in done
