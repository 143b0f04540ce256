"""The REST API: bad input to every endpoint is a JSON 4xx (never a 500, never HTML), and the
OpenAPI document describes every endpoint and the responses actually sent.

Routes are enumerated from ``app.url_map``, so a new endpoint is covered without editing this file.
"""
from __future__ import annotations

import copy
import json
import re
from urllib.parse import quote

import jsonschema
import pytest

API = "/api/v1"
#: endpoints that are not JSON resources themselves: the OpenAPI document and its HTML reference
UNDOCUMENTED = {"api-docs.openapi_json", "apidocs.reference"}
OTHER_METHODS = ("POST", "PUT", "PATCH", "DELETE")
BAD_IDS = [
    "no-such-id",
    "x" * 4000,
    "åäö-ünïcødé-名前-💥",
    "<script>alert(1)</script>",
    "..",
    "%00",
    "%ff%fe",
    "' OR 1=1 --",
    "{{7*7}}",
]
BAD_LANGS = ["xx", "<script>alert(1)</script>", "", "sv_SE_EXTRA", "x" * 500, "%00", "en\r\nX-Injected: 1"]


def api_rules(app):
    return sorted(
        (r for r in app.url_map.iter_rules() if r.rule == API or r.rule.startswith(API + "/")),
        key=lambda r: r.rule,
    )


def methods_of(rule) -> set[str]:
    return set(rule.methods) - {"HEAD", "OPTIONS"}


def openapi(client) -> dict:
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    return json.loads(response.get_data(as_text=True))


def spec_path(rule) -> str:
    """``/api/v1/frameworks/<framework_id>`` → ``/api/v1/frameworks/{framework_id}``."""
    path = rule.rule
    for arg in rule.arguments:
        for conv in ("", "string:", "path:", "int:", "uuid:"):
            path = path.replace(f"<{conv}{arg}>", "{" + arg + "}")
    return path


def build(rule, values: dict[str, str], query: str = "") -> str:
    path = rule.rule
    for arg in rule.arguments:
        raw = values[arg]
        # keep pre-encoded ids (%00, %ff) as they are; encode the rest like a client would
        value = raw if raw.startswith("%") else quote(raw, safe="")
        path = path.replace(f"<{arg}>", value)
    return path + (f"?{query}" if query else "")


@pytest.fixture
def valid_ids(app, sample):
    """Known-good values for the URL arguments we know about (others get bad values)."""
    return {"framework_id": sample["id"], "competency_id": sample["competencies"][0]["id"]}


