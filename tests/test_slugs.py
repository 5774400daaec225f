"""Branded domains and custom back-halves (issue 17): host routing, slug rules and conflicts,
and a slug URL logging the same event a token URL does."""

from __future__ import annotations

import pytest

from app.clicks import slugs

from .conftest import BROWSER_UA, api_for, events, make_app, row_count

SHOP = "https://shop.example.com/spring"
BRANDED = "http://go.fernway.example"


@pytest.fixture
def app(tmp_path):
    # The default domain is links.example; 10.0.0.0/8 is our proxy.
    return make_app(
        tmp_path,
        PUBLIC_BASE_URL="https://links.example",
        TRUSTED_PROXIES="10.0.0.0/8",
    )


@pytest.fixture
def api(app):
    return api_for(app)


def _browser(app, base_url: str = "http://links.example", **environ):
    client = app.test_client()

    def get(path: str, **kw):
        return client.get(
            path,
            base_url=base_url,
            headers={"User-Agent": BROWSER_UA, **kw.pop("headers", {})},
            environ_base={"REMOTE_ADDR": "203.0.113.9", **environ},
            **kw,
        )

    return get


def _domain(api, host="go.fernway.example", **fields):
    response = api.post("/api/v1/domains", json={"host": host, **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_slug_on_a_branded_domain_is_a_click_and_its_qr_code_a_scan(app, api):
    _domain(api)
    campaign = api.campaign()
    link = api.link(
        campaign["id"], domain="Go.Fernway.Example", slug="Spring-Sale", utm_content="hero"
    )
    assert link["domain"] == "go.fernway.example" and link["slug"] == "Spring-Sale"
    assert link["url"] == "https://go.fernway.example/Spring-Sale"
    assert link["qr_url"] == "https://go.fernway.example/q/Spring-Sale"
    assert link["token_url"] == f"https://links.example/r/{link['token']}"

    get = _browser(app, BRANDED)
    clicked = get("/spring-sale")  # any case
    assert clicked.status_code == 302
    assert clicked.headers["Location"].startswith(SHOP + "?utm_source=")
    assert "utm_content=hero" in clicked.headers["Location"]
    assert get("/q/SPRING-SALE/").status_code == 302
    # The signed token URL keeps working on any host.
    assert _browser(app)(f"/r/{link['token']}").status_code == 302
    click, scan, token_click = events(app)
    assert (click["type"], scan["type"], token_click["type"]) == ("click", "scan", "click")
    same = ("link_id", "campaign_id", "store_code", "outcome", "is_bot", "visitor_id", "ip")
    for key in same:
        assert click[key] == token_click[key] or key == "visitor_id", key
    assert click["link_id"] == link["id"] and click["outcome"] == "redirect"


def test_the_same_slug_may_live_on_two_domains_and_each_answers_only_on_its_own(app, api):
    _domain(api)
    campaign = api.campaign()
    branded = api.link(campaign["id"], domain="go.fernway.example", slug="sale")
    default = api.link(campaign["id"], destination="https://other.example/", slug="sale")
    assert default["url"] == "https://links.example/sale"
    assert _browser(app, BRANDED)("/sale").headers["Location"].startswith(SHOP)
    assert _browser(app)("/sale").headers["Location"].startswith("https://other.example/")
    # A host nobody configured is the default domain: branded links never answer there.
    assert (
        _browser(app, "http://evil.example")("/sale")
        .headers["Location"]
        .startswith("https://other.example/")
    )
    assert [e["link_id"] for e in events(app)] == [branded["id"], default["id"], default["id"]]


def test_a_forwarded_host_counts_only_from_a_trusted_proxy(app, api):
    _domain(api)
    api.link(api.campaign()["id"], domain="go.fernway.example", slug="fwd")
    via_proxy = _browser(app, "http://internal:8000", REMOTE_ADDR="10.1.2.3")
    assert via_proxy("/fwd", headers={"X-Forwarded-Host": "go.fernway.example"}).status_code == 302
    spoofed = _browser(app, "http://internal:8000")  # from the internet: header ignored
    answer = spoofed("/fwd", headers={"X-Forwarded-Host": "go.fernway.example"})
    assert answer.status_code == 404


def test_a_port_in_the_host_matches_a_domain_configured_with_or_without_it(app, api):
    _domain(api, "go.fernway.example")
    _domain(api, "staging.fernway.example:8123")
    campaign = api.campaign()
    api.link(campaign["id"], domain="go.fernway.example", slug="a")
    api.link(campaign["id"], domain="staging.fernway.example:8123", slug="b")
    assert _browser(app, "http://go.fernway.example:8000")("/a").status_code == 302
    assert _browser(app, "http://staging.fernway.example:8123")("/b").status_code == 302
    assert _browser(app, "http://staging.fernway.example:9999")("/b").status_code == 404


def test_a_domains_root_and_unknown_paths_go_to_its_default_redirect_as_orphan_hits(app, api):
    _domain(api, default_redirect="https://fernway.example/")
    _domain(api, "bare.fernway.example")
    get = _browser(app, BRANDED)
    for path in ("/", "/nope", "/q/nope", "/r/not-a-token"):
        answer = get(path)
        assert answer.status_code in (302, 404), path
        if path != "/r/not-a-token":  # a bad token is the token path's own 404
            assert answer.headers["Location"] == "https://fernway.example/", path
    bare = _browser(app, "http://bare.fernway.example")
    assert bare("/").status_code == 404 and "check the link" in bare("/").get_data(as_text=True)
    db = app.extensions["touchpoint"].db()
    paths = [r[0] for r in db.execute("SELECT path FROM orphan_hits ORDER BY id")]
    assert paths[:2] == ["go.fernway.example/", "go.fernway.example/nope"]
    assert "bare.fernway.example/" in paths
    assert row_count(app, "events") == 0
    # The default domain's own root is still the server's page, not an orphan.
    assert _browser(app)("/").status_code in (200, 302)


def test_an_unknown_slug_on_the_default_domain_is_a_404_page_and_an_orphan(app, api):
    answer = _browser(app)("/no-such-slug")
    assert answer.status_code == 404 and answer.content_type.startswith("text/html")
    assert row_count(app, "orphan_hits") == 1
    # The server's own paths are not looked up as slugs.
    assert _browser(app)("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("slug", "code", "status"),
    [
        ("api", "slug_reserved", 422),
        ("Dashboard/x", "slug_reserved", 422),
        ("q", "slug_reserved", 422),
        ("static", "slug_reserved", 422),
        ("has space", "invalid_slug", 422),
        ("/leading", "invalid_slug", 422),
        ("double//slash", "invalid_slug", 422),
        ("dot.dot", "invalid_slug", 422),
        ("x" * 101, "invalid_slug", 422),
        ("ünïcode", "invalid_slug", 422),
    ],
)
def test_bad_slugs_are_refused_naming_the_field(api, slug, code, status):
    response = api.post(
        "/api/v1/links",
        json={"campaign_id": api.campaign()["id"], "destination": SHOP, "slug": slug},
    )
    assert response.status_code == status
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == (code, "slug")


def test_a_taken_slug_is_409_whatever_its_case_and_nothing_is_stored(app, api):
    campaign = api.campaign()
    api.link(campaign["id"], slug="Promo")
    before = row_count(app, "links")
    again = api.post(
        "/api/v1/links", json={"campaign_id": campaign["id"], "destination": SHOP, "slug": "PROMO"}
    )
    assert again.status_code == 409
    assert again.get_json()["error"] == {
        "code": "slug_taken",
        "message": "Another link on the default domain has the slug 'PROMO'.",
        "field": "slug",
    }
    assert row_count(app, "links") == before


def test_every_route_of_the_server_starts_with_a_reserved_word(app):
    """A slug could otherwise shadow a page the server answers itself."""
    firsts = {rule.rule.split("/")[1].lower() for rule in app.url_map.iter_rules()} - {""}
    assert firsts <= slugs.RESERVED


def test_domains_api_validates_hosts_and_keeps_domains_in_use(app, api):
    made = _domain(api, "Bücher.Fernway.Example.", default_redirect="https://fernway.example/")
    assert made["host"] == "xn--bcher-kva.fernway.example" and made["links"] == 0
    for host in ("https://go.example/", "localhost", "go..example", "1.2.3.4", "go.example:0"):
        bad = api.post("/api/v1/domains", json={"host": host})
        assert bad.status_code == 422, host
        assert bad.get_json()["error"]["field"] == "host"
    default = api.post("/api/v1/domains", json={"host": "links.example"})
    assert default.status_code == 409 and default.get_json()["error"]["code"] == "domain_exists"
    changed = api.patch(f"/api/v1/domains/{made['id']}", json={"default_redirect": None})
    assert changed.status_code == 200 and changed.get_json()["default_redirect"] is None
    renamed = api.patch(f"/api/v1/domains/{made['id']}", json={"host": "x.example"})
    assert renamed.get_json()["error"]["code"] == "not_updatable"
    api.link(api.campaign()["id"], domain=made["host"], slug="buch")
    assert api.delete(f"/api/v1/domains/{made['id']}").status_code == 409
    listed = api.get("/api/v1/domains").get_json()["items"]
    assert [(d["host"], d["links"]) for d in listed] == [("xn--bcher-kva.fernway.example", 1)]
    empty = _domain(api, "empty.fernway.example")
    assert api.delete(f"/api/v1/domains/{empty['id']}").status_code == 204
    assert api.get(f"/api/v1/domains/{empty['id']}").status_code == 404


def test_a_marketer_token_can_read_but_not_change_domains(app, api):
    from app.access import api_tokens

    from .conftest import Api

    secret, _ = api_tokens.create(app.extensions["touchpoint"].db(), "m", "marketer")
    marketer = Api(app.test_client(), secret)
    assert marketer.post("/api/v1/domains", json={"host": "m.example"}).status_code == 403
    assert marketer.get("/api/v1/domains").status_code == 200


def test_a_slug_on_an_offer_link_shows_the_landing_page_and_the_claim_works(app, api):
    from .coupon_helpers import offer as make_offer

    campaign = api.campaign()
    offer = make_offer(api, campaign["id"])
    link = api.post(
        "/api/v1/links",
        json={"campaign_id": campaign["id"], "offer_id": offer["id"], "slug": "free-coffee"},
    ).get_json()
    page = _browser(app)("/free-coffee")
    assert page.status_code == 200
    assert link["token"] in page.get_data(as_text=True)  # the claim form posts under the token
    [hit] = events(app)
    assert (hit["link_id"], hit["outcome"], hit["type"]) == (link["id"], "landing", "click")


def test_tags_search_sort_and_archive_find_links(app, api):
    spring = api.campaign(name="Spring", tags=["Spring", "print"])
    fall = api.campaign(name="Fall")
    a = api.link(spring["id"], label="Window poster", tags=["flyer", "Spring"], slug="win")
    b = api.link(spring["id"], label="Counter card", destination="https://shop.example.com/cc")
    c = api.link(fall["id"], label="Apron", tags=["flyer"])
    assert a["tags"] == ["flyer", "spring"] and spring["tags"] == ["print", "spring"]
    for _ in range(3):
        _browser(app)(f"/r/{c['token']}")
    _browser(app)(f"/r/{b['token']}")

    def ids(query: str) -> list[int]:
        response = api.get(f"/api/v1/links?{query}")
        assert response.status_code == 200, response.get_json()
        return [item["id"] for item in response.get_json()["items"]]

    assert ids("tag=flyer") == [a["id"], c["id"]]
    assert ids("tag=FLYER&campaign_id=" + str(spring["id"])) == [a["id"]]
    assert ids("q=poster") == [a["id"]]
    assert ids("q=WIN") == [a["id"]]  # the slug
    assert ids("q=shop.example.com/cc") == [b["id"]]  # the destination
    assert ids("q=50%25") == []  # a LIKE wildcard is a literal
    assert ids("sort=-clicks") == [c["id"], b["id"], a["id"]]
    assert ids("sort=label") == [c["id"], b["id"], a["id"]]
    assert ids("domain=") == [a["id"], b["id"], c["id"]]

    listed = api.get("/api/v1/links?sort=-clicks").get_json()["items"]
    assert [i["clicks_30d"] for i in listed] == [3, 1, 0]

    archived = api.patch(f"/api/v1/links/{c['id']}", json={"archived": True}).get_json()
    assert archived["archived"] and archived["archived_at"]
    assert ids("") == [a["id"], b["id"]]
    assert ids("archived=true") == [c["id"]]
    assert ids("archived=any") == [a["id"], b["id"], c["id"]]
    assert _browser(app)(f"/r/{c['token']}").status_code == 302  # still redirects
    api.patch(f"/api/v1/links/{c['id']}", json={"archived": False, "tags": []})
    assert ids("tag=flyer") == [a["id"]]

    api.patch(f"/api/v1/campaigns/{fall['id']}", json={"archived": True})
    names = [i["name"] for i in api.get("/api/v1/campaigns").get_json()["items"]]
    assert names == ["Spring"]
    found = api.get("/api/v1/campaigns?archived=any&sort=-clicks").get_json()["items"]
    assert [(i["name"], i["clicks_30d"]) for i in found] == [("Fall", 4), ("Spring", 1)]
    assert [i["name"] for i in api.get("/api/v1/campaigns?tag=print").get_json()["items"]] == [
        "Spring"
    ]


def test_sorted_pages_follow_their_cursor_to_the_end(api):
    campaign = api.campaign()
    made = [api.link(campaign["id"], label=f"L{n:02d}")["id"] for n in range(7)]
    for sort in ("created", "-created", "label", "-label", "clicks"):
        seen, cursor = [], ""
        while True:
            page = api.get(f"/api/v1/links?sort={sort}&limit=3&cursor={cursor}").get_json()
            seen += [i["id"] for i in page["items"]]
            if page["next_cursor"] is None:
                break
            cursor = page["next_cursor"]
        assert sorted(seen) == made and len(seen) == 7, sort


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ("sort=popular", "sort", "invalid_choice"),
        ("archived=maybe", "archived", "invalid_choice"),
        ("active=yes", "active", "invalid_choice"),
        ("domain=nope.example", "domain", "unknown_domain"),
        ("tag=%3Cb%3E", "tag", "validation_error"),
        ("sort=label&cursor=12", "cursor", "validation_error"),
        ("colour=red", "colour", "unknown_parameter"),
    ],
)
def test_bad_list_parameters_name_the_parameter(api, query, field, code):
    response = api.get(f"/api/v1/links?{query}")
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert (error["field"], error["code"]) == (field, code)


