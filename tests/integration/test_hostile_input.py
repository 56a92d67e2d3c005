"""What an attacker or a careless client sends: absurd numbers, totals no
database column holds, and the shape and headers of every answer to them.
Each refusal is a stable JSON error, never a 500, and changes nothing."""

from __future__ import annotations

import json

import pytest

from bridge.auth.signatures import signed_headers
from bridge.core.money import MAX_AMOUNT
from tests import shop as shops
from tests.conftest import snapshot

HUGE = "9" * 5000  # beyond Python's 4,300-digit limit of int(str)


@pytest.fixture
def shop(api_eur):
    api = api_eur
    plans = shops.api_product(api, "Hosting", {"monthly": shops.MONTHLY, "setup": shops.SETUP})
    client = shops.api_client(api)
    site = shops.api_site(api, client["id"], "Shop", "https://shop.example")
    return {**plans, "client": client, "site": site}


def raw(api, method: str, path: str, body: str, **headers):
    """A request whose JSON body is written by hand."""
    return api.client.open(
        "/api/v1" + path,
        method=method,
        data=body,
        headers={"Authorization": f"Bearer {api.token}", **headers},
        content_type="application/json",
    )


def signed(client, site: dict, method: str, path: str, body: bytes):
    full = "/api/v1/site" + path
    headers = signed_headers(site["public_id"], site["secret"], method, full, body)
    return client.open(
        full, method=method, data=body, headers=headers, content_type="application/json"
    )


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    error = response.get_json()["error"]
    assert error["code"] == code, error
    assert_fields_shape(error)
    return error


def assert_fields_shape(error: dict) -> None:
    """``fields`` maps each field name to a non-empty list of messages."""
    fields = error["fields"]
    assert isinstance(fields, dict), error
    for name, messages in fields.items():
        assert isinstance(name, str) and name, error
        assert isinstance(messages, list) and messages, error
        assert all(isinstance(m, str) and m for m in messages), error


# A 5,000-digit integer ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("POST", "/clients", '{"name": "A", "email": "a@x.example", "role_id": N}'),
        ("POST", "/invoices", '{"client_id": N, "items": []}'),
        ("PATCH", "/settings/schedule", '{"renewal_reminder_days": N}'),
        ("POST", "/products", '{"name": "P", "position": N}'),
        ("POST", "/tax-rates", '{"name": "VAT", "percentage": N}'),
    ],
)
def test_a_5000_digit_integer_is_invalid_json_on_the_staff_api(api_eur, db, method, path, template):
    before = snapshot(db)
    response = raw(api_eur, method, path, template.replace("N", HUGE))
    error = assert_error(response, 400, "invalid_json")
    assert "Traceback" not in error["message"]
    assert snapshot(db) == before


def test_a_5000_digit_integer_is_invalid_json_on_the_site_api(api_eur, shop, client, db):
    body = '{"scanned_at": "2026-01-01T00:00:00Z", "pages": [], "site": {"x": N}}'.replace(
        "N", HUGE
    )
    before = snapshot(db)
    response = signed(client, shop["site"], "POST", "/seo-scans", body.encode())
    assert_error(response, 400, "invalid_json")
    response = client.post(
        "/api/v1/site/connect",
        data='{"code": N}'.replace("N", HUGE),
        content_type="application/json",
    )
    assert_error(response, 400, "invalid_json")
    assert snapshot(db) == before


def test_a_huge_integer_on_the_hosted_page_is_refused_with_a_stable_code(api_eur, shop, client):
    invoice = api_eur.post(
        "/invoices",
        json={"client_id": shop["client"]["id"], "items": [{"plan_id": shop["setup"]["id"]}]},
    ).get_json()
    sent = api_eur.post(f"/invoices/{invoice['id']}/finalize").get_json()
    token = sent["hosted_url"].rsplit("/", 1)[1]
    for endpoint in ("setup-intent", "pay", "confirm", "authenticate"):
        response = client.post(
            f"/i/{token}/{endpoint}",
            data='{"setup_intent_id": N}'.replace("N", HUGE),
            content_type="application/json",
        )
        # The hosted page takes at most 4 KiB: refused before it is parsed.
        assert_error(response, 413, "payload_too_large")
        # Under the size limit, a long number is a field error.
        response = client.post(
            f"/i/{token}/{endpoint}",
            data='{"x": N}'.replace("N", "9" * 4000),
            content_type="application/json",
        )
        assert response.status_code in (409, 422), response.get_json()
        assert_fields_shape(response.get_json()["error"])


def test_a_5000_digit_integer_in_a_signed_webhook_is_refused_as_a_bad_payload(app, client, db):
    from tests.payments.conftest import store_keys
    from tests.payments.test_webhooks import deliver

    store_keys(db, app.extensions["bridge.secret_box"], secret_key=None)
    body = '{"id": "evt_1", "type": "invoice.paid", "created": N, "data": {}}'
    before = snapshot(db)
    response = deliver(client, body.replace("N", HUGE).encode())
    assert_error(response, 400, "invalid_payload")
    assert snapshot(db) == before


