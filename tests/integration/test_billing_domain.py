"""The billing engine over a real database (SQLite and PostgreSQL): bill,
finalize, pay, renew with a moved clock, expire, cancel, void, credit."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bridge.billing import catalog, clients, invoices, renewals, subscriptions
from bridge.billing.invoices import Item
from bridge.core.errors import Conflict, Invalid
from bridge.models import (
    AuditEntry,
    IntervalUnit,
    Invoice,
    InvoiceStatus,
    PaymentMethod,
    Subscription,
    SubscriptionStatus,
)
from tests import shop as shops

JAN_31 = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)


@pytest.fixture
def shop(db, app):
    """EUR business with a monthly plan (12 cycles), a yearly plan, a one-time
    plan, a 20% VAT rate and one client; returns their ids."""
    with time_machine.travel(JAN_31 - timedelta(days=1), tick=False), db.session() as s:
        shops.open_business(s)
        plans = {
            "monthly": shops.recurring("Monthly", 2900, cycles=12),
            "yearly": shops.recurring("Yearly", 29000, IntervalUnit.YEAR),
            "setup": shops.SETUP,
        }
        ids = shops.add_product(s, "Hosting", plans)
        return {**ids, "vat": shops.add_vat(s), "client": shops.add_client(s)}


def bill(db, shop, items, **kwargs):
    with db.session() as s:
        client = clients.get_client(s, shop["client"])
        invoice = invoices.bill_client(s, client, items, **kwargs)
        return invoice.id


def test_draft_totals_taxes_per_line(db, shop):
    invoice_id = bill(
        db, shop, [Item(shop["setup"], 2), Item(shop["monthly"])], tax_rate_ids=[shop["vat"]]
    )
    with db.session() as s:
        invoice = s.get(Invoice, invoice_id)
        assert invoice.status == InvoiceStatus.DRAFT and invoice.number is None
        assert [(line.quantity, line.net, line.tax) for line in invoice.lines] == [
            (2, 30000, 6000),
            (1, 2900, 580),
        ]
        assert (invoice.subtotal, invoice.tax, invoice.total) == (32900, 6580, 39480)
        assert s.scalar(select(func.count()).select_from(Subscription)) == 0


def test_archived_plans_and_foreign_sites_cannot_be_billed(db, shop):
    with db.session() as s:
        catalog.archive(catalog.get_plan(s, shop["setup"]))
    with pytest.raises(Invalid) as info:
        bill(db, shop, [Item(shop["setup"])])
    assert "archived" in str(info.value.fields)
    with db.session() as s:
        other = clients.create_client(s, name="Bob", email="bob@example.com")
        site, _ = clients.create_site(s, _box(), other, name="b", url="https://b.example")
        site_id = site.id
    with pytest.raises(Invalid):
        bill(db, shop, [Item(shop["monthly"])], site_id=site_id)


def _box():
    from bridge.auth.secrets import SecretBox

    return SecretBox(None, "test")


def test_finalize_numbers_gap_free_and_freezes(db, shop):
    numbers = []
    for _ in range(3):
        invoice_id = bill(db, shop, [Item(shop["setup"])])
        with time_machine.travel(JAN_31, tick=False), db.session() as s:
            numbers.append(invoices.finalize(s, s.get(Invoice, invoice_id)).number)
    assert numbers == ["INV-2026-00001", "INV-2026-00002", "INV-2026-00003"]
    with db.session() as s:
        invoice = s.get(Invoice, invoice_id)
        assert invoice.status == InvoiceStatus.OPEN
        assert invoice.due_at == JAN_31 + timedelta(days=14)
        with pytest.raises(Conflict):
            invoices.update_draft(s, invoice, note="changed")
        with pytest.raises(Conflict):
            invoices.finalize(s, invoice)


def test_a_rolled_back_finalization_leaves_no_gap(db, shop):
    first = bill(db, shop, [Item(shop["setup"])])
    second = bill(db, shop, [Item(shop["setup"])])
    with pytest.raises(RuntimeError), db.session() as s:
        invoices.finalize(s, s.get(Invoice, first))
        raise RuntimeError("crash before commit")
    with db.session() as s:
        assert invoices.finalize(s, s.get(Invoice, second)).number.endswith("00001")


def finalize(db, invoice_id, when=JAN_31):
    with time_machine.travel(when, tick=False), db.session() as s:
        invoices.finalize(s, s.get(Invoice, invoice_id))


def pay(db, invoice_id, when, amount=None):
    with time_machine.travel(when, tick=False), db.session() as s:
        invoice = s.get(Invoice, invoice_id)
        invoices.record_offline_payment(
            s, invoice, amount=amount or invoice.amount_due, method=PaymentMethod.BANK_TRANSFER
        )


def test_recurring_line_starts_a_pending_subscription_activated_by_payment(db, shop):
    invoice_id = bill(db, shop, [Item(shop["monthly"], 2)])
    finalize(db, invoice_id)
    with db.session() as s:
        (sub,) = s.scalars(select(Subscription)).all()
        assert sub.status == SubscriptionStatus.PENDING and sub.quantity == 2
    pay(db, invoice_id, JAN_31, amount=1000)
    with db.session() as s:
        invoice = s.get(Invoice, invoice_id)
        assert (invoice.status, invoice.amount_paid, invoice.amount_due) == (
            InvoiceStatus.OPEN,
            1000,
            4800,
        )
        assert s.scalars(select(Subscription)).one().status == SubscriptionStatus.PENDING
    pay(db, invoice_id, JAN_31)
    with db.session() as s:
        assert s.get(Invoice, invoice_id).status == InvoiceStatus.PAID
        sub = s.scalars(select(Subscription)).one()
        assert sub.status == SubscriptionStatus.ACTIVE
        assert (sub.current_period_start, sub.current_period_end) == (
            JAN_31,
            datetime(2026, 2, 28, 10, 0, tzinfo=UTC),
        )


def test_overpayment_and_payment_of_paid_invoices_are_refused(db, shop):
    invoice_id = bill(db, shop, [Item(shop["setup"])])
    finalize(db, invoice_id)
    with pytest.raises(Invalid):
        pay(db, invoice_id, JAN_31, amount=15001)
    pay(db, invoice_id, JAN_31)
    with pytest.raises(Conflict):
        pay(db, invoice_id, JAN_31, amount=1)


def renew_all(db, when):
    """Renew every due subscription at ``when``; return the new invoices' ids."""
    created = []
    with time_machine.travel(when, tick=False):
        while True:
            with db.session() as s:
                due = subscriptions.due_subscription_ids(s, when)
                if not due:
                    return created
                for sub_id in due:
                    invoice = renewals.renew(s, s.get(Subscription, sub_id), when)
                    if invoice is not None:
                        created.append(invoice.id)


