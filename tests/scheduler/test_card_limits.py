"""Renewals Stripe cannot charge as they are: a three-decimal total (KWD
5.124: Stripe takes multiples of 10 fils) is charged rounded up to Stripe's
unit and settles the invoice; a total below Stripe's minimum charge (10 JPY,
10.45 HUF) is never sent to Stripe: the invoice stays open to be paid
offline, the client gets it with its pay link and the agency is told why,
once, with no retry loop and no dunning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import stripe
import time_machine
from sqlalchemy import select

from bridge.billing import invoices
from bridge.billing.invoices import Item
from bridge.models import Client, Invoice, InvoiceStatus, PaymentStatus
from bridge.models.subscriptions import SubscriptionStatus
from scheduler.jobs import run_job
from tests import shop as shops
from tests.scheduler.conftest import Days, outbox, renewal_invoices, subscribe, subscription

START = datetime(2027, 3, 10, 9, 0, tzinfo=UTC)


def open_shop(db, app, currency: str, amount: int) -> int:
    """A business in ``currency`` with a Stripe key and a monthly plan of
    ``amount``: the plan's id."""
    box = app.extensions["bridge.secret_box"]
    with time_machine.travel(datetime(2027, 1, 1, tzinfo=UTC), tick=False), db.session() as s:
        shops.open_business(
            s,
            currency,
            stripe_secret_key_encrypted=box.encrypt("sk_test_scheduler"),
            company_name="Pixel & Co",
            email="billing@pixel.example",
        )
        plans = shops.add_product(s, "Hosting", {"monthly": shops.recurring("Monthly", amount)})
        return plans["monthly"]


def the_renewal(db, sub_id) -> Invoice:
    (invoice,) = renewal_invoices(db, sub_id)
    with db.session() as s:
        invoice = s.get(Invoice, invoice.id)
        invoice.payments  # noqa: B018  (loaded while open)
        return invoice


def test_a_three_decimal_renewal_is_charged_rounded_up_to_stripes_unit_and_paid(
    db, app, ctx, gateway
):
    plan = open_shop(db, app, "KWD", 5124)
    sub_id = subscribe(db, plan, START)

    Days(ctx, START).run(31 + 3)

    invoice = the_renewal(db, sub_id)
    (charge,) = gateway.charges
    assert (charge["amount"], charge["currency"]) == (5130, "kwd")
    assert (invoice.total, invoice.status, invoice.amount_paid, invoice.amount_due) == (
        5124,
        InvoiceStatus.PAID,
        5130,
        0,
    )
    assert [(p.amount, p.status) for p in invoice.payments] == [(5130, PaymentStatus.SUCCEEDED)]
    assert len([m for m in outbox(db, "payment_receipt") if m.invoice_id == invoice.id]) == 1
    assert subscription(db, sub_id).status == SubscriptionStatus.ACTIVE


@pytest.mark.parametrize(
    ("currency", "amount", "minimum"), [("JPY", 10, "50 JPY"), ("HUF", 1045, "175.00 HUF")]
)
def test_a_renewal_below_stripes_minimum_is_offline_only_and_everyone_is_told_once(
    db, app, ctx, gateway, currency, amount, minimum
):
    plan = open_shop(db, app, currency, amount)
    sub_id = subscribe(db, plan, START)
    days = Days(ctx, START)

    days.run(31)  # the renewal day
    invoice = the_renewal(db, sub_id)
    assert gateway.requests == 0  # never sent to Stripe
    assert (invoice.status, invoice.next_charge_at, invoice.payments) == (
        InvoiceStatus.OPEN,
        None,
        [],
    )
    (sent,) = [m for m in outbox(db, "invoice_sent") if m.invoice_id == invoice.id]
    assert sent.to_address == "ana@client.example"
    (agency,) = outbox(db, "agency_payment_failed")
    assert agency.to_address == "billing@pixel.example"
    assert minimum in agency.body_text and "Not charged to the saved card" in agency.body_text

    days.run(20)  # no retry, no dunning, no more mail
    assert gateway.requests == 0
    assert len(outbox(db, "agency_payment_failed")) == 1
    assert outbox(db, "payment_failed") == []
    assert subscription(db, sub_id).status == SubscriptionStatus.ACTIVE
    assert the_renewal(db, sub_id).status == InvoiceStatus.OPEN


def test_an_invoice_due_for_a_charge_that_stripe_cannot_take_leaves_collection_at_once(
    db, app, ctx, gateway
):
    """An invoice planned for a charge Stripe cannot take (planned before
    its amount was checked, say) is taken out of collection on the first
    run, the client and the agency told: no silent retry every lease."""
    plan = open_shop(db, app, "EUR", 30)
    subscribe(db, plan, START)
    now = START + timedelta(days=2)
    with time_machine.travel(now, tick=False), db.session() as s:
        client = s.scalar(select(Client))
        invoice = invoices.bill_client(s, client, [Item(plan)])
        invoices.finalize(s, invoice, send=False)
        invoice.next_charge_at = now
        s.flush()
        invoice_id = invoice.id

    for hours in (0, 1, 24):
        with time_machine.travel(now + timedelta(hours=hours), tick=False):
            record = run_job(ctx, "dunning", now + timedelta(hours=hours))
        assert record["ok"] and record["counts"]["errors"] == 0, record
        assert record["counts"]["skipped"] == (1 if hours == 0 else 0), record

    assert gateway.requests == 0
    with db.session() as s:
        invoice = s.get(Invoice, invoice_id)
        assert (invoice.status, invoice.next_charge_at) == (InvoiceStatus.OPEN, None)
    assert [m.invoice_id for m in outbox(db, "invoice_sent")][-1:] == [invoice_id]
    (agency,) = outbox(db, "agency_payment_failed")
    assert "0.50 EUR" in agency.body_text


def test_a_three_decimal_charge_that_never_reached_stripe_is_sent_again_not_dropped(
    db, app, ctx, gateway
):
    """The pending payment holds the rounded-up charge (5.130 for 5.124 due):
    the reconcile job must see it as the charge of what is due, and send it
    again under its key, not cancel it as superseded."""
    plan = open_shop(db, app, "KWD", 5124)
    sub_id = subscribe(db, plan, START)
    original = gateway.create_payment_intent
    lost = []

    def never_arrives(params, idempotency_key):
        if not lost:
            lost.append(idempotency_key)
            raise stripe.APIConnectionError("the network dropped the request")
        return original(params, idempotency_key)

    gateway.create_payment_intent = never_arrives
    Days(ctx, START, jobs=("renew",)).run(31)
    invoice = the_renewal(db, sub_id)
    assert [(p.amount, p.status) for p in invoice.payments] == [(5130, PaymentStatus.PENDING)]

    later = START + timedelta(days=31, minutes=5)
    with time_machine.travel(later, tick=False):
        assert run_job(ctx, "reconcile", later)["ok"]
    invoice = the_renewal(db, sub_id)
    assert [(p.amount, p.status) for p in invoice.payments] == [(5130, PaymentStatus.SUCCEEDED)]
    assert invoice.status == InvoiceStatus.PAID
    assert [c["amount"] for c in gateway.charges] == [5130]
    assert [p.idempotency_key for p in invoice.payments] == lost