def test_a_campaigns_utm_templates_fill_its_new_links(app, api):
    loc = api.post(
        "/api/v1/locations",
        json={"code": "S12", "name": "Main St", "kind": "store", "timezone": "UTC"},
    )
    assert loc.status_code == 201, loc.get_json()
    campaign = api.campaign(utm_content_template="{store_code}", utm_term_template="{label}")
    templated = api.link(campaign["id"], store_code="S12", label="Window")
    assert (templated["utm_content"], templated["utm_term"]) == ("S12", "Window")
    given = api.link(campaign["id"], store_code="S12", utm_content="mine")
    assert given["utm_content"] == "mine" and given["utm_term"] is None  # no label: no tag
    bad = api.post("/api/v1/campaigns", json={**_campaign_body(), "utm_term_template": "{city}"})
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "utm_term_template"


def _campaign_body() -> dict:
    return {"name": "T", "channel": "print", "utm_source": "s", "utm_medium": "m"}


def test_a_domain_added_by_another_process_routes_within_the_host_cache_lifetime(
    app, api, monkeypatch
):
    """Each process keeps the configured hosts for HOSTS_TTL_S; the one that adds a domain
    forgets them at once, the others read them again when the time is up."""
    from app import storage
    from app.clicks import domains

    campaign = api.campaign()
    get = _browser(app, "http://late.fernway.example")
    assert get("/anything").status_code == 404  # this process now has its host list
    now = [1000.0]
    monkeypatch.setattr(domains.time, "monotonic", lambda: now[0])
    domains.forget_hosts()
    assert get("/anything").status_code == 404
    # Another process adds the domain and a link on it (straight into the database).
    db = app.extensions["touchpoint"].db()
    at = "2026-12-08T00:00:00.000Z"
    storage.insert_domain(db, {"host": "late.fernway.example", "created_at": at, "updated_at": at})
    link = api.link(campaign["id"], domain="late.fernway.example", slug="late")
    assert link["url"].endswith("late.fernway.example/late")
    now[0] += domains.HOSTS_TTL_S - 1
    assert get("/late").status_code == 404  # still the host list read before
    now[0] += 2
    assert get("/late").status_code == 302


