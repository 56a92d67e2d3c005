"""The OpenAPI document at /api/v1/openapi.json: OpenAPI 3.1, valid, and
complete. Every API route is documented and every documented operation is a
route; every operation requires the bearer token, documents its errors and
says what it does. A route added without documentation fails here."""

from __future__ import annotations

import copy
import importlib.util
import re
from collections.abc import Iterator

import jsonschema_rs
import pytest
import schemathesis

API_PREFIX = "/api/v1"
OPENAPI_PATH = f"{API_PREFIX}/openapi.json"
DOCS_BLUEPRINT = "api-docs."  # flask-smorest's own routes: the document itself
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
NOT_OPERATIONS = {"HEAD", "OPTIONS"}  # answered by Flask for every route
ERROR_SCHEMA = "#/components/schemas/Error"


@pytest.fixture
def document(client):
    """The document, as anyone may read it (no token)."""
    response = client.get(OPENAPI_PATH)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def operations(document) -> Iterator[tuple[str, str, dict]]:
    for path, item in document["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method.upper(), item[method]


def resolve(document, node: dict) -> dict:
    """``node``, or what its local ``$ref`` points to."""
    while "$ref" in node:
        node = pointer(document, node["$ref"])
    return node


def pointer(document, ref: str):
    assert ref.startswith("#/"), f"not a local reference: {ref}"
    node = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def walk(node, where: str = "#") -> Iterator[tuple[str, dict]]:
    """Every object in the document, with its location."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{where}/{index}")


def schema_objects(document) -> Iterator[tuple[str, dict]]:
    """The JSON Schemas of the document: components, parameters, bodies, responses."""
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        yield f"components/schemas/{name}", schema
    for where, node in walk(document["paths"], "#/paths"):
        if "schema" in node and isinstance(node["schema"], dict):
            yield f"{where}/schema", node["schema"]


def flask_operations(app) -> set[tuple[str, str]]:
    """(path, method) of every API rule, ``<id:client_id>`` written ``{client_id}``."""
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIX + "/") or rule.endpoint.startswith(DOCS_BLUEPRINT):
            continue
        path = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule)
        found.update((path, method) for method in rule.methods - NOT_OPERATIONS)
    return found


# The document itself ------------------------------------------------------------


def test_document_is_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "Billing Bridge"
    assert document["info"]["version"] == "v1"
    assert document["info"]["description"]


def test_document_is_valid(document):
    # The OpenAPI 3.1 meta-schema (schemathesis' own copy) ...
    schemathesis.openapi.from_dict(copy.deepcopy(document)).validate()
    if importlib.util.find_spec("openapi_spec_validator") is not None:
        from openapi_spec_validator import validate

        validate(copy.deepcopy(document))
    # ... which leaves Schema Objects alone: JSON Schema 2020-12 for each.
    for where, schema in schema_objects(document):
        try:
            jsonschema_rs.meta.validate(schema)
        except jsonschema_rs.ValidationError as exc:
            pytest.fail(f"{where} is not a valid JSON Schema: {exc}")
    # Every reference leads somewhere.
    for where, node in walk(document):
        if isinstance(node.get("$ref"), str):
            try:
                pointer(document, node["$ref"])
            except (KeyError, IndexError, TypeError):
                pytest.fail(f"{where}: {node['$ref']} leads nowhere")


def test_path_templates_and_path_parameters_match(document):
    for path, item in document["paths"].items():
        templated = set(re.findall(r"{([^}]+)}", path))
        for method in HTTP_METHODS:
            if method not in item:
                continue
            parameters = [
                resolve(document, p)
                for p in item.get("parameters", []) + item[method].get("parameters", [])
            ]
            declared = {p["name"] for p in parameters if p["in"] == "path"}
            assert declared == templated, (method, path, declared)
            assert all(p["required"] for p in parameters if p["in"] == "path"), (method, path)


# The document and the routes ----------------------------------------------------


def test_every_api_route_is_documented_and_every_operation_is_a_route(app, document):
    assert any(rule.rule == OPENAPI_PATH for rule in app.url_map.iter_rules())
    routes = flask_operations(app)
    documented = {(path, method) for path, method, _ in operations(document)}
    assert routes, "no API route found"
    undocumented = sorted(routes - documented)
    assert not undocumented, f"routes missing from {OPENAPI_PATH}: {undocumented}"
    phantom = sorted(documented - routes)
    assert not phantom, f"documented operations with no route: {phantom}"


# Each operation -----------------------------------------------------------------


SITE_PREFIX = f"{API_PREFIX}/site/"
SITE_SIGNED = [{"siteId": [], "siteTimestamp": [], "siteSignature": []}]
UNAUTHENTICATED = {("POST", f"{API_PREFIX}/site/connect")}
"""The one operation anyone may call: a site's plugin trading its one-time
connect code for credentials (docs/site-api.md)."""


def test_every_operation_requires_the_bearer_token(document):
    """Staff operations take the bearer token; the WordPress plugin's
    (``/site/...``) take the three signature headers instead, but connect."""
    assert document["security"] == [{"bearerAuth": []}]
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for name in SITE_SIGNED[0]:
        scheme = document["components"]["securitySchemes"][name]
        assert (scheme["type"], scheme["in"]) == ("apiKey", "header"), name
    for path, method, operation in operations(document):
        if (method, path) in UNAUTHENTICATED:
            assert operation["security"] == [], (method, path)
        elif path.startswith(SITE_PREFIX):
            assert operation["security"] == SITE_SIGNED, (method, path)
        else:
            # An operation's own ``security`` replaces the global one: none may.
            assert "security" not in operation, (method, path)


def test_every_operation_documents_its_errors(document):
    for path, method, operation in operations(document):
        responses = operation["responses"]
        assert any(code.startswith("2") for code in responses), (method, path)
        # "default" covers every error status (401, 403, 404, 409, 5xx).
        assert "default" in responses, (method, path)
        # Input that can be refused field by field: a 422 with the fields.
        takes_input = "requestBody" in operation or any(
            resolve(document, p)["in"] == "query" for p in operation.get("parameters", [])
        )
        if takes_input:
            assert "422" in responses, (method, path)
        for code, response in responses.items():
            if code == "default" or code[0] in "45":
                content = resolve(document, response)["content"]
                assert list(content) == ["application/json"], (method, path, code)
                schema = content["application/json"]["schema"]
                assert schema == {"$ref": ERROR_SCHEMA}, (method, path, code)


def test_every_operation_says_what_it_does(document):
    for path, method, operation in operations(document):
        text = operation.get("summary") or operation.get("description") or ""
        assert text.strip(), (method, path)


def test_every_operation_answers_401_without_a_token(client, document):
    """What the document declares is what the API does."""
    for path, method, _ in operations(document):
        if (method, path) in UNAUTHENTICATED:
            continue
        url = re.sub(r"{[^}]+}", "1", path)
        response = client.open(url, method=method)
        assert response.status_code == 401, (method, path, response.status_code)
        if path.startswith(SITE_PREFIX):
            assert response.get_json()["error"]["code"] == "bad_signature"
            assert response.headers["WWW-Authenticate"].startswith("Bridge-Signature")
            continue
        assert response.get_json()["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
