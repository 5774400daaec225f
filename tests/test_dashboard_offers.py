"""Dashboard offers: the forms, code batches, the CSV download and the printable code sheet,
used as a marketer would, on a real SQLite file; the sheet's QR codes are decoded and redeemed
at a till."""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from markupsafe import escape

from app.access import users

from .conftest import BROWSER_UA, Api
from .coupon_helpers import location, offer, redeem, staff
from .test_qr import decode_svg_by_rasterising

PASSWORD = "correct horse battery"


class Dashboard:
    """A signed-in marketer's browser: every POST carries the page's CSRF token."""

    def __init__(self, app) -> None:
        self.client = app.test_client()
        with app.app_context():
            users.create(app.extensions["touchpoint"].db(), "m@example.com", password=PASSWORD)
        self.csrf = _csrf(self.client.get("/dashboard/sign-in").get_data(as_text=True))
        response = self.post("/dashboard/sign-in", {"email": "m@example.com", "password": PASSWORD})
        assert response.status_code == 303
        # Signing in renews the token.
        self.csrf = _csrf(self.client.get("/dashboard/").get_data(as_text=True))

    def get(self, path: str):
        return self.client.get(path)

    def html(self, path: str, status: int = 200) -> str:
        response = self.client.get(path)
        assert response.status_code == status, response.get_data(as_text=True)[:2000]
        return response.get_data(as_text=True)

    def post(self, path: str, data: dict):
        return self.client.post(path, data={"csrf_token": self.csrf, **data})


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture
def dash(app) -> Dashboard:
    return Dashboard(app)


@contextmanager
def statements(app):
    """The SQL statements the app runs meanwhile (the test client shares our thread)."""
    conn = app.extensions["touchpoint"].db().conn
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        conn.set_trace_callback(None)


def error_next_to(html: str, field: str) -> str:
    """The error shown in the field's own block: right before its control, or inside its
    group of boxes."""
    error = re.search(rf'<p class="error" id="e-{field}">([^<]*)</p>', html)
    assert error, f"no error shown for {field}"
    group = re.search(rf'<fieldset [^>]*id="f-{field}".*?</fieldset>', html, flags=re.S)
    if group:
        assert group.start() < error.start() < group.end()
    else:
        between = html[error.end() : html.index(f'id="f-{field}"', error.end())]
        assert 'class="field' not in between  # the same field block, not the next one
    return error.group(1)


def codes_on_sheet(html: str) -> list[str]:
    return re.findall(r'<p class="code-value">([^<]+)</p>', html)


def qr_svgs(html: str) -> list[str]:
    return re.findall(r'<div class="qr"[^>]*>(<svg.*?</svg>)', html, flags=re.S)


def export(api: Api, offer_id: int, batch_id: int | None = None, fmt: str = "csv"):
    query = f"?format={fmt}" + (f"&batch_id={batch_id}" if batch_id else "")
    response = api.get(f"/api/v1/offers/{offer_id}/codes{query}")
    assert response.status_code == 200
    return response.data if fmt == "csv" else response.get_json()["items"]


def make_batch(dash: Dashboard, offer_id: int, count: int) -> int:
    response = dash.post(f"/dashboard/offers/{offer_id}/batches", {"count": str(count)})
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return int(re.search(r"#batch-(\d+)$", response.headers["Location"]).group(1))


# Creating and editing offers ---------------------------------------------------------------

GOOD = {
    "title": "Typed title",
    "discount": "20% off",
    "terms": "One per customer.\nNot with other offers.",
    "kind": "unique",
    "code_prefix": "",
    "shared_code": "",
    "starts_at": "2026-12-01T09:00",
    "ends_at": "2027-01-01T00:00",
    "max_redemptions_per_code": "2",
    "per_lead_limit": "1",
    "location_codes": ["NYC-5TH"],
}


