"""The client portal: for now the hosted invoice page at ``/i/<token>``,
where a client sees an invoice and pays it without logging in (the token in
the URL is the credential), by card through Stripe.js or by following the
agency's offline payment instructions."""

from __future__ import annotations

from flask import Flask

DEFAULT_STRIPE_JS_URL = "https://js.stripe.com/v3/"


def init_app(app: Flask) -> None:
    """Register the portal's blueprint. ``STRIPE_JS_URL`` (env
    ``BRIDGE_STRIPE_JS_URL``) is where the page loads Stripe.js from; tests
    point it at localstripe's stand-in."""
    from bridge.portal import invitations, limits  # noqa: F401  (its routes)
    from bridge.portal.views import bp

    app.config.setdefault("STRIPE_JS_URL", DEFAULT_STRIPE_JS_URL)
    app.register_blueprint(bp)
    limits.init_app(app)
