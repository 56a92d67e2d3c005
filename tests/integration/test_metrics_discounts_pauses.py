"""Issue 14 x SPEC 10: MRR counts the discounted amount everywhere (history,
forecast, billing preview, the client list and its export) and a pause
everywhere too, with the clock moved through the months (both databases).
The renewals the scheduler actually issues are the reference."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bridge.billing import coupons, exports, invoices, metrics, pauses, renewals
from bridge.models import (
    AuditEntry,
    Client,
    Discount,
    IntervalUnit,
    Invoice,
    InvoiceStatus,
    PaymentMethod,
    Plan,
)
from bridge.models.subscriptions import Subscription, SubscriptionStatus
from tests.integration.test_metrics import _buy, _client, _plan

START = datetime(2027, 1, 10, 10, 0, tzinfo=UTC)


@pytest.fixture
def business(db):
    from tests import shop

    with time_machine.travel(datetime(2027, 1, 1, tzinfo=UTC), tick=False), db.session() as s:
        shop.open_business(s)


def _renew_and_pay(db, at: datetime) -> list[Invoice]:
    """The scheduler's renewals at ``at``, each paid at once."""
    with time_machine.travel(at, tick=False), db.session() as s:
        pauses.resume_due(s, at)
        renewals.renew_due(s, at)
        s.commit()
        issued = list(
            s.scalars(
                select(Invoice).where(Invoice.status == InvoiceStatus.OPEN, Invoice.total > 0)
            )
        )
        for invoice in issued:
            invoices.record_offline_payment(
                s, invoice, amount=invoice.total, method=PaymentMethod.BANK_TRANSFER
            )
        s.commit()
        s.expunge_all()
        return issued


@pytest.fixture
def discounted(db, business):
    """Monthly 100.00 bought Jan 10; 20 % off its next 3 renewals."""
    with time_machine.travel(START, tick=False), db.session() as s:
        client = _client(s)
        sub = _buy(s, client, _plan(s, IntervalUnit.MONTH, 1, 10000))
        coupon = coupons.create_coupon(
            s, name="Spring", percent_off="20", duration="repeating", duration_cycles=3
        )
        coupons.apply_to_subscription(s, sub, coupon)
        s.commit()
        return {"client_id": client.id, "subscription_id": sub.id}


def test_twenty_percent_off_three_cycles_in_the_forecast_and_the_preview(db, discounted):
    now = datetime(2027, 1, 20, 10, 0, tzinfo=UTC)
    with db.session() as s:
        horizons = metrics.forecast(s, now=now, days=(30, 60, 90, 120))
        months = metrics.billing_preview(s, client_id=discounted["client_id"], now=now, months=6)
        everyone = metrics.billing_preview(s, now=now, months=6, detail=False)
    # Feb 10, Mar 10, Apr 10 at 80.00, then May 10 at 100.00.
    assert [(h.renewals, h.amount) for h in horizons] == [
        (1, 8000),
        (2, 16000),
        (3, 24000),
        (4, 34000),
    ]
    previewed = [(i.issue_date, i.subtotal) for m in months for i in m.invoices]
    assert previewed[:5] == [
        (date(2027, 2, 10), 8000),
        (date(2027, 3, 10), 8000),
        (date(2027, 4, 10), 8000),
        (date(2027, 5, 10), 10000),
        (date(2027, 6, 10), 10000),
    ]
    assert [m.subtotal for m in everyone] == [m.subtotal for m in months]
    # The scheduler, the clock moved through the same months, issues exactly that.
    issued = []
    for month in range(2, 7):
        issued += [
            (i.issue_date, i.subtotal, i.tax, i.total)
            for i in _renew_and_pay(db, datetime(2027, month, 10, 10, 30, tzinfo=UTC))
        ]
    assert (
        issued
        == [(i.issue_date, i.subtotal, i.tax, i.total) for m in months for i in m.invoices][:5]
    )


def test_twenty_percent_off_three_cycles_in_the_history(db, discounted):
    for month in range(2, 8):
        _renew_and_pay(db, datetime(2027, month, 10, 10, 30, tzinfo=UTC))
    now = datetime(2027, 7, 20, tzinfo=UTC)
    with db.session() as s:
        by_month = {m.month: m.mrr for m in metrics.history(s, now=now)}
        client_history = metrics.history(s, now=now, client_id=discounted["client_id"])
        assert metrics.mrr(s) == by_month[date(2027, 7, 1)] == 10000
    assert by_month[date(2026, 12, 1)] == 0
    # The coupon stands for the next three renewals (Feb, Mar, Apr): MRR is
    # net of it until the third one used it, then full price.
    assert [by_month[date(2027, m, 1)] for m in range(1, 8)] == [8000] * 3 + [10000] * 4
    assert [m.mrr for m in client_history] == [by_month[m.month] for m in client_history]


