"""Phone calls to campaigns' tracking numbers: the shape a telephony webhook maps to, tied
to the campaign by the dialled number and to the lead by the caller's number."""

from __future__ import annotations

import pytest

from .conftest import make_app, row_count
from .live import in_processes

RADIO = "+1 415 555 0100"


@pytest.fixture
def radio(api):
    campaign = api.campaign(name="Radio spring", channel="print")
    response = api.post(
        f"/api/v1/campaigns/{campaign['id']}/phone-numbers",
        json={"number": "(415) 555-0100", "label": "KQED spot"},
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["number"] == "+14155550100"
    return campaign


def call(api, external_id: str, /, **fields):
    body = {
        "to": RADIO,
        "from": "+1 650 555 0199",
        "started_at": "2026-11-20T15:00:00Z",
        "duration_s": 192,
        "external_id": external_id,
        **fields,
    }
    return api.post("/api/v1/calls", json=body)


def test_a_call_is_a_touch_of_the_dialled_campaign_on_the_callers_lead(api, radio):
    # The caller is a known lead (a rep typed the number in from an earlier enquiry).
    lead_id = api.post(
        "/api/v1/conversions", json={"type": "lead", "email": "caller@example.com"}
    ).get_json()["lead_id"]
    api.patch(f"/api/v1/leads/{lead_id}", json={"phone": "650.555.0199"})

    response = call(api, "tw-CA1")
    assert response.status_code == 201, response.get_json()
    made = response.get_json()
    assert made["campaign_id"] == radio["id"] and made["lead_id"] == lead_id
    assert made["answered"] is True and made["created_lead"] is False
    assert response.headers["Location"] == f"/api/v1/calls/{made['id']}"

    # The webhook retried: the same call, not a second one.
    again = call(api, "tw-CA1", duration_s=5)
    assert again.status_code == 200 and again.get_json() == made
    assert row_count(api.client.application, "calls") == 1

    events = api.get(f"/api/v1/leads/{lead_id}").get_json()["events"]
    [activity] = [e for e in events if e["type"] == "activity"]
    assert activity["kind"] == "call" and activity["campaign_id"] == radio["id"]
    assert activity["channel"] == "print" and "3 min 12 s" in activity["note"]
    lead = api.get(f"/api/v1/leads/{lead_id}").get_json()["lead"]
    assert lead["first_contacted_at"] == "2026-11-20T15:00:00.000Z"

    # The report credits the radio campaign with the lead's sale: the call was its touch.
    api.post(
        "/api/v1/conversions",
        json={
            "type": "sale",
            "lead_id": lead_id,
            "value": "300.00",
            "currency": "USD",
            "occurred_at": "2026-11-21T10:00:00Z",
        },
    )
    report = api.get(
        "/api/v1/reports/attribution",
        query_string={"from": "2026-11-01", "to": "2026-11-30", "model": "last_touch"},
    ).get_json()
    [row] = [r for r in report["rows"] if r["key"] == radio["id"]]
    assert row["revenue"] == "300.00"


def test_an_unknown_caller_becomes_a_new_lead_and_a_missed_call_is_no_contact(api, radio):
    response = call(api, "tw-CA2", **{"from": "+44 20 7946 0958"}, duration_s=0)
    assert response.status_code == 201
    made = response.get_json()
    assert made["created_lead"] is True and made["answered"] is False
    lead = api.get(f"/api/v1/leads/{made['lead_id']}").get_json()["lead"]
    assert lead["phone"] == "+442079460958" and lead["source"] == "phone:+14155550100"
    assert lead["origin"] == "marketing" and lead["ref_code"]
    assert lead["first_contacted_at"] is None  # nobody talked to them yet
    [activity] = api.get(f"/api/v1/leads/{made['lead_id']}/activities").get_json()["items"]
    assert activity["kind"] == "missed_call" and activity["campaign_id"] == radio["id"]

    # Calling back from the same number, however the carrier formats it: the same lead.
    back = call(api, "tw-CA3", **{"from": "011 44 20 7946 0958"}, started_at="2026-11-20T16:00:00Z")
    assert back.get_json()["lead_id"] == made["lead_id"]
    assert back.get_json()["created_lead"] is False


def test_a_withheld_number_is_a_call_without_a_lead_and_unknown_lines_have_no_campaign(api, radio):
    hidden = call(api, "tw-CA4", **{"from": "anonymous"})
    assert hidden.status_code == 201
    assert hidden.get_json()["lead_id"] is None and hidden.get_json()["from"] is None
    other_line = call(api, "tw-CA5", to="+1 415 555 0111")
    assert other_line.status_code == 201 and other_line.get_json()["campaign_id"] is None
    listed = api.get("/api/v1/calls", query_string={"campaign_id": radio["id"]}).get_json()
    assert [c["external_id"] for c in listed["items"]] == ["tw-CA4"]


def test_bad_calls_name_the_field(api, radio):
    cases = [
        ({"to": "12"}, "to", "invalid_phone"),
        ({"from": "not a number"}, "from", "invalid_phone"),
        ({"started_at": "yesterday"}, "started_at", None),
        ({"started_at": None}, "started_at", "required"),
        ({"duration_s": -1}, "duration_s", None),
        ({"answered": "yes"}, "answered", None),
        ({"recording_url": "javascript:alert(1)"}, "recording_url", "invalid_url"),
        ({"external_id": ""}, "external_id", "required"),
        ({"started_at": "2099-01-01T00:00:00Z"}, "started_at", "in_future"),
        ({"ring_group": "sales"}, "ring_group", "unknown_field"),
    ]
    for fields, field, code in cases:
        response = call(api, "tw-bad", **fields)
        assert response.status_code == 422, (fields, response.get_json())
        error = response.get_json()["error"]
        assert error["field"] == field, (fields, error)
        if code:
            assert error["code"] == code, (fields, error)
    assert row_count(api.client.application, "calls") == 0
    assert api.get("/api/v1/calls/999").get_json()["error"]["code"] == "call_not_found"


def test_a_number_belongs_to_one_campaign_at_a_time(api, radio):
    other = api.campaign(name="Billboard", channel="other")
    taken = api.post(
        f"/api/v1/campaigns/{other['id']}/phone-numbers", json={"number": "+14155550100"}
    )
    assert taken.status_code == 409
    assert taken.get_json()["error"]["code"] == "phone_number_taken"
    # The same campaign again: its label changes, nothing else.
    again = api.post(
        f"/api/v1/campaigns/{radio['id']}/phone-numbers",
        json={"number": "415 555 0100", "label": "KQED morning"},
    )
    assert again.status_code == 200 and again.get_json()["label"] == "KQED morning"
    listed = api.get(f"/api/v1/campaigns/{radio['id']}/phone-numbers").get_json()["items"]
    assert [n["number"] for n in listed] == ["+14155550100"]

    gone = api.delete(f"/api/v1/campaigns/{radio['id']}/phone-numbers/+14155550100")
    assert gone.status_code == 204
    missing = api.delete(f"/api/v1/campaigns/{radio['id']}/phone-numbers/+14155550100")
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "phone_number_not_found"
    moved = api.post(
        f"/api/v1/campaigns/{other['id']}/phone-numbers", json={"number": "+14155550100"}
    )
    assert moved.status_code == 201
    bad = api.post(f"/api/v1/campaigns/{other['id']}/phone-numbers", json={"number": "call me"})
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "number"
    nowhere = api.post("/api/v1/campaigns/999/phone-numbers", json={"number": "+14155550100"})
    assert nowhere.status_code == 404


def test_erasing_the_lead_forgets_the_callers_number_and_recording(api, radio):
    made = call(api, "tw-CA6", recording_url="https://calls.example.com/rec/1.mp3").get_json()
    api.delete(f"/api/v1/leads/{made['lead_id']}")
    after = api.get(f"/api/v1/calls/{made['id']}").get_json()
    assert after["from"] is None and after["recording_url"] is None
    assert after["campaign_id"] == radio["id"]  # still counted for the campaign


@pytest.mark.slow
def test_one_webhook_delivered_to_several_processes_at_once_is_one_call(tmp_path):
    app = make_app(tmp_path)
    from .conftest import api_for

    api = api_for(app)
    campaign = api.campaign(name="Radio", channel="print")
    api.post(f"/api/v1/campaigns/{campaign['id']}/phone-numbers", json={"number": RADIO})
    script = (
        "import json, sys\n"
        "from app import create_app\n"
        "from app.people import calls\n"
        "rt = create_app().extensions['touchpoint']\n"
        "out = []\n"
        "for n in range(10):\n"
        "    body = {'to': '+14155550100', 'from': '+16505550123', 'external_id': f'dup-{n}',\n"
        "            'started_at': '2026-11-20T15:00:00Z'}\n"
        "    row, new = calls.record(rt.db(), body, default_country='US',\n"
        "                            rules=rt.pipeline_rules, by=None)\n"
        "    out.append([row['id'], new])\n"
        "print(json.dumps(out))\n"
    )
    results = in_processes(app, script)
    for n in range(10):
        answers = [r[n] for r in results]
        assert len({a[0] for a in answers}) == 1 and sum(a[1] for a in answers) == 1
    assert row_count(app, "calls") == 10
    # One caller, one lead, however many processes saw the first call at once.
    assert row_count(app, "leads") == 1
