"""Reconciliation with Stripe, Stripe's half: read what Stripe did over a
period through ``StripeApi`` (the SDK's pagination, each page paced by the
rate limiter, a rate-limited page retried) and hand it to the business
rules (``bridge.billing.reconciliation``), which compare and fix.

Read from Stripe: the PaymentIntents, refunds and disputes created since
the period's start (plus, one by one, the PaymentIntents of our payments
received in the period but created before it), the customers linked to a
client (their default card expanded), and the subscriptions that are not
canceled. A list endpoint the server lacks (a Stripe stand-in such as
localstripe has no disputes) is named in the report's ``unavailable``
rather than failing the whole report. No transaction stays open while
Stripe is read.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

import stripe
from sqlalchemy.orm import Session

from bridge.billing import reconciliation
from bridge.billing.reconciliation import ReconciliationReport, StripeFacts
from bridge.payments.stripe.client import DEFAULT_API_BASE, StripeApi, release, translated

log = logging.getLogger(__name__)

CUSTOMER_EXPAND = ["data.invoice_settings.default_payment_method"]


def _missing_endpoint(exc: stripe.StripeError) -> bool:
    # localstripe answers 404 with a plain-text body (an APIError to the SDK).
    return exc.http_status == 404


def _listed(
    api: StripeApi, resource: str, unavailable: list[str], since: int | None = None, **params
) -> list[dict]:
    """Every object of a list endpoint (created since ``since``, a Unix
    time, when given). A Stripe stand-in that refuses the ``created``
    filter is listed whole and filtered here."""
    filtered = {**params, "created": {"gte": since}} if since is not None else params
    try:
        return list(api.list_all(resource, filtered))
    except stripe.StripeError as exc:
        if _missing_endpoint(exc):
            log.warning("%s has no /v1/%s: not reconciled", api.api_base, resource)
            unavailable.append(resource)
            return []
        # localstripe answers 400 "Unexpected created" (payment_intents) or
        # 500 (refunds) to the filter; Stripe itself takes it everywhere.
        stand_in = api.api_base != DEFAULT_API_BASE and exc.http_status == 500
        if since is None or not (exc.http_status == 400 or stand_in):
            raise
        log.info("/v1/%s refused the created filter (%s): filtering locally", resource, exc)
    return [item for item in api.list_all(resource, params) if (item.get("created") or 0) >= since]


def read_stripe(session: Session, api: StripeApi, since: datetime) -> StripeFacts:
    """What Stripe says about the period from ``since``. Ends the session's
    transaction before the first request."""
    ours = [
        p.stripe_payment_intent_id
        for p in reconciliation.card_payments_since(session, since)
        if p.stripe_payment_intent_id
    ]
    linked_clients = reconciliation.linked_customers(session)
    linked = set(linked_clients)
    saved_cards = {
        customer_id: client.default_payment_method_id
        for customer_id, client in linked_clients.items()
        if client.default_payment_method_id
    }
    release(session)
    facts = StripeFacts()
    start = int(since.timestamp())
    facts.payment_intents = _listed(api, "payment_intents", facts.unavailable, start)
    listed = {intent["id"] for intent in facts.payment_intents}
    for intent_id in ours:
        if intent_id in listed:
            continue
        # Received in the period, created before it (a 3-D Secure payment
        # confirmed days later): looked up by its id.
        try:
            facts.payment_intents.append(api.retrieve_payment_intent(intent_id))
        except stripe.InvalidRequestError as exc:
            if exc.http_status != 404:
                raise
    facts.refunds = _listed(api, "refunds", facts.unavailable, start)
    facts.disputes = _listed(api, "disputes", facts.unavailable, start)
    if linked:
        facts.customers = {
            customer["id"]: customer
            for customer in _listed(api, "customers", facts.unavailable, expand=CUSTOMER_EXPAND)
            if customer.get("id") in linked
        }
    for customer_id, customer in facts.customers.items():
        saved = saved_cards.get(customer_id)
        default = reconciliation.default_card(customer)
        if saved and default and default["id"] != saved and _attached(api, saved, customer_id):
            facts.saved_cards_still_attached.add(saved)
    facts.subscriptions = _listed(api, "subscriptions", facts.unavailable)
    return facts


def _attached(api: StripeApi, payment_method_id: str, customer_id: str) -> bool:
    """Whether a card is still attached to the customer at Stripe (one
    request, made only for a customer whose default card differs)."""
    try:
        method = api.retrieve_payment_method(payment_method_id)
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            return False
        raise
    owner = method.get("customer")
    return (owner.get("id") if isinstance(owner, dict) else owner) == customer_id


def reconcile(session: Session, api: StripeApi, since: date | None = None) -> ReconciliationReport:
    """The differences between the bridge and Stripe from the start of
    ``since`` (a local date; default: 30 days ago) to now; the safe fixes
    are ``reconciliation.apply_safe``'s. Raises ``Invalid`` (a start in the
    future), ``StripeUnavailable``, ``StripeRefused``. Ends the session's
    transaction (it only reads)."""
    start = reconciliation.period_start(session, since or reconciliation.default_since(session))
    with translated():
        facts = read_stripe(session, api, start)
    report = reconciliation.compare(session, facts, start)
    session.rollback()
    return report
