"""The 12-month billing preview is what the scheduler then issues: the clock
moved day by day through the same 12 months with the jobs run each day, the
renewal invoices match the preview one for one (subscription, period, issue
date, net, tax, total), in the business time zone, across a daylight saving
change, a month-end anchor, billing cycles running out and a cancellation at
period end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from bridge.billing import catalog, clients, invoices, metrics, plan_changes, subscriptions
from bridge.billing.invoices import Item
from bridge.billing.periods import add_months
from bridge.models import Invoice, PaymentMethod
from bridge.models.invoices import BillingReason
from bridge.models.subscriptions import Subscription
from tests.scheduler.conftest import Days, set_timezone

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

# Jan 31 at 10:00 in Paris: the month-end anchor, and DST starts in March.
PREVIEW_AT = datetime(2027, 1, 31, 9, 0, tzinfo=UTC)


def _subscribe(db, plan_id, at, *, email, quantity=1, tax_rate_ids=()):
    with time_machine.travel(at, tick=False), db.session() as s:
        client = clients.create_client(s, name=email.split("@")[0], email=email)
        client.stripe_customer_id = f"cus_{client.id}"
        client.default_payment_method_id = f"pm_{client.id}"
        invoice = invoices.bill_client(
            s, client, [Item(plan_id, quantity)], tax_rate_ids=list(tax_rate_ids)
        )
        invoices.finalize(s, invoice)
        invoices.record_offline_payment(
            s, invoice, amount=invoice.total, method=PaymentMethod.BANK_TRANSFER
        )
        s.flush()
        return invoice.lines[0].subscription_id


def _key(subscription_id, issue_date, start, end, subtotal, tax, total):
    return (
        subscription_id,
        issue_date,
        start.astimezone(UTC),
        end.astimezone(UTC),
        subtotal,
        tax,
        total,
    )


@pytest.mark.slow  # a year of days, the jobs run each day
def test_the_preview_is_what_the_scheduler_issues_over_the_next_12_months(db, ctx, shop):
    set_timezone(db, "Europe/Paris")
    with db.session() as s:
        vat = catalog.create_tax_rate(s, name="TVA", percentage="20", inclusive=False).id
        included = catalog.create_tax_rate(s, name="Eco", percentage="5.5", inclusive=True).id
    subs = [
        # Jan 31: Feb 28, Mar 31, ... 11 renewals, then it expires.
        _subscribe(db, shop["monthly12"], PREVIEW_AT, email="a@x.example", tax_rate_ids=[vat]),
        _subscribe(
            db,
            shop["weekly"],
            PREVIEW_AT - timedelta(days=2),
            email="b@x.example",
            quantity=3,
            tax_rate_ids=[vat, included],
        ),
        _subscribe(db, shop["yearly"], PREVIEW_AT - timedelta(days=10), email="c@x.example"),
        _subscribe(
            db,
            shop["monthly"],
            PREVIEW_AT - timedelta(days=20, hours=3),
            email="d@x.example",
            tax_rate_ids=[included],
        ),
    ]
    ending = _subscribe(db, shop["monthly"], PREVIEW_AT - timedelta(days=5), email="e@x.example")
    with db.session() as s:
        subscriptions.cancel(s, s.get(Subscription, ending), at_period_end=True)
    # Changes scheduled for the next renewal: monthly -> yearly (a year from
    # the old period end), and a weekly quantity.
    subs += [
        _subscribe(db, shop["monthly"], PREVIEW_AT - timedelta(days=15), email="f@x.example"),
        _subscribe(db, shop["weekly"], PREVIEW_AT - timedelta(days=1), email="g@x.example"),
    ]
    with time_machine.travel(PREVIEW_AT, tick=False), db.session() as s:
        plan_changes.schedule(s, s.get(Subscription, subs[-2]), plan_id=shop["yearly"])
        plan_changes.schedule(s, s.get(Subscription, subs[-1]), quantity_e3=2_000)
        s.commit()

    with time_machine.travel(PREVIEW_AT, tick=False), db.session() as s:
        months = metrics.billing_preview(s, now=PREVIEW_AT)
        counted = metrics.billing_preview(s, now=PREVIEW_AT, detail=False)
        one_client = metrics.billing_preview(
            s, client_id=s.get(Subscription, subs[1]).client_id, now=PREVIEW_AT
        )
    previewed = sorted(
        _key(
            i.subscription_id,
            i.issue_date,
            i.period_start,
            i.period_end,
            i.subtotal,
            i.tax,
            i.total,
        )
        for m in months
        for i in m.invoices
    )
    # Counted rather than listed (the whole business's preview), the same.
    assert [(m.month, m.count, m.subtotal, m.tax, m.total) for m in counted] == [
        (m.month, len(m.invoices), m.subtotal, m.tax, m.total) for m in months
    ]
    assert {key[0] for key in previewed} == set(subs)  # the ending one renews no more
    assert len([k for k in previewed if k[0] == subs[0]]) == 11
    assert {k[0] for m in one_client for k in [(i.subscription_id,) for i in m.invoices]} == {
        subs[1]
    }

    horizon = add_months(PREVIEW_AT, 12)
    Days(ctx, PREVIEW_AT).run((horizon - PREVIEW_AT).days + 1)

    with db.session() as s:
        issued = s.scalars(
            select(Invoice)
            .where(
                Invoice.billing_reason == BillingReason.SUBSCRIPTION_CYCLE,
                Invoice.period_start <= horizon,
            )
            .order_by(Invoice.id)
        ).all()
        actual = sorted(
            _key(
                i.subscription_id,
                i.issue_date,
                i.period_start,
                i.period_end,
                i.subtotal,
                i.tax,
                i.total,
            )
            for i in issued
        )
    assert actual == previewed
    # Month by month too: each month's total is what was issued in it.
    by_month: dict = {}
    for key in actual:
        by_month[(key[1].year, key[1].month)] = (
            by_month.get((key[1].year, key[1].month), 0) + key[6]
        )
    assert {(m.month.year, m.month.month): m.total for m in months if m.total} == by_month
