"""The client portal, two parts:

- the hosted invoice page at ``/i/<token>`` (``views``), where a client sees
  an invoice and pays it without logging in (the token in the URL is the
  credential), by card through Stripe.js or by following the agency's
  offline payment instructions; and the invitation page (``invitations``);
- the portal behind a login at ``/portal/`` (``area`` and a module per
  screen), where a client's people manage their invoices, subscriptions,
  card and sites as their role allows.
"""

from __future__ import annotations

from flask import Flask

DEFAULT_STRIPE_JS_URL = "https://js.stripe.com/v3/"


def init_app(app: Flask) -> None:
    """Register the portal's blueprint. ``STRIPE_JS_URL`` (env
    ``BRIDGE_STRIPE_JS_URL``) is where the page loads Stripe.js from; tests
    point it at localstripe's stand-in."""
    from bridge.portal import (  # noqa: F401  (their routes)
        activity,
        area,
        home,
        invitations,
        invoices,
        limits,
        login,
        payment_method,
        sites,
        subscriptions,
    )
    from bridge.portal.views import bp

    app.config.setdefault("STRIPE_JS_URL", DEFAULT_STRIPE_JS_URL)
    app.register_blueprint(bp)
    app.register_blueprint(area.bp)
    limits.init_app(app)
