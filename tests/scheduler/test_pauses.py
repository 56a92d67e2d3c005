"""Pausing subscriptions: no renewal while paused, the new period starts on
the resume date (each resumed once, whatever the schedulers do), and over
any sequence of pauses and resumes no second is billed twice nor missed."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bridge.billing import metrics, pauses
from bridge.core.errors import Conflict, Invalid
from bridge.models import Client, InvoiceLine
from bridge.models.audit import AuditEntry
from bridge.models.subscriptions import Subscription, SubscriptionStatus
from scheduler.jobs import run_job
from tests.scheduler.conftest import Days, outbox, renewal_invoices, subscribe, subscription

JUNE_1 = datetime(2027, 6, 1, 10, 0, tzinfo=UTC)


def _pause(db, sub_id, until, at):
    with time_machine.travel(at, tick=False), db.session() as s:
        pauses.pause(s, s.get(Subscription, sub_id), until)
        s.commit()


def _resume(db, sub_id, at):
    with time_machine.travel(at, tick=False), db.session() as s:
        invoice = pauses.resume(s, s.get(Subscription, sub_id))
        s.commit()
        return invoice


def _spans(db, sub_id):
    """The periods billed, the purchase included (lines of the subscription)."""
    with db.session() as s:
        return [
            tuple(row)
            for row in s.execute(
                select(InvoiceLine.period_start, InvoiceLine.period_end)
                .where(InvoiceLine.subscription_id == sub_id)
                .order_by(InvoiceLine.period_start)
            )
        ]


def test_summer_pause_bills_june_then_from_september(db, ctx, shop, gateway):
    sub_id = subscribe(db, shop["monthly"], JUNE_1)
    _pause(db, sub_id, date(2027, 9, 1), JUNE_1 + timedelta(days=9))
    with db.session() as s:
        # Out of MRR from the moment it is paused, stored figure included.
        client = s.get(Client, s.get(Subscription, sub_id).client_id)
        assert metrics.mrr(s, client_id=client.id) == 0 == client.mrr

    Days(ctx, JUNE_1).run(125)

    sept_1 = datetime(2027, 9, 1, tzinfo=UTC)
    assert _spans(db, sub_id) == [
        (JUNE_1, datetime(2027, 7, 1, 10, 0, tzinfo=UTC)),
        (sept_1, datetime(2027, 10, 1, tzinfo=UTC)),
        (datetime(2027, 10, 1, tzinfo=UTC), datetime(2027, 11, 1, tzinfo=UTC)),
    ]
    resumed = subscription(db, sub_id)
    assert resumed.paused_at is None and resumed.paused_until is None
    assert resumed.status == SubscriptionStatus.ACTIVE
    assert len(gateway.charges) == 2
    assert [m.trigger for m in outbox(db) if m.trigger.startswith("subscription_")] == [
        "subscription_paused",
        "subscription_resumed",
    ]
    with db.session() as s:
        actions = list(
            s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.object_type == "subscription", AuditEntry.object_id == sub_id)
                .order_by(AuditEntry.id)
            )
        )
        assert "subscription.paused" in actions and "subscription.resumed" in actions
        client = s.get(Client, s.get(Subscription, sub_id).client_id)
        assert client.mrr == metrics.mrr(s, client_id=client.id) > 0


def test_resume_job_run_twice_resumes_once(db, ctx, shop, gateway):
    sub_id = subscribe(db, shop["monthly"], JUNE_1)
    _pause(db, sub_id, date(2027, 9, 1), JUNE_1)
    moment = datetime(2027, 9, 1, 6, 0, tzinfo=UTC)
    with time_machine.travel(moment, tick=False):
        first = run_job(ctx, "renew", moment)
        second = run_job(ctx, "renew", moment)
    assert first["ok"] and second["ok"]
    assert len(renewal_invoices(db, sub_id)) == 1
    assert len(outbox(db, "subscription_resumed")) == 1


def test_resuming_a_period_already_invoiced_fails_on_the_unique_period(db, shop):
    """A second scheduler that resumes the same pause from a stale read
    cannot invoice the period again: the (subscription, period start)
    unique constraint stops it and the job counts no error."""
    sub_id = subscribe(db, shop["monthly"], JUNE_1)
    _pause(db, sub_id, date(2027, 9, 1), JUNE_1)
    moment = datetime(2027, 9, 1, 6, 0, tzinfo=UTC)
    with time_machine.travel(moment, tick=False), db.session() as s:
        sub = s.get(Subscription, sub_id)
        stale = {
            name: getattr(sub, name)
            for name in ("paused_at", "paused_until", "anchor_at", "period_index")
            + ("current_period_start", "current_period_end", "cycles_invoiced")
        }
        assert pauses.resume_due(s, moment) == (1, 0)
        # Simulate the stale scheduler: the row as it read it before.
        sub = s.get(Subscription, sub_id)
        for name, value in stale.items():
            setattr(sub, name, value)
        s.commit()
        assert pauses.resume_due(s, moment) == (0, 0)
    assert len(renewal_invoices(db, sub_id)) == 1


def test_early_resume_by_hand_starts_the_period_then(db, ctx, shop, gateway):
    sub_id = subscribe(db, shop["monthly"], JUNE_1)
    _pause(db, sub_id, None, JUNE_1 + timedelta(days=3))
    Days(ctx, JUNE_1).run(40)
    assert len(renewal_invoices(db, sub_id)) == 0
    back = datetime(2027, 7, 20, 15, 0, tzinfo=UTC)
    invoice = _resume(db, sub_id, back)
    assert invoice is not None
    assert _spans(db, sub_id)[-1] == (back, datetime(2027, 8, 20, 15, 0, tzinfo=UTC))


def test_resume_before_the_period_ended_just_removes_the_pause(db, ctx, shop, gateway):
    sub_id = subscribe(db, shop["monthly"], JUNE_1)
    _pause(db, sub_id, date(2027, 9, 1), JUNE_1 + timedelta(days=3))
    assert _resume(db, sub_id, JUNE_1 + timedelta(days=5)) is None
    Days(ctx, JUNE_1).run(35)
    assert _spans(db, sub_id)[1][0] == datetime(2027, 7, 1, 10, 0, tzinfo=UTC)


def test_pause_is_refused_when_it_cannot_apply(db, shop):
    sub_id = subscribe(db, shop["monthly"], JUNE_1)
    with time_machine.travel(JUNE_1, tick=False), db.session() as s:
        sub = s.get(Subscription, sub_id)
        with pytest.raises(Invalid) as past:
            pauses.pause(s, sub, date(2027, 5, 1))
        assert past.value.code == "until_in_past" and "until" in past.value.fields
        with pytest.raises(Invalid) as early:
            pauses.pause(s, sub, date(2027, 6, 20))
        assert early.value.code == "until_before_period_end"
        with pytest.raises(Conflict) as not_paused:
            pauses.resume(s, sub)
        assert not_paused.value.code == "not_paused"
        sub.status = SubscriptionStatus.CANCELLED
        with pytest.raises(Conflict) as cancelled:
            pauses.pause(s, sub, None)
        assert cancelled.value.code == "illegal_transition"


# Over a year, any sequence of pauses and resumes ------------------------------

STEP = timedelta(days=7)
EXAMPLES = itertools.count()
ACTIONS = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=50),  # the week it happens in
        st.one_of(
            st.just(("resume", None)),
            st.tuples(st.just("pause"), st.none() | st.integers(min_value=1, max_value=150)),
        ),
    ),
    max_size=6,
)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=ACTIONS)
def test_billed_seconds_equal_the_time_not_paused(db, ctx, shop, gateway, actions):
    sub_id = subscribe(
        db, shop["monthly"], JUNE_1, card=False, email=f"p{next(EXAMPLES)}@client.example"
    )
    todo = dict(actions)
    days = Days(ctx, JUNE_1, jobs=("renew",))
    paused_seconds = 0.0
    pause_from = None  # where the pause set starts: the end of the paid period
    for step in range(1, 53):  # a year, week by week
        days.now = JUNE_1 + STEP * step
        days.tick()
        current = subscription(db, sub_id)
        if pause_from is not None and current.paused_at is None:
            # The job resumed it on its date: a new period from then.
            paused_seconds += (current.current_period_start - pause_from).total_seconds()
            pause_from = None
        action = todo.get(step)
        if action is None:
            continue
        kind, days_ahead = action
        with time_machine.travel(days.now, tick=False), db.session() as s:
            sub = s.get(Subscription, sub_id)
            try:
                if kind == "pause":
                    until = None if days_ahead is None else (days.now + timedelta(days_ahead))
                    pauses.pause(s, sub, until and until.date())
                    pause_from = pause_from or sub.current_period_end
                else:
                    invoice = pauses.resume(s, sub)
                    if invoice is not None:
                        paused_seconds += (days.now - pause_from).total_seconds()
                    pause_from = None
                s.commit()
            except (Conflict, Invalid):
                s.rollback()
    spans = _spans(db, sub_id)
    # No overlap, in order.
    for (_s1, end), (start, _e2) in zip(spans, spans[1:], strict=False):
        assert start >= end
    billed = sum((end - start).total_seconds() for start, end in spans)
    final = subscription(db, sub_id)
    covered_until = spans[-1][1]
    if pause_from is not None and pause_from <= days.now:
        # Still paused at the end: the pause runs from pause_from on.
        assert covered_until == pause_from
    assert billed == (covered_until - JUNE_1).total_seconds() - paused_seconds
    assert final.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_schedulers_resuming_at_once_resume_each_pause_once(db, shop):
    """Three threads run the resume step at the same moment over 20 paused
    subscriptions (PostgreSQL, rows claimed FOR UPDATE SKIP LOCKED): each
    is resumed by exactly one of them, with one invoice and one email."""
    ids = [
        subscribe(db, shop["monthly"], JUNE_1, card=False, email=f"c{n}@client.example")
        for n in range(20)
    ]
    for sub_id in ids:
        _pause(db, sub_id, date(2027, 9, 1), JUNE_1)
    moment = datetime(2027, 9, 1, 6, 0, tzinfo=UTC)
    barrier = threading.Barrier(3)
    results = []

    def run():
        with db.session() as s:
            barrier.wait()
            results.append(pauses.resume_due(s, moment, batch=5))

    with time_machine.travel(moment, tick=False):
        threads = [threading.Thread(target=run) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sum(resumed for resumed, _errors in results) == 20
    assert all(errors == 0 for _resumed, errors in results)
    for sub_id in ids:
        assert len(renewal_invoices(db, sub_id)) == 1
    assert len(outbox(db, "subscription_resumed")) == 20
