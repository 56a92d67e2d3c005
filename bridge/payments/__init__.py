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
"""
