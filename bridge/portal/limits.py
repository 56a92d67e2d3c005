"""Limits on the hosted page's payment endpoints. Each call of
``setup-intent`` or ``pay`` asks Stripe for something (a SetupIntent, a
charge): unlimited, a card tester could try cards through one invoice's page
and spend the Stripe request rate that renewals share. Flask-Limiter counts
calls per invoice token and per client address; over a limit the answer is
a 429 ``rate_limited`` in the API's error shape with ``Retry-After``.

Counters live in memory by default: one process's own counts. Several
workers share counts through ``BRIDGE_RATELIMIT_STORAGE_URL`` (e.g.
``redis://host:6379/0``, any storage URL the ``limits`` package reads).
"""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import current_user

# One per process, bound to the app by ``init_app`` (its storage is the last
# bound app's: a process serves one app; tests make a fresh one per app).
limiter = Limiter(key_func=get_remote_address)


def _token() -> str:
    return "token:" + str((request.view_args or {}).get("token", ""))


def per_token() -> str:
    return current_app.config["HOSTED_PAGE_LIMIT_PER_TOKEN"]


def per_address() -> str:
    return current_app.config["HOSTED_PAGE_LIMIT_PER_ADDRESS"]


def payment_limits(view):
    """The limits of an endpoint that reaches Stripe, per token and per
    address: one count shared by every endpoint so decorated."""
    view = limiter.shared_limit(per_token, "hosted-payment-token", key_func=_token)(view)
    return limiter.shared_limit(per_address, "hosted-payment-address", key_func=get_remote_address)(
        view
    )


def _client() -> str:
    return f"client:{getattr(current_user, 'client_id', None)}"


def per_client() -> str:
    return current_app.config["PORTAL_CARD_LIMIT_PER_CLIENT"]


def card_setup_limits(view):
    """The portal's *Replace card* asks Stripe for a SetupIntent: limited
    per client (their people share one count) and per address."""
    view = limiter.limit(per_client, key_func=_client, scope="portal-card-client")(view)
    return limiter.shared_limit(per_address, "hosted-payment-address", key_func=get_remote_address)(
        view
    )


def init_app(app: Flask) -> None:
    """Bind the limiter: ``RATELIMIT_STORAGE_URL`` (env
    ``BRIDGE_RATELIMIT_STORAGE_URL``, default ``memory://``), limits
    ``HOSTED_PAGE_LIMIT_PER_TOKEN`` and ``HOSTED_PAGE_LIMIT_PER_ADDRESS``
    (Flask-Limiter's notation; the defaults are in ``bridge.config``: per
    invoice, enough for a client retrying a declined card and 3-D Secure;
    per address, a few invoices paid from one office)."""
    app.config["RATELIMIT_STORAGE_URI"] = app.config.get("RATELIMIT_STORAGE_URL") or "memory://"
    # Retry-After (and the X-RateLimit-* counts) on the limited answers.
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)
