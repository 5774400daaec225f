"""The favicon: every kind of page names it, and it is there (no 404 in any browser's log)."""

from __future__ import annotations

import io
import re

from PIL import Image

from .conftest import BROWSER_UA
from .coupon_helpers import offer_link
from .dashboard_helpers import Dash, create_user

ICON_LINK = re.compile(r'<link rel="icon" href="([^"]+)">')


def test_the_favicon_is_an_image_cached_for_a_long_time(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype == "image/x-icon"
    assert response.cache_control.public and response.cache_control.max_age >= 30 * 86_400
    icon = Image.open(io.BytesIO(response.data))
    assert icon.format == "ICO" and {(16, 16), (32, 32)} <= icon.info["sizes"]
    again = client.get("/favicon.ico", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and not again.data
    head = client.head("/favicon.ico")
    assert head.status_code == 200 and head.headers["Content-Type"] == "image/x-icon"


def test_every_kind_of_page_names_the_favicon(app, api):
    create_user(app)
    dashboard = Dash(app).client
    customer = app.test_client()
    _, link = offer_link(api)
    pages = {
        "dashboard sign-in": app.test_client().get("/dashboard/sign-in"),
        "dashboard": dashboard.get("/dashboard/"),
        "dashboard offers": dashboard.get("/dashboard/offers"),
        "staff sign-in": app.test_client().get("/staff"),
        "offer landing": customer.get(f"/r/{link['token']}", headers={"User-Agent": BROWSER_UA}),
        "unknown link": customer.get("/r/not-a-token"),
    }
    for name, response in pages.items():
        assert response.status_code == (404 if name == "unknown link" else 200), name
        found = ICON_LINK.findall(response.get_data(as_text=True))
        assert found == ["/favicon.ico"], name
    assert customer.get(found[0]).status_code == 200
