"""Lead reference codes (read over the phone, printed on quotes) and lead phone numbers:
reading them forgivingly, finding the lead by either, and refusing what is wrong."""

from __future__ import annotations

import csv
import io
import secrets

import pytest

from app.coupons import codes
from app.people import phones, ref_codes

from . import backends
from .conftest import make_app
from .live import in_processes


def test_codes_are_a_permutation_so_a_counter_never_repeats_one():
    key = secrets.token_bytes(8)
    numbers = [ref_codes.permute(n, key) for n in range(50_000)]
    assert len(set(numbers)) == len(numbers)
    assert all(0 <= n < ref_codes.SPACE for n in numbers)
    # Neighbouring counter values give unrelated codes (the key hides the order).
    assert sum(abs(a - b) < 1000 for a, b in zip(numbers, numbers[1:], strict=False)) < 5
    other = [ref_codes.permute(n, secrets.token_bytes(8)) for n in range(100)]
    assert other != numbers[:100]
    # A typed code turns back into its counter value: leads are indexed by that number.
    for n in (0, 1, 49_999, ref_codes.SPACE - 1):
        assert ref_codes.number_of(ref_codes.encode(n, key), key) == n


def test_reading_is_forgiving_and_a_single_typo_is_told_apart():
    code = ref_codes.encode(12345, b"k" * 8)
    shown = ref_codes.display(code)
    assert len(code) == 8 and shown[4] == "-"
    for typed in (shown, shown.lower(), f" {code[:4]} {code[4:]} ", code):
        assert ref_codes.read(typed).code == code
    # I and L read as 1, O as 0, as on coupon codes.
    aliased = code.replace("1", "l").replace("0", "O")
    assert ref_codes.read(aliased).code == code
    for position in range(8):
        wrong = next(ch for ch in codes.ALPHABET if ch != code[position])
        typo = code[:position] + wrong + code[position + 1 :]
        reading = ref_codes.read(typo)
        assert reading.code is None and reading.typo, typo
    assert not ref_codes.read("hello").typo and ref_codes.read("hello").code is None
    assert ref_codes.read("U" * 8).code is None  # U is not in the alphabet


def test_phone_numbers_are_read_however_they_are_typed():
    for typed in ("+1 415 555 0123", "(415) 555-0123", "415.555.0123", "+14155550123"):
        assert phones.normalize(typed, "US") == "+14155550123"
    assert phones.normalize("030 12345678", "DE") == "+493012345678"
    assert phones.normalize("+49 30 12345678", "US") == "+493012345678"
    for bad in ("12", "hello", "+1 555", "", "1" * 80):
        with pytest.raises(Exception) as raised:
            phones.normalize(bad, "US")
        assert raised.value.field == "phone" and raised.value.code == "invalid_phone"


def test_every_lead_has_a_unique_code_the_api_finds_it_by(api):
    made = []
    for n in range(5):
        response = api.post(
            "/api/v1/conversions", json={"type": "signup", "email": f"p{n}@example.com"}
        )
        assert response.status_code == 201
        made.append(response.get_json()["lead_id"])
    shown = [api.get(f"/api/v1/leads/{lead_id}").get_json()["lead"]["ref_code"] for lead_id in made]
    assert len(set(shown)) == 5 and all(ref_codes.read(code).code for code in shown)

    typed = shown[2].lower().replace("-", " ")
    found = api.get("/api/v1/leads", query_string={"ref_code": typed}).get_json()["items"]
    assert [item["id"] for item in found] == [made[2]]
    # The lead's own path takes the code too (a rep pasting it from a quote).
    assert api.get(f"/api/v1/leads/{shown[3]}").get_json()["lead"]["id"] == made[3]

    code = ref_codes.read(shown[0]).code
    wrong = next(ch for ch in codes.ALPHABET if ch != code[-1])
    response = api.get("/api/v1/leads", query_string={"ref_code": code[:-1] + wrong})
    assert response.status_code == 422
    assert response.get_json()["error"] == {
        "code": "check_character_mismatch",
        "field": "ref_code",
        "message": response.get_json()["error"]["message"],
    }
    unused = ref_codes.encode(10**9, b"x" * 8)
    response = api.get("/api/v1/leads", query_string={"ref_code": unused})
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "unknown_lead"


