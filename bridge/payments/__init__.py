"""Payments: the only way to Stripe, and the offline gateway.

Two gateways share one interface: *offline* (bank transfer, cash, cheque,
recorded by staff; the default when no Stripe key is configured) and
*Stripe* (``stripe.StripeClient`` with a pinned API version). No card number
ever reaches the bridge: the hosted invoice page collects cards with
Stripe.js, the bridge only sees Stripe's ids.

Outcomes always go through the billing domain: a succeeded payment is
counted with ``bridge.billing.invoices.apply_payment``; a card that needs
authentication marks the invoice ``PaymentState.ACTION_REQUIRED``; a decline
is a failed ``Payment`` row carrying Stripe's decline code.

Modules:

- ``stripe_gateway``: ``StripeGateway`` and the flows, all plain Python over
  a ``Session`` that commit it. Settings: ``verify_keys``,
  ``save_stripe_settings``, ``stripe_settings``, ``disconnect_stripe``,
  ``gateway_for`` (None: offline only). Cards: ``ensure_customer``,
  ``start_card_setup``, ``complete_card_setup``. Charges: ``charge_invoice``,
  ``payment_action``, ``settle_payment_intent``, ``reconcile_pending`` (all
  answer a ``ChargeResult``). Refunds: ``refund``. Errors:
  ``StripeUnavailable``, ``StripeRefused`` (domain errors).
- ``webhooks``: ``receive`` verifies, stores and applies one delivery of
  ``POST /webhooks/stripe`` (``bridge.api.webhooks``).
- ``offline``: ``payment_options`` and ``instructions`` for the hosted page.
"""
