"""Billing Bridge: the billing service (Flask + SQLAlchemy).

``gunicorn 'bridge:create_app()'`` serves it in production.
"""

from bridge.app import create_app

__all__ = ["create_app"]
