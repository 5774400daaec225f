"""Guessing is limited for every code: shared codes too, however the guesses are shaped.

A shared code is chosen by a person (`BLACKFRIDAY2026`), so it can be guessed from a list of
words; its last 12 characters may look like a unique code with a wrong check character, and
such misses were answered as typos (422) without being counted. These tests guess the way a
script would and expect 429 `rate_limited` within TOUCHPOINT_GUESS_LIMIT_PER_MINUTE tries,
while a till's real typo of a unique code keeps its helpful 422.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest

from app.access import api_tokens, throttle
from app.coupons import codes, redemptions

from . import test_staff_pages as staff_pages
from .conftest import Api, api_for, make_app
from .coupon_helpers import codes_for, location, offer, redeem, staff
from .live import served_app

LIMIT = 10  # TOUCHPOINT_GUESS_LIMIT_PER_MINUTE's default, as the README documents it


def err(response) -> dict:
    return response.get_json()["error"]


def typo_shaped_guesses(stem: str, count: int) -> list[str]:
    """Guesses a script would try for a shared code like `BLACKFRIDAY2026`, each of which
    ends in 12 characters that read as a unique code with a wrong check character."""
    found = []
    for year in range(1990, 2100):
        guess = f"{stem}{year}"
        if codes.read(guess).typo:
            found.append(guess)
        if len(found) == count:
            return found
    raise AssertionError("not enough typo-shaped guesses")


def mistype(code: str) -> str:
    """One character of a unique code's random part changed: what a person mistypes."""
    body = code.replace("-", "")
    position = len(body) - 3
    replacement = next(c for c in codes.ALPHABET if c != body[position])
    return body[:position] + replacement + body[position + 1 :]


@pytest.fixture(autouse=True)
def one_minute(monkeypatch):
    """Every guess inside one clock minute, so no test straddles two guess windows."""
    fake = SimpleNamespace(time=lambda: 1_800_000_000.0)
    monkeypatch.setattr(redemptions, "time", fake)
    monkeypatch.setattr(throttle, "time", fake)


@pytest.fixture
def till(api: Api) -> Api:
    location(api, "NYC-5TH")
    return staff(api, "NYC-5TH")


@pytest.fixture
def black_friday(api: Api) -> dict:
    return offer(api, kind="shared", shared_code="BLACKFRIDAY2026")


