"""Account credit: a downgrade now is credited to the client's balance
(once), the next renewal is paid from it first and only the rest is
charged, voiding or crediting gives it back (never to Stripe), and over
any sequence of grants, bills, voids and credit notes the balance never
goes negative and the ledger adds up."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bridge.billing import balances, clients, invoices, plan_changes, renewals
from bridge.billing.invoices import Item
from bridge.core.errors import Conflict, Invalid
from bridge.models import (
    BalanceEntryKind,
    Client,
    ClientBalanceEntry,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentMethod,
)
from bridge.models.subscriptions import Subscription
from tests import shop as shops
from tests.scheduler.conftest import Days, outbox, subscribe

JUNE_1 = datetime(2027, 6, 1, 10, 0, tzinfo=UTC)  # June: a 30-day period
HALFWAY = JUNE_1 + timedelta(days=15)
JULY_1 = JUNE_1 + timedelta(days=30)


@pytest.fixture
def plans(db, shop):
    with db.session() as s:
        more = shops.add_product(
            s,
            "Site care",
            {"ten": shops.recurring("Basic", 1000), "twenty": shops.recurring("Pro", 2000)},
        )
        s.commit()
    return {**shop, **more}


def _downgrade(db, sub_id, at=HALFWAY, **wanted):
    with time_machine.travel(at, tick=False), db.session() as s:
        _change, invoice = plan_changes.apply(s, s.get(Subscription, sub_id), now=at, **wanted)
        how = renewals.after_renewal(s, invoice, at)
        s.commit()
        return invoice.id, how


def _client_id(db, sub_id) -> int:
    with db.session() as s:
        return s.get(Subscription, sub_id).client_id


def _ledger(db, client_id) -> list[tuple[str, int]]:
    with db.session() as s:
        return [
            (e.kind.value, e.amount)
            for e in s.scalars(
                select(ClientBalanceEntry)
                .where(ClientBalanceEntry.client_id == client_id)
                .order_by(ClientBalanceEntry.id)
            )
        ]


def test_downgrade_halfway_credits_five_then_the_renewal_uses_it(db, ctx, plans, gateway):
    sub_id = subscribe(db, plans["twenty"], JUNE_1)
    client_id = _client_id(db, sub_id)
    mails_before = len(outbox(db))
    invoice_id, how = _downgrade(db, sub_id, plan_id=plans["ten"])
    assert how == "paid"
    with db.session() as s:
        invoice = s.get(Invoice, invoice_id)
        # A legal document: numbered, both lines, paid with nothing due.
        assert invoice.number and invoice.issue_date
        assert [li.total for li in invoice.lines] == [-1000, 500]
        assert (invoice.total, invoice.amount_due, invoice.amount_paid) == (-500, 0, 0)
        assert invoice.status == InvoiceStatus.PAID and invoice.next_charge_at is None
        assert balances.balance_of(s, client_id, "EUR") == 500
        assert balances.credited_to_balance(s, invoice) == 500
    # Nothing to pay: no email with a pay link, no charge.
    assert [m.trigger for m in outbox(db)[mails_before:]] == []
    Days(ctx, HALFWAY, jobs=("dunning",)).run(2)
    assert gateway.charges == []
    assert _ledger(db, client_id) == [("invoice_credit", 500)]

    # The July renewal (10.00): 5.00 from the balance, 5.00 to the card.
    days = Days(ctx, JULY_1 - timedelta(hours=1), jobs=("renew", "dunning"))
    days.run(1)
    with db.session() as s:
        renewal = s.scalars(
            select(Invoice).where(Invoice.subscription_id == sub_id, Invoice.period_start == JULY_1)
        ).one()
        assert renewal.total == 1000
        methods = [(p.method, p.amount, p.gateway) for p in renewal.payments]
        assert methods[0] == (PaymentMethod.ACCOUNT_CREDIT, 500, "balance")
        assert renewal.status == InvoiceStatus.PAID
        assert balances.balance_of(s, client_id, "EUR") == 0
        renewal_id = renewal.id
    assert [c["amount"] for c in gateway.succeeded_for(renewal_id)] == [500]
    assert _ledger(db, client_id) == [("invoice_credit", 500), ("applied", -500)]


def test_the_credit_is_made_once_and_the_change_not_twice(db, plans):
    sub_id = subscribe(db, plans["twenty"], JUNE_1)
    invoice_id, _how = _downgrade(db, sub_id, plan_id=plans["ten"])
    with time_machine.travel(HALFWAY, tick=False), db.session() as s:
        with pytest.raises(Conflict):
            plan_changes.apply(s, s.get(Subscription, sub_id), plan_id=plans["ten"], now=HALFWAY)
        invoice = s.get(Invoice, invoice_id)
        # A second credit for the same invoice is refused by the database.
        with pytest.raises(IntegrityError), s.begin_nested():
            s.add(
                ClientBalanceEntry(
                    client_id=invoice.client_id,
                    currency="EUR",
                    amount=500,
                    kind=BalanceEntryKind.INVOICE_CREDIT,
                    key=f"invoice:{invoice.id}",
                    invoice_id=invoice.id,
                    created_at=HALFWAY,
                )
            )
            s.flush()
        # The negative invoice can neither be voided, paid nor credited.
        assert invoices.available_actions(invoice) == ["download"]
        with pytest.raises(Conflict):
            invoices.require_creditable(invoice, 1)


def test_without_a_card_the_balance_pays_first_and_the_rest_is_emailed(db, ctx, plans):
    sub_id = subscribe(db, plans["twenty"], JUNE_1, card=False)
    _downgrade(db, sub_id, plan_id=plans["ten"])
    Days(ctx, JULY_1 - timedelta(hours=1), jobs=("renew",)).run(1)
    with db.session() as s:
        renewal = s.scalars(
            select(Invoice).where(Invoice.subscription_id == sub_id, Invoice.period_start == JULY_1)
        ).one()
        assert (renewal.status, renewal.amount_paid, renewal.amount_due) == (
            InvoiceStatus.OPEN,
            500,
            500,
        )
    sent = [m for m in outbox(db) if m.trigger == "invoice_sent"]
    assert sent and "5.00" in sent[-1].body_text


def _billed_with_credit(s, plans, credit: int) -> tuple[Client, Invoice]:
    """A client granted ``credit``, then billed 10.00 (finalized)."""
    client = clients.create_client(s, name="Ana Lima", email="ana@client.example")
    balances.grant(s, client, amount=credit, reason="Goodwill")
    invoice = invoices.bill_client(s, client, [Item(plans["ten"])])
    invoices.finalize(s, invoice)
    return client, invoice


def test_a_bill_fully_paid_from_credit_is_paid_with_a_receipt(db, plans):
    with db.session() as s:
        client, invoice = _billed_with_credit(s, plans, 5000)
        s.commit()
        assert invoice.status == InvoiceStatus.PAID
        assert [(p.method, p.amount) for p in invoice.payments] == [
            (PaymentMethod.ACCOUNT_CREDIT, 1000)
        ]
        assert balances.balance_of(s, client.id, "EUR") == 4000
    triggers = [m.trigger for m in outbox(db)]
    assert "invoice_sent" not in triggers and "payment_receipt" in triggers


def test_void_gives_the_credit_back(db, plans):
    with db.session() as s:
        client, invoice = _billed_with_credit(s, plans, 300)
        assert (invoice.amount_paid, invoice.amount_due) == (300, 700)
        assert "void" in invoices.available_actions(invoice)
        invoices.void(s, invoices.get_invoice(s, invoice.id, lock=True))
        s.commit()
        assert invoice.status == InvoiceStatus.VOID
        assert balances.balance_of(s, client.id, "EUR") == 300
        # Money paid by other means still forbids a void.
        again = invoices.bill_client(s, client, [Item(plans["ten"])])
        invoices.finalize(s, again)
        invoices.record_offline_payment(s, again, amount=100, method=PaymentMethod.CASH)
        assert "void" not in invoices.available_actions(again)
        with pytest.raises(Conflict):
            invoices.void(s, again)


def test_a_credit_note_gives_back_what_credit_paid_never_more(db, plans):
    with db.session() as s:
        client, invoice = _billed_with_credit(s, plans, 600)
        invoices.record_offline_payment(s, invoice, amount=400, method=PaymentMethod.CASH)
        assert invoice.status == InvoiceStatus.PAID
        assert balances.balance_of(s, client.id, "EUR") == 0
        invoices.issue_credit_note(s, invoice, amount=500, reason="Too much")
        assert balances.balance_of(s, client.id, "EUR") == 500
        # The rest of the credit was paid in cash: given back another way.
        invoices.issue_credit_note(s, invoice, amount=500, reason="All of it")
        assert balances.balance_of(s, client.id, "EUR") == 600
        s.commit()


def test_grant_validation_names_the_fields(db, shop):
    with db.session() as s:
        client = clients.create_client(s, name="Ana Lima", email="ana@client.example")
        with pytest.raises(Invalid) as bad:
            balances.grant(s, client, amount=0, currency="USD", reason="")
        assert set(bad.value.fields) == {"amount", "currency", "reason"}
        with pytest.raises(Conflict) as short:
            balances.grant(s, client, amount=-1, reason="Oops")
        assert short.value.code == "insufficient_balance"


# Any sequence: the balance never goes negative, the ledger adds up ---------------

EXAMPLES = itertools.count()
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("grant"), st.integers(min_value=-3000, max_value=3000)),
        st.tuples(st.just("bill"), st.integers(min_value=1, max_value=4)),
        st.tuples(st.just("void"), st.integers(min_value=0, max_value=10)),
        st.tuples(st.just("credit"), st.integers(min_value=1, max_value=3000)),
        st.tuples(st.just("cash"), st.integers(min_value=1, max_value=3000)),
    ),
    max_size=14,
)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS)
def test_the_balance_never_goes_negative_and_the_ledger_adds_up(db, plans, steps):
    granted = used = 0
    with time_machine.travel(JUNE_1, tick=False), db.session() as s:
        client = clients.create_client(
            s, name="Ana Lima", email=f"h{next(EXAMPLES)}@client.example"
        )
        bills: list[int] = []
        for action, value in steps:
            savepoint = s.begin_nested()
            try:
                if action == "grant":
                    balances.grant(s, client, amount=value, reason="By hand")
                elif action == "bill":
                    invoice = invoices.bill_client(s, client, [Item(plans["ten"], value)])
                    invoices.finalize(s, invoice)
                    bills.append(invoice.id)
                elif bills:
                    invoice = invoices.get_invoice(s, bills[value % len(bills)], lock=True)
                    if action == "void":
                        invoices.void(s, invoice)
                    elif action == "credit":
                        invoices.issue_credit_note(s, invoice, amount=value)
                    elif invoice.amount_due:
                        amount = min(value, invoice.amount_due)
                        invoices.record_offline_payment(
                            s, invoice, amount=amount, method=PaymentMethod.CASH
                        )
                savepoint.commit()
            except (Conflict, Invalid):
                savepoint.rollback()
            entries = s.scalars(
                select(ClientBalanceEntry).where(ClientBalanceEntry.client_id == client.id)
            ).all()
            granted = sum(e.amount for e in entries if e.amount > 0)
            used = -sum(e.amount for e in entries if e.amount < 0)
            held = balances.balance_of(s, client.id, "EUR")
            assert held >= 0
            assert held == granted - used
            # What credit paid is exactly what the "applied" entries took.
            from_credit = s.scalar(
                select(func.coalesce(func.sum(Payment.amount), 0)).where(
                    Payment.client_id == client.id,
                    Payment.method == PaymentMethod.ACCOUNT_CREDIT,
                )
            )
            assert from_credit == -sum(e.amount for e in entries if e.kind == "applied")
            # Voided and credited invoices never give back more than credit paid.
            for invoice in s.scalars(select(Invoice).where(Invoice.client_id == client.id)):
                back = s.scalar(
                    select(func.coalesce(func.sum(ClientBalanceEntry.amount), 0)).where(
                        ClientBalanceEntry.invoice_id == invoice.id,
                        ClientBalanceEntry.kind != BalanceEntryKind.APPLIED,
                    )
                )
                assert back <= invoice.paid_from_credit
                assert invoice.amount_paid <= invoice.total
        s.rollback()
