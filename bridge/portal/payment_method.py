"""The portal's Payment method page: the card renewals are charged to
(brand, last 4 digits, expiry, and whether it has expired or soon will),
*Replace card*, and the renewals waiting for the client to confirm a card
payment (3-D Secure) with a link to their hosted page, which asks for it.

Replacing the card never brings the card to us (``static/portal-card.js``):

1. ``POST /portal/payment-method/setup-intent`` -> ``{client_secret}``
   (a SetupIntent of the client's Stripe customer, made when missing);
   the page calls ``stripe.confirmCardSetup`` with it;
2. ``POST /portal/payment-method {setup_intent_id}``: the bridge asks Stripe
   that the SetupIntent succeeded for this client's customer, and its card
   becomes the client's default for renewals (the hosted page's
   ``complete_card_setup``), audited as ``client.card_replaced``.

Both are JSON endpoints as the hosted page's are (same origin, JSON only,
small; errors in the API's shape) and carry the CSRF token in the
``X-CSRFToken`` header, which the area's guard checks on every POST. Asking
for SetupIntents is rate-limited per client.
"""

from __future__ import annotations

from functools import wraps

from flask import current_app, jsonify, request
from flask_wtf import FlaskForm

from bridge.billing import self_service
from bridge.core.errors import Conflict
from bridge.db import get_session
from bridge.payments import stripe as stripe_gateway
from bridge.portal import area, limits, security
from bridge.portal.area import bp, render
from bridge.portal.views import EmptyBody, PayBody, card_gateway, json_answer

CARD_REPLACED = "client.card_replaced"
# Stripe's card brands as people write them (others are capitalised).
BRAND_NAMES = {
    "amex": "American Express",
    "diners": "Diners Club",
    "discover": "Discover",
    "jcb": "JCB",
    "mastercard": "Mastercard",
    "unionpay": "UnionPay",
    "visa": "Visa",
    "cartes_bancaires": "Cartes Bancaires",
}


class CardForm(FlaskForm):
    """Only its CSRF token, which the script sends in a header."""


def json_endpoint(view):
    """Errors of the card endpoints (a refusal, the rate limit, Stripe's
    trouble) answered in the API's JSON shape, for the page's script."""

    @wraps(view)
    def answered(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except Exception as error:  # every error becomes the script's JSON
            get_session().rollback()
            return json_answer(error)

    return answered


def _require_gateway():
    gateway = card_gateway(get_session())
    if gateway is None:
        raise Conflict(
            "Cards are not taken online: contact the agency.", code="card_payments_unavailable"
        )
    return gateway


@bp.get("/payment-method")
def payment_method():
    """The saved card, *Replace card* while cards are taken online, and the
    renewals waiting for the client's confirmation."""
    area.require("billing.view")
    session = get_session()
    client = area.client()
    gateway = card_gateway(session)
    may_replace = gateway is not None and area.may("billing.pay")
    if may_replace:
        area.mark_takes_cards()
    return render(
        "portal/payment_method.html",
        active="client.payment_method",
        brand_names=BRAND_NAMES,
        card_expiry=self_service.card_expiry(client, self_service.today(session)),
        card_payments=gateway is not None,
        may_pay=area.may("billing.pay"),
        may_replace=may_replace,
        awaiting=self_service.renewals_awaiting_authentication(session, client.id),
        form=CardForm(),
        stripe_js_url=current_app.config["STRIPE_JS_URL"],
        saved=bool(request.args.get("saved")),
    )


@bp.post("/payment-method/setup-intent")
@json_endpoint
@limits.card_setup_limits
def card_setup_intent():
    """A SetupIntent for the card the client is about to enter."""
    security.json_body(EmptyBody())
    area.require("billing.pay")
    session = get_session()
    gateway = _require_gateway()
    intent = stripe_gateway.start_card_setup(session, gateway, area.client())
    session.commit()
    return security.protect(jsonify({"client_secret": intent["client_secret"]}))


@bp.post("/payment-method")
@json_endpoint
def save_card():
    """The card of the SetupIntent Stripe.js confirmed becomes the one
    renewals are charged to."""
    body = security.json_body(PayBody())
    area.require("billing.pay")
    session = get_session()
    gateway = _require_gateway()
    stripe_gateway.complete_card_setup(
        session, gateway, area.client(), body["setup_intent_id"], action=CARD_REPLACED
    )
    session.commit()
    return security.protect(jsonify({"status": "saved"}))