@pytest.mark.parametrize("how", ["redeem", "check"])
def test_guessing_a_shared_code_with_typo_shaped_inputs_stops_at_the_limit(
    api, till, black_friday, how
):
    guesses = typo_shaped_guesses("BLACKFRIDAY", 2 * LIMIT)
    answers = []
    for n, guess in enumerate(guesses):
        if how == "redeem":
            response = redeem(till, guess, f"G-{n}")
        else:
            response = till.get(f"/api/v1/codes/{guess}")
        answers.append(response.status_code)
        if response.status_code == 429:
            break
    assert answers == [404] * LIMIT + [429]
    assert err(response)["code"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert err(response)["retry_after"] == int(response.headers["Retry-After"])
    # The guesser is stopped even when it finally types the right code.
    assert redeem(till, "BLACKFRIDAY2026", "G-right").status_code == 429
    log = api.get("/api/v1/security-log").get_json()["items"]
    assert [e["kind"] for e in log] == ["lockout"]
    assert log[0]["subject"].startswith("staff:")


def test_a_real_typo_of_a_unique_code_stays_a_helpful_422_and_is_not_counted(
    api, till, black_friday
):
    code = codes_for(api, offer(api)["id"], 1)[0]
    for n in range(2 * LIMIT):
        response = redeem(till, mistype(code), f"T-{n}")
        assert response.status_code == 422
        assert err(response)["code"] == "check_character_mismatch"
    assert till.get(f"/api/v1/codes/{mistype(code)}").status_code == 422
    # Typed as printed, with hyphens and lower case: still a typo, still not a guess.
    shown = mistype(code).lower()
    assert redeem(till, f"{shown[:4]}-{shown[4:8]}-{shown[8:]}", "T-x").status_code == 422
    assert redeem(till, code, "T-real").status_code == 201


def test_a_typo_behind_the_offers_printed_prefix_is_a_typo_behind_any_other_text_a_guess(api, till):
    spring = offer(api, code_prefix="SPRING")
    code = codes_for(api, spring["id"], 1)[0]  # shown as SPRING-XXXX-XXXX-XXXX
    body = code.removeprefix("SPRING-")
    assert redeem(till, f"SPRING-{mistype(body)}", "T-1").status_code == 422
    # Other text in front may be the start of a shared code: a miss there is a guess,
    # otherwise a guesser could learn a shared code's start from 422s and 404s.
    for n in range(LIMIT):
        response = redeem(till, f"BLA{n}{mistype(body)}", f"G-{n}")
        assert response.status_code == 404, response.get_json()
    assert redeem(till, code, "T-2").status_code == 429


def test_when_a_shared_code_looks_like_a_unique_code_its_lookalikes_count(api, till):
    unique = codes_for(api, offer(api)["id"], 1)[0]
    shared = "FRIDAY202612"  # 12 characters that read as Crockford base32
    assert codes.unique_shaped(shared)
    offer(api, kind="shared", shared_code=shared)
    guesses = [g for g in (f"FRIDAY2026{n:02d}" for n in range(100)) if codes.read(g).typo]
    assert [redeem(till, g, f"G-{n}").status_code for n, g in enumerate(guesses[:LIMIT])] == [
        404
    ] * LIMIT
    assert redeem(till, unique, "T-1").status_code == 429


def test_the_staff_till_page_stops_a_shared_code_guesser_too(tmp_path):
    shop = staff_pages.make_shop(tmp_path)
    body = {"campaign_id": shop.campaign["id"], "title": "Black Friday", "kind": "shared"}
    response = shop.api.post("/api/v1/offers", json={**body, "shared_code": "BLACKFRIDAY2026"})
    assert response.status_code == 201
    client = staff_pages.signed_in(shop)
    statuses = [
        staff_pages.redeem(client, guess).status_code
        for guess in typo_shaped_guesses("BLACKFRIDAY", LIMIT)
    ]
    assert statuses == [404] * LIMIT
    response = staff_pages.redeem(client, "BLACKFRIDAY2026")
    assert response.status_code == 429
    assert "TOO MANY TRIES" in staff_pages.text(response)


@pytest.mark.slow
def test_a_script_against_the_served_app_is_stopped_across_workers(tmp_path, monkeypatch):
    monkeypatch.undo()  # the server's clock is its own; the guesses take well under a minute
    with served_app(tmp_path, "guessing-test-secret") as (app, base):
        api = api_for(app)
        location(api, "NYC-5TH")
        offer(api, kind="shared", shared_code="BLACKFRIDAY2026")
        key = api.post("/api/v1/locations/NYC-5TH/staff-keys", json={"label": "Till"})
        secret = key.get_json()["key"]
        answers = []
        for n, guess in enumerate(typo_shaped_guesses("BLACKFRIDAY", 3 * LIMIT)):
            request = urllib.request.Request(
                f"{base}/api/v1/redemptions",
                data=json.dumps({"code": guess, "transaction_id": f"G-{n}"}).encode(),
                headers={"Authorization": f"Bearer {secret}"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    answers.append((response.status, None))
            except urllib.error.HTTPError as exc:
                answers.append((exc.code, exc.headers.get("Retry-After")))
                if exc.code == 429:
                    break
    statuses = [status for status, _ in answers]
    # Either the minute turned over during the run (then one more window of 404s) or not.
    assert 429 in statuses and statuses.index(429) <= 2 * LIMIT, statuses
    assert set(statuses) <= {404, 429}
    assert 1 <= int(answers[-1][1]) <= 60


def test_api_tokens_are_untouched_by_the_guess_limit(tmp_path):
    # A sanity check that the limit keys on the till, not on every caller: an admin token
    # from another address still checks codes while the till is locked out.
    app = make_app(tmp_path)
    api = api_for(app)
    location(api, "NYC-5TH")
    till = staff(api, "NYC-5TH")
    offer(api, kind="shared", shared_code="BLACKFRIDAY2026")
    for n, guess in enumerate(typo_shaped_guesses("BLACKFRIDAY", LIMIT)):
        redeem(till, guess, f"G-{n}")
    assert till.get("/api/v1/codes/BLACKFRIDAY2026").status_code == 429
    secret, _ = api_tokens.create(app.extensions["touchpoint"].db(), "elsewhere", "admin")
    other = Api(app.test_client(), secret)
    response = other.get(
        "/api/v1/codes/BLACKFRIDAY2026?location=NYC-5TH", environ_base={"REMOTE_ADDR": "10.9.8.7"}
    )
    assert response.status_code == 200 and response.get_json()["status"] == "valid"
