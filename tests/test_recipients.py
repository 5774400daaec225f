"""Per-recipient links for mail merge: CSV and JSON in, every row with its tracked URL out."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from . import backends
from .conftest import BROWSER_UA, api_for, events, make_app, row_count


def upload(api, link_id: int, body: bytes | str, query: str = "", **headers):
    if isinstance(body, str):
        body = body.encode("utf-8")
    return api.client.post(
        f"/api/v1/links/{link_id}/recipients{query}",
        data=body,
        headers={**api.headers, "Content-Type": "text/csv", **headers},
    )


def rows_of(response) -> list[dict]:
    text = response.get_data(as_text=True)
    header = text.split("\n", 1)[0]
    delimiter = max([",", ";", "\t"], key=header.count)
    return list(csv.DictReader(io.StringIO(text), delimiter=delimiter))


def lead_count(app) -> int:
    return row_count(app, "leads")


@pytest.mark.parametrize(
    "body",
    [
        "email,name,company\nann@example.com,Ann,ACME\nbob@example.com,Bob,Initech\n",
        "Email;Name;Company\r\nann@example.com;Ann;ACME\r\nbob@example.com;Bob;Initech\r\n",
        "\ufeff EMAIL , Name ,company\nann@example.com,Ann,ACME\nbob@example.com,Bob,Initech",
        'email,name,company\nann@example.com,"Ann","ACME, Inc."\n'
        'bob@example.com,"Bob ""the builder""","Init\nech"\n',
        "email\tname\tcompany\nann@example.com\tAnn\tACME\nbob@example.com\tBob\tInitech\n",
    ],
    ids=["comma", "semicolon-crlf", "bom-and-spaced-header", "quoted", "tab"],
)
def test_csv_dialects_give_every_row_its_tracked_url(app, api, body):
    link = api.link()
    response = upload(api, link["id"], body, "?format=csv")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    rows = rows_of(response)
    assert [r[next(k for k in r if k.strip().lower() == "email")] for r in rows] == [
        "ann@example.com",
        "bob@example.com",
    ]
    tokens = app.extensions["touchpoint"].link_tokens
    for row in rows:
        assert row["tracked_url"].startswith("http://localhost/r/")
        token = row["tracked_url"].rsplit("/", 1)[1]
        assert len(token) <= 32
        ref = tokens.verify(token)
        assert ref.link_id == link["id"] and ref.recipient_id is not None
        assert len(row["lead_id"]) == 36 and row["error"] == ""
    assert lead_count(app) == 2


def test_extra_columns_become_lead_attributes(api):
    link = api.link()
    response = upload(
        api, link["id"], "email,name,external_id,tier,city\nann@example.com,Ann,CRM-1,gold,Oslo\n"
    )
    [row] = response.get_json()["recipients"]
    assert row == {
        "email": "ann@example.com",
        "name": "Ann",
        "external_id": "CRM-1",
        "tier": "gold",
        "city": "Oslo",
        "lead_id": row["lead_id"],
        "tracked_url": row["tracked_url"],
        "ref_code": row["ref_code"],
    }
    lead = api.get(f"/api/v1/leads/{row['lead_id']}").get_json()["lead"]
    assert lead["name"] == "Ann" and lead["external_id"] == "CRM-1"
    assert lead["ref_code"] == row["ref_code"]
    assert lead["attributes"] == {"tier": "gold", "city": "Oslo"}