def test_mrr_now_is_the_last_month_of_the_history_while_the_coupon_runs(db, discounted):
    _renew_and_pay(db, datetime(2027, 2, 10, 10, 30, tzinfo=UTC))
    now = datetime(2027, 2, 20, tzinfo=UTC)
    with time_machine.travel(now, tick=False), db.session() as s:
        assert metrics.history(s, now=now)[-1].mrr == metrics.mrr(s) == 8000
        assert s.get(Client, discounted["client_id"]).mrr == 8000
        # The clients export carries the same, discounted, MRR.
        made = exports.export(s, "clients")
        text = "".join(exports.csv_text(made.header, made.rows))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["mrr"] for row in rows] == ["80.00"]


def test_a_summer_pause_is_zero_in_july_and_august(db, business):
    with time_machine.travel(START, tick=False), db.session() as s:
        client = _client(s)
        plan = _plan(s, IntervalUnit.MONTH, 1, 10000)
        sub_id = _buy(s, client, plan).id
        other = _buy(s, client, s.get(Plan, plan.id))  # never paused
        s.commit()
        client_id, other_id = client.id, other.id
    for month in range(2, 7):
        _renew_and_pay(db, datetime(2027, month, 10, 10, 30, tzinfo=UTC))
    # On June 20, paused until Sept 1: June is served to July 10, then nothing.
    with time_machine.travel(datetime(2027, 6, 20, tzinfo=UTC), tick=False), db.session() as s:
        pauses.pause(s, s.get(Subscription, sub_id), date(2027, 9, 1))
        s.commit()
    for at in (datetime(2027, 7, 10, 10, 30), datetime(2027, 8, 10, 10, 30)):
        _renew_and_pay(db, at.replace(tzinfo=UTC))
    resumed = _renew_and_pay(db, datetime(2027, 9, 1, 0, 30, tzinfo=UTC))
    assert [i.subscription_id for i in resumed] == [sub_id]
    _renew_and_pay(db, datetime(2027, 9, 10, 10, 30, tzinfo=UTC))
    now = datetime(2027, 10, 5, tzinfo=UTC)
    with db.session() as s:
        # The resume moved the anchor to Sept 1: the months before still count.
        assert s.get(Subscription, sub_id).anchor_at.date() == date(2027, 9, 1)
        by_month = {m.month: m.mrr for m in metrics.history(s, now=now)}
        assert metrics.mrr(s) == by_month[date(2027, 10, 1)] == 20000
        assert metrics.mrr(s, client_id=client_id) == 20000
    assert by_month[date(2026, 12, 1)] == 0
    assert [by_month[date(2027, m, 1)] for m in range(1, 11)] == [20000] * 5 + [10000] * 3 + [
        20000
    ] * 2
    assert other_id != sub_id


def test_a_discount_and_a_pause_together(db, discounted):
    """Paused while the coupon runs: 0 while paused; the coupon's cycles
    wait for the renewals after the pause (no renewal, no cycle used)."""
    sub_id = discounted["subscription_id"]
    _renew_and_pay(db, datetime(2027, 2, 10, 10, 30, tzinfo=UTC))  # cycle 1
    with time_machine.travel(datetime(2027, 2, 20, tzinfo=UTC), tick=False), db.session() as s:
        pauses.pause(s, s.get(Subscription, sub_id), date(2027, 5, 1))
        s.commit()
    for at in (datetime(2027, 3, 10, 10, 30), datetime(2027, 4, 10, 10, 30)):
        assert _renew_and_pay(db, at.replace(tzinfo=UTC)) == []
    resumed = _renew_and_pay(db, datetime(2027, 5, 1, 0, 30, tzinfo=UTC))  # cycle 2
    assert [i.subtotal for i in resumed] == [8000]
    now = datetime(2027, 5, 20, tzinfo=UTC)
    with db.session() as s:
        by_month = {m.month: m.mrr for m in metrics.history(s, now=now)}
        horizons = metrics.forecast(s, now=now, days=(30, 60))
    assert [by_month[date(2027, m, 1)] for m in range(1, 6)] == [8000, 0, 0, 0, 8000]
    # June 1 uses the third cycle, July 1 is full price.
    assert [(h.renewals, h.amount) for h in horizons] == [(1, 8000), (2, 18000)]


def _moves(month) -> tuple:
    m = month.movements
    return (m.new, m.expansion, m.contraction, m.churn, m.reactivation)