def as_api_payload(campaign_id: int, form: dict) -> dict:
    """What a script would send the API for the same form."""
    payload: dict = {"campaign_id": campaign_id}
    for name, value in form.items():
        if value in ("", []):
            continue
        if name in ("max_redemptions_per_code", "per_lead_limit") and value.isdigit():
            value = int(value)
        payload[name] = value
    return payload


def test_campaign_page_explains_offers_before_there_are_any(dash, api):
    campaign = api.campaign()
    html = dash.html(f"/dashboard/campaigns/{campaign['id']}")
    assert "No offers yet." in html
    assert f'href="/dashboard/campaigns/{campaign["id"]}/offers/new"' in html


def test_create_an_offer_through_the_form(dash, api):
    location(api, "NYC-5TH")
    campaign = api.campaign()
    form = dash.html(f"/dashboard/campaigns/{campaign['id']}/offers/new")
    assert "Store NYC-5TH" in form and 'name="location_codes" value="NYC-5TH"' in form
    response = dash.post(
        f"/dashboard/campaigns/{campaign['id']}/offers/new", {**GOOD, "code_prefix": "boot"}
    )
    assert response.status_code == 303
    offer_id = int(
        re.fullmatch(r"/dashboard/offers/(\d+)\?m=created", response.headers["Location"]).group(1)
    )
    created = api.get(f"/api/v1/offers/{offer_id}").get_json()
    assert created["campaign_id"] == campaign["id"]
    assert created["title"] == "Typed title" and created["discount"] == "20% off"
    assert created["terms"] == GOOD["terms"] and created["code_prefix"] == "BOOT"
    assert created["starts_at"] == "2026-12-01T09:00:00.000Z"
    assert created["ends_at"] == "2027-01-01T00:00:00.000Z"
    assert created["max_redemptions_per_code"] == 2 and created["per_lead_limit"] == 1
    assert created["location_codes"] == ["NYC-5TH"] and created["kind"] == "unique"
    html = dash.html(response.headers["Location"])
    assert "Offer created." in html and "Typed title" in html and "BOOT-…" in html
    assert "2 uses per code; 1 per person" in html and "NYC-5TH" in html
    assert "No code batches yet." in html  # and what to do next


