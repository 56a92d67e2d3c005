"""Plan and quantity changes now, prorated by seconds of the period: the
Stripe vector, quantities with decimals, monthly -> yearly, preview equals
applied, a change sent twice bills once, and over any sequence of changes
and pauses no second of a plan is billed twice nor missed."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bridge.billing import pauses, plan_changes, renewals
from bridge.core.errors import Conflict, Invalid
from bridge.core.money import prorated_amount
from bridge.models import Invoice, InvoiceLine, InvoiceStatus
from bridge.models.audit import AuditEntry
from bridge.models.subscriptions import Subscription, SubscriptionStatus
from tests import shop as shops
from tests.scheduler.conftest import Days, outbox, subscribe, subscription

JUNE_1 = datetime(2027, 6, 1, 10, 0, tzinfo=UTC)  # June: a 30-day period
HALFWAY = JUNE_1 + timedelta(days=15)


@pytest.fixture
def plans(db, shop):
    with db.session() as s:
        more = shops.add_product(
            s,
            "Site care",
            {
                "ten": shops.recurring("Basic", 1000),
                "once": shops.one_time("Migration", 5000),
                "twenty": shops.recurring("Pro", 2000),
                "hundred_yearly": shops.recurring("Pro yearly", 10000, shops.IntervalUnit.YEAR),
            },
        )
        s.commit()
    return {**shop, **more}


def _change(db, sub_id, at, **wanted):
    with time_machine.travel(at, tick=False), db.session() as s:
        change, invoice = plan_changes.apply(s, s.get(Subscription, sub_id), now=at, **wanted)
        renewals.after_renewal(s, invoice, at)
        s.commit()
        return _lines(invoice), (invoice.subtotal, invoice.tax, invoice.total), invoice.id


def _preview(db, sub_id, at, **wanted):
    with time_machine.travel(at, tick=False), db.session() as s:
        change = plan_changes.quote(s, s.get(Subscription, sub_id), now=at, **wanted)
        s.rollback()
        return _lines(change), (change.subtotal, change.tax, change.total)


def _lines(holder):
    return [
        (
            line.position,
            line.plan_id,
            line.description,
            line.quantity_e3,
            line.unit_amount,
            line.net,
            line.tax,
            line.total,
            line.period_start,
            line.period_end,
        )
        for line in holder.lines
    ]


def test_prorated_amount_rounds_once():
    assert prorated_amount(1000, 1000, 15, 30) == 500
    # 3.33 x 1.5 x 1/3 = 1.665 -> 1.67 (not 5.00 first, then 1.67; nor 1.66).
    assert prorated_amount(333, 1500, 1, 3) == 167
    assert prorated_amount(1, 1000, 1, 2) == 1  # a half rounds up
    assert prorated_amount(1000, 1000, 0, 30) == 0
    with pytest.raises(ValueError):
        prorated_amount(1000, 1000, 31, 30)


def test_stripe_vector_monthly_10_to_20_halfway_charges_5(db, plans, gateway):
    sub_id = subscribe(db, plans["ten"], JUNE_1)
    lines, totals, invoice_id = _change(db, sub_id, HALFWAY, plan_id=plans["twenty"])
    july_1 = JUNE_1 + timedelta(days=30)
    assert [(li[4], li[5], li[8], li[9]) for li in lines] == [
        (-500, -500, HALFWAY, july_1),
        (1000, 1000, HALFWAY, july_1),
    ]
    assert lines[0][2] == "Unused time on Site care — Basic"
    assert lines[1][2] == "Remaining time on Site care — Pro"
    assert totals == (500, 0, 500)
    sub = subscription(db, sub_id)
    assert (sub.plan_id, sub.unit_amount, sub.current_period_end) == (
        plans["twenty"],
        2000,
        july_1,
    )
    with db.session() as s:
        invoice = s.get(Invoice, invoice_id)
        assert invoice.status == InvoiceStatus.OPEN and invoice.number
        assert invoice.next_charge_at == HALFWAY  # charged like a renewal: the saved card
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.object_id == sub_id)))
        assert "subscription.plan_changed" in actions


def test_without_a_card_the_change_invoice_is_emailed(db, plans):
    sub_id = subscribe(db, plans["ten"], JUNE_1, card=False)
    _lines_, _totals, invoice_id = _change(db, sub_id, HALFWAY, plan_id=plans["twenty"])
    with db.session() as s:
        assert s.get(Invoice, invoice_id).next_charge_at is None
    assert any(m.trigger.startswith("invoice") for m in outbox(db))


def test_downgrade_now_previews_a_negative_total(db, plans):
    # Applied, it is credited to the client's balance: tests/scheduler/test_account_credit.py.
    sub_id = subscribe(db, plans["twenty"], JUNE_1)
    lines, totals = _preview(db, sub_id, HALFWAY, plan_id=plans["ten"])
    assert [li[5] for li in lines] == [-1000, 500]
    assert totals == (-500, 0, -500)


def test_downgrade_to_a_yearly_plan_nets_positive_and_starts_a_year(db, plans):
    sub_id = subscribe(db, plans["twenty"], JUNE_1)
    lines, totals, _id = _change(db, sub_id, HALFWAY, plan_id=plans["hundred_yearly"])
    assert [li[5] for li in lines] == [-1000, 10000]
    assert lines[1][8:] == (HALFWAY, datetime(2028, 6, 16, 10, 0, tzinfo=UTC))
    assert lines[1][3] == 1000 and lines[1][4] == 10000  # a full period, as a renewal line
    assert totals[2] == 9000
    sub = subscription(db, sub_id)
    assert sub.anchor_at == HALFWAY and sub.period_index == 0 and sub.cycles_invoiced == 1
    assert sub.current_period_end == datetime(2028, 6, 16, 10, 0, tzinfo=UTC)


def test_decimal_quantity_change_rounds_once_per_line(db, plans):
    sub_id = subscribe(db, plans["ten"], JUNE_1)
    at = JUNE_1 + timedelta(days=10)  # 20 of 30 days left
    lines, totals, _id = _change(db, sub_id, at, quantity_e3=2_333)
    # Credit 10.00 x 1 x 2/3 = 6.666.. -> 6.67; charge 10.00 x 2.333 x 2/3 = 15.553.. -> 15.55.
    assert [li[5] for li in lines] == [-667, 1555]
    assert totals[2] == 888
    assert "× 2.333" in lines[1][2]
    assert subscription(db, sub_id).quantity_e3 == 2_333


def test_preview_equals_applied_and_writes_nothing(db, plans):
    sub_id = subscribe(db, plans["ten"], JUNE_1)
    at = JUNE_1 + timedelta(days=7, hours=3, seconds=11)
    preview = _preview(db, sub_id, at, plan_id=plans["twenty"], quantity_e3=1_500)
    assert subscription(db, sub_id).plan_id == plans["ten"]
    with db.session() as s:
        assert s.query(Invoice).count() == 1  # the purchase only
    lines, totals, _id = _change(db, sub_id, at, plan_id=plans["twenty"], quantity_e3=1_500)
    assert preview == (lines, totals)


def test_a_change_applied_twice_bills_once(db, plans):
    sub_id = subscribe(db, plans["ten"], JUNE_1)
    _change(db, sub_id, HALFWAY, plan_id=plans["twenty"])
    with time_machine.travel(HALFWAY, tick=False), db.session() as s:
        with pytest.raises(Conflict) as again:
            plan_changes.apply(s, s.get(Subscription, sub_id), plan_id=plans["twenty"])
        assert again.value.code == "no_change"
    with db.session() as s:
        assert s.query(Invoice).count() == 2


def test_illegal_states_and_bad_plans(db, plans):
    sub_id = subscribe(db, plans["ten"], JUNE_1)
    with time_machine.travel(HALFWAY, tick=False), db.session() as s:
        sub = s.get(Subscription, sub_id)
        with pytest.raises(Invalid) as one_time:
            plan_changes.quote(s, sub, plan_id=plans["once"])
        assert "plan_id" in one_time.value.fields
        with pytest.raises(Invalid) as missing:
            plan_changes.quote(s, sub, plan_id=10**6)
        assert missing.value.fields == {"plan_id": ["No such plan."]}
        with pytest.raises(Invalid) as zero:
            plan_changes.quote(s, sub, quantity_e3=0)
        assert "quantity" in zero.value.fields
        pauses.pause(s, sub, None)
        with pytest.raises(Conflict) as paused:
            plan_changes.quote(s, sub, plan_id=plans["twenty"])
        assert paused.value.code == "subscription_paused"
        s.rollback()
    with time_machine.travel(JUNE_1 + timedelta(days=31), tick=False), db.session() as s:
        with pytest.raises(Conflict) as due:
            plan_changes.quote(s, s.get(Subscription, sub_id), plan_id=plans["twenty"])
        assert due.value.code == "renewal_due"


def test_after_a_change_the_renewal_bills_the_new_plan(db, ctx, plans, gateway):
    sub_id = subscribe(db, plans["ten"], JUNE_1)
    _change(db, sub_id, HALFWAY, plan_id=plans["twenty"], quantity_e3=2_000)
    Days(ctx, HALFWAY, jobs=("renew",)).run(20)
    with db.session() as s:
        renewal = s.scalars(
            select(InvoiceLine)
            .where(InvoiceLine.subscription_id == sub_id)
            .order_by(InvoiceLine.period_start.desc(), InvoiceLine.id.desc())
        ).first()
        assert renewal.period_start == JUNE_1 + timedelta(days=30)
        assert (renewal.plan_id, renewal.net) == (plans["twenty"], 4000)


# Over a year, any sequence of changes and pauses --------------------------------

STEP = timedelta(days=5, hours=7, minutes=13)
EXAMPLES = itertools.count()
ACTIONS = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=68),  # the step it happens in
        st.sampled_from(
            ["ten", "twenty", "hundred_yearly", "pause", "resume", "quantity"]
            # At the next renewal: scheduled now, switched by the renew job.
            + ["ten@renewal", "twenty@renewal", "hundred_yearly@renewal", "quantity@renewal"]
        ),
    ),
    max_size=8,
)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=ACTIONS)
# Switched at a renewal to a yearly plan; scheduled, paused, resumed on the new plan.
@example(actions=[(3, "hundred_yearly@renewal"), (20, "twenty@renewal")])
@example(actions=[(2, "twenty@renewal"), (4, "pause"), (10, "resume"), (12, "quantity@renewal")])
def test_changes_and_pauses_bill_each_second_of_each_plan_once(db, ctx, plans, gateway, actions):
    sub_id = subscribe(
        db, plans["ten"], JUNE_1, card=False, email=f"q{next(EXAMPLES)}@client.example"
    )
    todo = dict(actions)
    days = Days(ctx, JUNE_1, jobs=("renew",))
    # The oracle: the time served on each plan, from what the test did.
    spent: dict[int, int] = defaultdict(int)
    on_plan, since, service_stops = plans["ten"], JUNE_1, None
    for step in range(1, 70):  # a year
        days.now = JUNE_1 + STEP * step
        days.tick()
        switched = subscription(db, sub_id)
        if switched.plan_id != on_plan:  # a scheduled change, at this renewal
            spent[on_plan] += _seconds(switched.current_period_start - since)
            on_plan, since = switched.plan_id, switched.current_period_start
        action = todo.get(step)
        if action is None:
            continue
        with time_machine.travel(days.now, tick=False), db.session() as s:
            sub = s.get(Subscription, sub_id)
            try:
                if action == "pause":
                    pauses.pause(s, sub, None)
                    service_stops = service_stops or sub.current_period_end
                elif action == "resume":
                    pauses.resume(s, sub)
                    if days.now >= service_stops:  # a new period starts now
                        spent[on_plan] += _seconds(service_stops - since)
                        # On the plan of a change scheduled before the pause.
                        on_plan, since = sub.plan_id, days.now
                    service_stops = None
                elif action.endswith("@renewal"):
                    name = action.removesuffix("@renewal")
                    wanted = (
                        {"quantity_e3": 2500 if sub.quantity_e3 == 1000 else 1000}
                        if name == "quantity"
                        else {"plan_id": plans[name]}
                    )
                    plan_changes.schedule(s, sub, now=days.now, **wanted)
                else:
                    wanted = (
                        {"quantity_e3": 1500 if sub.quantity_e3 == 1000 else 1000}
                        if action == "quantity"
                        else {"plan_id": plans[action]}
                    )
                    plan_changes.apply(s, sub, now=days.now, **wanted)
                    spent[on_plan] += _seconds(days.now - since)
                    on_plan, since = sub.plan_id, days.now
                s.commit()
            except (Conflict, Invalid):
                s.rollback()
    spent[on_plan] += _seconds(subscription(db, sub_id).current_period_end - since)
    with db.session() as s:
        for invoice in s.scalars(select(Invoice)):
            assert sum(li.net for li in invoice.lines) == invoice.subtotal
            assert sum(li.tax for li in invoice.lines) == invoice.tax
            assert sum(li.total for li in invoice.lines) == invoice.total
            assert invoice.subtotal + invoice.tax == invoice.total
    assert _plan_seconds(db, sub_id) == {p: v for p, v in spent.items() if v}


def _seconds(delta: timedelta) -> int:
    return int(delta.total_seconds())


def _plan_seconds(db, sub_id) -> dict[int, int]:
    """Seconds charged minus seconds credited, per plan, from line periods."""
    seconds: dict[int, int] = defaultdict(int)
    with db.session() as s:
        for line in s.scalars(select(InvoiceLine).where(InvoiceLine.subscription_id == sub_id)):
            span = _seconds(line.period_end - line.period_start)
            seconds[line.plan_id] += span if line.net >= 0 else -span
    return {plan: value for plan, value in seconds.items() if value}


def test_the_lines_speak_the_invoice_language(db, plans):
    from bridge.billing.business import get_settings

    with db.session() as s:
        get_settings(s).invoice_language = "fr"
        s.commit()
    sub_id = subscribe(db, plans["ten"], JUNE_1)
    lines, _totals = _preview(db, sub_id, HALFWAY, quantity_e3=1_500)
    assert lines[0][2] == "Temps non utilisé de Site care — Basic"
    assert lines[1][2] == "Temps restant de Site care — Basic × 1,5"


def test_a_past_due_subscription_cannot_change(db, plans):
    sub_id = subscribe(db, plans["ten"], JUNE_1)
    with time_machine.travel(HALFWAY, tick=False), db.session() as s:
        sub = s.get(Subscription, sub_id)
        sub.status = SubscriptionStatus.PAST_DUE
        with pytest.raises(Conflict) as refused:
            plan_changes.quote(s, sub, plan_id=plans["twenty"])
        assert refused.value.code == "illegal_transition"
        s.rollback()


def test_the_change_invoice_is_charged_to_the_saved_card_once(db, ctx, plans, gateway):
    sub_id = subscribe(db, plans["ten"], JUNE_1)
    _lines_, _totals, invoice_id = _change(db, sub_id, HALFWAY, plan_id=plans["twenty"])
    days = Days(ctx, HALFWAY, jobs=("dunning",))
    days.tick()
    days.tick()
    assert [i["amount"] for i in gateway.succeeded_for(invoice_id)] == [500]
    with db.session() as s:
        assert s.get(Invoice, invoice_id).status == InvoiceStatus.PAID
