"""Fixtures of the scheduler tests: a business with a card account, plans of
every interval, clients with and without a saved card, a recording gateway,
and ``Days``: the clock moved day by day with the jobs run each day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from bridge.billing import clients, invoices, schedule
from bridge.billing.invoices import Item
from bridge.models import (
    Client,
    IntervalUnit,
    Invoice,
    OutboxMessage,
    PaymentMethod,
)
from bridge.models.subscriptions import Subscription
from scheduler.jobs import JobContext, run_job
from tests import shop as shops
from tests.scheduler.fakes import RecordingGateway

DAILY_JOBS = ("renew", "dunning", "expire", "reminders")


@pytest.fixture
def gateway():
    return RecordingGateway()


@pytest.fixture
def ctx(app, gateway):
    """The jobs' context, charging through the recording gateway."""
    return JobContext(
        database=app.extensions["bridge.db"],
        box=app.extensions["bridge.secret_box"],
        gateway_factory=lambda _session: gateway,
    )


@pytest.fixture
def shop(db, app):
    """EUR business with a Stripe key stored (so saved cards are charged),
    and plans: monthly with 12 cycles, weekly, yearly, monthly open-ended."""
    box = app.extensions["bridge.secret_box"]
    with time_machine.travel(datetime(2026, 1, 1, tzinfo=UTC), tick=False), db.session() as s:
        shops.open_business(
            s,
            stripe_secret_key_encrypted=box.encrypt("sk_test_scheduler"),
            company_name="Pixel & Co",
            email="billing@pixel.example",
        )
        plans = {
            "monthly12": shops.recurring("Monthly, 12 months", 2900, cycles=12),
            "monthly": shops.MONTHLY,
            "weekly": shops.recurring("Weekly", 900, IntervalUnit.WEEK),
            "yearly": shops.recurring("Yearly", 29000, IntervalUnit.YEAR),
        }
        return shops.add_product(s, "Managed hosting", plans)


def set_timezone(db, name: str) -> None:
    with db.session() as s:
        schedule.update_schedule(s, {"timezone": name})


def subscribe(db, plan_id: int, at: datetime, *, card: bool = True, email="ana@client.example"):
    """A client who bought ``plan_id`` at ``at`` and paid: returns the
    subscription id (active, anchored at ``at``)."""
    with time_machine.travel(at, tick=False), db.session() as s:
        client = clients.create_client(s, name="Ana Lima", email=email)
        if card:
            client.stripe_customer_id = f"cus_{client.id}"
            client.default_payment_method_id = f"pm_{client.id}"
            client.card_brand, client.card_last4 = "visa", "4242"
        invoice = invoices.bill_client(s, client, [Item(plan_id)])
        invoices.finalize(s, invoice)
        invoices.record_offline_payment(
            s, invoice, amount=invoice.total, method=PaymentMethod.BANK_TRANSFER
        )
        s.flush()
        return invoice.lines[0].subscription_id


@dataclass
class Days:
    """Moves the clock day by day from ``start`` (time of day kept), running
    the scheduler's jobs once each day."""

    ctx: JobContext
    now: datetime
    jobs: tuple[str, ...] = DAILY_JOBS

    def run(self, days: int) -> None:
        for _ in range(days):
            self.now += timedelta(days=1)
            self.tick()

    def tick(self) -> None:
        with time_machine.travel(self.now, tick=False):
            for name in self.jobs:
                record = run_job(self.ctx, name, self.now)
                assert record["ok"], record


def renewal_invoices(db, subscription_id: int) -> list[Invoice]:
    with db.session() as s:
        return list(
            s.scalars(
                select(Invoice)
                .where(Invoice.subscription_id == subscription_id)
                .order_by(Invoice.period_start)
            )
        )


def subscription(db, subscription_id: int) -> Subscription:
    with db.session() as s:
        return s.get(Subscription, subscription_id)


def outbox(db, trigger: str | None = None) -> list[OutboxMessage]:
    with db.session() as s:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if trigger:
            query = query.where(OutboxMessage.trigger == trigger)
        return list(s.scalars(query))


def count(db, model) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


__all__ = ["Client"]


@pytest.fixture(scope="session")
def localstripe_server(tmp_path_factory):
    """A localstripe of the scheduler tests (its store lives in memory only)."""
    from tests.localstripe_server import start

    server = start(log_path=tmp_path_factory.mktemp("localstripe") / "server.log")
    yield server
    server.stop()


@pytest.fixture
def localstripe(localstripe_server):
    localstripe_server.reset()
    return localstripe_server
