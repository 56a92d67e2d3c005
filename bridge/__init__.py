"""Billing Bridge: the billing service (Flask + SQLAlchemy).

``gunicorn 'bridge:create_app()'`` serves it in production.
"""

from __future__ import annotations

__all__ = ["create_app"]


def __getattr__(name: str):
    # Loaded on first use, so that ``import bridge.billing`` (the scheduler's
    # domain, a script) does not load Flask and the whole web app with it.
    if name == "create_app":
        from bridge.app import create_app

        return create_app
    raise AttributeError(f"module 'bridge' has no attribute {name!r}")
