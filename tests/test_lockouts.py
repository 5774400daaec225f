"""Lockouts cannot be turned against their owners.

Wrong passwords slow down one account at one address (progressive delays, OWASP), and a
browser that signed in before (its known-device cookie) is not slowed by anyone else's
failures. Wrong staff keys slow down the address they come from, but a right key always
signs in, so one guesser behind a shop's router cannot sign its tills out.
"""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.access import throttle, users
from app.views import staff as staff_views

from . import backends
from .conftest import make_app
from .dashboard_helpers import PASSWORD, Dash, create_user, text
from .live import gunicorn
from .test_staff_pages import make_shop, sign_in, signed_in, token_of

ATTACKER = {"REMOTE_ADDR": "203.0.113.7"}
ELSEWHERE = {"REMOTE_ADDR": "198.51.100.20"}


class Clock:
    """The throttle's clock, moved by the test instead of by waiting."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(throttle, "time", fake)
    return fake


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path)
    create_user(app, "ada@example.com", "admin")
    return app


def browser(app) -> Dash:
    dash = Dash.__new__(Dash)
    dash.app, dash.client = app, app.test_client()
    return dash


def sign_out(dash: Dash) -> None:
    dash.get("/dashboard/")  # a fresh CSRF token: signing in renewed it
    assert dash.post("/dashboard/sign-out").status_code == 303


def security_log(app) -> list[tuple[str, str]]:
    db = app.extensions["touchpoint"].db()
    return [tuple(r) for r in db.execute("SELECT kind, subject FROM security_log ORDER BY id")]


# Passwords ---------------------------------------------------------------------------------


def guess_patiently(dash: Dash, clock: Clock, tries: int) -> tuple[list[int], float]:
    """A guesser that waits out every Retry-After: the waits it met, and the time it took."""
    started, waits, wrong = clock.now, [], 0
    while wrong < tries:
        response = dash.sign_in("ada@example.com", "guess guess guess", environ_base=ATTACKER)
        if response.status_code == 429:
            wait = int(response.headers["Retry-After"])
            waits.append(wait)
            clock.now += wait
            continue
        assert response.status_code == 422
        wrong += 1
    return waits, clock.now - started


def test_a_guesser_is_slowed_to_a_crawl_while_the_owner_signs_in_from_elsewhere(app, clock):
    guesser = browser(app)
    for _ in range(users.PASSWORD_DELAYS.free):
        response = guesser.sign_in("ada@example.com", "guess guess guess", environ_base=ATTACKER)
        assert response.status_code == 422
    response = guesser.sign_in("ada@example.com", "guess guess guess", environ_base=ATTACKER)
    assert response.status_code == 429
    assert "Too many wrong passwords" in text(response)
    assert int(response.headers["Retry-After"]) == 1
    # During its wait even the right password is refused from there: no oracle for the guesser.
    assert guesser.sign_in("ada@example.com", PASSWORD, environ_base=ATTACKER).status_code == 429

    waits, took = guess_patiently(guesser, clock, 12)
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]  # doubling, capped
    assert took > 45 * 60  # twelve more guesses took three quarters of an hour
    assert ("lockout", "login:ada@example.com|203.0.113.7") in security_log(app)

    # The owner, from another address, at once and with the right password.
    owner = browser(app)
    assert owner.sign_in("ada@example.com", PASSWORD, environ_base=ELSEWHERE).status_code == 303
    assert owner.client.get("/dashboard/", environ_base=ELSEWHERE).status_code == 200


def test_a_known_device_behind_the_guessers_address_still_signs_in(app, clock):
    owner = Dash(app, "ada@example.com")  # signed in before, from 127.0.0.1: a known device
    assert owner.client.get_cookie(users.DEVICE_COOKIE, path="/dashboard") is not None
    sign_out(owner)

    guesser = browser(app)  # the same office network, no cookie
    for _ in range(users.PASSWORD_DELAYS.free):
        assert guesser.sign_in("ada@example.com", "guess guess guess").status_code == 422
    assert guesser.sign_in("ada@example.com", PASSWORD).status_code == 429
    newcomer = browser(app)  # a colleague's new laptop there waits like the guesser
    assert newcomer.sign_in("ada@example.com", PASSWORD).status_code == 429

    response = owner.sign_in("ada@example.com", PASSWORD)
    assert response.status_code == 303 and response.headers["Location"] == "/dashboard/"


def test_a_known_device_is_slowed_by_its_own_wrong_passwords(app, clock):
    owner = Dash(app, "ada@example.com")
    sign_out(owner)
    for _ in range(users.DEVICE_DELAYS.free):
        assert owner.sign_in("ada@example.com", "not it, sorry").status_code == 422
    assert owner.sign_in("ada@example.com", PASSWORD).status_code == 429
    clock.now += 1
    assert owner.sign_in("ada@example.com", PASSWORD).status_code == 303
    # A success starts the device afresh.
    sign_out(owner)
    assert owner.sign_in("ada@example.com", "not it, sorry").status_code == 422
    assert owner.sign_in("ada@example.com", PASSWORD).status_code == 303


def test_a_forged_device_cookie_is_no_device(app, clock):
    guesser = browser(app)
    guesser.client.set_cookie(users.DEVICE_COOKIE, '{"1": "made-up"}', path="/dashboard")
    for _ in range(users.PASSWORD_DELAYS.free):
        assert guesser.sign_in("ada@example.com", "guess guess guess").status_code == 422
    assert guesser.sign_in("ada@example.com", "guess guess guess").status_code == 429
    # A cookie signed for another account does not exempt this one either.
    create_user(app, "mark@example.com", "marketer")
    mark = Dash(app, "mark@example.com")
    sign_out(mark)
    assert mark.sign_in("ada@example.com", "guess guess guess").status_code == 429


def test_one_address_cannot_spray_many_accounts(app, clock):
    sprayer = browser(app)
    per_account = users.PASSWORD_DELAYS.free
    accounts = users.ADDRESS_THROTTLE.attempts // per_account
    for n in range(accounts):
        for _ in range(per_account):
            response = sprayer.sign_in(f"user{n}@example.com", "password123", environ_base=ATTACKER)
            assert response.status_code == 422
    response = sprayer.sign_in("someone.new@example.com", "password123", environ_base=ATTACKER)
    assert response.status_code == 429
    assert "Too many failed sign-ins" in text(response)
    assert int(response.headers["Retry-After"]) > 60
    assert ("lockout", "login-address:203.0.113.7") in security_log(app)
    # The owner elsewhere is not held by it.
    assert (
        browser(app).sign_in("ada@example.com", PASSWORD, environ_base=ELSEWHERE).status_code == 303
    )


def test_waits_are_forgotten_a_day_after_the_last_try(app, clock):
    guesser = browser(app)
    for _ in range(users.PASSWORD_DELAYS.free + 3):
        guesser.sign_in("ada@example.com", "guess guess guess", environ_base=ATTACKER)
        clock.now += 10
    clock.now += users.PASSWORD_DELAYS.forget_seconds + 1
    for _ in range(users.PASSWORD_DELAYS.free):
        response = guesser.sign_in("ada@example.com", "guess guess guess", environ_base=ATTACKER)
        assert response.status_code == 422


def test_an_ipv6_guesser_gets_no_fresh_allowance_from_each_address_of_its_64(app, clock):
    guesser = browser(app)
    for n in range(users.PASSWORD_DELAYS.free):
        here = {"REMOTE_ADDR": f"2001:db8:7:7::{n + 1:x}"}
        assert (
            guesser.sign_in("ada@example.com", "guess guess guess", environ_base=here).status_code
            == 422
        )
    next_door = {"REMOTE_ADDR": "2001:db8:7:7:ffff::1"}
    response = guesser.sign_in("ada@example.com", "guess guess guess", environ_base=next_door)
    assert response.status_code == 429
    assert ("lockout", "login:ada@example.com|2001:db8:7:7::/64") in security_log(app)
    other_network = {"REMOTE_ADDR": "2001:db8:7:8::1"}
    assert (
        browser(app).sign_in("ada@example.com", PASSWORD, environ_base=other_network).status_code
        == 303
    )


def test_guesses_from_many_addresses_slow_unknown_browsers_but_not_the_owners_device(app, clock):
    owner = Dash(app, "ada@example.com")
    sign_out(owner)
    botnet = browser(app)
    for n in range(users.SPREAD):
        here = {"REMOTE_ADDR": f"192.0.2.{n + 1}"}
        assert (
            botnet.sign_in("ada@example.com", "guess guess guess", environ_base=here).status_code
            == 422
        )
    # Now every browser the account does not know shares one delay for it...
    fresh = {"REMOTE_ADDR": "192.0.2.200"}
    assert (
        botnet.sign_in("ada@example.com", "guess guess guess", environ_base=fresh).status_code
        == 422
    )
    response = botnet.sign_in(
        "ada@example.com", "guess guess guess", environ_base={"REMOTE_ADDR": "192.0.2.201"}
    )
    assert response.status_code == 429
    assert "Too many wrong passwords for this account" in text(response)
    assert ("lockout", "login-account:ada@example.com") in security_log(app)
    # ...while the owner's known browser signs in at once, and other accounts are untouched.
    # (One address cannot pose as many: emails that smuggle in the key's separator are theirs.)
    create_user(app, "eve@example.com", "marketer")
    for n in range(users.SPREAD):
        botnet.sign_in(f"eve@example.com|{n}", "guess guess guess", environ_base=fresh)
    eve = browser(app)
    assert eve.sign_in("eve@example.com", "typo typo typo", environ_base=fresh).status_code == 422
    assert eve.sign_in("eve@example.com", PASSWORD, environ_base=fresh).status_code == 303
    assert owner.sign_in("ada@example.com", PASSWORD).status_code == 303
    create_user(app, "mark@example.com", "marketer")
    assert browser(app).sign_in("mark@example.com", PASSWORD, environ_base=fresh).status_code == 303


@pytest.mark.slow
def test_concurrent_guesses_cannot_share_the_free_tries_across_workers(tmp_path):
    """Tries are counted before the password is checked, in one write transaction: twenty
    wrong passwords sent at once to four gunicorn workers get the five free answers (a sixth
    if a second passed meanwhile), and the others 429 — never twenty checked passwords."""
    app = make_app(tmp_path, SECRET_KEY="lockout-test-secret")
    # The real hash cost, so that checking a password takes long enough for tries to overlap.
    users.create(app.extensions["touchpoint"].db(), "ada@example.com", "admin", password=PASSWORD)
    env = {
        **backends.environment(app),
        "TOUCHPOINT_SECRET_KEY": "lockout-test-secret",
    }
    # Four sync workers check four passwords at a time (a gevent worker would take turns).
    with gunicorn(env, workers=4, worker_class="sync") as port:
        base = f"http://127.0.0.1:{port}"
        browsers = []
        for _ in range(20):
            opener = urllib.request.build_opener(
                urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
            )
            with opener.open(f"{base}/dashboard/sign-in", timeout=10) as page:
                token = re.search(r'name="csrf_token" value="([^"]+)"', page.read().decode())
            browsers.append((opener, token.group(1)))

        def guess(browser: tuple) -> int:
            opener, token = browser
            form = {
                "email": "ada@example.com",
                "password": "guess guess guess",
                "csrf_token": token,
            }
            data = urllib.parse.urlencode(form).encode()
            try:
                with opener.open(f"{base}/dashboard/sign-in", data=data, timeout=30) as response:
                    return response.status
            except urllib.error.HTTPError as exc:
                return exc.code

        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = list(pool.map(guess, browsers))
    assert set(statuses) == {422, 429}, statuses
    assert users.PASSWORD_DELAYS.free <= statuses.count(422) <= users.PASSWORD_DELAYS.free + 1


# Staff keys behind one shop router ----------------------------------------------------------


def test_wrong_staff_keys_slow_the_guesser_but_every_till_with_its_key_signs_in(tmp_path, clock):
    shop = make_shop(tmp_path)
    till = signed_in(shop)  # a till that signed in this morning, behind the shop's router
    till.post("/staff/sign-out", data={"csrf_token": token_of(till.get("/staff/redeem"))})

    guesser = shop.app.test_client()  # same address: 127.0.0.1
    for _ in range(staff_views.KEY_DELAYS.free):
        assert sign_in(guesser, "tps_guess").status_code == 422
    response = sign_in(guesser, "tps_guess")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) == 1
    assert "Too many wrong keys" in text(response)
    assert ("lockout", "signin:127.0.0.1") in [
        (r["kind"], r["subject"])
        for r in shop.app.extensions["touchpoint"].db().query("SELECT * FROM security_log")
    ]

    # While the guesser waits, the till and a brand-new till sign in with their keys at once.
    assert sign_in(till, shop.keys["BER"]).status_code == 303
    assert sign_in(shop.app.test_client(), shop.keys["HAM"]).status_code == 303
    # The guesser's waits double with each wrong key it gets to try.
    waits = []
    for _ in range(8):
        response = sign_in(guesser, "tps_guess")
        if response.status_code == 429:
            waits.append(int(response.headers["Retry-After"]))
            clock.now += waits[-1]
            assert sign_in(guesser, "tps_guess").status_code == 422
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]


def test_wrong_bearer_keys_never_lock_a_tills_api(tmp_path, clock):
    shop = make_shop(tmp_path)
    client = shop.app.test_client()
    for _ in range(50):
        response = client.get("/api/v1/redemptions", headers={"Authorization": "Bearer tps_no"})
        assert response.status_code == 401
    headers = {"Authorization": f"Bearer {shop.keys['BER']}"}
    assert client.get("/api/v1/redemptions", headers=headers).status_code == 200
