"""The OpenAPI document in app/openapi.json must describe exactly the API the app serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from werkzeug.exceptions import HTTPException

from app.access import api_tokens
from app.clicks import campaigns, links
from app.core.error_codes import EXTRA_KEYS, ErrorCode, api_codes
from app.people import conversions
from app.views import api as api_views
from app.views import permissions, qr

DOC_PATH = Path(api_views.OPENAPI_PATH)
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
IGNORED_METHODS = {"HEAD", "OPTIONS"}
# Image routes take the format as an extension; the document lists one path per format.
FORMAT_TEMPLATES = {
    template: {template.replace("{fmt}", fmt) for fmt in qr.FORMATS}
    for template in ("/api/v1/links/{link_id}/qr.{fmt}", "/api/v1/leads/{lead_id}/badge.{fmt}")
}
CONCRETE_FORMATS = {path: tpl for tpl, paths in FORMAT_TEMPLATES.items() for path in paths}
# Blueprints serving /api/: `api` and `reports` take admin tokens only, `pos` staff keys too.
API_BLUEPRINTS = ("api.", "jobs.", "pos.", "reports.")
_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_TEMPLATE = re.compile(r"\{([^{}]+)\}")


@pytest.fixture(scope="module")
def doc() -> dict:
    return json.loads(DOC_PATH.read_text(encoding="utf-8"))


def openapi_path(rule: str) -> str:
    """`/api/v1/links/<int:link_id>/qr.<fmt>` -> `/api/v1/links/{link_id}/qr.{fmt}`."""
    return _CONVERTER.sub(r"{\1}", rule)


def served_api_operations(app) -> dict[str, set[str]]:
    """OpenAPI-style path -> upper-case methods, for every rule under /api/."""
    served: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            methods = set(rule.methods or ()) - IGNORED_METHODS
            served.setdefault(openapi_path(rule.rule), set()).update(methods)
    return served


def documented_operations(doc: dict, prefix: str = "") -> dict[str, set[str]]:
    return {
        path: {m.upper() for m in item if m in HTTP_METHODS}
        for path, item in doc["paths"].items()
        if path.startswith(prefix)
    }


def operations(doc: dict):
    for path, item in doc["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def resolve(doc: dict, ref: str):
    assert ref.startswith("#/"), f"only local references are used: {ref}"
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"unresolvable $ref {ref}"
        node = node[part]
    return node


def refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def schema(doc: dict, name: str) -> dict:
    return doc["components"]["schemas"][name]


def all_properties(doc: dict, node: dict) -> set[str]:
    """Property names of a schema, following $ref and allOf."""
    if "$ref" in node:
        node = resolve(doc, node["$ref"])
    names = set(node.get("properties", {}))
    for part in node.get("allOf", []):
        names |= all_properties(doc, part)
    return names


def all_required(doc: dict, node: dict) -> set[str]:
    if "$ref" in node:
        node = resolve(doc, node["$ref"])
    names = set(node.get("required", []))
    for part in node.get("allOf", []):
        names |= all_required(doc, part)
    return names


# The document's shape ----------------------------------------------------------------------


def test_document_is_openapi_3_1_pretty_printed(doc):
    assert doc["openapi"].startswith("3.1.")
    assert doc["info"]["title"] == "Touchpoint"
    assert doc["info"]["version"]
    assert [server["url"] for server in doc["servers"]] == ["/"]
    text = DOC_PATH.read_text(encoding="utf-8")
    assert text == json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def test_openapi_json_is_served_without_auth_and_equals_the_file(client, doc):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == doc


# Routes <-> paths --------------------------------------------------------------------------


def test_every_api_route_and_method_is_documented(app, doc):
    documented = documented_operations(doc)
    missing = []
    for path, methods in served_api_operations(app).items():
        if path in FORMAT_TEMPLATES and path not in documented:
            candidates = sorted(FORMAT_TEMPLATES[path])
        else:
            candidates = [path]
        for candidate in candidates:
            for method in sorted(methods - documented.get(candidate, set())):
                missing.append(f"{method} {candidate}")
    assert not missing, f"routes missing from app/openapi.json: {missing}"


def test_document_lists_only_operations_the_app_serves(app, doc):
    served = served_api_operations(app)
    adapter = app.url_map.bind("localhost")
    extra = []
    for path, methods in documented_operations(doc, "/api/").items():
        route = CONCRETE_FORMATS.get(path, path)
        for method in sorted(methods):
            if method not in served.get(route, set()):
                extra.append(f"{method} {path}")
                continue
            # The router agrees: a concrete URL for this path reaches an /api/ endpoint.
            url = _TEMPLATE.sub("1", path)
            try:
                endpoint, _ = adapter.match(url, method=method)
            except HTTPException as exc:
                extra.append(f"{method} {path} ({exc.code})")
                continue
            assert endpoint.startswith(API_BLUEPRINTS), (method, path, endpoint)
    assert not extra, f"app/openapi.json documents operations the app does not serve: {extra}"


def test_path_parameters_are_declared(doc):
    for path, method, op in operations(doc):
        declared = {}
        for param in [*doc["paths"][path].get("parameters", []), *op.get("parameters", [])]:
            if "$ref" in param:
                param = resolve(doc, param["$ref"])
            declared[(param["name"], param["in"])] = param
        for name in _TEMPLATE.findall(path):
            param = declared.get((name, "path"))
            assert param is not None, f"{method.upper()} {path}: path parameter {name} missing"
            assert param.get("required") is True, f"{method.upper()} {path}: {name} not required"
        for name, where in declared:
            if where == "path":
                assert name in _TEMPLATE.findall(path), f"{path}: stray path parameter {name}"


# Operations ----------------------------------------------------------------------------------


def test_every_operation_has_a_unique_operation_id_and_a_summary(doc):
    ids = []
    for path, method, op in operations(doc):
        assert op.get("operationId"), f"{method.upper()} {path} has no operationId"
        assert op.get("summary", "").strip(), f"{method.upper()} {path} has no summary"
        assert op.get("responses"), f"{method.upper()} {path} has no responses"
        ids.append(op["operationId"])
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"duplicate operationIds: {duplicates}"


def test_every_ref_resolves(doc):
    found = list(refs(doc))
    assert found
    for ref in found:
        resolve(doc, ref)


def test_security_follows_each_operations_declaration(app, doc):
    """The document's security for an operation says what its @allow says (permissions.py)."""
    schemes = doc["components"]["securitySchemes"]
    for name in ("bearerAuth", "staffKey"):
        assert (schemes[name]["type"], schemes[name]["scheme"]) == ("http", "bearer"), name
    assert doc["security"] == [{"bearerAuth": []}]
    adapter = app.url_map.bind("localhost")
    for path, method, op in operations(doc):
        if not path.startswith("/api/"):
            assert op.get("security") == [], f"{method.upper()} {path} is public"
            continue
        endpoint, _ = adapter.match(_TEMPLATE.sub("1", path), method=method.upper())
        who = permissions.allowed(app.view_functions[endpoint])
        where = f"{method.upper()} {path}"
        if permissions.PUBLIC in who:
            assert op.get("security") == [], f"{where} is public"
            continue
        if permissions.STAFF in who:
            # Admin tokens or a staff key: both alternatives are declared.
            assert op.get("security") == [{"bearerAuth": []}, {"staffKey": []}], where
        else:
            assert "security" not in op, f"{where} must use the global security"
        assert "401" in op["responses"], f"{where} does not document 401"


