"""Bulk link creation (issue 17): POST /api/v1/links/bulk and `touchpoint links import`."""

from __future__ import annotations

import csv
import io

from .conftest import BROWSER_UA, row_count
from .test_cli import a_season, run

SHOP = "https://shop.example.com/"


def _csv(text: str) -> dict:
    return {"data": text.encode(), "headers": {"Content-Type": "text/csv"}}


def test_a_json_list_becomes_links_with_their_urls_in_input_order(app, api):
    campaign = api.campaign()
    answer = api.post(
        "/api/v1/links/bulk",
        json={
            "links": [
                {"campaign_id": campaign["id"], "destination": SHOP + "a", "slug": "bulk-a"},
                {"campaign_id": campaign["id"], "destination": SHOP + "b", "tags": ["x", "Y"]},
            ]
        },
    )
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert body["created"] == 2 and body["invalid"] == []
    first, second = body["links"]
    assert (first["line"], second["line"]) == (1, 2)
    assert first["url"].endswith("/bulk-a") and second["tags"] == ["x", "y"]
    # Every created link redirects.
    hit = api.client.get("/bulk-a", headers={"User-Agent": BROWSER_UA})
    assert hit.status_code == 302 and hit.headers["Location"].startswith(SHOP + "a")
    assert api.client.get(f"/r/{second['token']}").status_code == 302


def test_one_bad_row_refuses_the_file_listing_every_bad_line(app, api):
    campaign = api.campaign()
    c = campaign["id"]
    text = (
        "campaign_id,destination,label,slug,tags\n"
        f"{c},{SHOP}1,Good,good-1,spring\n"
        f"{c},not a url,Bad URL,,\n"
        f"999,{SHOP}3,No campaign,,\n"
        f"{c},{SHOP}4,Reserved,api,\n"
        f"{c},{SHOP}5,Twice,good-1,\n"
    )
    answer = api.post("/api/v1/links/bulk", **_csv(text))
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert error["code"] == "invalid_rows" and error["field"] == "links"
    assert [(b["line"], b["field"], b["code"]) for b in error["invalid"]] == [
        (3, "destination", "invalid_url"),
        (4, "campaign_id", "unknown_campaign"),
        (5, "slug", "slug_reserved"),
        (6, "slug", "slug_taken"),
    ]
    assert "line 2" in error["invalid"][-1]["reason"]
    assert row_count(app, "links") == 0

    skipped = api.post("/api/v1/links/bulk?skip_invalid=true", **_csv(text))
    assert skipped.status_code == 201
    body = skipped.get_json()
    assert body["created"] == 1 and [b["line"] for b in body["invalid"]] == [3, 4, 5, 6]
    assert body["links"][0]["tags"] == ["spring"]


def test_re_sending_a_file_of_slugs_creates_nothing_twice(app, api):
    c = api.campaign()["id"]
    text = f"campaign_id;destination;slug\n{c};{SHOP}a;one\n{c};{SHOP}b;two\n"  # semicolons
    assert api.post("/api/v1/links/bulk", **_csv(text)).status_code == 201
    again = api.post("/api/v1/links/bulk", **_csv(text))
    assert again.status_code == 422
    assert {b["code"] for b in again.get_json()["error"]["invalid"]} == {"slug_taken"}
    assert row_count(app, "links") == 2


def test_the_answer_as_csv_is_a_sheet_with_inert_cells(app, api):
    c = api.campaign()["id"]
    text = f'campaign_id,destination,label\n{c},{SHOP},=HYPERLINK("x")\n'
    answer = api.post("/api/v1/links/bulk?format=csv", **_csv(text))
    assert answer.status_code == 201 and answer.mimetype == "text/csv"
    [row] = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert row["label"].startswith("'=") and row["url"].startswith("http")
    assert row["line"] == "2" and row["error"] == ""


def test_bad_uploads_name_what_is_wrong(api):
    cases = [
        (_csv(""), "file", "empty_file"),
        (_csv("campaign_id,destination,colour\n1,x,red\n"), "file", "unknown_field"),
        ({"json": {"links": "no"}}, "links", "required"),
        ({"json": {"links": []}}, "links", "empty_file"),
        (
            {"data": b"\xff\xfe", "headers": {"Content-Type": "text/csv"}},
            "file",
            "invalid_encoding",
        ),
    ]
    for kwargs, field, code in cases:
        answer = api.post("/api/v1/links/bulk", **kwargs)
        assert answer.status_code == 422, (kwargs, answer.get_json())
        assert (answer.get_json()["error"]["field"], answer.get_json()["error"]["code"]) == (
            field,
            code,
        )
    rows = api.post("/api/v1/links/bulk", json=[{"campaign_id": 1}, "not an object"])  # no URL
    assert rows.status_code == 422
    assert [b["code"] for b in rows.get_json()["error"]["invalid"]] == [
        "required",
        "invalid_body",
    ]


def test_the_cli_imports_a_file_and_writes_the_links_as_csv(tmp_path):
    _, _, link = a_season(tmp_path)
    c = link["campaign_id"]
    (tmp_path / "links.csv").write_text(
        "campaign_id,destination,label,slug\n"
        + "".join(f"{c},{SHOP}{n},Store {n},store-{n}\n" for n in range(50))
    )
    result = run(tmp_path, "links", "import", "links.csv", "-o", "out.csv")
    assert "50 links created, 0 invalid" in result.stderr
    with (tmp_path / "out.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 50 and rows[7]["url"] == "http://127.0.0.1:8000/store-7"
    again = run(tmp_path, "links", "import", "links.csv", check=False)
    assert again.returncode == 1 and "line 2: Another link" in again.stderr
