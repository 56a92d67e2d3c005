"""Stripe: the only way to Stripe, one concern a module.

- ``client``: ``StripeApi`` (``stripe.StripeClient`` pinned to
  ``API_VERSION``, the rate limiter, retries under one idempotency key,
  answers as plain dicts), Stripe's errors as domain errors
  (``StripeUnavailable``, ``StripeRefused``).
- ``keys``: the settings: ``verify_keys``, ``save_stripe_settings``,
  ``stripe_settings``, ``disconnect_stripe``, ``gateway_for`` (None:
  offline only).
- ``cards``: ``ensure_customer``, ``start_card_setup``, ``complete_card_setup``.
- ``charges``: ``charge_invoice``, ``payment_action``,
  ``settle_payment_intent``, ``reconcile_pending`` (all answer a
  ``ChargeResult``).
- ``refunds``: ``refund``, ``record_refund``.
- ``gateway``: ``StripeGateway``, the API with the ``PaymentGateway``
  operations on top.
- ``webhooks``: ``receive`` verifies, stores and applies one delivery of
  ``POST /webhooks/stripe``.

The flow functions take the session and the API first
(``charges.charge_invoice(session, gateway, invoice)``); the same flows are
``StripeGateway`` methods (``gateway.charge_invoice(session, invoice)``).
"""

from __future__ import annotations

from bridge.payments.stripe.cards import complete_card_setup, ensure_customer, start_card_setup
from bridge.payments.stripe.charges import (
    CARD_LIMIT_CODE,
    charge_invoice,
    payment_action,
    reconcile_pending,
    settle_payment_intent,
)
from bridge.payments.stripe.client import (
    API_VERSION,
    StripeApi,
    StripeRefused,
    StripeUnavailable,
    api_base_from,
    is_live_key,
)
from bridge.payments.stripe.gateway import StripeGateway
from bridge.payments.stripe.keys import (
    disconnect_stripe,
    gateway_for,
    save_stripe_settings,
    stripe_settings,
    verify_keys,
)
from bridge.payments.stripe.refunds import refund

__all__ = [
    "CARD_LIMIT_CODE",
    "API_VERSION",
    "StripeApi",
    "StripeGateway",
    "StripeRefused",
    "StripeUnavailable",
    "api_base_from",
    "charge_invoice",
    "complete_card_setup",
    "disconnect_stripe",
    "ensure_customer",
    "gateway_for",
    "is_live_key",
    "payment_action",
    "reconcile_pending",
    "refund",
    "save_stripe_settings",
    "settle_payment_intent",
    "start_card_setup",
    "stripe_settings",
    "verify_keys",
]
