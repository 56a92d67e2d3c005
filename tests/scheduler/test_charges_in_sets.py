"""Renewal day's charges in sets: the first attempts of a claimed batch get
their pending payments committed together before any request leaves, the
answers are recorded together, and nothing about a single charge's
exactly-once rule changes."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import event, select

from bridge.billing import collection
from bridge.models import Invoice, InvoiceStatus, OutboxMessage, Payment, PaymentStatus
from scheduler.jobs import JobContext, run_job
from tests.scheduler.fakes import RecordingGateway
from tests.scheduler.test_charges_in_flight import RENEWAL_DAY, due_renewals, paid_once


class WitnessGateway(RecordingGateway):
    """Before answering a charge, looks from a connection of its own at
    the payment its idempotency key names: it must be committed, pending."""

    def __init__(self, db, **kwargs):
        super().__init__(**kwargs)
        self.db = db
        self.seen: list[PaymentStatus | None] = []

    def create_payment_intent(self, params: dict, idempotency_key: str) -> dict:
        with self.db.session() as own:
            self.seen.append(
                own.scalar(select(Payment.status).where(Payment.idempotency_key == idempotency_key))
            )
        return super().create_payment_intent(params, idempotency_key)


def renewal_invoices(db) -> list[Invoice]:
    with db.session() as s:
        return list(s.scalars(select(Invoice).where(Invoice.subscription_id.is_not(None))))


@pytest.mark.parametrize("in_flight", [1, 3])
def test_each_first_charge_is_committed_pending_before_its_request_leaves(app, db, shop, in_flight):
    due_renewals(db, shop, 7)
    gateway = WitnessGateway(db)
    ctx = JobContext(database=db, gateway_factory=lambda _s: gateway, charges_in_flight=in_flight)
    with time_machine.travel(RENEWAL_DAY, tick=True):
        record = run_job(ctx, "renew", RENEWAL_DAY)

    assert record["ok"], record
    assert record["counts"]["charge_charged"] == 7
    assert gateway.seen == [PaymentStatus.PENDING] * 7
    succeeded = paid_once(db)
    assert len(succeeded) == 7 and set(succeeded.values()) == {1}
    assert {i.status for i in renewal_invoices(db)} == {InvoiceStatus.PAID}
    assert {i.next_charge_at for i in renewal_invoices(db)} == {None}


def test_a_set_of_charges_commits_a_few_times_not_five_times_a_charge(app, db, shop):
    due_renewals(db, shop, 20)
    with time_machine.travel(RENEWAL_DAY, tick=True):
        # Renewed without charging (no card payments), then due together.
        run_job(
            JobContext(database=db, gateway_factory=lambda _s: _offline()), "renew", RENEWAL_DAY
        )
        with db.session() as s:
            for invoice in s.scalars(select(Invoice).where(Invoice.subscription_id.is_not(None))):
                invoice.next_charge_at = RENEWAL_DAY
            s.commit()
    commits, outbox = Counter(), Counter()

    @event.listens_for(db.engine, "commit")
    def count(*_args):
        commits["n"] += 1

    @event.listens_for(db.engine, "before_cursor_execute")
    def count_outbox(_conn, _cursor, statement, *_args):
        if "outbox_messages" in statement:
            outbox[statement.split(None, 1)[0].upper()] += 1

    gateway = RecordingGateway()
    try:
        with time_machine.travel(RENEWAL_DAY, tick=True):
            record = run_job(
                JobContext(database=db, gateway_factory=lambda _s: gateway), "dunning", RENEWAL_DAY
            )
    finally:
        event.remove(db.engine, "commit", count)
        event.remove(db.engine, "before_cursor_execute", count_outbox)
    assert record["counts"]["charged"] == 20
    # The run's own record (start, end), then per set: the claim, the
    # pending payments, the answers; one charge after another took 5 each.
    assert commits["n"] <= 8, commits
    # The 20 receipts: one insert per set of answers, no look-up each.
    assert outbox == Counter({"INSERT": outbox["INSERT"]}) and 1 <= outbox["INSERT"] <= 2, outbox
    renewed = sorted(i.id for i in renewal_invoices(db))
    with db.session() as s:
        receipts = s.scalars(
            select(OutboxMessage.invoice_id).where(
                OutboxMessage.trigger == "payment_receipt", OutboxMessage.invoice_id.in_(renewed)
            )
        ).all()
    assert sorted(receipts) == renewed and len(renewed) == 20


def _offline():
    from bridge.payments.offline import OfflineGateway

    return OfflineGateway()


def test_an_answer_that_cannot_be_recorded_leaves_the_others_recorded(app, db, shop, monkeypatch):
    due_renewals(db, shop, 5)
    follow_up = collection._follow_up
    broken: list[int] = []

    def fails_for_the_first(session, invoice, result, failures, now):
        if not broken:
            broken.append(invoice.id)
        if invoice.id == broken[0]:
            raise RuntimeError("a bug in what follows this charge")
        return follow_up(session, invoice, result, failures, now)

    monkeypatch.setattr(collection, "_follow_up", fails_for_the_first)
    gateway = RecordingGateway()
    ctx = JobContext(database=db, gateway_factory=lambda _s: gateway)
    with time_machine.travel(RENEWAL_DAY, tick=True):
        record = run_job(ctx, "renew", RENEWAL_DAY)
    assert record["counts"]["charge_charged"] == 4
    assert record["counts"]["charge_errors"] == 1
    with db.session() as s:
        (left,) = s.scalars(select(Payment).where(Payment.invoice_id == broken[0])).all()
        assert left.status == PaymentStatus.PENDING  # Stripe took it; not recorded yet

    # Once its lease has passed, the next run settles that same attempt
    # (a replay of its key) instead of charging the card again.
    monkeypatch.setattr(collection, "_follow_up", follow_up)
    later = RENEWAL_DAY + collection.LEASE + timedelta(minutes=1)
    with time_machine.travel(later, tick=True):
        record = run_job(ctx, "dunning", later)
    assert record["counts"]["charged"] == 1
    succeeded = paid_once(db)
    assert len(succeeded) == 5 and set(succeeded.values()) == {1}
    assert len(gateway.charges) == 5


class BrokenSend(RecordingGateway):
    """Raises something that is no answer from Stripe for the first charge."""

    def create_payment_intent(self, params: dict, idempotency_key: str) -> dict:
        if self.requests == 0:
            self.requests += 1
            raise KeyError("a bug on the way out")
        return super().create_payment_intent(params, idempotency_key)


@pytest.mark.parametrize("in_flight", [1, 3])
def test_a_send_that_breaks_counts_an_error_and_is_settled_later(app, db, shop, in_flight):
    due_renewals(db, shop, 4)
    gateway = BrokenSend()
    ctx = JobContext(database=db, gateway_factory=lambda _s: gateway, charges_in_flight=in_flight)
    with time_machine.travel(RENEWAL_DAY, tick=True):
        record = run_job(ctx, "renew", RENEWAL_DAY)
    assert record["counts"]["charge_charged"] == 3
    assert record["counts"]["charge_errors"] == 1
    later = RENEWAL_DAY + collection.LEASE + timedelta(minutes=1)
    with time_machine.travel(later, tick=True):
        record = run_job(ctx, "dunning", later)
    assert record["counts"]["charged"] == 1
    succeeded = paid_once(db)
    assert len(succeeded) == 4 and set(succeeded.values()) == {1}