def test_public_redirect_and_qr_endpoints_are_documented(doc):
    for path in ("/r/{token}", "/q/{token}", "/q/{token}.svg", "/q/{token}.png"):
        assert "get" in doc["paths"][path], path
    for path in ("/r/{token}", "/q/{token}"):
        assert {"302", "404", "410"} <= set(doc["paths"][path]["get"]["responses"])


# The schemas agree with the code -------------------------------------------------------------


def test_enums_match_the_code(doc):
    assert schema(doc, "Channel")["enum"] == list(campaigns.CHANNELS)
    assert schema(doc, "Token")["properties"]["role"]["enum"] == list(api_tokens.ROLES)
    role = schema(doc, "TokenCreate")["properties"]["role"]
    assert role["enum"] == [*api_tokens.ROLES, None]
    assert role["default"] == api_tokens.LEAST_PRIVILEGE
    ecc = doc["components"]["parameters"]["QrEcc"]["schema"]["enum"]
    assert sorted(ecc) == sorted(qr._ECC)


def test_request_schemas_match_the_accepted_fields(doc):
    assert set(schema(doc, "CampaignCreate")["properties"]) == campaigns._FIELDS
    assert set(schema(doc, "CampaignUpdate")["properties"]) == campaigns._PATCH_FIELDS
    assert set(schema(doc, "LinkCreate")["properties"]) == links._CREATE_FIELDS
    assert set(schema(doc, "LinkUpdate")["properties"]) == links._PATCH_FIELDS
    assert set(schema(doc, "ConversionCreate")["properties"]) == conversions._FIELDS
    for name in (
        "CampaignCreate",
        "CampaignUpdate",
        "LinkCreate",
        "LinkUpdate",
        "ConversionCreate",
    ):
        assert schema(doc, name)["additionalProperties"] is False, name


