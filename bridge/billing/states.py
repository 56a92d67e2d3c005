"""The state machines of invoices, subscriptions and payments, each in one
place.

Every status change goes through ``transition``; a change not listed here
raises ``IllegalTransition`` (HTTP 409), so no code path can, say, un-pay an
invoice, revive an expired subscription or turn received money back into a
failure by assignment.
"""

from __future__ import annotations

from bridge.core.errors import Conflict
from bridge.models.invoices import InvoiceStatus, PaymentStatus
from bridge.models.subscriptions import SubscriptionStatus

INVOICE_TRANSITIONS: dict[InvoiceStatus, frozenset[InvoiceStatus]] = {
    InvoiceStatus.DRAFT: frozenset({InvoiceStatus.OPEN}),
    InvoiceStatus.OPEN: frozenset(
        {InvoiceStatus.PAID, InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE}
    ),
    # Written off, but a late payment is still welcome; or voided after all.
    InvoiceStatus.UNCOLLECTIBLE: frozenset({InvoiceStatus.PAID, InvoiceStatus.VOID}),
    InvoiceStatus.PAID: frozenset(),
    InvoiceStatus.VOID: frozenset(),
}

SUBSCRIPTION_TRANSITIONS: dict[SubscriptionStatus, frozenset[SubscriptionStatus]] = {
    SubscriptionStatus.PENDING: frozenset(
        {SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELLED}
    ),
    SubscriptionStatus.ACTIVE: frozenset(
        {SubscriptionStatus.PAST_DUE, SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED}
    ),
    SubscriptionStatus.PAST_DUE: frozenset(
        {SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED}
    ),
    # Inactive ones are reactivated as a *new* subscription, never revived.
    SubscriptionStatus.CANCELLED: frozenset(),
    SubscriptionStatus.EXPIRED: frozenset(),
}

PAYMENT_TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    # The charge request is out (or about to leave): the provider's answer settles it.
    PaymentStatus.PENDING: frozenset(
        {
            PaymentStatus.SUCCEEDED,
            PaymentStatus.FAILED,
            PaymentStatus.REQUIRES_ACTION,
            PaymentStatus.CANCELED,
        }
    ),
    # The client authenticates (the bank then processes, accepts or
    # declines), or the attempt is dropped for a newer card.
    PaymentStatus.REQUIRES_ACTION: frozenset(
        {
            PaymentStatus.PENDING,
            PaymentStatus.SUCCEEDED,
            PaymentStatus.FAILED,
            PaymentStatus.CANCELED,
        }
    ),
    # A declined PaymentIntent can be confirmed again from the hosted page,
    # and the provider's reports may arrive out of order.
    PaymentStatus.FAILED: frozenset(
        {
            PaymentStatus.PENDING,
            PaymentStatus.REQUIRES_ACTION,
            PaymentStatus.SUCCEEDED,
            PaymentStatus.CANCELED,
        }
    ),
    # Our cancel may cross the client's own success: money received counts.
    PaymentStatus.CANCELED: frozenset({PaymentStatus.SUCCEEDED}),
    # Final: money given back is a credit note, never a status change.
    PaymentStatus.SUCCEEDED: frozenset(),
}


class IllegalTransition(Conflict):
    code = "illegal_transition"


def transition(obj, new_status, table: dict, what: str) -> None:
    current = obj.status
    if new_status not in table[current]:
        raise IllegalTransition(
            f"A {current.value} {what} cannot become {new_status.value}.",
            fields={"status": [f"{current.value} -> {new_status.value} is not allowed"]},
        )
    obj.status = new_status


def invoice_to(invoice, new_status: InvoiceStatus) -> None:
    transition(invoice, new_status, INVOICE_TRANSITIONS, "invoice")


def subscription_to(subscription, new_status: SubscriptionStatus) -> None:
    transition(subscription, new_status, SUBSCRIPTION_TRANSITIONS, "subscription")


def payment_may_become(current: PaymentStatus, new_status: PaymentStatus) -> bool:
    """Whether a payment in ``current`` may move to ``new_status``."""
    return new_status in PAYMENT_TRANSITIONS[current]


def payment_to(payment, new_status: PaymentStatus) -> None:
    transition(payment, new_status, PAYMENT_TRANSITIONS, "payment")
