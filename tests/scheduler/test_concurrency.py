"""Exactly once under concurrency, on PostgreSQL: 500 due subscriptions and
four scheduler processes (real OS processes) running the renew job at once.
Each period is invoiced once and charged once, counted at the Stripe
stand-in (localstripe) itself."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from bridge.models import Invoice, InvoiceStatus, Payment, PaymentStatus
from bridge.models.subscriptions import Subscription
from tests.scheduler.processes import (
    due_subscriptions,
    job_records,
    payment_intents,
    scheduler_env,
    start_scheduler,
    stripe_customers,
)

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)

SUBSCRIPTIONS = 500
PROCESSES = 4


def test_four_schedulers_renew_500_subscriptions_each_once_and_charge_each_once(
    app, db, localstripe, tmp_path
):
    box = app.extensions["bridge.secret_box"]
    due_subscriptions(db, box, stripe_customers(localstripe.url, SUBSCRIPTIONS))
    env = scheduler_env(app, localstripe.url)

    logs = [tmp_path / f"scheduler-{n}.log" for n in range(PROCESSES)]
    processes = [start_scheduler(env, "renew", log=log) for log in logs]
    for process, log in zip(processes, logs, strict=True):
        assert process.wait(timeout=300) == 0, log.read_text()[-3000:]

    with db.session() as s:
        renewals = list(
            s.execute(
                select(Invoice.subscription_id, Invoice.period_start, Invoice.status).where(
                    Invoice.subscription_id.is_not(None)
                )
            )
        )
        assert len(renewals) == SUBSCRIPTIONS
        assert len({(r.subscription_id, r.period_start) for r in renewals}) == SUBSCRIPTIONS
        assert {r.status for r in renewals} == {InvoiceStatus.PAID}
        assert s.scalar(select(func.min(Subscription.period_index))) == 1
        assert s.scalar(select(func.max(Subscription.period_index))) == 1
        succeeded = Counter(
            s.scalars(select(Payment.invoice_id).where(Payment.status == PaymentStatus.SUCCEEDED))
        )
        # The purchase invoices were not made here: only renewals were paid.
        assert len(succeeded) == SUBSCRIPTIONS and set(succeeded.values()) == {1}

    charges = Counter(pi["metadata"]["bb_invoice_id"] for pi in payment_intents(localstripe.url))
    assert len(charges) == SUBSCRIPTIONS
    assert set(charges.values()) == {1}, "an invoice was charged twice"

    # The work was really shared: more than one process renewed and charged.
    renewed_by = [
        sum(r["counts"]["renewed"] for r in job_records(log) if r["job"] == "renew") for log in logs
    ]
    assert sum(renewed_by) == SUBSCRIPTIONS
    assert sum(1 for n in renewed_by if n) >= 2, renewed_by
