"""The hosted invoice page is reached without logging in: the token in the
URL is the credential. What protects it is here: the response headers (the
token must not leak through a Referer, a cache or a frame), a Content
Security Policy that lets scripts come only from us and Stripe.js, and the
checks on the POST endpoints (JSON only, same origin, small bodies)."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import Response, current_app, g, request
from marshmallow import Schema
from werkzeug.exceptions import Forbidden, RequestEntityTooLarge, UnsupportedMediaType

from bridge.api.parsing import PARSER

# The real Stripe.js talks to these besides its own origin (Stripe's CSP
# guide): its API, and frames for 3-D Secure.
REAL_STRIPE_JS_ORIGIN = "https://js.stripe.com"
REAL_STRIPE_EXTRA = {
    "script-src": ("https://*.js.stripe.com",),
    "frame-src": ("https://*.js.stripe.com", "https://hooks.stripe.com"),
    "connect-src": ("https://api.stripe.com",),
}

MAX_JSON_BYTES = 4096
NONE = "'none'"


def csp_nonce() -> str:
    """A fresh nonce per response, for the page's one inline ``<style>``
    (the brand colour)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def stripe_js_origin() -> str | None:
    """The scheme://host[:port] that Stripe.js is loaded from (a setting)."""
    url = current_app.config.get("STRIPE_JS_URL") or ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(with_stripe: bool) -> str:
    """Only our own origin, plus Stripe.js's when the page takes cards."""
    sources = {
        "script-src": ["'self'"],
        "frame-src": [],
        "connect-src": ["'self'"],
    }
    origin = stripe_js_origin() if with_stripe else None
    if origin:
        for directive in sources:
            sources[directive].append(origin)
        if origin == REAL_STRIPE_JS_ORIGIN:
            for directive, extra in REAL_STRIPE_EXTRA.items():
                sources[directive].extend(extra)
    style = ["'self'"]
    if "csp_nonce" in g:
        style.append(f"'nonce-{g.csp_nonce}'")
    directives = [
        "default-src 'none'",
        f"script-src {' '.join(sources['script-src'])}",
        f"style-src {' '.join(style)}",
        "img-src 'self'",
        f"connect-src {' '.join(sources['connect-src'])}",
        f"frame-src {' '.join(sources['frame-src']) or NONE}",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


def protect(response, *, with_stripe: bool = False, cache: bool = False):
    """Headers for every response of the portal (``cache``: static assets)."""
    response.headers["Content-Security-Policy"] = content_security_policy(with_stripe)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if not cache:
        response.headers["Cache-Control"] = "no-store"
    return response


def image_response(data: bytes, content_type: str):
    """An uploaded image (the logo) for an ``<img>``. An SVG gets a sandbox
    policy of its own, so opened directly it cannot run anything."""
    response = protect(Response(data, mimetype=content_type))
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    )
    return response


def same_origin() -> bool:
    """Whether the request's Origin, when the browser sent one, is this
    host. Compared on host and port only: behind a TLS-terminating proxy
    the app may see http while the browser says https."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == request.host.lower()


def json_body(schema: Schema) -> dict:
    """The JSON object of a POST, loaded by ``schema`` with the API's own
    request parser (unknown keys refused). Before parsing, refused unless it
    comes from our origin (403), as JSON (415: a form post cannot be forged
    across sites as JSON) and small (413). Every refusal is an HTTP error that
    ``bridge.api.errors`` answers as the API does: 400 ``invalid_json``,
    422 ``validation_error`` with the fields."""
    if not same_origin():
        raise Forbidden("Cross-origin requests are not accepted.")
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("Send the request body as application/json.")
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise RequestEntityTooLarge("The request body is too large.")
    # A chunked body has no Content-Length: measure what came.
    if len(request.get_data(cache=True)) > MAX_JSON_BYTES:
        raise RequestEntityTooLarge("The request body is too large.")
    return PARSER.parse(schema, request, location="json")
