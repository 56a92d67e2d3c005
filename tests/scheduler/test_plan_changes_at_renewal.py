"""Plan and quantity changes at the next renewal: no proration, the renewal
bills the new plan; across intervals the new plan's period starts at the
old period's end; the preview is the renewal invoice; the renew job run
twice (or racing) switches once; a scheduled change can be cancelled, and
a change now drops it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bridge.billing import pauses, plan_changes, renewals, subscriptions
from bridge.core.errors import Conflict, Invalid
from bridge.models import Invoice, InvoiceLine
from bridge.models.audit import AuditEntry
from bridge.models.subscriptions import Subscription
from tests.scheduler.conftest import Days, renewal_invoices, subscribe, subscription
from tests.scheduler.test_plan_changes import HALFWAY, JUNE_1, _change
from tests.scheduler.test_plan_changes import plans as plans  # noqa: F401  (fixture)

JULY_1 = JUNE_1 + timedelta(days=30)
AUGUST_1 = datetime(2027, 8, 1, 10, 0, tzinfo=UTC)


def _schedule(db, sub_id, at=HALFWAY, **wanted):
    with time_machine.travel(at, tick=False), db.session() as s:
        change = plan_changes.schedule(s, s.get(Subscription, sub_id), now=at, **wanted)
        s.commit()
        return _shape(change.lines), (change.subtotal, change.tax, change.total)


def _preview(db, sub_id, at=HALFWAY, **wanted):
    with time_machine.travel(at, tick=False), db.session() as s:
        change = plan_changes.quote_renewal(s, s.get(Subscription, sub_id), now=at, **wanted)
        s.rollback()
        return _shape(change.lines), (change.subtotal, change.tax, change.total)


def _shape(lines):
    return [
        (li.plan_id, li.description, li.quantity_e3, li.unit_amount, li.net, li.total)
        + (li.period_start, li.period_end)
        for li in lines
    ]


def _renewal_lines(db, sub_id):
    with db.session() as s:
        return list(
            s.scalars(
                select(InvoiceLine)
                .join(Invoice)
                .where(Invoice.subscription_id == sub_id)
                .order_by(Invoice.period_start, InvoiceLine.position)
            )
        )


def test_monthly_10_to_20_at_renewal_bills_20_next_period_without_proration(
    db, ctx, plans, gateway
):
    sub_id = subscribe(db, plans["ten"], JUNE_1)
    preview = _preview(db, sub_id, plan_id=plans["twenty"])
    scheduled = _schedule(db, sub_id, plan_id=plans["twenty"])
    assert preview == scheduled
    assert scheduled[0] == [
        (plans["twenty"], "Site care — Pro", 1000, 2000, 2000, 2000, JULY_1, AUGUST_1)
    ]
    sub = subscription(db, sub_id)
    # Nothing billed and nothing switched until the renewal.
    assert (sub.plan_id, sub.unit_amount, sub.pending_plan_id) == (
        plans["ten"],
        1000,
        plans["twenty"],
    )
    assert len(renewal_invoices(db, sub_id)) == 0  # the purchase has no subscription_id
    Days(ctx, HALFWAY, jobs=("renew",)).run(16)
    lines = _renewal_lines(db, sub_id)
    assert [(li.plan_id, li.net, li.period_start, li.period_end) for li in lines] == [
        (plans["twenty"], 2000, JULY_1, AUGUST_1)
    ]
    assert _shape(lines) == scheduled[0]  # the preview is the renewal invoice
    assert all(li.net >= 0 for li in lines)  # no proration
    sub = subscription(db, sub_id)
    assert (sub.plan_id, sub.unit_amount, sub.quantity_e3) == (plans["twenty"], 2000, 1000)
    assert (sub.current_period_start, sub.current_period_end) == (JULY_1, AUGUST_1)
    assert sub.pending_plan_id is None and sub.pending_change_requested_at is None
    with db.session() as s:
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.object_id == sub_id)))
        assert "subscription.change_scheduled" in actions


def test_monthly_to_yearly_at_renewal_starts_a_year_at_the_old_end(db, ctx, plans, gateway):
    sub_id = subscribe(db, plans["ten"], JUNE_1)
    _schedule(db, sub_id, plan_id=plans["hundred_yearly"])
    Days(ctx, HALFWAY, jobs=("renew",)).run(16)
    year_later = datetime(2028, 7, 1, 10, 0, tzinfo=UTC)
    lines = _renewal_lines(db, sub_id)
    assert [(li.plan_id, li.net, li.period_start, li.period_end) for li in lines] == [
        (plans["hundred_yearly"], 10000, JULY_1, year_later)
    ]
    sub = subscription(db, sub_id)
    assert (sub.anchor_at, sub.period_index, sub.cycles_invoiced) == (JULY_1, 0, 1)
    assert (sub.current_period_start, sub.current_period_end) == (JULY_1, year_later)


def test_a_quantity_at_renewal_keeps_the_price(db, ctx, plans, gateway):
    sub_id = subscribe(db, plans["ten"], JUNE_1)
    _schedule(db, sub_id, quantity_e3=2_500)
    Days(ctx, HALFWAY, jobs=("renew",)).run(16)
    [line] = _renewal_lines(db, sub_id)
    assert (line.plan_id, line.quantity_e3, line.unit_amount, line.net) == (
        plans["ten"],
        2_500,
        1000,
        2500,
    )


def test_the_renew_job_run_twice_switches_once(db, ctx, plans, gateway):
    sub_id = subscribe(db, plans["ten"], JUNE_1)
    _schedule(db, sub_id, plan_id=plans["hundred_yearly"])
    for _ in range(2):
        with time_machine.travel(JULY_1, tick=False), db.session() as s:
            renewals.renew_due(s, JULY_1)
    assert len(_renewal_lines(db, sub_id)) == 1
    sub = subscription(db, sub_id)
    assert (sub.plan_id, sub.period_index, sub.anchor_at) == (plans["hundred_yearly"], 0, JULY_1)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_racing_renewal_with_the_old_terms_cannot_switch_again(db, plans, gateway):
    sub_id = subscribe(db, plans["ten"], JUNE_1)
    _schedule(db, sub_id, plan_id=plans["hundred_yearly"])
    with time_machine.travel(JULY_1, tick=False), db.session() as late:
        # A second scheduler read the subscription (change still pending)...
        stale = late.get(Subscription, sub_id)
        assert stale.pending_plan_id == plans["hundred_yearly"]
        with db.session() as first:
            renewals.renew_due(first, JULY_1)  # ...the first renews and commits.
        with pytest.raises(IntegrityError) as raced:
            renewals.renew(late, stale, JULY_1)
        assert renewals.already_renewed(raced.value)
        late.rollback()
    assert len(_renewal_lines(db, sub_id)) == 1
    sub = subscription(db, sub_id)
    assert (sub.plan_id, sub.period_index, sub.pending_plan_id) == (
        plans["hundred_yearly"],
        0,
        None,
    )


def test_cancel_the_scheduled_change_renews_the_old_plan(db, ctx, plans, gateway):
    sub_id = subscribe(db, plans["ten"], JUNE_1)
    _schedule(db, sub_id, plan_id=plans["twenty"])
    with time_machine.travel(HALFWAY, tick=False), db.session() as s:
        plan_changes.cancel_scheduled(s, s.get(Subscription, sub_id))
        s.commit()
    with time_machine.travel(HALFWAY, tick=False), db.session() as s:
        with pytest.raises(Conflict) as none:
            plan_changes.cancel_scheduled(s, s.get(Subscription, sub_id))
        assert none.value.code == "no_scheduled_change"
    Days(ctx, HALFWAY, jobs=("renew",)).run(16)
    assert [(li.plan_id, li.net) for li in _renewal_lines(db, sub_id)] == [(plans["ten"], 1000)]
    with db.session() as s:
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.object_id == sub_id)))
        assert "subscription.change_unscheduled" in actions


def test_a_change_now_drops_the_scheduled_one(db, ctx, plans, gateway):
    sub_id = subscribe(db, plans["ten"], JUNE_1)
    _schedule(db, sub_id, plan_id=plans["hundred_yearly"])
    _change(db, sub_id, HALFWAY + timedelta(days=1), plan_id=plans["twenty"])
    assert subscription(db, sub_id).pending_plan_id is None
    Days(ctx, HALFWAY + timedelta(days=1), jobs=("renew",)).run(15)
    last = _renewal_lines(db, sub_id)[-1]
    assert (last.plan_id, last.net, last.period_start) == (plans["twenty"], 2000, JULY_1)


def test_scheduling_again_replaces_and_cancel_at_period_end_drops_it(db, plans):
    sub_id = subscribe(db, plans["ten"], JUNE_1)
    _schedule(db, sub_id, plan_id=plans["hundred_yearly"])
    _schedule(db, sub_id, plan_id=plans["twenty"], quantity_e3=3_000)
    sub = subscription(db, sub_id)
    assert (sub.pending_plan_id, sub.pending_quantity_e3, sub.pending_unit_amount) == (
        plans["twenty"],
        3_000,
        2000,
    )
    with time_machine.travel(HALFWAY, tick=False), db.session() as s:
        subscriptions.cancel(s, s.get(Subscription, sub_id), at_period_end=True)
        s.commit()
    assert subscription(db, sub_id).pending_plan_id is None


def test_refusals(db, plans):
    sub_id = subscribe(db, plans["ten"], JUNE_1)
    with time_machine.travel(HALFWAY, tick=False), db.session() as s:
        sub = s.get(Subscription, sub_id)
        with pytest.raises(Invalid) as one_time:
            plan_changes.schedule(s, sub, plan_id=plans["once"])
        assert "plan_id" in one_time.value.fields
        with pytest.raises(Invalid) as zero:
            plan_changes.schedule(s, sub, quantity_e3=0)
        assert "quantity" in zero.value.fields
        with pytest.raises(Conflict) as same:
            plan_changes.schedule(s, sub, plan_id=plans["ten"])
        assert same.value.code == "no_change"
        pauses.pause(s, sub, None)
        with pytest.raises(Conflict) as paused:
            plan_changes.schedule(s, sub, plan_id=plans["twenty"])
        assert paused.value.code == "subscription_paused"
        s.rollback()
    with time_machine.travel(HALFWAY, tick=False), db.session() as s:
        sub = s.get(Subscription, sub_id)
        subscriptions.cancel(s, sub, at_period_end=True)
        with pytest.raises(Conflict) as ending:
            plan_changes.schedule(s, sub, plan_id=plans["twenty"])
        assert ending.value.code == "cancel_scheduled"
        s.rollback()
    with time_machine.travel(JULY_1, tick=False), db.session() as s:
        with pytest.raises(Conflict) as due:
            plan_changes.schedule(s, s.get(Subscription, sub_id), plan_id=plans["twenty"])
        assert due.value.code == "renewal_due"
    with db.session() as s:
        assert s.get(Subscription, sub_id).pending_plan_id is None


def test_a_change_scheduled_before_a_pause_takes_effect_when_it_resumes(db, plans, gateway):
    sub_id = subscribe(db, plans["ten"], JUNE_1)
    _schedule(db, sub_id, plan_id=plans["hundred_yearly"])
    with time_machine.travel(HALFWAY, tick=False), db.session() as s:
        pauses.pause(s, s.get(Subscription, sub_id), None)
        s.commit()
    back = datetime(2027, 9, 3, 10, 0, tzinfo=UTC)
    with time_machine.travel(back, tick=False), db.session() as s:
        invoice = pauses.resume(s, s.get(Subscription, sub_id))
        s.commit()
        assert [(li.plan_id, li.net) for li in invoice.lines] == [(plans["hundred_yearly"], 10000)]
    sub = subscription(db, sub_id)
    assert (sub.plan_id, sub.anchor_at, sub.pending_plan_id) == (
        plans["hundred_yearly"],
        back,
        None,
    )
    assert sub.current_period_end == datetime(2028, 9, 3, 10, 0, tzinfo=UTC)


def test_the_renewal_reminder_announces_the_new_plan(db, ctx, plans, gateway):
    from bridge.billing.business import get_settings
    from tests.scheduler.conftest import outbox

    with db.session() as s:
        get_settings(s).renewal_reminder_days = 7
        s.commit()
    sub_id = subscribe(db, plans["ten"], JUNE_1)
    _schedule(db, sub_id, plan_id=plans["twenty"], quantity_e3=2_000)
    Days(ctx, HALFWAY, jobs=("reminders",)).run(10)
    [reminder] = [m for m in outbox(db) if m.trigger == "upcoming_renewal"]
    assert "Site care — Pro" in reminder.body_text and "€40.00" in reminder.body_text
