"""Who is calling the API: staff API tokens (``Authorization: Bearer ...``)."""

from __future__ import annotations

from flask import g, request

from bridge.api import idempotency
from bridge.api.errors import error_response
from bridge.auth import policy
from bridge.auth.accounts import authenticate_token
from bridge.billing import audit
from bridge.db import get_session


def require_token():
    """``before_request`` of the staff API blueprints: a live token or 401."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        response = error_response(
            401,
            "unauthorized",
            "Authentication required: send 'Authorization: Bearer <API token>'.",
        )
    else:
        session = get_session()
        holder = authenticate_token(session, token.strip())
        if holder is not None:
            g.principal = policy.Staff(user_id=holder.user_id, read_only=holder.read_only)
            if not policy.may_send(g.principal, request.method):
                return error_response(403, "forbidden", "This API token is read-only.")
            audit.set_actor(
                session,
                audit.Actor("api_token", holder.token_id, f"{holder.email} ({holder.token_name})"),
            )
            return idempotency.begin()
        response = error_response(401, "invalid_token", "The API token is invalid or revoked.")
    response.headers["WWW-Authenticate"] = 'Bearer realm="billing-bridge"'
    return response


def principal() -> policy.Principal:
    return g.get("principal") or policy.Anonymous()


def authorize(action: str, obj: object | None = None) -> None:
    """Raise ``PermissionDenied`` (403) unless the caller may do ``action``."""
    policy.require(principal(), action, obj)