def test_a_conversion_names_its_lead_by_ref_code_or_phone(api):
    lead_id = api.post(
        "/api/v1/conversions", json={"type": "signup", "email": "quote@example.com"}
    ).get_json()["lead_id"]
    code = api.get(f"/api/v1/leads/{lead_id}").get_json()["lead"]["ref_code"]
    sale = api.post(
        "/api/v1/conversions",
        json={"type": "sale", "ref_code": code.lower(), "value": "100.00", "currency": "USD"},
    )
    assert sale.status_code == 201 and sale.get_json()["lead_id"] == lead_id

    patched = api.patch(f"/api/v1/leads/{lead_id}", json={"phone": "(415) 555-0123"})
    assert patched.status_code == 200
    assert patched.get_json()["lead"]["phone"] == "+14155550123"
    for typed in ("+1 415 555 0123", "415.555.0123"):
        found = api.get("/api/v1/leads", query_string={"phone": typed}).get_json()["items"]
        assert [item["id"] for item in found] == [lead_id]
    by_phone = api.post("/api/v1/conversions", json={"type": "sql", "phone": "4155550123"})
    assert by_phone.status_code == 201 and by_phone.get_json()["lead_id"] == lead_id

    # A number no lead has makes a lead known by it, as an unknown email does.
    fresh = api.post("/api/v1/conversions", json={"type": "lead", "phone": "+44 20 7946 0958"})
    assert fresh.status_code == 201
    new_lead = api.get(f"/api/v1/leads/{fresh.get_json()['lead_id']}").get_json()["lead"]
    assert new_lead["phone"] == "+442079460958" and new_lead["source"] is None
    assert new_lead["ref_code"] and new_lead["email"] is None

    for body, field in (
        ({"phone": "555"}, "phone"),
        ({"phone": 4155550123}, "phone"),
    ):
        response = api.patch(f"/api/v1/leads/{lead_id}", json=body)
        assert response.status_code == 422
        assert response.get_json()["error"]["field"] == field
        assert response.get_json()["error"]["code"] == "invalid_phone"
    response = api.get("/api/v1/leads", query_string={"phone": "not a number"})
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "phone"
    unused = ref_codes.display(ref_codes.encode(10**9, b"x" * 8))
    response = api.post("/api/v1/conversions", json={"type": "sale", "ref_code": unused})
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "unknown_lead"
    response = api.post("/api/v1/conversions", json={"type": "sale", "ref_code": "NOPE-NOPE"})
    assert response.get_json()["error"] == {
        "code": "check_character_mismatch",
        "field": "ref_code",
        "message": response.get_json()["error"]["message"],
    }


def test_the_default_country_reads_national_numbers(tmp_path):
    app = make_app(tmp_path, DEFAULT_COUNTRY="GB")
    from .conftest import api_for

    api = api_for(app)
    lead_id = api.post(
        "/api/v1/conversions", json={"type": "signup", "email": "uk@example.com"}
    ).get_json()["lead_id"]
    response = api.patch(f"/api/v1/leads/{lead_id}", json={"phone": "020 7946 0958"})
    assert response.get_json()["lead"]["phone"] == "+442079460958"
    by_phone = api.post("/api/v1/conversions", json={"type": "sql", "phone": "020 7946 0958"})
    assert by_phone.get_json()["lead_id"] == lead_id
    # Erasure forgets the number with the rest of the person.
    erased = api.delete(f"/api/v1/leads/{lead_id}").get_json()["lead"]
    assert erased["phone"] is None
    assert (
        api.get("/api/v1/leads", query_string={"phone": "020 7946 0958"}).get_json()["items"] == []
    )