def test_a_shared_offer_shows_its_code_and_no_batches(dash, api):
    campaign = api.campaign()
    response = dash.post(
        f"/dashboard/campaigns/{campaign['id']}/offers/new",
        {"title": "Holiday", "kind": "shared", "shared_code": "holiday 10"},
    )
    html = dash.html(response.headers["Location"])
    assert '<code class="big-code">HOLIDAY10</code>' in html
    assert "unlimited uses per code" in html
    assert "Make codes" not in html


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"kind": "coupon"}, "kind"),
        ({"starts_at": "next week"}, "starts_at"),
        ({"ends_at": "2026-11-30T09:00"}, "ends_at"),  # before it starts
        ({"max_redemptions_per_code": "0"}, "max_redemptions_per_code"),
        ({"per_lead_limit": "two"}, "per_lead_limit"),
        ({"code_prefix": "9LIVES"}, "code_prefix"),
        ({"kind": "shared", "shared_code": "HOLIDAY10", "code_prefix": "BOOT"}, "code_prefix"),
        ({"kind": "shared"}, "shared_code"),
        ({"kind": "shared", "shared_code": "X!"}, "shared_code"),
        ({"shared_code": "HOLIDAY10"}, "shared_code"),  # for a unique offer
        ({"location_codes": ["NYC-5TH", "NOWHERE"]}, "location_codes"),
    ],
)
def test_bad_input_is_shown_next_to_its_field_and_what_was_typed_is_kept(dash, api, changes, field):
    location(api, "NYC-5TH")
    campaign = api.campaign()
    form = {**GOOD, **changes}
    response = dash.post(f"/dashboard/campaigns/{campaign['id']}/offers/new", form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    # The API's own message for the same input, next to the field and in the summary.
    expected = api.post("/api/v1/offers", json=as_api_payload(campaign["id"], form)).get_json()
    assert expected["error"]["field"] == field
    assert error_next_to(html, field) == escape(expected["error"]["message"])
    assert f'href="#f-{field}">{escape(expected["error"]["message"])}</a>' in html
    for name, value in form.items():
        if name in ("title", "discount", "code_prefix", "shared_code", "starts_at", "ends_at"):
            assert f'name="{name}" type="' in html and f'value="{escape(value)}"' in html
    assert f">{escape(form['terms'])}</textarea>" in html
    assert 'value="NYC-5TH" checked' in html
    assert api.get("/api/v1/offers").get_json()["items"] == []


def test_a_shared_code_already_in_use_is_409_next_to_the_field(dash, api):
    campaign = api.campaign()
    offer(api, campaign["id"], kind="shared", shared_code="HOLIDAY10")
    response = dash.post(
        f"/dashboard/campaigns/{campaign['id']}/offers/new",
        {"title": "Again", "kind": "shared", "shared_code": "HOLIDAY10"},
    )
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "already in use" in error_next_to(html, "shared_code")
    assert 'value="Again"' in html


def test_a_post_without_the_csrf_token_is_refused_with_a_page(dash, api):
    campaign = api.campaign()
    response = dash.client.post(
        f"/dashboard/campaigns/{campaign['id']}/offers/new", data={"title": "No token"}
    )
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "Please reload and try again" in response.get_data(as_text=True)
    assert api.get("/api/v1/offers").get_json()["items"] == []


def test_signed_out_visitors_are_sent_to_sign_in(app, api):
    created = offer(api)
    batch = api.post(f"/api/v1/offers/{created['id']}/codes", json={"count": 2}).get_json()
    browser = app.test_client()
    for path in (
        f"/dashboard/campaigns/{created['campaign_id']}/offers/new",
        f"/dashboard/offers/{created['id']}",
        f"/dashboard/offers/{created['id']}/edit",
        f"/dashboard/offers/{created['id']}/codes.csv?batch_id={batch['id']}",
        f"/dashboard/offers/{created['id']}/sheet?batch_id={batch['id']}",
    ):
        response = browser.get(path)
        assert response.status_code == 303
        assert response.headers["Location"].startswith("/dashboard/sign-in?next=")
    response = browser.post(f"/dashboard/offers/{created['id']}/batches", data={"count": "5"})
    assert response.status_code == 303 and "/dashboard/sign-in" in response.headers["Location"]
    batches = api.get(f"/api/v1/offers/{created['id']}/batches").get_json()["items"]
    assert [b["id"] for b in batches] == [batch["id"]]


def test_edit_an_offer(dash, api):
    location(api, "NYC-5TH")
    created = offer(
        api, location_codes=["NYC-5TH"], ends_at="2030-01-31T23:59:00Z", code_prefix="BOOT"
    )
    path = f"/dashboard/offers/{created['id']}/edit"
    html = dash.html(path)
    assert 'value="20% off boots"' in html and 'value="2030-01-31T23:59"' in html
    assert 'value="NYC-5TH" checked' in html and 'value="1"' in html
    assert 'name="kind"' not in html and 'name="code_prefix"' not in html  # fixed once made
    # Clearing a field clears it: no end, any location, unlimited uses.
    response = dash.post(
        path,
        {
            "title": "25% off boots",
            "discount": "25% off",
            "terms": "",
            "starts_at": "",
            "ends_at": "",
            "max_redemptions_per_code": "",
            "per_lead_limit": "3",
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/dashboard/offers/{created['id']}?m=saved"
    now = api.get(f"/api/v1/offers/{created['id']}").get_json()
    assert now["title"] == "25% off boots" and now["discount"] == "25% off"
    assert now["ends_at"] is None and now["location_codes"] == []
    assert now["max_redemptions_per_code"] is None and now["per_lead_limit"] == 3
    assert now["code_prefix"] == "BOOT"
    bad = dash.post(path, {"title": "", "discount": "Kept", "per_lead_limit": "0"})
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert error_next_to(html, "title") == escape("Title is required.")
    assert 'value="Kept"' in html and 'value="0"' in html
    assert api.get(f"/api/v1/offers/{created['id']}").get_json()["title"] == "25% off boots"


def test_unknown_offers_and_campaigns_are_404_pages(dash):
    for path in ("/dashboard/offers/999", "/dashboard/campaigns/999/offers/new"):
        response = dash.get(path)
        assert response.status_code == 404 and "Not found" in response.get_data(as_text=True)


# Batches and the CSV download --------------------------------------------------------------


def test_generate_a_batch_and_download_it_as_the_api_exports_it(dash, api):
    created = offer(api, code_prefix="BOOT")
    batch_id = make_batch(dash, created["id"], 25)
    html = dash.html(f"/dashboard/offers/{created['id']}?m=batch")
    assert "Codes made." in html and f'<tr id="batch-{batch_id}">' in html
    csv_path = f"/dashboard/offers/{created['id']}/codes.csv?batch_id={batch_id}"
    assert f'href="{csv_path.replace("&", "&amp;")}"' in html
    response = dash.get(csv_path)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.data == export(api, created["id"], batch_id)
    assert response.data.count(b"\r\n") == 26
    other = make_batch(dash, created["id"], 3)
    whole = dash.get(f"/dashboard/offers/{created['id']}/codes.csv")
    assert whole.data == export(api, created["id"]) and whole.data.count(b"\r\n") == 29
    assert (
        dash.get(f"/dashboard/offers/{created['id']}/codes.csv?batch_id={other + 1}").status_code
        == 404
    )
    assert dash.get(f"/dashboard/offers/{created['id']}/codes.csv?batch_id=x").status_code == 422


@pytest.mark.parametrize(
    ("count", "message"),
    [
        ("", "Number of codes is required."),
        ("0", "Number of codes must be a whole number of at least 1."),
        ("ten", "Number of codes must be a whole number of at least 1."),
        ("100001", "A batch has 100,000 codes at most."),
    ],
)
def test_a_bad_count_is_shown_next_to_the_field(dash, api, count, message):
    created = offer(api)
    response = dash.post(f"/dashboard/offers/{created['id']}/batches", {"count": count})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert error_next_to(html, "count") == escape(message)
    assert f'name="count" type="number" value="{count}"' in html
    assert api.get(f"/api/v1/offers/{created['id']}/batches").get_json()["items"] == []


def test_a_batch_with_a_personal_code_for_each_recipient(dash, api):
    campaign = api.campaign()
    created = offer(api, campaign["id"])
    link = api.link(campaign["id"], label="Newsletter")
    people = [{"email": f"p{i}@example.com"} for i in range(3)]
    response = api.post(f"/api/v1/links/{link['id']}/recipients", json={"recipients": people})
    assert response.status_code == 200, response.get_json()
    html = dash.html(f"/dashboard/offers/{created['id']}")
    assert f'<option value="{link["id"]}">Each recipient of Newsletter (3)</option>' in html
    response = dash.post(
        f"/dashboard/offers/{created['id']}/batches",
        {"count": "", "recipients_link_id": str(link["id"])},
    )
    assert response.status_code == 303
    rows = export(api, created["id"], fmt="json")
    assert sorted(r["email"] for r in rows) == [p["email"] for p in people]
    html = dash.html(f"/dashboard/offers/{created['id']}")
    assert f'each recipient of <a href="/dashboard/links/{link["id"]}">' in html
    # Again: nobody gets two codes, so the new batch is empty and its sheet says why.
    again = dash.post(
        f"/dashboard/offers/{created['id']}/batches", {"recipients_link_id": str(link["id"])}
    )
    batch_id = int(again.headers["Location"].rsplit("-", 1)[1])
    sheet = dash.html(f"/dashboard/offers/{created['id']}/sheet?batch_id={batch_id}")
    assert "This batch has no codes." in sheet and codes_on_sheet(sheet) == []
    assert len(export(api, created["id"], fmt="json")) == 3


# The printable code sheet ------------------------------------------------------------------


def test_the_sheet_shows_the_batch_and_its_qr_codes_redeem_at_the_till(dash, api):
    location(api, "NYC-5TH")
    till = staff(api, "NYC-5TH")
    created = offer(api, code_prefix="BOOT", ends_at="2030-01-31T23:59:00Z")
    make_batch(dash, created["id"], 4)  # another batch, which must not show
    batch_id = make_batch(dash, created["id"], 30)
    html = dash.html(f"/dashboard/offers/{created['id']}/sheet?batch_id={batch_id}")
    expected = [r["code"] for r in export(api, created["id"], batch_id, fmt="json")]
    shown = codes_on_sheet(html)
    assert shown == expected and len(set(shown)) == 30
    assert html.count('<section class="code-page"') == 2  # 20 cells a printed page
    assert html.count("20% off boots") >= 30
    # On the store's clock, as the customer's landing page says it (23:59 UTC is 18:59 EST).
    until = re.search(r'<p class="code-until">(.*?)</p>', html).group(1)
    assert re.sub(r"<[^>]+>", "", until) == "Valid until 31 Jan 2030, 18:59 EST"
    assert "paper-a4.css" in html and "data-print" in html
    svgs = qr_svgs(html)
    assert len(svgs) == 30
    decoded = [decode_svg_by_rasterising(svg) for svg in svgs]
    assert decoded == [[code] for code in expected]
    # What the till scans redeems: the first code through the POS API with a staff key.
    response = redeem(till, decoded[0][0], transaction_id="T-SHEET-1")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["status"] == "redeemed"
    assert redeem(till, decoded[0][0], transaction_id="T-SHEET-2").status_code == 409
    assert redeem(till, decoded[29][0], transaction_id="T-SHEET-3").status_code == 201
    # The same text the coupon page gives a customer for the till (views/coupon.py).
    assert decoded[0][0].startswith("BOOT-") and len(decoded[0][0]) == len("BOOT-") + 14


def test_large_batches_are_printed_a_sheet_at_a_time(dash, api):
    created = offer(api)
    batch_id = make_batch(dash, created["id"], 1234)
    base = f"/dashboard/offers/{created['id']}/sheet?batch_id={batch_id}"
    pages = [dash.html(base), dash.html(f"{base}&page=2"), dash.html(f"{base}&page=3")]
    assert [len(codes_on_sheet(p)) for p in pages] == [500, 500, 234]
    assert [len(qr_svgs(p)) for p in pages] == [500, 500, 234]
    every = [code for p in pages for code in codes_on_sheet(p)]
    assert every == [r["code"] for r in export(api, created["id"], batch_id, fmt="json")]
    assert "Codes 1,001–1,234 of 1,234: sheet 3 of 3" in pages[2]
    assert 'rel="next"' in pages[0] and 'rel="prev"' in pages[2] and 'rel="next"' not in pages[2]
    assert dash.get(f"{base}&page=4").status_code == 404
    assert dash.get(f"{base}&page=0").status_code == 404
    assert dash.get(f"{base}&page=two").status_code == 422
    assert "paper-letter.css" in dash.html(f"{base}&paper=letter")
    assert "paper-a4.css" in dash.html(f"{base}&paper=folio")


def test_the_sheet_needs_a_batch_of_this_offer(dash, api):
    created, other = offer(api), offer(api)
    batch = api.post(f"/api/v1/offers/{other['id']}/codes", json={"count": 2}).get_json()
    assert dash.get(f"/dashboard/offers/{created['id']}/sheet").status_code == 422
    response = dash.get(f"/dashboard/offers/{created['id']}/sheet?batch_id={batch['id']}")
    assert response.status_code == 404


# The campaign page, queries, and links to the landing page ---------------------------------


def test_the_campaign_page_lists_its_offers_with_their_counts(dash, api):
    location(api, "NYC-5TH")
    campaign = api.campaign()
    boots = offer(api, campaign["id"], ends_at="2020-01-01T00:00:00Z", starts_at="2019-01-01")
    shared = offer(api, campaign["id"], title="Holiday", kind="shared", shared_code="HOLIDAY10")
    api.post(f"/api/v1/offers/{boots['id']}/codes", json={"count": 7})
    till = staff(api, "NYC-5TH")
    for n in range(2):
        assert redeem(till, "HOLIDAY10", transaction_id=f"T-{n}").status_code == 201
    offer(api, api.campaign(name="Other")["id"], title="Not this campaign")
    html = dash.html(f"/dashboard/campaigns/{campaign['id']}")
    assert "No offers yet." not in html and "Not this campaign" not in html
    rows = re.findall(r"<tr>\s*<td data-label=\"Offer\">(.*?)</tr>", html, flags=re.S)
    assert len(rows) == 2
    assert f'href="/dashboard/offers/{boots["id"]}">20% off boots</a>' in rows[0]
    assert "ended" in rows[0] and "unique codes" in rows[0] and "1 use per code" in rows[0]
    issued, claimed, redeemed = re.findall(r'class="num">([\d,]+)</td>', rows[0])
    assert (issued, claimed, redeemed) == ("7", "0", "0")
    assert f'href="/dashboard/offers/{shared["id"]}">Holiday</a>' in rows[1]
    assert "<code>HOLIDAY10</code>" in rows[1] and "running" in rows[1]
    assert re.findall(r'class="num">([\d,]+)</td>', rows[1]) == ["1", "0", "2"]


def test_pages_issue_a_handful_of_queries_however_many_offers_and_batches(app, dash, api):
    campaign = api.campaign()
    first = offer(api, campaign["id"])
    for _ in range(3):
        api.post(f"/api/v1/offers/{first['id']}/codes", json={"count": 2})
    with statements(app) as seen:
        dash.html(f"/dashboard/campaigns/{campaign['id']}")
    one_offer = len(seen)
    for n in range(5):
        offer(api, campaign["id"], title=f"Offer {n}")
    with statements(app) as seen:
        dash.html(f"/dashboard/campaigns/{campaign['id']}")
    assert len(seen) == one_offer
    assert sum("FROM offers o" in s for s in seen) == 1
    for path in (
        f"/dashboard/offers/{first['id']}",
        f"/dashboard/offers/{first['id']}/edit",
        f"/dashboard/offers/{first['id']}/sheet?batch_id=1",
        f"/dashboard/campaigns/{campaign['id']}/offers/new",
    ):
        with statements(app) as seen:
            dash.html(path)
        assert len(seen) <= 6, (path, seen)


def offer_rows(html: str) -> list[str]:
    return re.findall(r"<tr>\s*<td data-label=\"Offer\">(.*?)</tr>", html, flags=re.S)


def test_the_offers_page_lists_every_offer_with_its_campaign_and_counts(dash, api):
    html = dash.html("/dashboard/offers")
    assert "No offers yet." in html and 'href="/dashboard/campaigns/new"' in html
    assert 'href="/dashboard/offers" aria-current="page">Offers</a>' in html
    api.campaign(name="Spring")
    assert "Open a campaign and choose" in dash.html("/dashboard/offers")

    location(api, "NYC-5TH")
    boot_week = api.campaign(name="Boot <b>week</b>")
    boots = offer(
        api,
        boot_week["id"],
        title="<script>alert(1)</script> boots",
        code_prefix="BOOT",
        location_codes=["NYC-5TH"],
        ends_at="2020-01-01T00:00:00Z",
        starts_at="2019-01-01",
    )
    api.post(f"/api/v1/offers/{boots['id']}/codes", json={"count": 3})
    holiday = api.campaign(name="Holiday")
    shared = offer(api, holiday["id"], title="Holiday", kind="shared", shared_code="HOLIDAY10")
    assert redeem(staff(api, "NYC-5TH"), "HOLIDAY10").status_code == 201

    html = dash.html("/dashboard/offers")
    assert "No offers yet." not in html and "<script>alert" not in html
    newest, oldest = offer_rows(html)
    assert f'href="/dashboard/offers/{shared["id"]}">Holiday</a>' in newest
    assert f'href="/dashboard/campaigns/{holiday["id"]}#offers">Holiday</a>' in newest
    assert "<code>HOLIDAY10</code>" in newest and "every store and booth" in newest
    assert "running" in newest and "any time" in newest
    assert re.findall(r'class="num">([\d,]+)</td>', newest) == ["1", "0", "1"]
    title = escape("<script>alert(1)</script> boots")
    assert f'href="/dashboard/offers/{boots["id"]}">{title}</a>' in oldest
    assert f">{escape('Boot <b>week</b>')}</a>" in oldest
    assert "<code>BOOT-…</code>" in oldest and ">NYC-5TH</td>" in oldest and "ended" in oldest
    assert "2019-01-01 00:00 → 2020-01-01 00:00" in oldest
    assert re.findall(r'class="num">([\d,]+)</td>', oldest) == ["3", "0", "0"]
    # Offer pages are under "Offers" in the navigation, no longer under "Campaigns".
    page = dash.html(f"/dashboard/offers/{boots['id']}")
    assert 'href="/dashboard/offers" aria-current="page">Offers</a>' in page
    assert 'aria-current="page">Campaigns</a>' not in page


def test_the_offers_page_is_one_query_however_many_offers(app, dash, api):
    offer(api, api.campaign()["id"])
    with statements(app) as seen:
        dash.html("/dashboard/offers")
    one_offer = len(seen)
    for n in range(5):
        campaign = api.campaign(name=f"Campaign {n}")
        made = offer(api, campaign["id"], title=f"Offer {n}")
        api.post(f"/api/v1/offers/{made['id']}/codes", json={"count": 2})
    with statements(app) as seen:
        html = dash.html("/dashboard/offers")
    assert len(offer_rows(html)) == 6
    assert len(seen) == one_offer <= 6, seen
    assert sum("FROM offers o" in s for s in seen) == 1


def test_a_tracked_link_to_the_offer_leads_to_its_landing_page(app, dash, api):
    created = offer(api)
    response = dash.post(f"/dashboard/offers/{created['id']}/links", {"label": "Window poster"})
    assert response.status_code == 303
    link_id = int(
        re.fullmatch(r"/dashboard/links/(\d+)\?m=link_created", response.headers["Location"]).group(
            1
        )
    )
    link = api.get(f"/api/v1/links/{link_id}").get_json()
    assert link["offer_id"] == created["id"] and link["label"] == "Window poster"
    assert link["campaign_id"] == created["campaign_id"] and link["destination"] is None
    assert "the offer's landing page" in dash.html(response.headers["Location"])
    html = dash.html(f"/dashboard/offers/{created['id']}")
    assert f'href="/dashboard/links/{link_id}">Window poster</a>' in html and link["url"] in html
    visitor = app.test_client()
    landing = visitor.get(f"/r/{link['token']}", headers={"User-Agent": BROWSER_UA})
    assert landing.status_code == 200
    assert "20% off boots" in landing.get_data(as_text=True)
    assert "Get my code" in landing.get_data(as_text=True)
    bad = dash.post(f"/dashboard/offers/{created['id']}/links", {"label": "x" * 201})
    assert bad.status_code == 422
    assert error_next_to(bad.get_data(as_text=True), "label") == escape(
        "Label is longer than 200 characters."
    )
