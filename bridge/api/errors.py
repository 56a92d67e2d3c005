"""Every error answer of the API is built here, in one shape:

    {"error": {"code": "not_found", "message": "No such client.", "fields": {}}}

``code`` is stable (clients branch on it), ``message`` is for people,
``fields`` maps each input field to a list of messages: nested problems
(webargs' per-item errors, custom field values) are flattened to dotted
names such as ``items.0.quantity``, a lone message becomes a one-item list.
"""

from __future__ import annotations

import logging
import re

from flask import Response, jsonify, render_template, request
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException

from bridge.auth.policy import PermissionDenied
from bridge.core.errors import Conflict, DomainError, Invalid, NotFound, Unavailable
from bridge.core.l10n import LANGUAGES, Localiser
from bridge.core.outages import RETRY_AFTER_SECONDS, is_database_unavailable

log = logging.getLogger(__name__)

_SURROGATE = re.compile(r"[\ud800-\udfff]")

STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"description": "Stable machine code"})
    message = fields.String(required=True, metadata={"description": "Human message"})
    fields = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={
            "description": "Messages per input field; nested fields are dotted (items.0.quantity)"
        },
    )


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


def field_messages(problems, prefix: str = "") -> dict[str, list[str]]:
    """``problems`` in the one shape of ``fields``: each field name (dotted
    when nested) maps to a list of message strings."""
    result: dict[str, list[str]] = {}
    if isinstance(problems, dict):
        for key, value in problems.items():
            # A key echoes the client's input: a lone surrogate in it would
            # make the answer invalid JSON (RFC 8259), so it becomes U+FFFD.
            key = _SURROGATE.sub("\ufffd", str(key))
            name = f"{prefix}.{key}" if prefix else key
            for field, messages in field_messages(value, name).items():
                result.setdefault(field, []).extend(messages)
        return result
    if isinstance(problems, list | tuple):
        for item in problems:
            for field, messages in field_messages(item, prefix).items():
                result.setdefault(field, []).extend(messages)
        return result
    result[prefix or "_schema"] = [str(problems)]
    return result


def error_response(status: int, code: str, message: str, field_errors: dict | None = None):
    body = {"code": code, "message": message, "fields": field_messages(field_errors or {})}
    response = jsonify({"error": body})
    response.status_code = status
    return response


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/webhooks/", "/healthz"))


def handle_http_exception(error: HTTPException):
    """Werkzeug/flask-smorest HTTP errors (404 route, 405, 413, webargs 400/422)."""
    if not wants_json():
        return error
    return http_error_response(error)


def http_error_response(error: HTTPException):
    """The JSON answer to an HTTP error, whatever the path: webargs' field
    errors become ``fields``, an unreadable body ``invalid_json``."""
    status = error.code or 500
    code = STATUS_CODES.get(status, "error")
    message = error.description or error.name
    field_errors: dict = {}
    data = getattr(error, "data", None) or {}
    messages = data.get("messages")
    if isinstance(messages, dict):
        if status == 400 and messages.get("json") == ["Invalid JSON body."]:
            code, message = "invalid_json", "The request body is not valid JSON."
        else:
            # webargs groups errors by location (json, query): merge them.
            for location_errors in messages.values():
                if isinstance(location_errors, dict):
                    field_errors.update(location_errors)
                else:
                    field_errors.setdefault("_schema", []).extend(location_errors)
            message = "The request has invalid fields."
            if "_schema" in field_errors and len(field_errors) == 1:
                message = "The request body must be a JSON object."
    if status == 401:
        message = "Authentication required: send 'Authorization: Bearer <API token>'."
    response = error_response(status, code, message, field_errors)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="billing-bridge"'
    if status == 405 and hasattr(error, "valid_methods") and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def handle_domain_error(error: DomainError):
    status = 422
    if isinstance(error, NotFound):
        status = 404
    elif isinstance(error, Conflict):
        status = 409
    elif isinstance(error, Unavailable):
        status = 503
    elif isinstance(error, Invalid):
        status = 422
    return error_response(status, error.code, error.message, error.fields)


def handle_permission_denied(error: PermissionDenied):
    return error_response(403, "forbidden", error.message)


def handle_recursion_error(error: RecursionError):
    """``json.loads`` gives up on a body nested a few thousand levels deep with
    a RecursionError, not the ValueError webargs answers with a 400: answer
    that 400 too. Any other RecursionError is a bug of ours (500)."""
    if wants_json():
        return json_error(error)
    return handle_unexpected(error)


def handle_unexpected(error: Exception):
    if isinstance(error, HTTPException):
        # A blueprint's own handler that re-raised an outage reaches here as
        # the 500 wrapping it: a page still answers 503.
        original = getattr(error, "original_exception", None)
        if not wants_json() and is_database_unavailable(original):
            return unavailable_page(original)
        return handle_http_exception(error)
    if not wants_json():
        if is_database_unavailable(error):
            return unavailable_page(error)
        log.exception("unhandled error on %s %s", request.method, request.path)
        raise error
    return json_error(error)


def json_error(error: Exception):
    """The JSON error answer to any exception, whatever the path: the API's
    handlers and the hosted page's JSON endpoints both answer with it."""
    if isinstance(error, HTTPException):
        return http_error_response(error)
    if isinstance(error, DomainError):
        return handle_domain_error(error)
    if isinstance(error, PermissionDenied):
        return handle_permission_denied(error)
    if isinstance(error, RecursionError) and "while decoding a JSON" in str(error):
        return error_response(
            400, "invalid_json", "The request body is not valid JSON: it is nested too deeply."
        )
    if is_database_unavailable(error):
        return database_unavailable(error)
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, "internal_error", "Something went wrong on our side.")


def database_unavailable(error: BaseException | None = None):
    """503 ``database_unavailable`` with ``Retry-After``: the database could
    not be reached (or stopped answering) during the request, which changed
    nothing that was not committed. One log line, no traceback: the cause is
    outside the request."""
    log.warning(
        "database unavailable on %s %s: %s",
        request.method,
        request.path,
        first_line(getattr(error, "orig", None) or error),
    )
    response = error_response(
        503,
        "database_unavailable",
        "The database cannot be reached right now. Please try again shortly.",
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def unavailable_page(error: BaseException | None = None):
    """The HTML answer of every page (hosted invoice, its PDF, any page to
    come) while the database cannot be reached: a plain 503 with
    ``Retry-After``, in the language the browser asks for (the business's
    own language is in the database), never a 500. Nothing about the
    business or the request is shown: the page must be right for any of
    them."""
    log.warning(
        "database unavailable on %s %s: %s",
        request.method,
        request.path,
        first_line(getattr(error, "orig", None) or error),
    )
    language = request.accept_languages.best_match(LANGUAGES, default="en")
    page = render_template("unavailable.html", **Localiser(language).template_context())
    response = Response(page, status=503, mimetype="text/html")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Language"] = language
    return response


def first_line(error: BaseException | None) -> str:
    text = str(error).strip() if error is not None else ""
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"


def init_app(app) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(PermissionDenied, handle_permission_denied)
    app.register_error_handler(RecursionError, handle_recursion_error)
    app.register_error_handler(Exception, handle_unexpected)