def test_the_merge_file_carries_each_recipients_ref_code(api):
    link = api.link()
    body = "email,name\nann@example.com,Ann\nbo@example.com,Bo\nann@example.com,Ann again\n"
    response = api.client.post(
        f"/api/v1/links/{link['id']}/recipients?format=csv",
        data=body.encode(),
        headers={**api.headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert list(rows[0])[-4:] == ["lead_id", "tracked_url", "error", "ref_code"]
    for row in rows:
        lead = api.get(f"/api/v1/leads/{row['lead_id']}").get_json()["lead"]
        assert row["ref_code"] == lead["ref_code"]
    assert rows[0]["ref_code"] == rows[2]["ref_code"] != rows[1]["ref_code"]


def test_migrating_gives_existing_leads_codes_and_new_ones_never_collide(tmp_path):
    app = make_app(tmp_path)
    db = app.extensions["touchpoint"].db()
    db.execute(
        "INSERT INTO leads (id, email, email_key, first_seen, last_seen, created_at) "
        "VALUES ('00000000-0000-4000-8000-000000000001', 'old@example.com', "
        "'old@example.com', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', "
        "'2026-01-01T00:00:00Z')"
    )
    from app.storage import people

    assert people.fill_ref_codes(db) == 1
    first = people.find_lead_by_email_key(db, "old@example.com")["ref_code"]
    drawn = [code for _, code in people.new_ref_codes(db, 2000)]
    assert first not in drawn and len(set(drawn)) == 2000


@pytest.mark.slow
def test_concurrent_processes_draw_disjoint_codes(tmp_path):
    app = make_app(tmp_path)
    script = (
        "import sys, json\n"
        "from app import create_app\n"
        "from app.storage import people\n"
        "db = create_app().extensions['touchpoint'].db()\n"
        "out = []\n"
        "for _ in range(40):\n"
        "    out += [code for _, code in people.new_ref_codes(db, 25)]\n"
        "print(json.dumps(out))\n"
    )
    drawn = [code for found in in_processes(app, script) for code in found]
    assert len(drawn) == 4000 and len(set(drawn)) == 4000


@backends.sqlite_only
def test_migrating_an_install_with_leads_gives_each_its_own_code(tmp_path):
    """An install from before reference codes: `touchpoint migrate` backfills them, oldest
    lead first, and new leads continue the same counter. (PostgreSQL runs the same backfill
    after its twin of the step: migrations._PG_FOLLOW_UPS.)"""
    from sqlite_utils import Database

    from app.storage import migrations, people

    db = Database(tmp_path / "old.db")
    migrations.migrations.apply(db, stop_before="m015_offline_channels")
    for n in range(3):
        db.execute(
            "INSERT INTO leads (id, email, email_key, first_seen, last_seen, created_at) "
            f"VALUES ('00000000-0000-4000-8000-00000000000{n}', 'p{n}@example.com', "
            f"'p{n}@example.com', '2026-01-0{n + 1}T00:00:00Z', '2026-01-0{n + 1}T00:00:00Z', "
            f"'2026-01-0{n + 1}T00:00:00Z')"
        )
    assert migrations.apply(db)[0] == "m015_offline_channels"
    rows = db.execute("SELECT ref_number, ref_code FROM leads ORDER BY created_at").fetchall()
    assert [r[0] for r in rows] == [0, 1, 2] and len({r[1] for r in rows}) == 3
    for number, code in rows:
        assert people.find_lead_by_ref_code(db, code)["ref_number"] == number
    assert people.new_ref_codes(db, 1)[0][0] == 3


def test_the_lead_search_finds_a_reference_code_or_a_phone_number(api):
    lead_id = api.post(
        "/api/v1/conversions", json={"type": "lead", "email": "search@example.com"}
    ).get_json()["lead_id"]
    lead = api.patch(f"/api/v1/leads/{lead_id}", json={"phone": "+1 415 555 0188"}).get_json()
    code = lead["lead"]["ref_code"]
    api.post("/api/v1/conversions", json={"type": "lead", "email": "other@example.com"})
    for q in (code.lower().replace("-", ""), "(415) 555-0188", "search@"):
        found = api.get("/api/v1/leads", query_string={"q": q}).get_json()["items"]
        assert [item["id"] for item in found] == [lead_id], q