def test_movements_of_a_coupon_and_of_a_summer_pause(db, discounted):
    sub_id = discounted["subscription_id"]
    for month in range(2, 6):
        _renew_and_pay(db, datetime(2027, month, 10, 10, 30, tzinfo=UTC))
    # Paused on May 20 until Sept 1 (June 10 - Sept 1 not served).
    with time_machine.travel(datetime(2027, 5, 20, tzinfo=UTC), tick=False), db.session() as s:
        pauses.pause(s, s.get(Subscription, sub_id), date(2027, 9, 1))
        s.commit()
    for at in (datetime(2027, 6, 10, 10, 30), datetime(2027, 9, 1, 0, 30)):
        _renew_and_pay(db, at.replace(tzinfo=UTC))
    with db.session() as s:
        months = {m.month: m for m in metrics.history(s, now=datetime(2027, 9, 15, tzinfo=UTC))}
    moves = {m: _moves(months[date(2027, m, 1)]) for m in range(1, 10)}
    #            new    expansion  contraction  churn   reactivation
    assert moves == {
        1: (8000, 0, 0, 0, 0),  # started with the coupon standing
        2: (0, 0, 0, 0, 0),
        3: (0, 0, 0, 0, 0),
        4: (0, 2000, 0, 0, 0),  # the coupon's third cycle used: full price
        5: (0, 0, 0, -10000, 0),  # paused
        6: (0, 0, 0, 0, 0),
        7: (0, 0, 0, 0, 0),
        8: (0, 0, 0, 0, 0),
        9: (0, 0, 0, 0, 10000),  # resumed
    }


def test_the_history_api_answers_the_movements(api_eur, db):
    with time_machine.travel(START, tick=False), db.session() as s:
        _buy(s, _client(s), _plan(s, IntervalUnit.MONTH, 1, 10000))
        s.commit()
    with time_machine.travel(datetime(2027, 1, 20, tzinfo=UTC), tick=False):
        months = api_eur.get("/metrics/history").get_json()["data"]
    assert months[-1]["month"] == "2027-01"
    assert months[-1]["mrr"] == 10000
    assert months[-1]["movements"] == {
        "new": 10000,
        "expansion": 0,
        "contraction": 0,
        "churn": 0,
        "reactivation": 0,
    }
    assert all(sum(m["movements"].values()) == 0 for m in months[:-1])


# Property: whatever starts, ends, pauses and discounts, the movements of
# each month sum to its MRR change, exactly, with their signs.

T_END = datetime(2027, 3, 15, 10, 0, tzinfo=UTC)
moments = st.datetimes(
    min_value=datetime(2025, 12, 1), max_value=datetime(2027, 3, 14), timezones=st.just(UTC)
)
life_specs = st.lists(
    st.tuples(
        st.sampled_from([(IntervalUnit.MONTH, 1), (IntervalUnit.YEAR, 1), (IntervalUnit.WEEK, 2)]),
        st.integers(0, 1_000_000),  # unit amount
        st.integers(1, 3),  # quantity
        st.lists(moments, min_size=1, max_size=6, unique=True),  # start, then events
        st.sampled_from(["none", "ended", "paused", "paused now", "reactivated"]),
        st.one_of(
            st.none(),
            st.tuples(
                st.sampled_from(["12.5", "33.33", "100", 999, 10**7]),
                st.booleans(),  # the discount ended
                st.booleans(),  # given to the client (else to the subscription)
            ),
        ),
    ),
    max_size=8,
)


