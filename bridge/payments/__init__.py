"""Payments: the payment gateways, and the only way to Stripe.

Two gateways implement ``bridge.billing.gateway.PaymentGateway``: *offline*
(bank transfer, cash, cheque, recorded by staff; the default when no Stripe
key is configured) and *Stripe* (``stripe.StripeClient`` with a pinned API
version). No card number ever reaches the bridge: the hosted invoice page
collects cards with Stripe.js, the bridge only sees Stripe's ids.

Outcomes always go through the billing domain: a Stripe answer becomes an
``Outcome`` recorded by ``bridge.billing.payments.apply_outcome`` (through
the payment state machine); a succeeded payment is counted with
``bridge.billing.invoices.apply_payment``; a card that needs authentication
marks the invoice ``PaymentState.ACTION_REQUIRED``; a decline is a failed
``Payment`` row carrying Stripe's decline code.

Modules:

- ``gateways``: ``payment_gateway``, the gateway of the stored settings.
- ``offline``: ``OfflineGateway``, and ``payment_options`` and
  ``instructions`` for the hosted page.
- ``stripe``: the Stripe gateway, one concern a module (``client``,
  ``keys``, ``cards``, ``charges``, ``refunds``, ``gateway``, ``webhooks``).
- ``ratelimit``: the client-side limit on requests to Stripe.
- ``stripe_reconcile``: what Stripe did over a period, read for the
  reconciliation (``bridge.billing.reconciliation`` compares and fixes).
"""
