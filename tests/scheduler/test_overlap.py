"""Overlapping runs: the renew job fires every second while one run takes
several seconds (a slow card processor), in two schedulers at once, on
PostgreSQL. No period is invoiced or charged twice and no subscription is
skipped; within a scheduler a run never overlaps its own previous run."""

from __future__ import annotations

import logging
import time

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select

from bridge.models import Invoice, InvoiceStatus
from scheduler import runner
from scheduler.jobs import JobContext
from tests.scheduler.fakes import RecordingGateway
from tests.scheduler.processes import due_subscriptions

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)

SUBSCRIPTIONS = 30


class SlowGateway(RecordingGateway):
    def create_payment_intent(self, params, idempotency_key):
        time.sleep(0.1)
        return super().create_payment_intent(params, idempotency_key)


def test_a_renew_run_longer_than_its_interval_neither_duplicates_nor_skips(app, db, caplog):
    box = app.extensions["bridge.secret_box"]
    due_subscriptions(db, box, [f"cus_{n}" for n in range(SUBSCRIPTIONS)])
    gateway = SlowGateway()
    # The renew job every second; the other jobs stay out of the way.
    config = {f"SCHEDULER_{name.upper()}_SECONDS": 3600 for name in runner.DEFAULT_INTERVALS}
    config["SCHEDULER_RENEW_SECONDS"] = 1
    schedulers = []
    caplog.set_level(logging.WARNING, logger="apscheduler")
    try:
        for _ in range(2):
            ctx = JobContext(
                database=app.extensions["bridge.db"],
                gateway_factory=lambda _s: gateway,
                batch=5,
            )
            scheduler = BackgroundScheduler(timezone="UTC")
            runner._configure(scheduler, ctx, config)
            scheduler.start()
            schedulers.append(scheduler)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with db.session() as s:
                paid = s.scalar(
                    select(func.count())
                    .select_from(Invoice)
                    .where(Invoice.status == InvoiceStatus.PAID)
                )
            if paid == SUBSCRIPTIONS:
                break
            time.sleep(0.2)
        time.sleep(1.5)  # one more firing of each, with nothing left to do
    finally:
        for scheduler in schedulers:
            scheduler.shutdown(wait=True)

    with db.session() as s:
        renewals = list(s.scalars(select(Invoice).where(Invoice.subscription_id.is_not(None))))
    assert len(renewals) == SUBSCRIPTIONS
    assert len({i.subscription_id for i in renewals}) == SUBSCRIPTIONS
    assert {i.status for i in renewals} == {InvoiceStatus.PAID}
    assert len(gateway.charges) == SUBSCRIPTIONS
    assert gateway.requests == SUBSCRIPTIONS
    # The job fired while its previous run was still going, and was held back.
    assert any("maximum number of running instances" in r.getMessage() for r in caplog.records)