def test_json_upload_and_answer(api):
    link = api.link()
    response = api.post(
        f"/api/v1/links/{link['id']}/recipients",
        json={
            "recipients": [
                {"email": " Ann@Example.COM ", "name": "Ann", "score": 7},
                {"email": "bob@example.com"},
            ]
        },
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["imported"] == 2 and body["invalid"] == []
    assert [r["email"] for r in body["recipients"]] == [" Ann@Example.COM ", "bob@example.com"]
    lead = api.get(f"/api/v1/leads/{body['recipients'][0]['lead_id']}").get_json()["lead"]
    assert lead["email"] == "Ann@example.com"  # trimmed, domain lowercased
    assert lead["attributes"] == {"score": 7}


def test_multipart_upload_and_accept_header(api):
    link = api.link()
    response = api.client.post(
        f"/api/v1/links/{link['id']}/recipients",
        data={"file": (io.BytesIO(b"email\nann@example.com\n"), "list.csv")},
        headers={**api.headers, "Accept": "text/csv"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert rows_of(response)[0]["email"] == "ann@example.com"


def test_bad_rows_refuse_the_whole_file_by_default(app, api):
    link = api.link()
    body = (
        "email,name\nann@example.com,Ann\n,No email\nnot-an-address,X\n"
        "bob@example.com,Bob\nbob@@example.com,Y\n"
    )
    response = upload(api, link["id"], body)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid_rows"
    assert error["invalid"] == [
        {"line": 3, "reason": "missing email"},
        {"line": 4, "reason": "invalid email 'not-an-address'"},
        {"line": 6, "reason": "invalid email 'bob@@example.com'"},
    ]
    assert lead_count(app) == 0


def test_a_refusal_asked_for_as_csv_is_a_csv_error_report(app, api):
    """What `curl -o merge.csv` saves on a refusal reads as the error it is, in a spreadsheet."""
    link = api.link()
    body = (
        "email;name\nann@example.com;Ann\n;No email\n"
        '=HYPERLINK("https://evil.example","x");Eve\n@SUM(A1);Sam\n-2+3;Min\n'
    )
    for query, headers in (("?format=csv", {}), ("", {"Accept": "text/csv"})):
        response = upload(api, link["id"], body, query, **headers)
        assert response.status_code == 422
        assert response.mimetype == "text/csv"
        assert response.headers["Content-Disposition"] == (
            f'attachment; filename="link-{link["id"]}-recipients-errors.csv"'
        )
        text = response.get_data(as_text=True)
        assert text.splitlines()[0] == "line;email;error"  # the upload's own separator
        rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
        # A spreadsheet would run a cell starting with = + - @ as a formula: a ' makes it text.
        assert rows == [
            {"line": "3", "email": "", "error": "missing email"},
            {
                "line": "4",
                "email": '\'=HYPERLINK("https://evil.example","x")',
                "error": 'invalid email \'=HYPERLINK("https://evil.example","x")\'',
            },
            {"line": "5", "email": "'@SUM(A1)", "error": "invalid email '@SUM(A1)'"},
            {"line": "6", "email": "'-2+3", "error": "invalid email '-2+3'"},
        ]
    assert lead_count(app) == 0
    # JSON callers get the JSON refusal, as before.
    assert upload(api, link["id"], body).get_json()["error"]["code"] == "invalid_rows"


def test_whole_file_refusals_asked_for_as_csv_are_one_row_without_a_line(tmp_path):
    app = make_app(tmp_path, RECIPIENTS_MAX_BYTES=100)
    api = api_for(app)
    link = api.link()
    for link_id, body, status, error in [
        (link["id"], "name\nAnn\n", 422, "The file has no 'email' column"),
        (link["id"], "", 422, "The file is empty."),
        (link["id"], "email\n" + "ann@example.com\n" * 20, 413, "100 bytes at most"),
        (999, "email\nann@example.com\n", 404, "No link with id 999."),
    ]:
        response = upload(api, link_id, body, "?format=csv")
        assert response.status_code == status and response.mimetype == "text/csv"
        [row] = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
        assert row["line"] == "" and row["email"] == "" and error in row["error"], row
    # A JSON refusal of the whole file keeps its JSON shape.
    response = upload(api, link["id"], "email\n" + "ann@example.com\n" * 20)
    assert response.status_code == 413 and response.mimetype == "application/json"


def test_skip_invalid_imports_good_rows_and_lists_bad_ones(app, api):
    link = api.link()
    body = "email,name\nann@example.com,Ann\nnope,X\nbob@example.com,Bob\n"
    response = upload(api, link["id"], body, "?skip_invalid=true")
    assert response.status_code == 200
    result = response.get_json()
    assert result["imported"] == 2
    assert result["invalid"] == [{"line": 3, "reason": "invalid email 'nope'"}]
    assert [r["email"] for r in result["recipients"]] == ["ann@example.com", "bob@example.com"]
    # The CSV answer keeps every input row; bad ones say why in the error column.
    rows = rows_of(upload(api, link["id"], body, "?skip_invalid=true&format=csv"))
    assert [(r["email"], r["error"]) for r in rows] == [
        ("ann@example.com", ""),
        ("nope", "invalid email 'nope'"),
        ("bob@example.com", ""),
    ]
    assert rows[1]["tracked_url"] == ""
    assert lead_count(app) == 2


def test_wrong_encoding_is_a_bad_row_with_its_line(app, api):
    link = api.link()
    body = b"email,name\nann@example.com,Ann\n" + "bob@example.com,Bjørn\n".encode("latin-1")
    response = upload(api, link["id"], body)
    assert response.status_code == 422
    [bad] = response.get_json()["error"]["invalid"]
    assert bad["line"] == 3 and "UTF-8" in bad["reason"]


def test_whole_file_problems_name_the_file(api):
    link = api.link()
    for body, code in [
        ("name,company\nAnn,ACME\n", "missing_email_column"),
        ("", "empty_file"),
        ("email,name\nann@example.com,Ann\n".encode("utf-16"), "invalid_encoding"),
    ]:
        response = upload(api, link["id"], body)
        assert response.status_code == 422
        assert response.get_json()["error"]["code"] == code


def test_upload_is_idempotent_and_leads_are_shared_across_links(app, api):
    first, second = api.link(), api.link()
    body = "email\nann@example.com\nbob@example.com\nann@example.com\n"
    once = upload(api, first["id"], body).get_json()["recipients"]
    again = upload(api, first["id"], body).get_json()["recipients"]
    assert once == again
    assert once[0]["tracked_url"] == once[2]["tracked_url"]  # duplicate row, same person
    other = upload(api, second["id"], "email\nANN@example.com\n").get_json()["recipients"]
    assert other[0]["lead_id"] == once[0]["lead_id"]
    assert other[0]["tracked_url"] != once[0]["tracked_url"]
    assert lead_count(app) == 2


def test_oversized_upload_is_413(tmp_path):
    app = make_app(tmp_path, RECIPIENTS_MAX_BYTES=100)
    api = api_for(app)
    link = api.link()
    response = upload(api, link["id"], "email\n" + "ann@example.com\n" * 20)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


def test_unknown_link_and_bad_flags(api):
    assert upload(api, 999, "email\na@b.co\n").status_code == 404
    link = api.link()
    assert upload(api, link["id"], "email\na@b.co\n", "?skip_invalid=maybe").status_code == 422
    assert upload(api, link["id"], "email\na@b.co\n", "?format=xml").status_code == 422
    response = api.post(f"/api/v1/links/{link['id']}/recipients", json={"people": []})
    assert response.status_code == 422


def test_recipient_click_is_logged_with_the_lead_and_stitches_the_browser(app, api):
    link = api.link()
    [row] = upload(api, link["id"], "email\nann@example.com\n").get_json()["recipients"]
    path = row["tracked_url"].replace("http://localhost", "")
    response = app.test_client().get(path, headers={"User-Agent": BROWSER_UA})
    assert response.status_code == 302
    [event] = events(app)
    assert event["lead_id"] == row["lead_id"] and event["recipient_id"] is not None
    lead = api.get(f"/api/v1/leads/{row['lead_id']}").get_json()["lead"]
    assert lead["visitor_ids"] == [event["visitor_id"]]


def test_recipient_token_moved_to_another_link_is_404(app, api):
    link, other = api.link(), api.link()
    [row] = upload(api, link["id"], "email\nann@example.com\n").get_json()["recipients"]
    tokens = app.extensions["touchpoint"].link_tokens
    ref = tokens.verify(row["tracked_url"].rsplit("/", 1)[1])
    forged = tokens.mint(other["id"], ref.recipient_id)
    assert app.test_client().get(f"/r/{forged}").status_code == 404


@pytest.mark.slow
def test_cli_import_writes_the_merge_file(tmp_path):
    app = make_app(tmp_path, SECRET_KEY="cli-recipients-secret-key-0123456789")
    link = api_for(app).link()
    source = tmp_path / "in.csv"
    source.write_text("email,name\n" + "".join(f"p{i}@example.com,P{i}\n" for i in range(50)))
    out = tmp_path / "out.csv"
    env = {
        **os.environ,
        **backends.environment(app),
        "TOUCHPOINT_SECRET_KEY": "cli-recipients-secret-key-0123456789",
        "TOUCHPOINT_PUBLIC_BASE_URL": "https://go.example.com",
    }
    touchpoint = str(Path(sys.executable).parent / "touchpoint")
    result = subprocess.run(
        [touchpoint, "recipients", "import", str(link["id"]), str(source), "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 50 and rows[0]["name"] == "P0"
    assert all(r["tracked_url"].startswith("https://go.example.com/r/") for r in rows)
    assert "50 imported" in result.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("email\nann@example.com\nnope\n")
    result = subprocess.run(
        [
            touchpoint,
            "recipients",
            "import",
            str(link["id"]),
            str(bad),
            "-o",
            str(tmp_path / "x.csv"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "line 3: invalid email 'nope'" in result.stderr
    assert "Traceback" not in result.stderr


def test_uploading_the_merge_file_again_changes_nothing(app, api):
    link = api.link()
    first = upload(api, link["id"], "email,name\nann@example.com,Ann\n", "?format=csv")
    again = upload(api, link["id"], first.get_data(), "?format=csv")
    assert again.status_code == 200
    assert again.get_data(as_text=True) == first.get_data(as_text=True)
    lead = api.get(f"/api/v1/leads/{rows_of(first)[0]['lead_id'].upper()}").get_json()["lead"]
    assert lead["attributes"] == {}
