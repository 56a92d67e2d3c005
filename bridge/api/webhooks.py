"""``POST /webhooks/stripe``: Stripe's events. Authenticated by Stripe's
signature, not by an API token; the work is ``bridge.payments.stripe.webhooks``."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from bridge.api.errors import error_response
from bridge.db import get_session
from bridge.payments.stripe import webhooks
from bridge.payments.stripe.client import api_base_from

bp = Blueprint("webhooks", __name__)


@bp.post("/webhooks/stripe")
def stripe_events():
    """200 once the event is applied (or was already); 400 for a delivery
    that is not a verifiable Stripe event (nothing stored); 500 when
    applying it failed (stored with the error; Stripe delivers it again)."""
    session = get_session()
    try:
        delivery = webhooks.receive(
            session,
            current_app.extensions["bridge.secret_box"],
            request.get_data(cache=False),
            request.headers.get("Stripe-Signature"),
            api_base=api_base_from(current_app.config),
        )
    except webhooks.WebhookRejected as exc:
        return error_response(400, exc.code, exc.message)
    if delivery.error is not None:
        return error_response(
            500,
            "webhook_failed",
            f"Event {delivery.event_id} was stored but could not be applied; "
            "it is applied when Stripe delivers it again.",
        )
    return jsonify({"received": True, "id": delivery.event_id, "duplicate": delivery.duplicate})
