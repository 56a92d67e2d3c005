"""The scheduler's days as domain events, Kill Bill style: the clock moves,
the jobs run, and each step records exactly the events listed, in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import select

from bridge.billing import invoices, subscriptions
from bridge.core import events
from bridge.core.events import (
    InvoiceFinalized,
    InvoiceOverdue,
    InvoicePaid,
    PaymentFailed,
    PaymentSucceeded,
    SubscriptionActivated,
    SubscriptionCancelled,
    SubscriptionCancelScheduled,
    SubscriptionCreated,
    SubscriptionPastDue,
    SubscriptionRecovered,
    SubscriptionRenewed,
    UpcomingRenewal,
)
from bridge.models import Invoice, Payment, PaymentMethod
from bridge.models.subscriptions import Subscription
from tests.scheduler.conftest import Days, outbox, renewal_invoices, subscribe

START = datetime(2027, 3, 10, 9, 0, tzinfo=UTC)
RENEWAL = datetime(2027, 4, 10, 9, 0, tzinfo=UTC)
DECLINED = "Your card has insufficient funds."


def payments_of(db, invoice_id: int, *, offline: bool = False) -> list[int]:
    query = select(Payment.id).where(Payment.invoice_id == invoice_id).order_by(Payment.id)
    if offline:
        query = query.where(Payment.gateway == "offline")
    with db.session() as s:
        return list(s.scalars(query))


def subscribed(db, event_log, plan_id: int, *, card: bool = True) -> tuple[int, int]:
    """A paid subscription from START, and the events that says so."""
    subscription_id = subscribe(db, plan_id, START, card=card)
    with db.session() as s:
        invoice_id = s.scalars(
            select(Invoice.id).where(Invoice.subscription_id.is_(None)).order_by(Invoice.id.desc())
        ).first()
    (payment_id,) = payments_of(db, invoice_id)
    assert event_log.take() == [
        SubscriptionCreated(subscription_id, invoice_id),
        InvoiceFinalized(invoice_id, send=True),
        PaymentSucceeded(payment_id, invoice_id, settled=True),
        InvoicePaid(invoice_id),
        SubscriptionActivated(subscription_id, invoice_id),
    ]
    return subscription_id, invoice_id


def test_a_renewal_charged_to_the_saved_card(db, ctx, shop, event_log):
    sub, _ = subscribed(db, event_log, shop["monthly"])
    days = Days(ctx, START)

    days.run(23)  # April 2nd
    assert event_log.take() == []

    days.run(1)  # a week before the renewal
    assert event_log.take() == [UpcomingRenewal(sub, RENEWAL)]

    days.run(6)
    assert event_log.take() == []

    days.run(1)  # renewal day: invoiced (not sent) and charged at once
    (renewal,) = [i.id for i in renewal_invoices(db, sub)]
    (payment,) = payments_of(db, renewal)
    assert event_log.take() == [
        InvoiceFinalized(renewal, send=False),
        SubscriptionRenewed(sub, renewal, 1),
        PaymentSucceeded(payment, renewal, settled=True),
        InvoicePaid(renewal),
    ]
    assert renewal not in [m.invoice_id for m in outbox(db, "invoice_sent")]


def test_a_card_that_always_declines(db, ctx, shop, gateway, event_log):
    gateway.default = "decline"
    sub, _ = subscribed(db, event_log, shop["monthly"])
    days = Days(ctx, START)

    days.run(31)
    (renewal,) = [i.id for i in renewal_invoices(db, sub)]
    assert event_log.take() == [
        UpcomingRenewal(sub, RENEWAL),
        InvoiceFinalized(renewal, send=False),
        SubscriptionRenewed(sub, renewal, 1),
        PaymentFailed(renewal, 1, RENEWAL + timedelta(days=1), DECLINED),
    ]

    # Retried 1, 3, 5 and 7 days after the first failure.
    for attempt, (wait, next_retry) in enumerate([(1, 3), (2, 5), (2, 7)], start=2):
        days.run(wait)
        assert event_log.take() == [
            PaymentFailed(renewal, attempt, RENEWAL + timedelta(days=next_retry), DECLINED)
        ]

    days.run(2)  # the last retry
    assert event_log.take() == [
        PaymentFailed(renewal, 5, None, DECLINED),
        SubscriptionPastDue(sub, renewal),
    ]

    # Due 14 days after it was issued (April 24th): reminded 3 days later;
    # 7 days later, the day it is cancelled, 14 days past due.
    days.run(9)
    assert event_log.take() == []
    days.run(1)
    assert event_log.take() == [InvoiceOverdue(renewal, 3)]
    days.run(3)
    assert event_log.take() == []
    days.run(1)
    assert event_log.take() == [
        SubscriptionCancelled(sub, events.CANCEL_PAST_DUE),
        InvoiceOverdue(renewal, 7),
    ]
    assert len(outbox(db, "payment_failed")) == 5
    assert len(outbox(db, "subscription_cancelled")) == 1


def test_a_client_without_a_card_is_sent_the_renewal(db, ctx, shop, event_log):
    sub, _ = subscribed(db, event_log, shop["monthly"], card=False)
    days = Days(ctx, START)

    days.run(31)
    (renewal,) = [i.id for i in renewal_invoices(db, sub)]
    assert event_log.take() == [
        UpcomingRenewal(sub, RENEWAL),
        InvoiceFinalized(renewal, send=True),
        SubscriptionRenewed(sub, renewal, 1),
    ]
    assert [m.invoice_id for m in outbox(db, "invoice_sent")][-1] == renewal


def test_cancel_at_period_end_ends_without_a_reminder(db, ctx, shop, event_log):
    sub, _ = subscribed(db, event_log, shop["monthly"])
    with time_machine.travel(START + timedelta(days=5), tick=False), db.session() as s:
        subscriptions.cancel(s, s.get(Subscription, sub), at_period_end=True)
    assert event_log.take() == [SubscriptionCancelScheduled(sub)]

    days = Days(ctx, START)
    days.run(30)
    assert event_log.take() == []
    days.run(1)
    assert event_log.take() == [SubscriptionCancelled(sub, events.CANCEL_AT_PERIOD_END)]
    assert renewal_invoices(db, sub) == []
    assert len(outbox(db, "subscription_cancelled")) == 1


def test_paying_a_past_due_renewal_brings_the_subscription_back(db, ctx, shop, gateway, event_log):
    gateway.default = "decline"
    sub, _ = subscribed(db, event_log, shop["monthly"])
    Days(ctx, START).run(31 + 7)  # renewed, declined five times: past due
    (renewal,) = [i.id for i in renewal_invoices(db, sub)]
    assert event_log.take()[-1] == SubscriptionPastDue(sub, renewal)

    with time_machine.travel(RENEWAL + timedelta(days=8), tick=False), db.session() as s:
        invoice = s.get(Invoice, renewal)
        invoices.record_offline_payment(
            s, invoice, amount=invoice.total, method=PaymentMethod.BANK_TRANSFER
        )
    (payment,) = payments_of(db, renewal, offline=True)
    assert event_log.take() == [
        PaymentSucceeded(payment, renewal, settled=True),
        InvoicePaid(renewal),
        SubscriptionRecovered(sub, renewal),
    ]
