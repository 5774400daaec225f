"""The dashboard through the Flask test client: accounts, forms, permissions, pages."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from app.access import users
from tests.conftest import Api, make_app
from tests.dashboard_helpers import PASSWORD, Dash, create_user, field_errors, text
from tests.test_qr import decode_png

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path)
    create_user(app, "ada@example.com", "admin")
    create_user(app, "mark@example.com", "marketer")
    return app


@pytest.fixture
def admin(app):
    return Dash(app, "ada@example.com")


@pytest.fixture
def marketer(app):
    return Dash(app, "mark@example.com")


def _campaign(dash: Dash, **fields) -> int:
    form = {
        "name": "Spring Sale",
        "channel": "email",
        "utm_source": "newsletter",
        "utm_medium": "email",
        "cost": "100.00",
        "currency": "EUR",
        **fields,
    }
    dash.get("/dashboard/campaigns/new")
    response = dash.post("/dashboard/campaigns/new", form)
    assert response.status_code == 303, field_errors(response)
    return int(re.search(r"/campaigns/(\d+)", response.headers["Location"]).group(1))


def _link(dash: Dash, campaign_id: int, **fields) -> int:
    dash.get(f"/dashboard/campaigns/{campaign_id}")
    form = {"destination": "https://shop.example.com/spring", "label": "Header", **fields}
    response = dash.post(f"/dashboard/campaigns/{campaign_id}/links", form)
    assert response.status_code == 303, field_errors(response)
    return int(re.search(r"/links/(\d+)", response.headers["Location"]).group(1))


# Signing in --------------------------------------------------------------------------------


def test_signed_out_pages_send_to_sign_in_and_back(app):
    client = app.test_client()
    response = client.get("/dashboard/events?bots=human")
    assert response.status_code == 303
    assert "/dashboard/sign-in?next=" in response.headers["Location"]
    dash = Dash.__new__(Dash)
    dash.app, dash.client = app, client
    response = dash.sign_in("ada@example.com", PASSWORD, next_url="/dashboard/events?bots=human")
    assert response.headers["Location"] == "/dashboard/events?bots=human"
    assert client.get("/").headers["Location"].endswith("/dashboard/")


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/dashboard/", "/\\evil.example", "/api/v1/tokens"],
)
def test_sign_in_never_redirects_elsewhere(app, target):
    dash = Dash(app)
    dash.get("/dashboard/")
    dash.post("/dashboard/sign-out")
    response = dash.sign_in("ada@example.com", PASSWORD, next_url=target)
    assert response.headers["Location"] == "/dashboard/"


def test_wrong_password_and_unknown_email_get_the_same_answer(app):
    client = app.test_client()
    dash = Dash.__new__(Dash)
    dash.app, dash.client = app, client
    wrong = dash.sign_in("ada@example.com", "not the password")
    unknown = dash.sign_in("nobody@example.com", PASSWORD)
    assert wrong.status_code == unknown.status_code == 422
    assert "do not match an active account" in text(wrong)
    assert text(wrong).replace("ada@", "x@") == text(unknown).replace("nobody@", "x@")
    assert 'value="ada@example.com"' in wrong.get_data(as_text=True)  # the email is kept


def test_disabled_account_cannot_sign_in_and_is_signed_out(app, admin):
    mark = Dash(app, "mark@example.com")
    assert mark.get("/dashboard/").status_code == 200
    people = {u["email"]: u["id"] for u in users.list_all(app.extensions["touchpoint"].db())}
    admin.get("/dashboard/users")
    response = admin.post(f"/dashboard/users/{people['mark@example.com']}/disable")
    assert "is disabled" in text(response)
    assert mark.get("/dashboard/").status_code == 303
    fresh = Dash.__new__(Dash)
    fresh.app, fresh.client = app, app.test_client()
    assert fresh.sign_in("mark@example.com", PASSWORD).status_code == 422


def test_password_change_signs_out_other_browsers(app, admin):
    other = Dash(app, "ada@example.com")
    admin.get("/dashboard/account")
    short = admin.post(
        "/dashboard/account/password",
        {"current_password": PASSWORD, "new_password": "short"},
    )
    assert short.status_code == 422
    assert "at least 10 characters" in field_errors(short)["new_password"]
    wrong = admin.post(
        "/dashboard/account/password",
        {"current_password": "nope", "new_password": "a much longer one"},
    )
    assert field_errors(wrong) == {"current_password": "This is not your current password."}
    done = admin.post(
        "/dashboard/account/password",
        {"current_password": PASSWORD, "new_password": "a much longer one"},
    )
    assert done.status_code == 200 and "Password changed" in text(done)
    assert admin.get("/dashboard/").status_code == 200  # this browser stays in
    assert other.get("/dashboard/").status_code == 303  # the other one is out
    assert Dash(app, "ada@example.com", "a much longer one")


def test_sign_out_and_sign_out_everywhere(app, admin):
    other = Dash(app, "ada@example.com")
    admin.get("/dashboard/")
    response = admin.post("/dashboard/sign-out")
    assert response.headers["Location"].endswith("/dashboard/sign-in?m=signed_out")
    assert admin.get("/dashboard/").status_code == 303
    assert other.get("/dashboard/").status_code == 200
    third = Dash(app, "ada@example.com")
    third.get("/dashboard/account")
    third.post("/dashboard/account/sign-out-everywhere")
    assert other.get("/dashboard/").status_code == 303


def test_session_cookie_flags_and_page_headers(app):
    client = app.test_client()
    page = client.get("/dashboard/sign-in")
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"
    cookie = page.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    https = make_app(Path(app.instance_path).parent / "proxied", TRUSTED_PROXIES="127.0.0.1/32")
    secure = https.test_client().get("/dashboard/sign-in", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in secure.headers["Set-Cookie"]
    assert '<html lang="en">' in page.get_data(as_text=True)


def test_forms_without_a_valid_csrf_token_are_refused(app, admin):
    admin.get("/dashboard/campaigns/new")
    form = {"name": "X", "channel": "email", "utm_source": "a", "utm_medium": "b"}
    missing = admin.post("/dashboard/campaigns/new", form, csrf=False)
    assert missing.status_code == 400 and "out of date" in text(missing)
    other = Dash(app, "mark@example.com")
    forged = admin.post("/dashboard/campaigns/new", {**form, "csrf_token": other.token})
    assert forged.status_code == 400
    db = app.extensions["touchpoint"].db()
    assert db.execute("SELECT count(*) FROM campaigns").fetchone()[0] == 0


def test_the_real_password_hash_is_slow_and_salted(tmp_path):
    app = make_app(tmp_path, PASSWORD_HASH=users.DEFAULT_HASH)
    db = app.extensions["touchpoint"].db()
    users.create(db, "a@example.com", "admin", password=PASSWORD)
    users.create(db, "b@example.com", "admin", password=PASSWORD)
    hashes = [r[0] for r in db.execute("SELECT password_hash FROM users")]
    assert all(h.startswith("scrypt:32768:8:1$") for h in hashes)
    assert hashes[0] != hashes[1] and PASSWORD not in hashes[0]
    assert users.authenticate(db, "A@example.com", PASSWORD)["email"] == "a@example.com"


# Roles -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/dashboard/users"),
        ("post", "/dashboard/users"),
        ("post", "/dashboard/locations"),
        ("post", "/dashboard/locations/SHOP/keys"),
    ],
)
def test_marketers_cannot_do_admin_things(app, marketer, method, path):
    marketer.get("/dashboard/")
    response = getattr(marketer, method)(
        path, **({"data": {"code": "X"}} if method == "post" else {})
    )
    assert response.status_code == 403
    assert "Only an admin" in text(response)


def test_users_page_creates_accounts_and_keeps_an_admin(app, admin):
    admin.get("/dashboard/users")
    bad = admin.post("/dashboard/users", {"email": "not-an-email", "name": "Bea"})
    assert bad.status_code == 422
    assert "not a valid email" in field_errors(bad)["email"]
    assert 'value="Bea"' in bad.get_data(as_text=True)
    taken = admin.post("/dashboard/users", {"email": "MARK@example.com"})
    assert taken.status_code == 409 and "already an account" in text(taken)
    made = admin.post("/dashboard/users", {"email": "bea@example.com", "role": "marketer"})
    password = re.search(r'data-copy="([^"]+)"', made.get_data(as_text=True)).group(1)
    assert Dash(app, "bea@example.com", password)
    assert password not in admin.get("/dashboard/users").get_data(as_text=True)  # shown once
    me = users.list_all(app.extensions["touchpoint"].db())
    ada = next(u for u in me if u["email"] == "ada@example.com")
    assert admin.post(f"/dashboard/users/{ada['id']}/disable").status_code == 403


def test_the_last_admin_cannot_be_demoted(app, admin):
    db = app.extensions["touchpoint"].db()
    _, other = users.create(db, "root@example.com", "admin", password=PASSWORD)
    admin.get("/dashboard/users")
    assert (
        admin.post(f"/dashboard/users/{other['id']}/role", {"role": "marketer"}).status_code == 200
    )
    second = Dash(app, "root@example.com")  # a marketer now: cannot touch users
    assert second.get("/dashboard/users").status_code == 403
    users.set_role(db, other["id"], "admin", by={"id": 0})
    ada = next(u["id"] for u in users.list_all(db) if u["email"] == "ada@example.com")
    users.disable(db, ada, by={"id": 0})
    with pytest.raises(Exception, match="last active admin"):
        users.disable(db, other["id"], by={"id": 0})


# API tokens of an account ------------------------------------------------------------------


def test_account_tokens_are_shown_once_act_with_the_role_and_die_with_the_account(app, admin):
    mark = Dash(app, "mark@example.com")
    mark.get("/dashboard/account")
    made = mark.post("/dashboard/account/tokens", {"name": "CRM sync"})
    secret = re.search(r'data-copy="(tpa_[^"]+)"', made.get_data(as_text=True)).group(1)
    assert secret not in mark.get("/dashboard/account").get_data(as_text=True)
    api = Api(app.test_client(), secret)
    assert api.get("/api/v1/campaigns").status_code == 200
    denied = api.get("/api/v1/tokens")
    assert denied.status_code == 403 and denied.get_json()["error"]["code"] == "admin_only"
    assert api.post("/api/v1/locations", json={"code": "X"}).status_code == 403
    assert api.post("/api/v1/redemptions", json={"code": "X"}).status_code == 403
    # Disabling the account stops the token.
    db = app.extensions["touchpoint"].db()
    mark_id = next(u["id"] for u in users.list_all(db) if u["role"] == "marketer")
    admin.get("/dashboard/users")
    admin.post(f"/dashboard/users/{mark_id}/disable")
    assert api.get("/api/v1/campaigns").status_code == 401


def test_revoking_an_own_token_and_not_someone_elses(app, admin):
    mark = Dash(app, "mark@example.com")
    mark.get("/dashboard/account")
    secret = re.search(
        r'data-copy="(tpa_[^"]+)"',
        mark.post("/dashboard/account/tokens", {"name": "mine"}).get_data(as_text=True),
    ).group(1)
    admin.get("/dashboard/account")
    admin.post("/dashboard/account/tokens", {"name": "admin's"})
    db = app.extensions["touchpoint"].db()
    tokens = {t["name"]: t["id"] for t in db.query("SELECT * FROM api_tokens")}
    admins = tokens["admin's"]
    assert mark.post(f"/dashboard/account/tokens/{admins}/revoke").status_code == 404
    empty = mark.post("/dashboard/account/tokens", {"name": ""})
    assert field_errors(empty) == {"name": "Name is required."}
    mark.post(f"/dashboard/account/tokens/{tokens['mine']}/revoke")
    assert Api(app.test_client(), secret).get("/api/v1/campaigns").status_code == 401


# Campaigns and links -----------------------------------------------------------------------


def test_campaign_form_shows_the_api_message_next_to_the_field_and_keeps_input(app, admin):
    admin.get("/dashboard/campaigns/new")
    form = {
        "name": "Autumn",
        "channel": "email",
        "utm_source": "news",
        "utm_medium": "email",
        "cost": "12.345",
        "currency": "EUR",
    }
    response = admin.post("/dashboard/campaigns/new", form)
    assert response.status_code == 422
    api_answer = Api(app.test_client(), _token(app)).post("/api/v1/campaigns", json=form)
    assert field_errors(response) == {"cost": api_answer.get_json()["error"]["message"]}
    body = response.get_data(as_text=True)
    assert 'value="Autumn"' in body and 'value="12.345"' in body
    assert 'aria-invalid="true"' in body and 'aria-describedby="e-cost' in body
    missing = admin.post("/dashboard/campaigns/new", {**form, "cost": "", "utm_source": ""})
    assert field_errors(missing) == {"utm_source": "utm_source is required."}


def _token(app) -> str:
    from app.access import api_tokens

    return api_tokens.create(app.extensions["touchpoint"].db(), "t", "admin")[0]


def test_create_and_edit_a_campaign(app, marketer):
    campaign_id = _campaign(marketer, name="Poster wave")
    page = marketer.get(f"/dashboard/campaigns/{campaign_id}?m=created")
    assert "Poster wave" in text(page) and "No links yet" in text(page)
    edit = marketer.get(f"/dashboard/campaigns/{campaign_id}/edit")
    assert 'value="100.00"' in edit.get_data(as_text=True)
    bad = marketer.post(
        f"/dashboard/campaigns/{campaign_id}/edit",
        {
            "name": "Poster wave",
            "channel": "print",
            "utm_source": "poster",
            "utm_medium": "print",
            "utm_campaign": "pw",
            "currency": "EUR",
            "cost": "100.00",
            "starts_at": "2026-12-01T00:00",
            "ends_at": "2026-11-01T00:00",
        },
    )
    assert field_errors(bad) == {"ends_at": "The end must be after the start."}
    good = marketer.post(
        f"/dashboard/campaigns/{campaign_id}/edit",
        {
            "name": "Poster wave 2",
            "channel": "print",
            "utm_source": "poster",
            "utm_medium": "print",
            "utm_campaign": "pw",
            "currency": "EUR",
            "cost": "250.50",
            "starts_at": "2026-11-01T00:00",
            "ends_at": "2026-12-01T00:00",
            "notes": "",
        },
    )
    assert good.status_code == 303
    row = Api(app.test_client(), _token(app)).get(f"/api/v1/campaigns/{campaign_id}").get_json()
    assert (row["name"], row["channel"], row["cost"]) == ("Poster wave 2", "print", "250.50")
    assert row["starts_at"] == "2026-11-01T00:00:00.000Z" and row["notes"] is None


def test_links_qr_and_a_click_on_the_overview(app, marketer):
    campaign_id = _campaign(marketer)
    bad = marketer.post(
        f"/dashboard/campaigns/{campaign_id}/links", {"destination": "javascript:alert(1)"}
    )
    assert bad.status_code == 422 and "destination" in field_errors(bad)
    link_id = _link(marketer, campaign_id)
    page = marketer.get(f"/dashboard/links/{link_id}")
    url = re.search(r'data-copy="(http://localhost/r/[^"]+)"', page.get_data(as_text=True)).group(1)
    png = marketer.get(f"/dashboard/links/{link_id}/qr.png?size=300&ecc=H&download=1")
    assert (
        png.headers["Content-Disposition"]
        == f'attachment; filename="touchpoint-link-{link_id}.png"'
    )
    assert decode_png(png.data) == [url.replace("/r/", "/q/")]
    svg = marketer.get(f"/dashboard/links/{link_id}/qr.svg?border=2")
    assert svg.mimetype == "image/svg+xml"
    bad_option = marketer.get(f"/dashboard/links/{link_id}?ecc=Z")
    assert "ecc" in text(bad_option)
    visitor = app.test_client()
    assert (
        visitor.get(
            url.removeprefix("http://localhost"), headers={"User-Agent": BROWSER}
        ).status_code
        == 302
    )
    overview = marketer.get("/dashboard/")
    row = re.search(r"Spring Sale.*?</tr>", overview.get_data(as_text=True), re.S).group(0)
    cells = re.findall(r'class="num">\s*([^<]*)<', row)
    assert cells[0] == "1"  # one human click
    assert "1" in text(marketer.get(f"/dashboard/campaigns/{campaign_id}"))
    sign = marketer.get(f"/dashboard/links/{link_id}/signage?headline=Visit+us&paper=letter")
    assert "Visit us" in text(sign) and "paper-letter.css" in sign.get_data(as_text=True)


def test_editing_a_link_and_deactivating_it(app, marketer):
    link_id = _link(marketer, _campaign(marketer))
    form = marketer.get(f"/dashboard/links/{link_id}/edit")
    assert "checked" in form.get_data(as_text=True)
    bad = marketer.post(
        f"/dashboard/links/{link_id}/edit", {"destination": "ftp://x", "active": "1"}
    )
    assert "destination" in field_errors(bad) and 'value="ftp://x"' in bad.get_data(as_text=True)
    done = marketer.post(
        f"/dashboard/links/{link_id}/edit",
        {"destination": "https://shop.example.com/new", "label": "New", "fallback_url": ""},
    )
    assert done.status_code == 303
    row = Api(app.test_client(), _token(app)).get(f"/api/v1/links/{link_id}").get_json()
    assert (row["destination"], row["active"]) == ("https://shop.example.com/new", False)


def test_recipients_upload_summary_and_merge_file(app, marketer):
    link_id = _link(marketer, _campaign(marketer))
    marketer.get(f"/dashboard/links/{link_id}")
    bad_csv = "email,first_name\nann@example.com,Ann\nnot-an-email,Bob\n,Cy\n"
    refused = marketer.post(
        f"/dashboard/links/{link_id}/recipients",
        {"file": (io.BytesIO(bad_csv.encode()), "list.csv")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422
    assert "nothing was imported" in text(refused)
    assert re.findall(r'<td class="num">(\d+)</td>', refused.get_data(as_text=True)) == ["3", "4"]
    done = marketer.post(
        f"/dashboard/links/{link_id}/recipients",
        {"file": (io.BytesIO(bad_csv.encode()), "list.csv"), "skip_invalid": "1"},
        content_type="multipart/form-data",
    )
    assert done.status_code == 200
    assert "1 row imported, 2 skipped" in text(done)
    merge = marketer.get(f"/dashboard/links/{link_id}/recipients.csv")
    rows = list(csv.DictReader(io.StringIO(merge.get_data(as_text=True))))
    assert [(r["email"], r["first_name"]) for r in rows] == [("ann@example.com", "Ann")]
    path = rows[0]["tracked_url"].removeprefix("http://localhost")
    assert app.test_client().get(path, headers={"User-Agent": BROWSER}).status_code == 302
    lead = app.extensions["touchpoint"].db().execute("SELECT lead_id FROM lead_visitors").fetchone()
    assert lead[0] == rows[0]["lead_id"]
    no_file = marketer.post(
        f"/dashboard/links/{link_id}/recipients", {}, content_type="multipart/form-data"
    )
    assert field_errors(no_file) == {"file": "Choose a CSV file with an email column."}


# Locations, events, leads ------------------------------------------------------------------


def test_locations_and_staff_keys_shown_once(app, admin, marketer):
    admin.get("/dashboard/locations")
    bad = admin.post(
        "/dashboard/locations", {"code": "SHOP 1", "name": "Shop", "timezone": "Mars/Base"}
    )
    assert "code" in field_errors(bad) and 'value="Shop"' in bad.get_data(as_text=True)
    done = admin.post(
        "/dashboard/locations",
        {"code": "SHOP1", "name": "Main street", "kind": "store", "timezone": "Europe/Paris"},
    )
    assert done.headers["Location"].endswith("/dashboard/locations/SHOP1?m=created")
    admin.get("/dashboard/locations/SHOP1")
    made = admin.post("/dashboard/locations/SHOP1/keys", {"label": "Till 1"})
    secret = re.search(r'data-copy="(tps_[^"]+)"', made.get_data(as_text=True)).group(1)
    assert secret not in admin.get("/dashboard/locations/SHOP1").get_data(as_text=True)
    page = marketer.get("/dashboard/locations/SHOP1")
    assert "Till 1" in text(page) and "Create staff key" not in text(page)
    staff = app.test_client()
    token = re.search(
        r'name="csrf_token" value="([^"]+)"', staff.get("/staff").get_data(as_text=True)
    ).group(1)
    assert staff.post("/staff", data={"key": secret, "csrf_token": token}).status_code == 303
    # The printable sign-in sheet: a QR code of the sign-in address with the key after #key=
    # (a phone's camera opens it; a till's scanner types it into the key field).
    from app.views import qr

    link = f"http://localhost/staff#key={secret}"
    assert qr.svg(link) in made.get_data(as_text=True)
    till = app.test_client()
    token = re.search(
        r'name="csrf_token" value="([^"]+)"', till.get("/staff").get_data(as_text=True)
    ).group(1)
    assert till.post("/staff", data={"key": link, "csrf_token": token}).status_code == 303
    key_id = app.extensions["touchpoint"].db().execute("SELECT id FROM staff_keys").fetchone()[0]
    admin.post(f"/dashboard/locations/SHOP1/keys/{key_id}/revoke")
    assert staff.get("/staff/redeem").status_code == 303  # signed out


def test_events_filter_and_partial_refresh(app, marketer):
    link_id = _link(marketer, _campaign(marketer))
    url = re.search(
        r'data-copy="http://localhost(/r/[^"]+)"',
        marketer.get(f"/dashboard/links/{link_id}").get_data(as_text=True),
    ).group(1)
    visitor = app.test_client()
    visitor.get(url, headers={"User-Agent": BROWSER})
    visitor.get(url, headers={"User-Agent": "Slackbot-LinkExpanding 1.0"})
    everything = marketer.get("/dashboard/events")
    assert everything.get_data(as_text=True).count("<tr") == 3  # header + 2
    people = marketer.get("/dashboard/events?bots=human")
    assert people.get_data(as_text=True).count("<tr") == 2
    bots = marketer.get("/dashboard/events?bots=bots&partial=1")
    assert "<html" not in bots.get_data(as_text=True) and "ua:" in text(bots)
    none = marketer.get("/dashboard/events?type=redemption")
    assert "No events match" in text(none)


def test_lead_timeline_and_erasure_needs_admin_and_confirmation(app, admin, marketer):
    api = Api(app.test_client(), _token(app))
    conversion = api.post(
        "/api/v1/conversions",
        json={"type": "sale", "email": "zoe@example.com", "value": "20.00", "currency": "EUR"},
    ).get_json()
    lead_id = conversion["lead_id"]
    found = marketer.get("/dashboard/leads?q=zoe")
    assert f"/dashboard/leads/{lead_id}" in found.get_data(as_text=True)
    page = marketer.get(f"/dashboard/leads/{lead_id}")
    assert "20.00 EUR" in text(page) and "Erase" not in text(page)
    assert (
        marketer.post(
            f"/dashboard/leads/{lead_id}/erase", {"confirm": "zoe@example.com"}
        ).status_code
        == 403
    )
    admin.get(f"/dashboard/leads/{lead_id}")
    wrong = admin.post(f"/dashboard/leads/{lead_id}/erase", {"confirm": "zoe"})
    assert wrong.status_code == 422 and "confirm" in field_errors(wrong)
    done = admin.post(f"/dashboard/leads/{lead_id}/erase", {"confirm": "ZOE@example.com"})
    assert done.status_code == 303
    assert "zoe@example.com" not in admin.get(f"/dashboard/leads/{lead_id}").get_data(as_text=True)


# Empty states and query counts -------------------------------------------------------------


def test_empty_pages_explain_the_next_step(app, marketer):
    assert "Create your first campaign" in text(marketer.get("/dashboard/"))
    assert "No locations yet" in text(marketer.get("/dashboard/locations"))
    assert "No tokens yet" in text(marketer.get("/dashboard/account"))


def test_pages_issue_a_handful_of_queries_however_many_rows(app, marketer):
    """No page queries per row (no N+1): the count stays the same as campaigns and links grow."""
    campaign_id = _campaign(marketer)
    link_id = _link(marketer, campaign_id)
    pages = (
        "/dashboard/",
        f"/dashboard/campaigns/{campaign_id}",
        f"/dashboard/links/{link_id}",
        "/dashboard/events",
        "/dashboard/locations",
        "/dashboard/users",
        "/dashboard/links",
    )
    admin = Dash(app, "ada@example.com")
    before = _statements_per_page(app, admin, pages)
    for _ in range(4):
        _link(marketer, _campaign(marketer), label="another")
        _link(marketer, campaign_id, label="more")
    after = _statements_per_page(app, admin, pages)
    assert after == before
    # The overview runs the attribution report (a fixed set of statements, including catching
    # the report tables up with new events, and one read each of sales activities and
    # offline touches); the rest are tiny.
    assert before["/dashboard/"] <= 23, before  # + the campaigns tags and the tag picker
    # The Links page runs the same report by link, plus the search and the pickers.
    assert before["/dashboard/links"] <= 26, before
    others = {p: n for p, n in before.items() if p not in ("/dashboard/", "/dashboard/links")}
    assert max(others.values()) <= 10, before  # a campaign: + audience and domain picker


def _statements_per_page(app, dash: Dash, pages: tuple[str, ...]) -> dict[str, int]:
    statements: list[str] = []
    # The test client runs in this thread, so the app uses this thread's cached connection.
    connection = app.extensions["touchpoint"].db().conn
    connection.set_trace_callback(statements.append)
    counts = {}
    try:
        for page in pages:
            statements.clear()
            assert dash.get(page).status_code == 200
            counts[page] = len(
                [
                    s
                    for s in statements
                    if s.split(None, 1)[0] in ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")
                ]
            )
    finally:
        connection.set_trace_callback(None)
    return counts


def test_a_link_picks_its_store_and_partner_from_lists(app, admin, marketer):
    from tests.conftest import api_for

    api = api_for(app)
    store = {"code": "SOHO", "name": "SoHo", "kind": "store", "timezone": "America/New_York"}
    assert api.post("/api/v1/locations", json=store).status_code == 201
    reseller = {"code": "acme", "name": "ACME", "kind": "reseller"}
    assert api.post("/api/v1/partners", json=reseller).status_code == 201
    campaign_id = _campaign(marketer)
    page = marketer.get(f"/dashboard/campaigns/{campaign_id}").get_data(as_text=True)
    assert '<option value="SOHO">SoHo (SOHO)</option>' in page
    assert '<option value="acme">ACME (reseller)</option>' in page
    link_id = _link(marketer, campaign_id, store_code="SOHO", partner_code="acme")
    made = api.get(f"/api/v1/links/{link_id}").get_json()
    assert (made["store_code"], made["partner_code"]) == ("SOHO", "acme")
    plain = api.get(f"/api/v1/links/{_link(marketer, campaign_id)}").get_json()
    assert (plain["store_code"], plain["partner_code"]) == (None, None)
    # A store that is not (or no longer) a location is refused at its field.
    marketer.get(f"/dashboard/campaigns/{campaign_id}")
    refused = marketer.post(
        f"/dashboard/campaigns/{campaign_id}/links",
        {"destination": "https://shop.example.com/", "store_code": "GONE"},
    )
    assert refused.status_code == 422 and "store_code" in field_errors(refused)
