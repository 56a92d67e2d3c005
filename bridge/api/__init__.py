"""REST API v1: JSON only, staff API tokens, an OpenAPI 3.1 document at
``/api/v1/openapi.json`` generated from the same schemas that validate input."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api
from werkzeug.routing import IntegerConverter

from bridge.api import (
    catalog,
    clients,
    custom_fields,
    email_templates,
    errors,
    invoices,
    roles,
    schedule,
    settings,
    site,
    subscriptions,
)
from bridge.api.fields import INT32_MAX

BLUEPRINTS = (
    settings.blp,
    schedule.blp,
    clients.blp,
    roles.blp,
    custom_fields.blp,
    catalog.blp,
    invoices.blp,
    subscriptions.blp,
    email_templates.blp,
    site.staff_blp,
    site.blp,
)


class IdConverter(IntegerConverter):
    """Object ids in paths: 1 to 2^31-1, so an absurd id is a 404 rather than
    an integer overflow in the database."""

    def __init__(self, url_map, *args, **kwargs):
        super().__init__(url_map, min=1, max=INT32_MAX)


class BridgeApi(Api):
    ERROR_SCHEMA = errors.ErrorSchema

    def handle_http_exception(self, error):
        return errors.handle_http_exception(error)


def init_app(app: Flask) -> Api:
    app.url_map.converters["id"] = IdConverter
    app.config.update(
        API_TITLE="Billing Bridge",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
    )
    api = BridgeApi(
        app,
        spec_kwargs={
            "info": {
                "description": "Billing for web agencies: clients, catalog, roles and more. "
                "Authenticate with 'Authorization: Bearer <API token>' "
                "(create one with `bridge create-token`). Amounts are integers in the "
                "currency's minor unit."
            },
            "security": [{"bearerAuth": []}],
        },
    )
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "A staff API token"}
    )
    # The WordPress plugin's operations (/site/...) are signed instead: all
    # three headers together (docs/site-api.md).
    for name, header, description in (
        ("siteId", "X-Bridge-Site", "The site id (its public_id)"),
        ("siteTimestamp", "X-Bridge-Timestamp", "Unix time in seconds, within 300 s"),
        ("siteSignature", "X-Bridge-Signature", "Hex HMAC-SHA256 with the site secret"),
    ):
        api.spec.components.security_scheme(
            name, {"type": "apiKey", "in": "header", "name": header, "description": description}
        )
    api.register_converter(
        IdConverter, lambda _c: {"type": "integer", "minimum": 1, "maximum": INT32_MAX}
    )
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    errors.init_app(app)
    return api
