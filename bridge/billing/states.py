"""The state machines of invoices and subscriptions, each in one place.

Every status change goes through ``transition``; a change not listed here
raises ``IllegalTransition`` (HTTP 409), so no code path can, say, un-pay an
invoice or revive an expired subscription by assignment.
"""

from __future__ import annotations

from bridge.core.errors import Conflict
from bridge.models.invoices import InvoiceStatus
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