# Error codes: the document lists app/core/error_codes.py's ---------------------------------

# The keys of the ErrorCode schema made from the registry; `.venv/bin/python -m
# tests.test_openapi` writes them after a code is added, changed or removed.
GENERATED_ERROR_CODE_KEYS = ("enum", "x-enumDescriptions")


def error_code_schema_keys() -> dict:
    """`enum` and `x-enumDescriptions` (usual status and meaning) of every code /api/ answers."""
    return {
        "enum": [code.value for code in api_codes()],
        "x-enumDescriptions": {
            code.value: f"{code.status or 'Varies'}: {code.meaning}" for code in api_codes()
        },
    }


def error_properties(doc: dict) -> dict:
    return schema(doc, "Error")["properties"]["error"]["properties"]


def test_the_error_codes_are_the_registry(doc):
    written = {key: schema(doc, "ErrorCode").get(key) for key in GENERATED_ERROR_CODE_KEYS}
    assert written == error_code_schema_keys(), (
        "app/openapi.json's ErrorCode schema differs from app/core/error_codes.py: "
        "run `.venv/bin/python -m tests.test_openapi` to rewrite it"
    )
    ref = {"$ref": "#/components/schemas/ErrorCode"}
    assert error_properties(doc)["code"] == ref
    assert error_properties(doc)["errors"]["items"]["properties"]["code"] == ref


def test_the_error_keys_beside_code_and_message_are_the_registrys(doc):
    """Each extra key is documented as "Only with `code`" for exactly the codes that add it."""
    documented = {}
    for key, prop in error_properties(doc).items():
        if key not in ("code", "message", "field", "errors"):
            documented[key] = set(re.findall(r"`([a-z_]+)`", prop["description"].split(":")[0]))
    promised: dict[str, set[str]] = {}
    for code, keys in EXTRA_KEYS.items():
        for key in keys:
            promised.setdefault(key, set()).add(code.value)
    assert documented == promised


def json_error_examples(doc: dict):
    """(where, status, example error) for every example of an error answer in the document."""
    for path, method, op in operations(doc):
        for status, response in op["responses"].items():
            if "$ref" in response:
                response = resolve(doc, response["$ref"])
            content = response.get("content", {}).get("application/json", {})
            examples = [e.get("value") for e in content.get("examples", {}).values()]
            for value in [*examples, content.get("example")]:
                if isinstance(value, dict) and "error" in value:
                    yield f"{method.upper()} {path}", status, value["error"]


def test_error_examples_use_listed_codes_under_their_status(doc):
    examples = list(json_error_examples(doc))
    assert len(examples) > 50
    for where, status, error in examples:
        code = ErrorCode(error["code"])
        assert code in api_codes(), (where, code)
        assert code.status in (int(status), None), (where, status, code)


def assert_matches(doc: dict, name: str, body: dict) -> None:
    node = {"$ref": f"#/components/schemas/{name}"}
    assert set(body) == all_properties(doc, node), name
    assert all_required(doc, node) <= set(body), name


def test_live_responses_have_the_documented_fields(api, doc):
    campaign = api.campaign(cost="49.99")
    assert_matches(doc, "Campaign", campaign)
    link = api.link(campaign["id"])
    assert_matches(doc, "Link", link)
    assert set(link["qr"]) == set(schema(doc, "Link")["properties"]["qr"]["properties"])
    stats = api.get(f"/api/v1/links/{link['id']}/stats").get_json()
    assert_matches(doc, "LinkStats", stats)
    api.client.get(f"/r/{link['token']}")
    [day] = api.get(f"/api/v1/links/{link['id']}/stats").get_json()["by_day"]
    assert_matches(doc, "LinkStatsDay", day)
    created = api.post("/api/v1/tokens", json={"name": "docs"}).get_json()
    assert_matches(doc, "TokenCreated", created)
    listed = api.get("/api/v1/tokens").get_json()
    assert set(listed) == set(schema(doc, "TokenList")["properties"])
    for token in listed["items"]:
        assert_matches(doc, "Token", token)
    for path, name in (("/api/v1/campaigns", "CampaignList"), ("/api/v1/links", "LinkList")):
        listed = api.get(path).get_json()
        assert set(listed) == set(schema(doc, name)["properties"])
        item = schema(doc, name)["properties"]["items"]["items"]["$ref"].rsplit("/", 1)[1]
        assert listed["items"] and all(
            assert_matches(doc, item, i) is None for i in listed["items"]
        )
    error = api.get("/api/v1/campaigns/999").get_json()
    assert_matches(doc, "Error", error)


