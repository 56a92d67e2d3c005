"""Charges in flight: one scheduler process keeps several card charges
waiting on Stripe at once (``BRIDGE_CHARGES_IN_FLIGHT``), each invoice still
charged exactly once; and on PostgreSQL the Stripe rate limit is one bucket
in the database that every scheduler process draws from."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from bridge.core.errors import Unavailable
from bridge.models import Invoice, InvoiceStatus, Payment, PaymentStatus
from bridge.payments.ratelimit import RateLimiter, SharedRateLimiter
from scheduler.jobs import JobContext, run_job
from scheduler.runner import charges_in_flight, context_for
from tests.scheduler.conftest import subscribe
from tests.scheduler.fakes import RecordingGateway

START = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
RENEWAL_DAY = START + timedelta(days=31)


class SlowGateway(RecordingGateway):
    """Answers each charge after ``delay`` seconds, as Stripe does after a
    round trip, and counts how many were waiting at once. The first charges
    wait (10 s at most) until ``gather`` of them are waiting together."""

    def __init__(self, delay: float = 0.05, gather: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.delay = delay
        self.gather = gather
        self.gathered = threading.Event()
        self.waiting = 0
        self.most_waiting = 0
        self._gauge = threading.Lock()

    def create_payment_intent(self, params: dict, idempotency_key: str) -> dict:
        with self._gauge:
            self.waiting += 1
            self.most_waiting = max(self.most_waiting, self.waiting)
            if self.waiting >= self.gather:
                self.gathered.set()
        try:
            self.gathered.wait(10)
            time.sleep(self.delay)
            return super().create_payment_intent(params, idempotency_key)
        finally:
            with self._gauge:
                self.waiting -= 1


class Unreachable(RecordingGateway):
    def create_payment_intent(self, params: dict, idempotency_key: str) -> dict:
        raise Unavailable("Stripe is down")


def due_renewals(db, shop, count: int) -> None:
    for number in range(count):
        subscribe(db, shop["monthly"], START, email=f"client{number}@example.com")


def paid_once(db) -> Counter:
    with db.session() as s:
        return Counter(
            s.scalars(
                select(Payment.invoice_id).where(
                    Payment.status == PaymentStatus.SUCCEEDED,
                    Payment.invoice_id.in_(
                        select(Invoice.id).where(Invoice.subscription_id.is_not(None))
                    ),
                )
            )
        )


def test_one_process_keeps_several_charges_in_flight_and_charges_each_once(app, db, shop):
    due_renewals(db, shop, 12)
    gateway = SlowGateway(gather=4)
    ctx = JobContext(
        database=db,
        gateway_factory=lambda _session: gateway,
        charges_in_flight=4,
    )
    with time_machine.travel(RENEWAL_DAY, tick=True):
        record = run_job(ctx, "renew", RENEWAL_DAY)

    assert record["ok"], record
    assert record["counts"]["renewed"] == 12
    assert record["counts"]["charge_charged"] == 12
    assert gateway.most_waiting == 4  # never more than asked, and that many
    assert len(gateway.charges) == 12
    succeeded = paid_once(db)
    assert len(succeeded) == 12 and set(succeeded.values()) == {1}
    with db.session() as s:
        renewals = s.scalars(select(Invoice).where(Invoice.subscription_id.is_not(None))).all()
        assert {invoice.status for invoice in renewals} == {InvoiceStatus.PAID}
        assert {invoice.next_charge_at for invoice in renewals} == {None}


def test_two_runs_at_once_with_charges_in_flight_still_charge_each_invoice_once(app, db, shop):
    due_renewals(db, shop, 10)
    gateway = SlowGateway(delay=0.02)
    down = Unreachable()
    with time_machine.travel(RENEWAL_DAY, tick=True):
        # Renewed, but not charged: Stripe could not be reached.
        record = run_job(
            JobContext(database=db, gateway_factory=lambda _s: down), "renew", RENEWAL_DAY
        )
    assert record["counts"]["renewed"] == 10
    assert record["counts"]["charge_pending"] == 10

    # Then two dunning runs collect the same due invoices at once.
    retry = RENEWAL_DAY + timedelta(hours=1)
    records = []
    with time_machine.travel(retry, tick=True):
        runs = [
            threading.Thread(
                target=lambda: records.append(
                    run_job(
                        JobContext(
                            database=db,
                            gateway_factory=lambda _s: gateway,
                            charges_in_flight=3,
                        ),
                        "dunning",
                        retry,
                    )
                )
            )
            for _ in range(2)
        ]
        for run in runs:
            run.start()
        for run in runs:
            run.join(60)

    assert all(r["ok"] for r in records), records
    assert sum(r["counts"]["charged"] for r in records) == 10
    succeeded = paid_once(db)
    assert len(succeeded) == 10 and set(succeeded.values()) == {1}
    # Stripe saw one charge per invoice (a retry under the same key is a replay).
    charged = Counter(intent["metadata"]["bb_invoice_id"] for intent in gateway.charges)
    assert len(charged) == 10 and set(charged.values()) == {1}


def test_the_default_is_32_in_flight_on_postgresql_and_1_on_sqlite(app, db):
    expected = 1 if db.is_sqlite else 32
    assert charges_in_flight({}, db) == expected
    assert context_for(app).charges_in_flight == expected
    assert charges_in_flight({"CHARGES_IN_FLIGHT": "8"}, db) == 8
    for wrong in ("0", "many", "1000"):
        with pytest.raises(ValueError, match="BRIDGE_CHARGES_IN_FLIGHT"):
            charges_in_flight({"CHARGES_IN_FLIGHT": wrong}, db)


def test_the_scheduler_shares_the_stripe_rate_through_postgresql_only(app, db, shop):
    ctx = context_for(app)
    with db.session() as s:
        limiter = ctx.gateway(s).limiter
    if db.is_sqlite:
        assert isinstance(limiter, RateLimiter)
    else:
        assert isinstance(limiter, SharedRateLimiter)
        assert limiter.rate == 20.0  # a test key's default


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_processes_limiters_draw_from_one_bucket(db):
    """Two limiters on one database (two scheduler processes) promise slots
    one after another at the shared rate, never two at once."""
    promised: list[float] = []
    lock = threading.Lock()

    def record(seconds: float) -> None:
        with lock:
            promised.append(seconds)

    # One token a second, so that the time the takes themselves take (they
    # refill the bucket as they go) stays small next to the slots.
    first, second = (
        SharedRateLimiter(db.engine, "stripe-test", rate=1, burst=1, sleep=record) for _ in range(2)
    )
    for _ in range(10):
        first.acquire()
        second.acquire()

    # The first take was free; the 19 after it were promised slots a second
    # apart across both limiters (each with a bucket of its own would have
    # promised 1 to 9 s, each slot twice).
    assert len(promised) == 19
    assert 17 < max(promised) <= 19 + 1e-6
    steps = [b - a for a, b in zip(promised, promised[1:], strict=False)]
    assert all(0.7 < step <= 1 + 1e-6 for step in steps), steps


def test_a_limiter_whose_database_is_gone_paces_locally():
    from sqlalchemy import create_engine

    gone = create_engine("postgresql+psycopg://nobody@127.0.0.1:9/none")
    slept: list[float] = []
    limiter = SharedRateLimiter(gone, "stripe", rate=5, burst=1, sleep=slept.append)
    for _ in range(3):
        limiter.acquire()  # never raises
    assert len(slept) == 2 and slept[-1] == pytest.approx(0.4, abs=0.05)
