"""No CSV export runs what someone typed: a text that starts like a formula gets a `'`.

`=HYPERLINK("http://evil.example","x")` goes in as a recipient's name, a column, an invalid
email, a campaign name, and comes out of each export as text a spreadsheet shows, while the
numbers we write (a negative ROI) stay numbers.
"""

from __future__ import annotations

import csv
import io
from urllib.parse import urlencode

import pytest

from app.core.csv_cells import inert
from app.coupons import offers

from .dashboard_helpers import Dash, create_user
from .test_recipients import rows_of, upload
from .test_reports import around, click, sale

EVIL = '=HYPERLINK("http://evil.example","x")'
QUOTED = EVIL.replace('"', '""')  # as a CSV field inside double quotes
COLUMN = "=SUM(A1:A9)"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_every_formula_start_gets_a_quote(start):
    assert inert(start + "1+1") == "'" + start + "1+1"


def test_plain_text_and_numbers_are_left_alone():
    assert inert("Ann") == "Ann"
    assert inert("a=b") == "a=b"
    assert inert(-5) == -5 and inert(-0.5) == -0.5 and inert(None) is None


def test_api_merge_file_quotes_names_columns_and_values(api):
    link = api.link()
    body = f'email,name,{COLUMN}\nann@example.com,"{QUOTED}",-5\n'
    response = upload(api, link["id"], body, "?format=csv")
    assert response.status_code == 200, response.get_data(as_text=True)
    (row,) = rows_of(response)
    assert row["name"] == "'" + EVIL
    assert row["'" + COLUMN] == "'-5"  # the column name too; -5 was typed, so it is text
    assert row["tracked_url"].startswith("http://localhost/r/")


def test_error_report_quotes_an_invalid_email(api):
    link = api.link()
    body = f'email,name\n"{QUOTED}",Ann\n'
    response = upload(api, link["id"], body, "?format=csv")
    assert response.status_code == 422
    (row,) = rows_of(response)
    assert row["email"] == "'" + EVIL


def test_dashboard_merge_file_quotes_the_name_and_attributes(app, api):
    link = api.link()
    body = f'email,name,note\nann@example.com,"{QUOTED}",@SUM(A1)\n'
    assert upload(api, link["id"], body).status_code == 200
    create_user(app, "mark@example.com", "marketer")
    merge = Dash(app, "mark@example.com").get(f"/dashboard/links/{link['id']}/recipients.csv")
    (row,) = csv.DictReader(io.StringIO(merge.get_data(as_text=True)))
    assert row["name"] == "'" + EVIL and row["note"] == "'@SUM(A1)"
    assert row["tracked_url"].startswith("http://localhost/r/")


def test_attribution_csv_quotes_the_campaign_name_but_not_a_negative_roi(app, api, fake_clock):
    campaign = api.campaign(name=EVIL, cost="100.00", currency="EUR")
    click_id = click(app.test_client(), api.link(campaign["id"]))
    sale(api, click_id=click_id, value="10.00", currency="EUR")
    query = {"format": "csv", "group_by": "campaign", **around(fake_clock)}
    response = api.get("/api/v1/reports/attribution?" + urlencode(query))
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0]["label"] == "'" + EVIL
    assert rows[0]["roi"] == "-0.9000"  # a number, summable
    assert rows[-1]["label"] == "Total"


def test_codes_export_quotes_text_cells(app):
    from app.views.common import csv_download

    rows = iter([{**dict.fromkeys(offers.EXPORT_COLUMNS, ""), "email": EVIL, "batch_id": -1}])
    with app.test_request_context():
        response = csv_download(rows, offers.EXPORT_COLUMNS, "codes.csv")
        text = "".join(response.response)
    (row,) = csv.DictReader(io.StringIO(text))
    assert row["email"] == "'" + EVIL and row["batch_id"] == "-1"


def test_a_quoted_name_is_still_the_lead_s_name(app, api):
    link = api.link()
    body = f'email,name\nann@example.com,"{QUOTED}"\n'
    upload(api, link["id"], body)
    name = app.extensions["touchpoint"].db().execute("SELECT name FROM leads").fetchone()[0]
    assert name == EVIL  # only the export is changed, not what we store