@pytest.mark.slow
def test_one_slug_asked_for_by_several_processes_at_once_is_one_link(tmp_path):
    """Four processes each try to create the same 15 slugs (and the same bulk file) at once:
    every slug is made exactly once, and every other attempt is told slug_taken."""
    from .live import in_processes

    app = make_app(tmp_path)
    campaign = api_for(app).campaign()
    script = (
        "import json\n"
        "from app import create_app\n"
        "from app.clicks import bulk_links, links\n"
        "from app.core.errors import TouchpointError\n"
        "db = create_app().extensions['touchpoint'].db()\n"
        "out = []\n"
        "for n in range(15):\n"
        f"    body = {{'campaign_id': {campaign['id']}, 'destination': 'https://x.example/',\n"
        "            'slug': f'race-{n}'}\n"
        "    try:\n"
        "        out.append(links.create(db, body)['id'])\n"
        "    except TouchpointError as exc:\n"
        "        out.append(str(exc.code))\n"
        f"rows = [(i + 2, {{'campaign_id': {campaign['id']}, 'destination': 'https://x.example/',\n"
        "                   'slug': f'bulk-{i}'}) for i in range(20)]\n"
        "try:\n"
        "    out.append(len(bulk_links.create(db, rows).links))\n"
        "except TouchpointError as exc:\n"
        "    out.append(str(exc.code))\n"
        "print(json.dumps(out))\n"
    )
    results = in_processes(app, script)
    for n in range(15):
        answers = [r[n] for r in results]
        made = [a for a in answers if isinstance(a, int)]
        assert len(made) == 1 and answers.count("slug_taken") == 3, answers
    bulk = sorted(str(r[15]) for r in results)
    assert bulk == ["20", "invalid_rows", "invalid_rows", "invalid_rows"], bulk
    assert row_count(app, "links") == 15 + 20
