"""The scheduler when PostgreSQL goes away mid-batch: the renew job stops at
the first connection error and logs it once; mail claimed by a deliverer
that lost the database does not wait for its lease to end."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from bridge.mail import delivery, outbox
from bridge.mail.render import Rendered
from bridge.models import Invoice, OutboxMessage, OutboxStatus
from scheduler.jobs import JobContext, run_job
from tests.outage.conftest import proxied_database
from tests.scheduler.conftest import shop, subscribe  # noqa: F401 (a fixture)
from tests.scheduler.fakes import RecordingGateway

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

START = datetime(2026, 1, 5, 9, tzinfo=UTC)
DUE = START + timedelta(days=32)
CLIENTS = 6


@pytest.fixture
def due(db, shop):  # noqa: F811 (the scheduler tests' shop)
    """Subscriptions due at DUE, of clients with a saved card."""
    return [
        subscribe(db, shop["monthly"], START, email=f"c{i}@client.example") for i in range(CLIENTS)
    ]


@pytest.fixture
def ctx(app, pg, proxy):
    database = proxied_database(pg, proxy)
    yield JobContext(
        database=database,
        box=app.extensions["bridge.secret_box"],
        gateway_factory=lambda _session: RecordingGateway(),
    )
    database.dispose()


def open_transactions(direct) -> list[tuple]:
    """Other sessions of the test database inside a transaction."""
    with direct.session() as s:
        return s.execute(
            text(
                "SELECT pid, state, left(query, 80) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend' AND xact_start IS NOT NULL"
            )
        ).all()


def assert_transactions_end(direct, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while (left := open_transactions(direct)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, left


def renewal_invoices(direct) -> int:
    with direct.session() as s:
        return s.scalar(
            select(func.count()).select_from(Invoice).where(Invoice.period_start.is_not(None))
        )


@pytest.mark.parametrize(
    ("lost_at", "how"),
    [
        (b"INSERT INTO invoices", "cut"),
        (b"INSERT INTO payments", "cut"),
        (b"INSERT INTO invoices", "stall"),
    ],
    ids=["cut while renewing", "cut while charging", "stalled while renewing"],
)
def test_the_renew_job_stops_at_the_first_connection_error_and_logs_it_once(
    due, ctx, proxy, direct, caplog, lost_at, how
):
    caplog.set_level(logging.INFO)
    if how == "cut":
        proxy.go_down_when(lost_at)
    else:
        proxy.stall_when(lost_at)
    with time_machine.travel(DUE, tick=False):
        record = run_job(ctx, "renew", DUE)
    if how == "cut":
        assert proxy.went_down.is_set()
    else:
        # Given up by the statement watchdog (1 + 1 s), not blocked for the stall.
        assert record["duration_ms"] < 6000
        proxy.resume()
        # The stalled transaction ends on the server once its bytes flow
        # again and it finds its client gone; its locks go with it.
        assert_transactions_end(direct)
    assert record["ok"] is False
    assert "OperationalError" in record["error"]
    problems = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name != "bridge.db"  # the watchdog's own line
    ]
    assert len(problems) == 1, [r.getMessage() for r in problems]
    assert problems[0].exc_info is None  # one line, not a traceback
    if lost_at == b"INSERT INTO invoices":
        assert renewal_invoices(direct) == 0

    proxy.come_back()
    with time_machine.travel(DUE, tick=False):
        record = run_job(ctx, "renew", DUE)
    assert record["ok"], (record, open_transactions(direct))
    if lost_at == b"INSERT INTO invoices":
        assert record["counts"]["renewed"] == CLIENTS
    # (Charges claimed by the run that lost the database wait for their
    # 10-minute lease: exactly once comes first there.)
    assert renewal_invoices(direct) == CLIENTS
    with direct.session() as s:
        per_subscription = s.execute(
            select(Invoice.subscription_id, func.count())
            .where(Invoice.period_start.is_not(None))
            .group_by(Invoice.subscription_id)
        ).all()
    assert sorted(per_subscription) == [(i, 1) for i in sorted(due)]


class RecordingTransport:
    """Sends nothing; ``on_send`` runs after each message."""

    sender = "billing@agency.example"

    def __init__(self, on_send=None):
        self.sent: list[str] = []
        self.on_send = on_send

    def send(self, message) -> None:
        self.sent.append(str(message["To"]))
        if self.on_send:
            self.on_send(len(self.sent))


def queue_mail(direct, count: int, now: datetime) -> None:
    rendered = Rendered(
        subject="Hello",
        html="<p>Hello</p>",
        text="Hello",
        from_name="Agency",
        reply_to="",
        logo_id=None,
    )
    with direct.session() as s:
        for i in range(count):
            outbox.enqueue(
                s,
                trigger="test",
                dedupe_key=f"test:{i}",
                to=f"c{i}@client.example",
                message=rendered,
                now=now,
            )


def test_mail_claimed_when_the_database_went_away_goes_out_at_the_next_run(pg, proxy, direct):
    now = datetime(2026, 3, 1, 9, tzinfo=UTC)
    queue_mail(direct, 4, now)
    database = proxied_database(pg, proxy)
    try:
        # The database goes away right after the first message went out.
        transport = RecordingTransport(on_send=lambda n: n == 1 and proxy.go_down())
        with pytest.raises(OperationalError):
            delivery.deliver_due(database, transport, now=now)
        assert transport.sent == ["c0@client.example"]
        proxy.come_back()
        transport.on_send = None
        # The next run, 15 seconds later: not 10 minutes.
        report = delivery.deliver_due(database, transport, now=now + timedelta(seconds=15))
    finally:
        database.dispose()
    assert report.sent == 3
    assert sorted(transport.sent) == [f"c{i}@client.example" for i in range(4)]
    with direct.session() as s:
        rows = s.execute(select(OutboxMessage.status, OutboxMessage.attempts)).all()
    assert rows == [(OutboxStatus.SENT, 1)] * 4
