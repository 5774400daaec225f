"""The dashboard's link management (issue 17): the Links page, slugs and tags on the link
form, bulk upload on a campaign's page, audience charts."""

from __future__ import annotations

import csv
import io
import re

import pytest

from tests.conftest import api_for, make_app
from tests.dashboard_helpers import Dash, create_user, text

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path)
    create_user(app, "ada@example.com", "admin")
    return app


@pytest.fixture
def dash(app):
    return Dash(app, "ada@example.com")


def test_the_links_page_finds_filters_and_sorts_links_across_campaigns(app, dash):
    api = api_for(app)
    spring = api.campaign(name="Spring")
    fall = api.campaign(name="Fall")
    poster = api.link(spring["id"], label="Window poster", tags=["flyer"], slug="poster")
    card = api.link(fall["id"], label="Counter <card>", tags=["print"])
    api.link(fall["id"], label="Old one")
    for _ in range(3):
        api.client.get(f"/r/{card['token']}", headers={"User-Agent": WINDOWS})
    api.client.get("/poster", headers={"User-Agent": IPHONE})

    page = dash.get("/dashboard/links")
    assert page.status_code == 200
    shown = text(page)
    # Most human clicks first (the default sort), every campaign's links on one page.
    assert shown.index("Counter <card>") < shown.index("Window poster") < shown.index("Old one")
    assert "Counter &lt;card&gt;" in page.get_data(as_text=True)  # escaped
    assert "/poster" in shown and "Spring" in shown and "Fall" in shown

    by_label = text(dash.get("/dashboard/links?sort=label"))
    assert by_label.index("Counter") < by_label.index("Old one") < by_label.index("Window")
    tagged = text(dash.get("/dashboard/links?tag=flyer"))
    assert "Window poster" in tagged and "Counter" not in tagged
    searched = text(dash.get("/dashboard/links?q=poster"))
    assert "Window poster" in searched and "Old one" not in searched
    api.patch(f"/api/v1/links/{poster['id']}", json={"archived": True})
    assert "Window poster" not in text(dash.get("/dashboard/links"))
    assert "Window poster" in text(dash.get("/dashboard/links?archived=true"))
    bad = dash.get("/dashboard/links?tag=%3Cb%3E")
    assert bad.status_code == 200 and "is not a tag" in text(bad)


def test_a_link_made_on_the_dashboard_can_have_a_slug_and_tags(app, dash):
    api = api_for(app)
    campaign = api.campaign()
    dash.get(f"/dashboard/campaigns/{campaign['id']}")
    made = dash.post(
        f"/dashboard/campaigns/{campaign['id']}/links",
        {"destination": "https://shop.example.com/", "slug": "Summer", "tags": "Beach, sun"},
    )
    assert made.status_code == 303
    page = text(dash.follow(made))
    assert "/Summer" in page and "beach" in page and "sun" in page
    taken = dash.post(
        f"/dashboard/campaigns/{campaign['id']}/links",
        {"destination": "https://shop.example.com/", "slug": "summer"},
    )
    assert taken.status_code == 409 and "has the slug" in text(taken)


def test_links_uploaded_on_a_campaigns_page_come_back_as_a_sheet(app, dash):
    api = api_for(app)
    campaign = api.campaign()
    dash.get(f"/dashboard/campaigns/{campaign['id']}")
    good = "destination,label,slug\nhttps://shop.example.com/a,A,bulk-a\nhttps://shop.example.com/b,B,\n"
    answer = dash.post(
        f"/dashboard/campaigns/{campaign['id']}/links/bulk",
        {"file": (io.BytesIO(good.encode()), "links.csv")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert [r["label"] for r in rows] == ["A", "B"] and rows[0]["url"].endswith("/bulk-a")
    dash.get(f"/dashboard/campaigns/{campaign['id']}")
    bad = "destination,slug\nnot a url,\nhttps://shop.example.com/c,bulk-a\n"
    refused = dash.post(
        f"/dashboard/campaigns/{campaign['id']}/links/bulk",
        {"file": (io.BytesIO(bad.encode()), "links.csv")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422
    shown = text(refused)
    assert "2 rows are invalid" in shown
    assert re.search(r"2 destination .*not a valid web address|2 destination", shown)
    assert "3 slug" in shown


def test_the_link_and_campaign_pages_chart_their_audience(app, dash):
    api = api_for(app)
    campaign = api.campaign()
    link = api.link(campaign["id"])
    api.client.get(
        f"/r/{link['token']}",
        headers={"User-Agent": IPHONE},
        environ_base={"REMOTE_ADDR": "81.2.69.142"},
    )
    for page in (f"/dashboard/links/{link['id']}", f"/dashboard/campaigns/{campaign['id']}"):
        body = dash.get(page).get_data(as_text=True)
        assert 'aria-label="Devices: mobile 1"' in body, page
        assert 'aria-label="Countries: GB 1"' in body, page
        assert 'aria-label="Browsers: Mobile Safari 1"' in body, page


def test_a_link_is_tagged_and_archived_from_its_edit_form(app, dash):
    api = api_for(app)
    link = api.link(api.campaign()["id"], label="Poster", tags=["old"])
    form = dash.get(f"/dashboard/links/{link['id']}/edit")
    assert 'value="old"' in form.get_data(as_text=True)
    saved = dash.post(
        f"/dashboard/links/{link['id']}/edit",
        {
            "destination": link["destination"],
            "label": "Poster",
            "tags": "New, spring",
            "active": "1",
            "archived": "1",
        },
    )
    assert saved.status_code == 303
    after = api.get(f"/api/v1/links/{link['id']}").get_json()
    assert after["tags"] == ["new", "spring"] and after["archived"] and after["active"]
    assert "Poster" not in text(dash.get("/dashboard/links"))


def test_the_campaigns_overview_searches_filters_by_tag_and_hides_archived(app, dash):
    api = api_for(app)
    api.campaign(name="Spring flyers", tags=["print"])
    autumn = api.campaign(name="Autumn mailing", tags=["email"])
    api.campaign(name="Old winter")
    api.patch(f"/api/v1/campaigns/{autumn['id'] + 1}", json={"archived": True})
    everything = text(dash.get("/dashboard/"))
    assert "Spring flyers" in everything and "Old winter" not in everything
    tagged = text(dash.get("/dashboard/?tag=print"))
    assert (
        "Spring flyers" in tagged
        and "Autumn mailing" not in tagged
        and "1 campaign match" in tagged
    )
    found = text(dash.get("/dashboard/?q=mail"))
    assert "Autumn mailing" in found and "Spring flyers" not in found
    assert "Old winter" in text(dash.get("/dashboard/?archived=true"))
    newest = text(dash.get("/dashboard/?sort=-created&archived=any"))
    assert newest.index("Old winter") < newest.index("Autumn mailing") < newest.index("Spring")
    assert "No campaign matches" in text(dash.get("/dashboard/?q=zzz"))
