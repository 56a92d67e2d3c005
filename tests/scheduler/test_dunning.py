"""Collecting renewals: the saved card is charged on the renewal day; a
decline is retried on the dunning schedule (1, 3, 5 and 7 days after the
first failure by default); after the last failure the subscription is past
due, then cancelled; a card that needs authentication is never retried
blindly. Clients without a card get the invoice by email, and reminders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bridge.billing import schedule
from bridge.models import Invoice, InvoiceStatus, PaymentState
from bridge.models.subscriptions import SubscriptionStatus
from tests.scheduler.conftest import Days, outbox, renewal_invoices, subscribe, subscription

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

START = datetime(2027, 3, 10, 9, 0, tzinfo=UTC)
RENEWAL = datetime(2027, 4, 10, 9, 0, tzinfo=UTC)


def renewal_of(db, sub_id) -> Invoice:
    (invoice,) = renewal_invoices(db, sub_id)
    return invoice


def days_after_renewal(gateway) -> list[int]:
    return [(c["received_at"] - RENEWAL).days for c in gateway.charges]


def test_a_card_declined_then_accepted_on_the_third_retry(db, ctx, shop, gateway):
    gateway.script = ["decline", "decline", "decline", "succeed"]
    sub_id = subscribe(db, shop["monthly"], START)

    Days(ctx, START).run(31 + 10)

    invoice = renewal_of(db, sub_id)
    assert invoice.status == InvoiceStatus.PAID
    # Charged on the renewal day, then retried 1, 3 and 5 days after.
    assert days_after_renewal(gateway) == [0, 1, 3, 5]
    assert [c["metadata"]["bb_invoice_id"] for c in gateway.charges] == [str(invoice.id)] * 4
    assert len(gateway.succeeded_for(invoice.id)) == 1
    assert len(outbox(db, "payment_failed")) == 3
    assert len(outbox(db, "agency_payment_failed")) == 3
    assert len([m for m in outbox(db, "payment_receipt") if m.invoice_id == invoice.id]) == 1
    # A card renewal is charged, not sent as an invoice to pay.
    assert [m for m in outbox(db, "invoice_sent") if m.invoice_id == invoice.id] == []
    assert subscription(db, sub_id).status == SubscriptionStatus.ACTIVE


def test_a_card_that_always_declines_ends_past_due_then_cancelled(db, ctx, shop, gateway):
    gateway.default = "decline"
    sub_id = subscribe(db, shop["monthly"], START)
    days = Days(ctx, START)

    days.run(31 + 7)  # the fourth and last retry, 7 days after the first failure
    assert days_after_renewal(gateway) == [0, 1, 3, 5, 7]
    past_due = subscription(db, sub_id)
    assert past_due.status == SubscriptionStatus.PAST_DUE
    assert past_due.past_due_since == RENEWAL + timedelta(days=7)

    days.run(14)  # cancelled 14 days later (the default)
    cancelled = subscription(db, sub_id)
    assert cancelled.status == SubscriptionStatus.CANCELLED
    assert cancelled.cancelled_at == RENEWAL + timedelta(days=21)
    assert len(gateway.charges) == 5  # no retry after the last one
    failed = outbox(db, "payment_failed")
    assert len(failed) == 5
    assert "Your card has insufficient funds." in failed[0].body_text
    assert len(outbox(db, "agency_payment_failed")) == 5
    assert [m.to_address for m in outbox(db, "agency_payment_failed")][0] == (
        "billing@pixel.example"
    )
    assert len(outbox(db, "subscription_cancelled")) == 1
    assert renewal_of(db, sub_id).status == InvoiceStatus.OPEN


def test_the_dunning_schedule_and_the_cancel_delay_are_settings(db, ctx, shop, gateway):
    with db.session() as s:
        schedule.update_schedule(s, {"dunning_retry_days": [2], "past_due_cancel_after_days": 0})
    gateway.default = "decline"
    sub_id = subscribe(db, shop["monthly"], START)

    Days(ctx, START).run(31 + 5)

    assert days_after_renewal(gateway) == [0, 2]
    ended = subscription(db, sub_id)
    assert ended.status == SubscriptionStatus.CANCELLED
    assert ended.cancelled_at == RENEWAL + timedelta(days=2)


def test_authentication_required_emails_the_link_and_is_not_retried(db, ctx, shop, gateway):
    gateway.script = ["authenticate"]
    sub_id = subscribe(db, shop["monthly"], START)

    Days(ctx, START).run(31 + 10)

    invoice = renewal_of(db, sub_id)
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.payment_state == PaymentState.ACTION_REQUIRED
    assert gateway.requests == 1
    (mail,) = outbox(db, "action_required")
    assert f"/i/{invoice.hosted_token}" in mail.body_text
    assert outbox(db, "payment_failed") == []
    assert subscription(db, sub_id).status == SubscriptionStatus.ACTIVE


def test_a_client_without_a_card_gets_the_renewal_by_email(db, ctx, shop, gateway):
    sub_id = subscribe(db, shop["monthly"], START, card=False)

    Days(ctx, START).run(32)

    invoice = renewal_of(db, sub_id)
    assert invoice.status == InvoiceStatus.OPEN
    assert gateway.requests == 0
    sent = [m for m in outbox(db, "invoice_sent") if m.invoice_id == invoice.id]
    assert len(sent) == 1
    assert f"/i/{invoice.hosted_token}" in sent[0].body_text


def test_reminders_before_renewal_and_after_the_due_date_are_sent_once(db, ctx, shop):
    sub_id = subscribe(db, shop["monthly"], START, card=False)

    Days(ctx, START).run(31 + 14 + 20)

    # 7 days before each renewal: April 10 and May 10.
    reminded = outbox(db, "upcoming_renewal")
    assert len(reminded) == 2
    invoice = renewal_invoices(db, sub_id)[0]
    # Due 14 days after April 10; reminders 3, 7 and 14 days after that.
    overdue = [m for m in outbox(db, "overdue_reminder") if m.invoice_id == invoice.id]
    assert len(overdue) == 3
    with db.session() as s:
        assert s.scalar(select(Invoice.overdue_reminders_sent).where(Invoice.id == invoice.id)) == 3


def test_a_payment_on_the_hosted_page_stops_the_retries(db, ctx, shop, gateway):
    gateway.default = "decline"
    sub_id = subscribe(db, shop["monthly"], START)
    days = Days(ctx, START)
    days.run(31 + 1)  # renewal day and the first retry both declined
    invoice = renewal_of(db, sub_id)
    with db.session() as s:
        from bridge.billing import invoices
        from bridge.models import PaymentMethod

        invoices.record_offline_payment(
            s,
            s.get(Invoice, invoice.id),
            amount=invoice.amount_due,
            method=PaymentMethod.BANK_TRANSFER,
        )

    days.run(10)

    assert len(gateway.charges) == 2
    assert subscription(db, sub_id).status == SubscriptionStatus.ACTIVE
