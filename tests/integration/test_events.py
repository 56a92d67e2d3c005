"""Domain events: the exact events each billing step records, in order, in
its own transaction; the emails their subscribers queue; and a failing
subscriber rolling the whole step back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from bridge.billing import business, catalog, clients, invoices, subscriptions
from bridge.billing.invoices import Item
from bridge.core import events
from bridge.core.events import (
    CreditNoteIssued,
    InvoiceFinalized,
    InvoicePaid,
    InvoiceVoided,
    PaymentSucceeded,
    SubscriptionActivated,
    SubscriptionCancelled,
    SubscriptionCancelScheduled,
    SubscriptionCancelUndone,
    SubscriptionCreated,
)
from bridge.mail import subscribers
from bridge.models import (
    Client,
    IntervalUnit,
    Invoice,
    InvoiceStatus,
    NumberSeries,
    OutboxMessage,
    Payment,
    PaymentMethod,
    PlanKind,
    Subscription,
)

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


@pytest.fixture
def shop(db):
    """EUR business, a monthly plan, a one-time plan and one client (ids)."""
    with time_machine.travel(NOW, tick=False), db.session() as s:
        business.set_currency(s, "EUR", confirm=True)
        business.get_settings(s).email = "billing@agency.example"
        product = catalog.create_product(s, name="Hosting")
        monthly = catalog.create_plan(
            s,
            product,
            name="Monthly",
            kind=PlanKind.RECURRING,
            amount=2900,
            interval_unit=IntervalUnit.MONTH,
        )
        setup = catalog.create_plan(s, product, name="Setup", kind=PlanKind.ONE_TIME, amount=9000)
        client = clients.create_client(s, name="Alice", email="alice@example.com")
        return {"monthly": monthly.id, "setup": setup.id, "client": client.id}


def draft(db, shop, plan: str) -> int:
    with time_machine.travel(NOW, tick=False), db.session() as s:
        invoice = invoices.bill_client(s, s.get(Client, shop["client"]), [Item(shop[plan])])
        return invoice.id


def triggers(db) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(OutboxMessage.trigger).order_by(OutboxMessage.id)))


def test_billing_a_client_records_the_finalized_invoice_and_sends_it(db, shop):
    invoice_id = draft(db, shop, "setup")
    with time_machine.travel(NOW, tick=False), db.session() as s:
        invoices.finalize(s, s.get(Invoice, invoice_id))
        assert events.recorded(s) == [InvoiceFinalized(invoice_id, send=True)]
    assert triggers(db) == ["invoice_sent"]


def test_an_invoice_not_to_send_is_finalized_without_an_email(db, shop):
    invoice_id = draft(db, shop, "setup")
    with time_machine.travel(NOW, tick=False), db.session() as s:
        invoices.finalize(s, s.get(Invoice, invoice_id), send=False)
        assert events.recorded(s) == [InvoiceFinalized(invoice_id, send=False)]
    assert triggers(db) == []


def test_a_subscription_from_its_first_invoice_to_its_cancellation(db, shop):
    invoice_id = draft(db, shop, "monthly")
    with time_machine.travel(NOW, tick=False), db.session() as s:
        invoices.finalize(s, s.get(Invoice, invoice_id))
        subscription_id = s.scalars(select(Subscription.id)).one()
        assert events.recorded(s) == [
            SubscriptionCreated(subscription_id, invoice_id),
            InvoiceFinalized(invoice_id, send=True),
        ]

    with time_machine.travel(NOW + timedelta(days=2), tick=False), db.session() as s:
        invoice = s.get(Invoice, invoice_id)
        invoices.record_offline_payment(
            s, invoice, amount=invoice.total, method=PaymentMethod.BANK_TRANSFER
        )
        payment_id = s.scalars(select(Payment.id)).one()
        assert events.recorded(s) == [
            PaymentSucceeded(payment_id, invoice_id, settled=True),
            InvoicePaid(invoice_id),
            SubscriptionActivated(subscription_id, invoice_id),
        ]
    assert triggers(db) == ["invoice_sent", "payment_receipt", "agency_payment_received"]

    with db.session() as s:
        subscription = s.get(Subscription, subscription_id)
        subscriptions.cancel(s, subscription, at_period_end=True)
        subscriptions.undo_cancel(s, subscription)
        subscriptions.cancel(s, subscription, at_period_end=False)
        assert events.recorded(s) == [
            SubscriptionCancelScheduled(subscription_id),
            SubscriptionCancelUndone(subscription_id),
            SubscriptionCancelled(subscription_id, events.CANCEL_REQUESTED),
        ]
    assert triggers(db)[-1] == "subscription_cancelled"


def test_a_part_payment_sends_no_receipt_and_a_refund_is_a_credit_note(db, shop):
    invoice_id = draft(db, shop, "setup")
    with time_machine.travel(NOW, tick=False), db.session() as s:
        invoice = s.get(Invoice, invoice_id)
        invoices.finalize(s, invoice)
        first = invoices.record_offline_payment(s, invoice, amount=4000, method=PaymentMethod.CASH)
        second = invoices.record_offline_payment(s, invoice, amount=5000, method=PaymentMethod.CASH)
        note = invoices.issue_credit_note(s, invoice, amount=1000)
        assert events.recorded(s) == [
            InvoiceFinalized(invoice_id, send=True),
            PaymentSucceeded(first.id, invoice_id, settled=False),
            PaymentSucceeded(second.id, invoice_id, settled=True),
            InvoicePaid(invoice_id),
            CreditNoteIssued(note.id, invoice_id, 1000),
        ]
    assert triggers(db) == ["invoice_sent", "payment_receipt", "agency_payment_received"]


def test_voiding_drops_the_pending_subscription_without_telling_the_client(db, shop):
    invoice_id = draft(db, shop, "monthly")
    with db.session() as s:
        invoices.finalize(s, s.get(Invoice, invoice_id))
    with db.session() as s:
        invoices.void(s, s.get(Invoice, invoice_id))
        subscription_id = s.scalars(select(Subscription.id)).one()
        assert events.recorded(s) == [
            InvoiceVoided(invoice_id),
            SubscriptionCancelled(subscription_id, events.CANCEL_INVOICE_VOIDED),
        ]
    assert triggers(db) == ["invoice_sent"]


@pytest.fixture
def failing_subscriber():
    """A subscriber of InvoiceFinalized that raises, after the mail one queued."""

    def fail(session, event):
        raise RuntimeError("the activity feed is broken")

    events.subscribe(InvoiceFinalized, fail)
    yield fail
    events.unsubscribe(InvoiceFinalized, fail)


def test_a_subscriber_that_raises_rolls_the_whole_step_back(db, shop, failing_subscriber):
    invoice_id = draft(db, shop, "monthly")
    session = None
    with pytest.raises(RuntimeError, match="activity feed"), db.session() as s:
        session = s
        invoices.finalize(s, s.get(Invoice, invoice_id))
    assert events.recorded(session) == []
    with db.session() as s:
        invoice = s.get(Invoice, invoice_id)
        assert (invoice.status, invoice.number) == (InvoiceStatus.DRAFT, None)
        assert s.scalar(select(func.count()).select_from(Subscription)) == 0
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        assert s.scalar(select(func.count()).select_from(NumberSeries)) == 0


def test_the_events_of_a_rolled_back_savepoint_are_forgotten(db, shop):
    kept_id, dropped_id = draft(db, shop, "setup"), draft(db, shop, "setup")
    with db.session() as s:
        with s.begin_nested():
            invoices.finalize(s, s.get(Invoice, kept_id), send=False)
        savepoint = s.begin_nested()
        invoices.finalize(s, s.get(Invoice, dropped_id), send=False)
        savepoint.rollback()
        assert events.recorded(s) == [InvoiceFinalized(kept_id, send=False)]
    # Committed: still there after the session closed.
    assert events.recorded(s) == [InvoiceFinalized(kept_id, send=False)]


def test_the_events_of_a_session_closed_without_commit_are_forgotten(db, shop):
    invoice_id = draft(db, shop, "setup")
    session = db.sessionmaker()
    invoices.finalize(session, session.get(Invoice, invoice_id))
    assert events.recorded(session) == [InvoiceFinalized(invoice_id, send=True)]
    session.close()
    assert events.recorded(session) == []
    assert triggers(db) == []


def test_a_session_of_many_transactions_forgets_only_what_was_rolled_back(db, shop):
    """A scheduler's session commits after each set: the events of its
    committed transactions stay, whatever rolls back later."""
    first, second, third, fourth = (draft(db, shop, "setup") for _ in range(4))
    session = db.sessionmaker()
    invoices.finalize(session, session.get(Invoice, first), send=False)
    session.commit()
    invoices.finalize(session, session.get(Invoice, second), send=False)
    session.rollback()
    savepoint = session.begin_nested()
    invoices.finalize(session, session.get(Invoice, second), send=False)
    savepoint.rollback()
    invoices.finalize(session, session.get(Invoice, third), send=False)
    session.commit()
    invoices.finalize(session, session.get(Invoice, fourth), send=False)
    session.close()
    assert events.recorded(session) == [
        InvoiceFinalized(first, send=False),
        InvoiceFinalized(third, send=False),
    ]


def test_subscribing_twice_calls_once():
    subscribers.register()
    subscribers.register()
    assert events.subscribers_of(InvoiceFinalized).count(subscribers.invoice_finalized) == 1
