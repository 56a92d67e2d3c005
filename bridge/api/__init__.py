"""REST API v1: JSON only, staff API tokens, an OpenAPI 3.1 document at
``/api/v1/openapi.json`` generated from the same schemas that validate input."""

from __future__ import annotations

import threading

from flask import Flask
from flask_smorest import Api
from werkzeug.routing import IntegerConverter

from bridge.api import (
    catalog,
    clients,
    coupons,
    custom_fields,
    email_templates,
    errors,
    idempotency,
    imports,
    invoices,
    metrics,
    reconciliation,
    roles,
    schedule,
    settings,
    site,
    subscriptions,
)
from bridge.api.common import api_headers
from bridge.api.fields import INT32_MAX

BLUEPRINTS = (
    settings.blp,
    schedule.blp,
    clients.blp,
    roles.blp,
    custom_fields.blp,
    catalog.blp,
    coupons.blp,
    invoices.blp,
    subscriptions.blp,
    metrics.blp,
    email_templates.blp,
    imports.blp,
    reconciliation.blp,
    site.staff_blp,
    site.blp,
)


class IdConverter(IntegerConverter):
    """Object ids in paths: 1 to 2^31-1, so an absurd id is a 404 rather than
    an integer overflow in the database."""

    def __init__(self, url_map, *args, **kwargs):
        super().__init__(url_map, min=1, max=INT32_MAX)


def _document_idempotency(spec) -> None:
    """The ``Idempotency-Key`` header on every POST that takes one (all but
    the unsigned ``/site/connect``)."""
    if "IdempotencyKey" not in spec.components.parameters:
        spec.components.parameter("IdempotencyKey", "header", idempotency.OPENAPI_PARAMETER)
    reference = {"$ref": "#/components/parameters/IdempotencyKey"}
    for operations in spec._paths.values():
        operation = operations.get("post")
        if operation is None or operation.get("security") == []:
            continue
        parameters = operation.setdefault("parameters", [])
        if reference not in parameters:
            parameters.append(reference)


class BridgeApi(Api):
    """flask-smorest's Api, except that a blueprint enters the OpenAPI
    document when the document is first read, not when the app is created:
    writing it is most of what ``create_app`` costs, a worker answers
    requests long before anyone reads the document, and the tests create an
    app per test."""

    ERROR_SCHEMA = errors.ErrorSchema

    def __init__(self, *args, **kwargs):
        self._undocumented: list[tuple] = []
        self._documenting = threading.RLock()
        self._writing = False
        super().__init__(*args, **kwargs)

    @property
    def spec(self):
        """The OpenAPI document (an ``APISpec``), complete."""
        if self._undocumented:
            self._document_blueprints()
        return self._spec

    def _document_blueprints(self) -> None:
        with self._documenting:
            if self._writing:
                # flask-smorest reads ``spec`` while writing a blueprint's
                # part: it gets the document as it stands.
                return
            self._writing = True
            try:
                while self._undocumented:
                    blp, name, parameters = self._undocumented.pop(0)
                    blp.register_views_in_doc(
                        self, self._app, self._spec, name=name, parameters=parameters
                    )
                    self._spec.tag({"name": name, "description": blp.description})
                _document_idempotency(self._spec)
            finally:
                self._writing = False

    @spec.setter
    def spec(self, value) -> None:
        self._spec = value

    def register_blueprint(self, blp, *, parameters=None, **options):
        """Flask-smorest's ``register_blueprint`` (0.45 to 0.47), its
        documentation deferred to the first read of ``spec``."""
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        self._undocumented.append((blp, name, parameters))

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
        (
            "siteTimestamp",
            "X-Bridge-Timestamp",
            "Unix time in seconds: at most 300 s behind, 30 s ahead",
        ),
        (
            "siteSignature",
            "X-Bridge-Signature",
            "Hex HMAC-SHA256 with the site secret; send a fresh X-Bridge-Nonce with it "
            "(signed too): a signed write is applied once (docs/site-api.md)",
        ),
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
    # Stores the answer of a POST sent with an Idempotency-Key (the key was
    # taken by the blueprints' authentication, bridge.api.auth / site).
    app.after_request(idempotency.finish)
    app.after_request(api_headers)
    return api