def test_monthly_plan_from_jan_31_renews_on_calendar_days_then_expires(db, shop):
    invoice_id = bill(db, shop, [Item(shop["monthly"])])
    finalize(db, invoice_id)
    pay(db, invoice_id, JAN_31)
    day, renewals = JAN_31, []
    while day < JAN_31 + timedelta(days=430):
        day += timedelta(days=1)
        for new_id in renew_all(db, day):
            renewals.append(new_id)
            pay(db, new_id, day)
    with db.session() as s:
        starts = [s.get(Invoice, i).period_start.date().isoformat() for i in renewals]
        sub = s.scalars(select(Subscription)).one()
        assert sub.status == SubscriptionStatus.EXPIRED
        assert sub.cycles_invoiced == 12
        assert sub.ended_at == datetime(2027, 1, 31, 10, 0, tzinfo=UTC)
    assert starts == [
        "2026-02-28",
        "2026-03-31",
        "2026-04-30",
        "2026-05-31",
        "2026-06-30",
        "2026-07-31",
        "2026-08-31",
        "2026-09-30",
        "2026-10-31",
        "2026-11-30",
        "2026-12-31",
    ]  # 11 renewals + the first invoice = 12 cycles


def test_renewal_is_unique_per_period_in_the_database(db, shop):
    invoice_id = bill(db, shop, [Item(shop["yearly"])])
    finalize(db, invoice_id)
    pay(db, invoice_id, JAN_31)
    when = datetime(2027, 1, 31, 10, 0, tzinfo=UTC)
    (renewal_id,) = renew_all(db, when)
    # A second process that read the subscription before the first renewal
    # tries to invoice the same period: the database refuses.
    with db.session() as s:
        period_start = s.get(Invoice, renewal_id).period_start
    with pytest.raises(IntegrityError), db.session() as s:
        sub = s.scalars(select(Subscription)).one()
        renewals.renewal_invoice(s, sub, period_start, sub.current_period_end)
    assert renew_all(db, when) == []


def test_cancel_at_period_end_stops_renewals(db, shop):
    invoice_id = bill(db, shop, [Item(shop["monthly"])])
    finalize(db, invoice_id)
    pay(db, invoice_id, JAN_31)
    with db.session() as s:
        subscriptions.cancel(s, s.scalars(select(Subscription)).one(), at_period_end=True)
    assert renew_all(db, datetime(2026, 3, 1, tzinfo=UTC)) == []
    with db.session() as s:
        sub = s.scalars(select(Subscription)).one()
        assert sub.status == SubscriptionStatus.CANCELLED
        assert sub.ended_at == datetime(2026, 2, 28, 10, 0, tzinfo=UTC)