# Totals no column holds -------------------------------------------------------------------


@pytest.fixture
def dear(api_eur, shop):
    """A plan at the largest amount, and four 100 % taxes added on top."""
    plan = shops.api_product(api_eur, "Dear", {"max": shops.one_time("Max", MAX_AMOUNT)})["max"]
    taxes = [shops.api_vat(api_eur, "100", name=f"Tax {n}")["id"] for n in range(4)]
    return {"plan": plan, "taxes": taxes}


def test_an_invoice_total_above_the_maximum_is_refused_before_any_insert(api_eur, shop, dear, db):
    """300 lines of 10,000 x 999,999,999,999 with 500 % tax: 1.5 x 10^19,
    beyond a 64-bit integer (a 500 from the database before)."""
    before = snapshot(db)
    body = {
        "client_id": shop["client"]["id"],
        "items": [{"plan_id": dear["plan"]["id"], "quantity": 10_000}] * 300,
        "tax_rate_ids": dear["taxes"],
    }
    error = assert_error(api_eur.post("/invoices", json=body), 422, "amount_too_large")
    assert "items" in error["fields"]
    # Just above the maximum is refused too: the ceiling is MAX_AMOUNT.
    body = {"client_id": shop["client"]["id"], "items": [{"plan_id": dear["plan"]["id"]}] * 2}
    assert_error(api_eur.post("/invoices", json=body), 422, "amount_too_large")
    assert snapshot(db) == before
    # The maximum itself is accepted.
    body = {"client_id": shop["client"]["id"], "items": [{"plan_id": dear["plan"]["id"]}]}
    response = api_eur.post("/invoices", json=body)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["total"] == MAX_AMOUNT


def test_a_draft_edit_above_the_maximum_is_refused_and_keeps_the_draft(api_eur, shop, dear, db):
    body = {"client_id": shop["client"]["id"], "items": [{"plan_id": shop["setup"]["id"]}]}
    invoice = api_eur.post("/invoices", json=body).get_json()
    before = snapshot(db)
    edit = {"items": [{"plan_id": dear["plan"]["id"], "quantity": 10_000}] * 300}
    assert_error(api_eur.patch(f"/invoices/{invoice['id']}", json=edit), 422, "amount_too_large")
    # Taxes alone can push a draft over.
    edit = {"items": [{"plan_id": dear["plan"]["id"]}], "tax_rate_ids": dear["taxes"][:1]}
    assert_error(api_eur.patch(f"/invoices/{invoice['id']}", json=edit), 422, "amount_too_large")
    assert snapshot(db) == before
    assert api_eur.get(f"/invoices/{invoice['id']}").get_json()["total"] == 15000


def test_plan_amounts_above_the_maximum_are_refused(api_eur, shop, db):
    product = api_eur.post("/products", json={"name": "X"}).get_json()
    before = snapshot(db)
    for amount in (MAX_AMOUNT + 1, 2**63):
        body = {"name": "Too dear", "kind": "one_time", "amount": amount}
        response = api_eur.post(f"/products/{product['id']}/plans", json=body)
        assert_error(response, 422, "validation_error")
        response = api_eur.patch(f"/plans/{shop['setup']['id']}", json={"amount": amount})
        assert response.status_code == 422, response.get_json()
    assert snapshot(db) == before


# The one shape of errors -------------------------------------------------------------------


