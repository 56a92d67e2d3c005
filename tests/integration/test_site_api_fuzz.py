"""The WordPress plugin's operations under schemathesis, signed.

tests/integration/test_schemathesis.py calls every operation with a staff
token, so the signed ones only ever answer 401 there. Here a WSGI middleware
signs each generated request with a real site's secret, exactly as the
plugin does (over the path and query as sent and the body's bytes), so the
generated queries and bodies reach the handlers: no input may cause a 5xx,
and every answer must match the document.
"""

from __future__ import annotations

import io

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bridge.app import create_app
from bridge.auth.signatures import signed_headers

pytestmark = pytest.mark.slow  # schemathesis: generated requests by the dozen per operation

OPENAPI_PATH = "/api/v1/openapi.json"
SITE_PREFIX = "/api/v1/site/"
UNSIGNED = {"/api/v1/site/connect"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


class SigningMiddleware:
    """Signs every request to a signed site operation with ``secret``."""

    def __init__(self, wsgi_app, site_id: str, secret: str):
        self.wsgi_app = wsgi_app
        self.site_id = site_id
        self.secret = secret

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith(SITE_PREFIX) and path not in UNSIGNED:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or path
            headers = signed_headers(
                self.site_id, self.secret, environ["REQUEST_METHOD"], raw, body
            )
            for name, value in headers.items():
                environ["HTTP_" + name.upper().replace("-", "_")] = value
        return self.wsgi_app(environ, start_response)


def load_schema():
    app = create_app(
        {
            "DATABASE_URL": "sqlite://",
            "SECRET_KEY": "openapi-only",
            "CHECK_SCHEMA": False,
            "TESTING": True,
        }
    )
    config = schemathesis.Config.from_dict(
        {
            "generation": {"mode": "all", "deterministic": True, "database": "none"},
            "phases": {
                "examples": {"enabled": False},
                "coverage": {"enabled": True, "unexpected-methods": []},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
        }
    )
    loaded = schemathesis.openapi.from_wsgi(OPENAPI_PATH, app, config=config)
    return loaded.include(path_regex=f"^{SITE_PREFIX}")


schema = load_schema()


def signing_app(app, api):
    """``app`` with a client, a site with some billing, a client user, and
    every request to the site API signed with that site's secret."""
    api.put("/settings/currency", json={"currency": "EUR", "confirm": True})
    client = api.post("/clients", json={"name": "Acme", "email": "acme@x.example"}).get_json()
    site = api.post(
        f"/clients/{client['id']}/sites", json={"name": "Shop", "url": "https://shop.example"}
    ).get_json()
    api.post(f"/clients/{client['id']}/users", json={"email": "jane@acme.example"})
    product = api.post("/products", json={"name": "Hosting", "category": "hosting"}).get_json()
    plan = api.post(
        f"/products/{product['id']}/plans",
        json={"name": "Monthly", "kind": "recurring", "amount": 4900, "interval_unit": "month"},
    ).get_json()
    invoice = api.post(
        "/invoices",
        json={"client_id": client["id"], "site_id": site["id"], "items": [{"plan_id": plan["id"]}]},
    ).get_json()
    api.post(f"/invoices/{invoice['id']}/finalize")
    app.wsgi_app = SigningMiddleware(app.wsgi_app, site["public_id"], site["secret"])
    return app


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)
def test_fuzz_signed_site_api(case, app, api):
    if not isinstance(app.wsgi_app, SigningMiddleware):
        signing_app(app, api)
    case.call_and_validate(app=app, checks=CHECKS)


def test_the_middleware_really_signs(app, api):
    """Without it these answers would be 401: the fuzzing reaches the handlers."""
    signing_app(app, api)
    client = app.test_client()
    assert client.get("/api/v1/site/summary").status_code == 200
    assert client.get("/api/v1/site/access?email=jane%40acme.example").get_json()["client_user"]
    response = client.post("/api/v1/site/seo-scans", json={"pages": []})
    assert response.status_code == 422
    assert "scanned_at" in response.get_json()["error"]["fields"]