def error_problems(response) -> list[str]:
    """Everything wrong with ``response`` as an API error; an empty list when it is a proper one."""
    problems = []
    body = response.get_data(as_text=True)
    if not 400 <= response.status_code < 500:
        problems.append(f"status {response.status_code}")
    if response.mimetype != "application/json":
        problems.append(f"Content-Type {response.content_type}")
        return problems
    try:
        data = json.loads(body)
    except ValueError:
        return problems + ["body is not JSON"]
    if not isinstance(data, dict):
        return problems + ["body is not an object"]
    for key in ("code", "message"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            problems.append(f"no {key!r} string")
    if data.get("status") not in (None, response.status_code):
        problems.append(f"status field {data.get('status')} != {response.status_code}")
    lowered = body.lower()
    for leak in ("traceback", "<!doctype", "<html", 'file "/', "werkzeug"):
        if leak in lowered:
            problems.append(f"leaks {leak!r}")
    return problems


def assert_all_ok(failures: list[str]) -> None:
    assert not failures, "\n".join(failures)


# --------------------------------------------------------------------------- enumeration sanity


def test_api_routes_are_enumerated(app):
    rules = api_rules(app)
    endpoints = {r.endpoint for r in rules}
    # the endpoints the contract names must be among them (more may come; they are covered too)
    paths = {spec_path(r) for r in rules}
    for path in ("/plugins", "/frameworks", "/frameworks/{framework_id}",
                 "/frameworks/{framework_id}/competencies/{competency_id}", "/exporters", "/openapi.json"):
        assert API + path in paths
    assert len(endpoints) == len(rules)


# --------------------------------------------------------------------------- bad input, every route


def test_unknown_ids_on_every_route(app, client, valid_ids):
    failures = []
    checked = 0
    for rule in api_rules(app):
        args = sorted(rule.arguments)
        if not args:
            continue
        for bad in BAD_IDS:
            variants = [{arg: bad for arg in args}]
            # all arguments valid but one, so a lookup deeper down is reached too
            for wrong in args:
                if all(a in valid_ids for a in args if a != wrong):
                    variants.append({a: (bad if a == wrong else valid_ids[a]) for a in args})
            for values in variants:
                url = build(rule, values)
                for method in sorted(methods_of(rule)):
                    body = {} if method in ("GET", "DELETE") else {"json": {}}
                    response = client.open(url, method=method, **body)
                    checked += 1
                    for problem in error_problems(response):
                        failures.append(f"{method} {url[:120]}: {problem}")
    assert checked >= len(BAD_IDS) * 2
    assert_all_ok(failures)


def test_unknown_id_is_404_with_a_helpful_message(client, sample):
    response = client.get(f"{API}/frameworks/no-such-framework")
    assert response.status_code == 404
    body = response.get_json()
    assert body["code"] == "not_found"
    assert "no-such-framework" in body["message"]
    response = client.get(f"{API}/frameworks/{sample['id']}/competencies/no-such-competency")
    assert response.status_code == 404
    assert "no-such-competency" in response.get_json()["message"]


def test_competency_of_another_framework_is_not_found(make_app, thirdparty_locales, sample):
    """A competency id is looked up within the framework in the URL, not globally."""
    from tests.conftest import THIRDPARTY_SPEC
    from tests.plugins import thirdparty

    client = make_app(PLUGINS=[THIRDPARTY_SPEC], **{thirdparty.LOCALES_SETTING: str(thirdparty_locales)}).test_client()
    other = thirdparty.FRAMEWORK["groups"][0]["competencies"][0]["id"]
    assert client.get(f"{API}/frameworks/{thirdparty.FRAMEWORK_ID}/competencies/{other}").status_code == 200
    response = client.get(f"{API}/frameworks/{sample['id']}/competencies/{other}")
    assert response.status_code == 404
    assert error_problems(response) == []


def lang_routes(app, client) -> list:
    spec = openapi(client)
    routes = []
    for rule in api_rules(app):
        operation = spec["paths"].get(spec_path(rule), {}).get("get", {})
        if any(p.get("name") == "lang" and p.get("in") == "query" for p in operation.get("parameters", [])):
            routes.append(rule)
    return routes


def test_bad_lang_on_every_route_that_takes_it(app, client, valid_ids):
    routes = lang_routes(app, client)
    assert routes, "no endpoint documents ?lang="
    failures = []
    for rule in routes:
        values = {arg: valid_ids.get(arg, "no-such-id") for arg in rule.arguments}
        assert client.get(build(rule, values, "lang=en")).status_code < 500
        for lang in BAD_LANGS:
            url = build(rule, values, "lang=" + quote(lang, safe=""))
            response = client.get(url)
            for problem in error_problems(response):
                failures.append(f"GET {url[:120]}: {problem}")
    assert_all_ok(failures)


def test_unknown_language_is_400_and_lists_the_available_ones(client):
    response = client.get(f"{API}/frameworks?lang=xx")
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == "unknown_language"
    assert "'xx'" in body["message"]
    assert "en" in body["message"]


def test_a_query_string_that_is_not_utf8_is_400_not_a_crash(client):
    """Raw Latin-1 bytes in the query string (a client that does not percent-encode) reach the app
    as-is from gunicorn; werkzeug cannot decode them. The API answers 400 naming the query, a page
    gets the error page; valid UTF-8 sent raw still works."""
    from werkzeug.test import EnvironBuilder

    app = client.application

    def raw(path: str, query_bytes: bytes, headers=None):
        environ = EnvironBuilder(path=path, headers=headers or {}).get_environ()
        environ["QUERY_STRING"] = query_bytes.decode("latin-1")  # what a WSGI server hands over
        status = {}
        body = b"".join(app(environ, lambda s, h, e=None: status.setdefault("s", s)))
        return int(status["s"].split()[0]), body

    status, body = raw(f"{API}/frameworks", "lang=sv&q=fö".encode("latin-1"))
    assert status == 400
    payload = json.loads(body)
    assert payload["code"] == "bad_request" and "UTF-8" in payload["errors"]["query"][0]
    status, body = raw("/login", "next=/fö".encode("latin-1"), {"Accept-Language": "en"})
    assert status == 400 and b"<html" in body and b"UTF-8" in body
    status, _ = raw("/login", "next=/fö".encode("utf-8"))
    assert status == 200


def test_bad_lang_never_breaks_other_routes(app, client, valid_ids):
    """Routes that do not document ``lang`` may ignore it, but must never fail with a 5xx or non-JSON error."""
    taking = {r.rule for r in lang_routes(app, client)}
    failures = []
    for rule in api_rules(app):
        if rule.rule in taking:
            continue
        values = {arg: valid_ids.get(arg, "no-such-id") for arg in rule.arguments}
        for lang in BAD_LANGS:
            url = build(rule, values, "lang=" + quote(lang, safe=""))
            response = client.get(url)
            if response.status_code >= 400:
                failures.extend(f"GET {url[:120]}: {p}" for p in error_problems(response))
    assert_all_ok(failures)


def test_wrong_methods_on_every_route(app, client, valid_ids):
    """A method no route serves at a URL is a JSON 405 with an ``Allow`` header."""
    from werkzeug.exceptions import MethodNotAllowed, NotFound

    adapter = app.url_map.bind("localhost")
    failures = []
    checked = 0
    for rule in api_rules(app):
        values = {arg: valid_ids.get(arg, "no-such-id") for arg in rule.arguments}
        url = build(rule, values)
        for method in OTHER_METHODS:
            try:
                adapter.match(url, method=method)
                continue  # some route serves this method here (e.g. PATCH /people/<id> at /people/import)
            except MethodNotAllowed as exc:
                allowed = set(exc.valid_methods or ())
            except NotFound:
                continue
            for kwargs in ({}, {"json": {"id": "x"}}, {"data": b"\xff\x00{not json", "content_type": "application/json"}):
                response = client.open(url, method=method, **kwargs)
                checked += 1
                failures.extend(f"{method} {url}: {p}" for p in error_problems(response))
                if response.status_code != 405:
                    failures.append(f"{method} {url}: status {response.status_code}, expected 405")
                elif not allowed - {"HEAD", "OPTIONS"} <= set(re.split(r"\s*,\s*", response.headers.get("Allow", ""))):
                    failures.append(f"{method} {url}: Allow header {response.headers.get('Allow')!r}")
    assert checked > 0
    assert_all_ok(failures)


BAD_BODIES = [
    {"data": b"{not json", "content_type": "application/json"},
    {"data": b"\xff\xfe\x00", "content_type": "application/json"},
    {"json": ["a", "list"]},
    {"json": "a string"},
    {"json": {"id": 5, "name": ["x"], "role": {"a": 1}, "username": None, "password": 7, "status": 3.5}},
    {"json": {"name": "x" * 100_000}},
]


def test_bad_bodies_on_every_write_route(app, client, valid_ids):
    """Every POST/PUT/PATCH endpoint answers a malformed or mistyped body with a JSON 4xx."""
    failures = []
    checked = 0
    for rule in api_rules(app):
        for method in sorted(methods_of(rule) & {"POST", "PUT", "PATCH"}):
            values = {arg: valid_ids.get(arg, "no-such-id") for arg in rule.arguments}
            url = build(rule, values)
            for body in BAD_BODIES:
                response = client.open(url, method=method, **body)
                checked += 1
                failures.extend(f"{method} {url} {str(body)[:60]}: {p}" for p in error_problems(response))
    if not checked:
        pytest.skip("no write endpoints yet")
    assert_all_ok(failures)


def test_anonymous_requests_are_refused_as_json(app, valid_ids):
    """Without a session or token, every non-public API endpoint answers a JSON 401 (or 404/405), never data."""
    from tests.conftest import anonymous_client

    try:
        from core.access import PUBLIC_ENDPOINTS
    except ImportError:
        pytest.skip("this build has no accounts")
    client = anonymous_client(app)
    failures = []
    for rule in api_rules(app):
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        url = build(rule, {arg: valid_ids.get(arg, "no-such-id") for arg in rule.arguments})
        for method in sorted(methods_of(rule)):
            response = client.open(url, method=method)
            failures.extend(f"{method} {url}: {p}" for p in error_problems(response))
            if response.status_code not in (401, 403):
                failures.append(f"{method} {url}: status {response.status_code} for an anonymous request")
    response = client.get(f"{API}/frameworks", headers={"Authorization": "Bearer kbp_nope_nope"})
    assert response.status_code == 401
    assert error_problems(response) == []
    assert_all_ok(failures)


@pytest.mark.parametrize(
    "path",
    [
        f"{API}/no-such-endpoint",
        f"{API}/frameworks/a/b/c/d",
        f"{API}/frameworks/a/competencies",
        f"{API}/" + "y" * 3000,
        f"{API}/plugins/" + quote("åäö💥"),
        API,
        API + "/",
    ],
)
def test_unknown_api_paths_are_json_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert error_problems(response) == []


def test_oversized_body_is_a_json_error(make_app):
    client = make_app(MAX_CONTENT_LENGTH=1024).test_client()
    response = client.post(f"{API}/frameworks", data=b"x" * 4096, content_type="application/json")
    assert error_problems(response) == []


# --------------------------------------------------------------------------- OpenAPI


def test_openapi_document_lists_every_endpoint(app, client):
    spec = openapi(client)
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"]
    missing = []
    for rule in api_rules(app):
        if rule.endpoint in UNDOCUMENTED:
            continue
        path = spec_path(rule)
        if path not in spec["paths"]:
            missing.append(path)
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if method.lower() not in spec["paths"][path]:
                missing.append(f"{method} {path}")
    assert not missing, f"not in openapi.json: {missing}"
    # and nothing documented that does not exist
    served = {spec_path(r) for r in api_rules(app)}
    assert set(spec["paths"]) <= served


def _resolve_refs_everywhere(spec: dict) -> list[str]:
    broken = []

    def walk(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                target = spec
                try:
                    assert ref.startswith("#/")
                    for part in ref[2:].split("/"):
                        target = target[part.replace("~1", "/").replace("~0", "~")]
                except (AssertionError, KeyError, TypeError):
                    broken.append(ref)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    return broken


def test_openapi_references_resolve(client):
    assert _resolve_refs_everywhere(openapi(client)) == []


def test_openapi_document_is_valid(client):
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(openapi(client))


def _as_json_schema(node):
    """OpenAPI 3.0 schema objects → JSON Schema (``nullable: true`` → a ``null`` type)."""
    if isinstance(node, dict):
        out = {k: _as_json_schema(v) for k, v in node.items() if k != "nullable"}
        if node.get("nullable") and "type" in node:
            out["type"] = [node["type"], "null"] if isinstance(node["type"], str) else [*node["type"], "null"]
        return out
    if isinstance(node, list):
        return [_as_json_schema(v) for v in node]
    return node


def test_responses_match_the_documented_schemas(app, client, valid_ids):
    """Every documented GET answers (with good input) what its 200 schema says, and its errors what theirs say."""
    spec = openapi(client)
    components = _as_json_schema(copy.deepcopy(spec.get("components", {})))
    failures = []
    checked = []
    for rule in api_rules(app):
        if rule.endpoint in UNDOCUMENTED or "GET" not in rule.methods or not set(rule.arguments) <= set(valid_ids):
            continue
        operation = spec["paths"][spec_path(rule)]["get"]
        values = {arg: valid_ids[arg] for arg in rule.arguments}
        response = client.get(build(rule, values))
        assert response.status_code == 200, (rule.rule, response.get_json())
        checked.append(rule.rule)
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        try:
            jsonschema.validate(response.get_json(), {**_as_json_schema(schema), "components": components})
        except jsonschema.ValidationError as exc:
            failures.append(f"{rule.rule}: {exc.message} at {list(exc.absolute_path)}")
    assert f"{API}/frameworks/<framework_id>/competencies/<competency_id>" in checked
    error_schema = _as_json_schema(spec["components"]["schemas"]["ErrorOut"])
    for key in ("code", "message"):
        assert key in error_schema["properties"]
    body = client.get(f"{API}/frameworks/nope").get_json()
    jsonschema.validate(body, error_schema)
    assert_all_ok(failures)


def test_api_reference_page_is_served(client):
    response = client.get(f"{API}/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    assert "/frameworks" in text