@pytest.mark.parametrize(
    "database_url",
    ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True,
)
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(specs=life_specs, zone=st.sampled_from(["UTC", "Europe/Paris", "Pacific/Auckland"]))
def test_movements_sum_to_the_mrr_change(db, specs, zone):
    with db.session() as s:
        from tests import shop

        shop.open_business(s, timezone=zone)
        client = _client(s)
        plans: dict[tuple, Plan] = {}
        first_id = None
        for (unit, count), amount, quantity, times, fate, discount in specs:
            times = sorted(times)
            plan = plans.get((unit, count))
            if plan is None:
                plan = plans[(unit, count)] = _plan(s, unit, count, 100)
            sub = Subscription(
                client_id=client.id,
                plan_id=plan.id,
                status=SubscriptionStatus.ACTIVE,
                quantity=quantity,
                unit_amount=amount,
                currency="EUR",
                tax_rate_ids=[],
                anchor_at=times[0],
                created_at=times[0],
            )
            s.add(sub)
            s.flush()
            first_id = first_id or sub.id
            later = times[1:]
            if fate == "ended" and later:
                sub.status, sub.ended_at = SubscriptionStatus.CANCELLED, later[0]
            elif fate == "reactivated":
                sub.reactivated_from_id = first_id
            elif fate.startswith("paused") and later:
                # Paused and resumed in turn; "paused now" is left paused.
                for k, at in enumerate(later):
                    action = "subscription.paused" if k % 2 == 0 else "subscription.resumed"
                    s.add(_entry(client.id, sub.id, action, at))
                if fate == "paused now" and len(later) % 2 == 1:
                    sub.paused_at = later[-1]
            if discount is not None:
                off, ended, to_client = discount
                coupon = coupons.create_coupon(
                    s,
                    name="Off",
                    percent_off=off if isinstance(off, str) else None,
                    amount_off=off if isinstance(off, int) else None,
                    duration="forever",
                )
                s.add(
                    Discount(
                        coupon=coupon,
                        client_id=client.id if to_client else None,
                        subscription_id=None if to_client else sub.id,
                        created_at=times[-1],
                        ended_at=times[-1] + timedelta(days=40) if ended else None,
                    )
                )
        s.flush()
        months = metrics.history(s, now=T_END)
        longer = metrics.history(s, now=T_END, months=13)
        s.rollback()
    assert [m.mrr for m in longer[1:]] == [m.mrr for m in months]
    previous = longer[0].mrr
    for month in months:
        new, expansion, contraction, churn, reactivation = _moves(month)
        assert new + expansion + contraction + churn + reactivation == month.mrr - previous
        assert min(new, expansion, reactivation) >= 0 >= max(contraction, churn)
        assert month.mrr >= 0
        previous = month.mrr


def _entry(client_id, sub_id, action, at):
    return AuditEntry(
        actor_kind="system",
        actor_id=None,
        actor_label="",
        action=action,
        object_type="subscription",
        object_id=sub_id,
        client_id=client_id,
        summary={},
        created_at=at,
    )


def test_a_plan_change_at_renewal_is_forecast_on_the_new_terms(db, business):
    """Monthly 10.00 -> 20.00 at the Feb 10 renewal: the forecast counts
    20.00 from Feb 10 (not 10.00), a 20 % forever coupon taken off the new
    price; monthly -> yearly renews once, on Feb 10, at the yearly price.
    The billing preview and the renew job agree."""
    from bridge.billing import plan_changes

    with time_machine.travel(START, tick=False), db.session() as s:
        ten = _plan(s, IntervalUnit.MONTH, 1, 1000)
        twenty = _plan(s, IntervalUnit.MONTH, 1, 2000)
        yearly = _plan(s, IntervalUnit.YEAR, 1, 15000)
        upgraded = _buy(s, _client(s), ten)
        discounted = _buy(s, _client(s, "Bo Chen"), ten)
        coupons.apply_to_subscription(
            s,
            discounted,
            coupons.create_coupon(s, name="Friends", percent_off="20", duration="forever"),
        )
        to_yearly = _buy(s, _client(s, "Cy Diaz"), ten)
        s.commit()
        ids = (upgraded.id, discounted.id, to_yearly.id)
    now = datetime(2027, 1, 20, 10, 0, tzinfo=UTC)
    with time_machine.travel(now, tick=False), db.session() as s:
        for sub_id, plan in zip(ids, (twenty, twenty, yearly), strict=True):
            plan_changes.schedule(s, s.get(Subscription, sub_id), plan_id=plan.id, now=now)
        s.commit()
    with db.session() as s:
        horizons = metrics.forecast(s, now=now, days=(30, 60))
        by_client = [
            metrics.forecast(s, now=now, days=(30, 60), client_id=s.get(Subscription, i).client_id)
            for i in ids
        ]
        everyone = metrics.billing_preview(s, now=now, months=2, detail=False)
    # Feb 10 and Mar 10: 20.00 each, 16.00 each; Feb 10 only: 150.00.
    assert [[(h.renewals, h.amount) for h in f] for f in by_client] == [
        [(1, 2000), (2, 4000)],
        [(1, 1600), (2, 3200)],
        [(1, 15000), (1, 15000)],
    ]
    assert [(h.renewals, h.amount) for h in horizons] == [(3, 18600), (5, 22200)]
    # Within 60 days of Jan 20 (Mar 21): Feb and Mar renewals, as the preview.
    assert sum(m.subtotal for m in everyone[:3]) == horizons[1].amount
    # The renew job bills exactly those.
    issued = _renew_and_pay(db, datetime(2027, 2, 10, 10, 30, tzinfo=UTC))
    issued += _renew_and_pay(db, datetime(2027, 3, 10, 10, 30, tzinfo=UTC))
    assert sum(i.subtotal for i in issued) == horizons[1].amount
