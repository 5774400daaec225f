"""Setting up stores, offers and codes through the admin API, for the coupon tests."""

from __future__ import annotations

import re

from .conftest import BROWSER_UA, Api


def location(api: Api, code: str = "NYC-5TH", kind: str = "store", **extra) -> dict:
    body = {
        "code": code,
        "name": f"Store {code}",
        "kind": kind,
        "timezone": "America/New_York",
        **extra,
    }
    response = api.post("/api/v1/locations", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def staff(api: Api, location_code: str = "NYC-5TH") -> Api:
    response = api.post(f"/api/v1/locations/{location_code}/staff-keys", json={"label": "Till"})
    assert response.status_code == 201, response.get_json()
    return Api(api.client.application.test_client(), response.get_json()["key"])


def offer(api: Api, campaign_id: int | None = None, **fields) -> dict:
    if campaign_id is None:
        campaign_id = api.campaign()["id"]
    body = {"campaign_id": campaign_id, "title": "20% off boots", "discount": "20% off", **fields}
    response = api.post("/api/v1/offers", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def codes_for(api: Api, offer_id: int, count: int = 3) -> list[str]:
    batch = api.post(f"/api/v1/offers/{offer_id}/codes", json={"count": count})
    assert batch.status_code == 201, batch.get_json()
    items = api.get(
        f"/api/v1/offers/{offer_id}/codes?batch_id={batch.get_json()['id']}&format=json"
    ).get_json()["items"]
    return [item["code"] for item in items]


def redeem(client_api: Api, code: str, transaction_id: str = "T-1", **extra):
    body = {"code": code, "transaction_id": transaction_id, **extra}
    return client_api.post("/api/v1/redemptions", json=body)


# Web coupons: a landing page and its button, as a browser uses them -----------------------


def offer_link(api: Api, **offer_fields) -> tuple[dict, dict]:
    campaign = api.campaign()
    created = offer(api, campaign["id"], **offer_fields)
    response = api.post(
        "/api/v1/links", json={"campaign_id": campaign["id"], "offer_id": created["id"]}
    )
    assert response.status_code == 201, response.get_json()
    return created, response.get_json()


def form_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def shown_code(html: str) -> str:
    return re.search(r'class="code"[^>]*>([^<]+)<', html).group(1)


def claim(client, link: dict) -> tuple[int, str]:
    """Open the landing page in this browser and press its button."""
    page = client.get(f"/r/{link['token']}", headers={"User-Agent": BROWSER_UA})
    assert page.status_code == 200
    return press(client, link, page.get_data(as_text=True))


def press(client, link: dict, landing_html: str) -> tuple[int, str]:
    """Press "Get my code" on a landing page this browser has open."""
    response = client.post(
        f"/r/{link['token']}",
        data={"csrf_token": form_token(landing_html)},
        headers={"User-Agent": BROWSER_UA},
    )
    return response.status_code, response.get_data(as_text=True)