def test_cancel_now_and_reactivate_with_a_new_invoice(db, shop):
    invoice_id = bill(db, shop, [Item(shop["monthly"])], tax_rate_ids=[shop["vat"]])
    finalize(db, invoice_id)
    pay(db, invoice_id, JAN_31)
    with db.session() as s:
        sub = s.scalars(select(Subscription)).one()
        subscriptions.cancel(s, sub, at_period_end=False)
        with pytest.raises(Conflict):
            subscriptions.cancel(s, sub, at_period_end=False)
        new_invoice = renewals.reactivate(s, sub)
        assert new_invoice.status == InvoiceStatus.OPEN
        assert new_invoice.total == 3480
        new_invoice_id = new_invoice.id
    pay(db, new_invoice_id, JAN_31 + timedelta(days=3))
    with db.session() as s:
        old, new = s.scalars(select(Subscription).order_by(Subscription.id)).all()
        assert old.status == SubscriptionStatus.CANCELLED
        assert new.status == SubscriptionStatus.ACTIVE
        assert new.reactivated_from_id == old.id


def test_void_cancels_the_pending_subscriptions_and_only_unpaid_invoices(db, shop):
    invoice_id = bill(db, shop, [Item(shop["monthly"])])
    finalize(db, invoice_id)
    with db.session() as s:
        invoices.void(s, s.get(Invoice, invoice_id))
        assert s.scalars(select(Subscription)).one().status == SubscriptionStatus.CANCELLED
    partly = bill(db, shop, [Item(shop["setup"])])
    finalize(db, partly)
    pay(db, partly, JAN_31, amount=100)
    with pytest.raises(Conflict), db.session() as s:
        invoices.void(s, s.get(Invoice, partly))


def test_credit_notes_split_tax_and_cannot_exceed_what_was_paid(db, shop):
    invoice_id = bill(db, shop, [Item(shop["setup"])], tax_rate_ids=[shop["vat"]])
    finalize(db, invoice_id)
    pay(db, invoice_id, JAN_31)
    with db.session() as s:
        invoice = s.get(Invoice, invoice_id)
        note = invoices.issue_credit_note(s, invoice, amount=6000, reason="goodwill")
        assert (note.number, note.subtotal, note.tax) == ("CN-2026-00001", 5000, 1000)
        with pytest.raises(Conflict):
            invoices.issue_credit_note(s, invoice, amount=12001)
        invoices.issue_credit_note(s, invoice, amount=12000)
        assert invoice.amount_refunded == 18000
        assert invoice.status == InvoiceStatus.PAID


def test_bill_again_makes_a_new_draft_of_a_one_time_line(db, shop):
    invoice_id = bill(db, shop, [Item(shop["setup"], 3)], tax_rate_ids=[shop["vat"]])
    with db.session() as s:
        line = s.get(Invoice, invoice_id).lines[0]
        again = invoices.bill_again(s, line)
        assert again.id != invoice_id and again.status == InvoiceStatus.DRAFT
        assert (again.lines[0].quantity, again.total) == (3, 54000)


def test_every_change_is_in_the_audit_log_with_its_actor(db, shop):
    from bridge.billing import audit

    invoice_id = bill(db, shop, [Item(shop["setup"])])
    with db.session() as s:
        audit.set_actor(s, audit.Actor("staff", 7, "owner@agency.example"))
        invoices.finalize(s, s.get(Invoice, invoice_id))
    with db.session() as s:
        finalized = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "invoice.finalized")
        ).all()
        entry = finalized[0]
        assert (entry.actor_kind, entry.actor_label, entry.client_id) == (
            "staff",
            "owner@agency.example",
            shop["client"],
        )
        changed = {key for e in finalized for key in e.summary}
        assert {"status", "number", "issued_at", "due_at"} <= changed
        assert all(e.actor_kind == "staff" for e in finalized)
        actions = set(s.scalars(select(AuditEntry.action)))
        assert {"client.created", "plan.created", "tax_rate.created", "invoice.created"} <= actions


def test_a_billed_client_cannot_be_deleted(db, shop):
    bill(db, shop, [Item(shop["setup"])])
    with pytest.raises(Conflict, match="history"), db.session() as s:
        clients.delete_client(s, clients.get_client(s, shop["client"]))
