"""The Hub: the agency's back office in the browser, served at ``/``.

Server-rendered pages (``templates/hub/``) over the same domain functions as
the REST API, for staff logged in with a session (Flask-Login); htmx, vendored
under ``static/vendor`` with its licence, for the parts that update in place.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the Hub (after the portal, whose rate limiter it shares)."""
    # Each screen's routes, on views.bp.
    from bridge.hub import (  # noqa: F401
        account,
        bill,
        client_page,
        coupons,
        getting_started,
        imports,
        invoices,
        plan_change,
        products,
        roles,
        setup,
        setup_billing,
        setup_email,
        setup_legal,
        setup_more,
        setup_overdue,
        setup_portal,
        setup_scheduler,
        team,
        views,
    )

    views.init_app(app)