def test_live_recipient_lead_and_conversion_responses_have_the_documented_fields(api, doc):
    link = api.link()
    upload = api.post(
        f"/api/v1/links/{link['id']}/recipients?skip_invalid=true",
        json={"recipients": [{"email": "ann@example.com", "tier": "gold"}, {"email": "x"}]},
    )
    assert upload.status_code == 200
    imported = upload.get_json()
    assert_matches(doc, "RecipientImport", imported)
    [row] = imported["recipients"]
    assert_matches(doc, "InvalidRow", imported["invalid"][0])
    row_schema = schema(doc, "RecipientImport")["properties"]["recipients"]["items"]
    assert set(row_schema["required"]) <= set(row)
    click = api.client.get(row["tracked_url"], headers={"User-Agent": "Mozilla/5.0"})
    click_id = click.headers["Location"].rpartition("tp_cid=")[2]
    response = api.post("/api/v1/conversions", json={"type": "sale", "click_id": click_id})
    assert response.status_code == 201
    assert_matches(doc, "Conversion", response.get_json())
    conversion_id = response.get_json()["id"]
    assert_matches(doc, "Conversion", api.get(f"/api/v1/conversions/{conversion_id}").get_json())
    found = api.get("/api/v1/leads?email=ann@example.com").get_json()
    assert set(found) == set(schema(doc, "LeadList")["properties"])
    [lead] = found["items"]
    assert_matches(doc, "LeadListItem", lead)
    detail = api.get(f"/api/v1/leads/{lead['id']}").get_json()
    assert_matches(doc, "LeadDetail", detail)
    assert_matches(doc, "LeadDetailLead", detail["lead"])
    activity = api.post(f"/api/v1/leads/{lead['id']}/activities", json={"kind": "call"})
    assert activity.status_code == 201
    assert_matches(doc, "Activity", activity.get_json())
    assert set(api.get(f"/api/v1/leads/{lead['id']}/activities").get_json()) == set(
        schema(doc, "ActivityList")["properties"]
    )
    patched = api.patch(f"/api/v1/leads/{lead['id']}", json={"owner": "rep@example.com"})
    assert_matches(doc, "LeadDetailLead", patched.get_json()["lead"])
    listed = api.get("/api/v1/conversions").get_json()
    assert set(listed) == set(schema(doc, "ConversionList")["properties"])
    assert_matches(doc, "ConversionListItem", listed["items"][0])
    voided = api.post(f"/api/v1/conversions/{conversion_id}/void", json={"reason": "test"})
    assert_matches(doc, "Conversion", voided.get_json())
    hit, conversion = detail["events"]
    assert_matches(doc, "TimelineHit", hit)
    assert_matches(doc, "TimelineConversion", conversion)
    assert (
        api.post(f"/api/v1/leads/{lead['id']}/lost", json={"reason": "timing"}).status_code == 200
    )
    assert api.post(f"/api/v1/leads/{lead['id']}/reopen").status_code == 200
    trail = api.get(f"/api/v1/leads/{lead['id']}").get_json()["events"]
    assert [e["type"] for e in trail] == ["click", "conversion", "activity", "lost", "reopened"]
    assert_matches(doc, "TimelineConversion", trail[1])
    assert trail[1]["voided_at"] is not None
    assert_matches(doc, "TimelineActivity", trail[2])
    assert_matches(doc, "TimelineLoss", trail[3])
    assert_matches(doc, "TimelineLoss", trail[4])
    erased = api.delete(f"/api/v1/leads/{lead['id']}").get_json()
    assert_matches(doc, "LeadErased", erased)
    assert_matches(doc, "Lead", erased["lead"])


if __name__ == "__main__":
    # Rewrite the ErrorCode schema's generated keys from app/core/error_codes.py.
    document = json.loads(DOC_PATH.read_text(encoding="utf-8"))
    document["components"]["schemas"]["ErrorCode"].update(error_code_schema_keys())
    DOC_PATH.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