def test_the_openapi_error_schema_says_fields_are_lists_of_messages(client):
    document = client.get("/api/v1/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    body = schemas["Error"]["properties"]["error"]
    while "$ref" in body:
        body = schemas[body["$ref"].rsplit("/", 1)[1]]
    fields = body["properties"]["fields"]
    assert fields["type"] == "object"
    assert fields["additionalProperties"] == {"type": "array", "items": {"type": "string"}}


def test_nested_problems_are_flattened_to_dotted_fields():
    from bridge.api.errors import field_messages

    assert field_messages(
        {
            "timezone": "An IANA time zone name.",
            "items": {0: {"quantity": ["Too small."]}, 2: {"plan_id": ["Unknown."]}},
            "custom_fields": {"po": ["Required."], "\ud800": {"key": ["Bad."]}},
            "_schema": ["Invalid input type."],
        }
    ) == {
        "timezone": ["An IANA time zone name."],
        "items.0.quantity": ["Too small."],
        "items.2.plan_id": ["Unknown."],
        "custom_fields.po": ["Required."],
        "custom_fields.\ufffd.key": ["Bad."],  # an echoed lone surrogate is not JSON
        "_schema": ["Invalid input type."],
    }


def known_errors(api, shop) -> list[tuple[str, str, object]]:
    """Requests that fail in each way the API knows: webargs' field errors
    (flat and nested), the domain's, the schedule's, custom fields'."""
    setup = shop["setup"]["id"]
    client_id = shop["client"]["id"]
    return [
        ("PATCH", "/settings/schedule", {"timezone": "Mars/Olympus", "dunning_retry_days": [5, 3]}),
        ("PATCH", "/settings/schedule", {"renewal_reminder_days": -1}),
        ("PATCH", "/settings/schedule", {"dunning_retry_days": "1,3"}),
        ("PATCH", "/settings", {"invoice_number_format": "INV-{year"}),
        ("PATCH", "/settings", {"nope": 1}),
        ("POST", "/clients", {"name": "", "email": "not-an-email"}),
        ("POST", "/clients", {"name": "B", "email": "b@x.example", "custom_fields": {"zz": 1}}),
        ("POST", "/clients", {"name": "B", "email": "b@x.example", "country": "France"}),
        ("POST", "/clients", ["not", "an", "object"]),
        (
            "POST",
            "/invoices",
            {"client_id": client_id, "items": [{"plan_id": setup, "quantity": 0}]},
        ),
        ("POST", "/invoices", {"client_id": client_id, "items": [{"plan_id": 999_999}]}),
        ("POST", "/invoices", {"client_id": client_id, "items": [{"plan_id": "x"}]}),
        ("POST", "/products", {"name": ""}),
        ("POST", "/tax-rates", {"name": "T", "percentage": "120"}),
        ("POST", "/roles", {"name": "R", "permissions": {"nope": "x"}}),
        ("POST", "/custom-fields", {"entity": "client", "label": "", "field_type": "choice"}),
        ("PUT", "/email-templates/invoice_sent", {"subject": "[[nope]]", "body_html": "x"}),
        ("GET", "/clients?sort=nope", None),
        ("GET", "/clients?page=0", None),
        ("GET", "/nowhere", None),
        ("DELETE", "/settings/schedule", None),
    ]


def test_every_known_error_maps_fields_to_lists_of_messages(api_eur, shop):
    refused = 0
    for method, path, body in known_errors(api_eur, shop):
        response = api_eur.request(method, path, json=body)
        assert response.status_code >= 400, (method, path, response.get_json())
        assert response.status_code != 500, (method, path, response.get_json())
        error = response.get_json()["error"]
        assert_fields_shape(error)
        refused += bool(error["fields"])
    assert refused >= 15


# Headers ---------------------------------------------------------------------------------


def test_every_api_answer_is_nosniff(api_eur, shop, client):
    for response in (
        api_eur.get("/clients"),
        api_eur.get("/nowhere"),
        api_eur.post("/clients", json={}),
        client.get("/api/v1/clients"),
        client.get("/api/v1/openapi.json"),
        client.get("/api/v1/site/summary"),
        client.post("/webhooks/stripe", data=b"{}"),
    ):
        assert response.headers.get("X-Content-Type-Options") == "nosniff", response.request.path


def test_answers_carrying_a_secret_are_never_stored(api_eur, shop, client):
    client_id, site_id = shop["client"]["id"], shop["site"]["id"]
    created = api_eur.post(
        f"/clients/{client_id}/sites", json={"name": "Blog", "url": "https://blog.example"}
    )
    rotated = api_eur.post(f"/clients/{client_id}/sites/{site_id}/rotate-secret")
    code = api_eur.post(f"/clients/{client_id}/sites/{site_id}/connect-codes")
    connected = client.post("/api/v1/site/connect", json={"code": code.get_json()["code"]})
    for response, status in ((created, 201), (rotated, 200), (code, 201), (connected, 200)):
        assert response.status_code == status, response.get_json()
        assert response.headers.get("Cache-Control") == "no-store", response.request.path
    assert "no-store" not in api_eur.get("/clients").headers.get("Cache-Control", "")
    assert json.loads(connected.get_data())["secret"]


# Countries ---------------------------------------------------------------------------------


@pytest.mark.parametrize("country", ["ZZ", "EU", "UN", "XX", "QQ", "AA", "UK", "France", "F1"])
def test_a_country_is_an_assigned_iso_3166_alpha_2_code(api_eur, shop, db, country):
    before = snapshot(db)
    body = {"name": "B", "email": "b@x.example", "country": country}
    error = assert_error(api_eur.post("/clients", json=body), 422, "validation_error")
    assert "country" in error["fields"]
    response = api_eur.patch(f"/clients/{shop['client']['id']}", json={"country": country})
    assert "country" in assert_error(response, 422, "validation_error")["fields"]
    response = api_eur.patch("/settings", json={"country": country})
    assert "country" in assert_error(response, 422, "validation_error")["fields"]
    assert snapshot(db) == before


def test_countries_are_stored_upper_case_and_may_be_cleared(api_eur, shop):
    created = api_eur.post("/clients", json={"name": "B", "email": "b@x.example", "country": "gb"})
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["country"] == "GB"
    response = api_eur.patch(f"/clients/{shop['client']['id']}", json={"country": "de"})
    assert response.get_json()["country"] == "DE"
    assert api_eur.patch("/settings", json={"country": "bq"}).get_json()["country"] == "BQ"
    assert api_eur.patch("/settings", json={"country": ""}).get_json()["country"] == ""
