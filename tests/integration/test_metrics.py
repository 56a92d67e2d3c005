"""Revenue figures (SPEC 10): MRR and net billing exact to the minor unit,
against known vectors and against a plain Decimal reference over random
subscriptions; the clients' stored figures in step with the domain; history,
forecast and the overview."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from zoneinfo import ZoneInfo

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bridge.billing import catalog, invoices, metrics, subscriptions
from bridge.billing.business import get_settings as business_settings
from bridge.billing.invoices import Item
from bridge.models import (
    Client,
    IntervalUnit,
    PaymentMethod,
    Plan,
    PlanKind,
)
from bridge.models.subscriptions import Subscription, SubscriptionStatus
from tests import shop

T0 = datetime(2027, 3, 15, 10, 0, tzinfo=UTC)

# Months per unit in the reference: yearly / 12, weekly x 52 / 12, daily x 365 / 12.
PER_MONTH = {
    IntervalUnit.MONTH: (Decimal(1), Decimal(1)),
    IntervalUnit.YEAR: (Decimal(1), Decimal(12)),
    IntervalUnit.WEEK: (Decimal(52), Decimal(12)),
    IntervalUnit.DAY: (Decimal(365), Decimal(12)),
}


def reference_mrr(rows) -> int:
    """The SPEC 10 definition with Decimal: each subscription normalised to a
    month, summed, rounded half-up to the minor unit once at the end."""
    with localcontext() as ctx:
        ctx.prec = 80
        total = Decimal(0)
        for status, unit, count, amount, quantity in rows:
            if status not in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE):
                continue
            times, per = PER_MONTH[unit]
            total += Decimal(amount * quantity) * times / per / count
        # 80 digits carry the exact value to well past 40 places: snapping
        # there first removes the last digit's division error (x.4999...).
        return int(total.quantize(Decimal("1e-40")).quantize(Decimal(1), ROUND_HALF_UP))


def _plan(session, unit: IntervalUnit, count: int, amount: int, *, cycles=None) -> Plan:
    product = catalog.create_product(session, name=f"Plan {unit} {count} {amount}")
    return catalog.create_plan(
        session,
        product,
        name=f"every {count} {unit}",
        kind=PlanKind.RECURRING,
        amount=amount,
        interval_unit=unit,
        interval_count=count,
        billing_cycles=cycles,
    )


def _buy(session, client, plan: Plan, *, quantity=1, pay=True, tax_rate_ids=None, site_id=None):
    """Bill ``plan`` to ``client`` and (by default) pay it: its subscription."""
    invoice = invoices.bill_client(
        session, client, [Item(plan.id, quantity)], tax_rate_ids=tax_rate_ids, site_id=site_id
    )
    invoices.finalize(session, invoice)
    if pay:
        invoices.record_offline_payment(
            session, invoice, amount=invoice.total, method=PaymentMethod.BANK_TRANSFER
        )
    session.flush()
    return session.get(Subscription, invoice.lines[0].subscription_id)


def _client(session, name="Ana Lima") -> Client:
    email = f"{secrets.token_hex(4)}@client.example"
    return session.get(Client, shop.add_client(session, name=name, email=email))


@pytest.fixture
def business(db):
    with time_machine.travel(T0, tick=False), db.session() as s:
        shop.open_business(s)


# Known vectors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "count", "amount", "expected"),
    [
        (IntervalUnit.YEAR, 1, 120000, 10000),  # yearly 1,200.00 -> 100.00
        (IntervalUnit.MONTH, 3, 9999, 3333),  # every 3 months 99.99 -> 33.33
        (IntervalUnit.WEEK, 1, 1000, 4333),  # weekly 10.00 -> 43.33
        (IntervalUnit.DAY, 1, 100, 3042),  # daily 1.00 -> 30.4166.. -> 30.42
        (IntervalUnit.MONTH, 1, 2900, 2900),
    ],
)
def test_mrr_known_vectors(db, business, unit, count, amount, expected):
    with time_machine.travel(T0, tick=False), db.session() as s:
        client = _client(s)
        _buy(s, client, _plan(s, unit, count, amount))
        assert metrics.mrr(s) == expected
        assert metrics.mrr(s, client_id=client.id) == expected
        s.commit()  # the client's figures are written as the transaction commits
        s.refresh(client)
        assert client.mrr == expected
        assert metrics.overview(s)["revenue"]["mrr"] == expected


def test_a_past_due_subscription_counts_and_a_pending_one_does_not(db, business):
    with time_machine.travel(T0, tick=False), db.session() as s:
        client = _client(s)
        plan = _plan(s, IntervalUnit.MONTH, 1, 5000)
        due = _buy(s, client, plan)
        _buy(s, client, plan, pay=False)  # pending: its first invoice is unpaid
        assert metrics.mrr(s) == 5000
        subscriptions.mark_past_due(s, due, T0)
        s.flush()
        assert due.status == SubscriptionStatus.PAST_DUE
        assert metrics.mrr(s) == 5000
        overview = metrics.overview(s)
        assert overview["revenue"]["active_subscriptions"] == 1
        assert overview["clients"]["with_active_subscriptions"] == 1


def test_rounding_happens_once_at_the_end_not_per_subscription(db, business):
    # Three subscriptions of 33.33 + 1/3 cent each: per-subscription rounding
    # would give 99.99; the exact sum is 100.00.
    with time_machine.travel(T0, tick=False), db.session() as s:
        client = _client(s)
        plan = _plan(s, IntervalUnit.MONTH, 3, 10000)
        for _ in range(3):
            _buy(s, client, plan)
        assert metrics.mrr(s) == 10000
        s.commit()
        s.refresh(client)
        assert client.mrr == 10000


def test_cancelling_updates_the_clients_mrr_when_the_transaction_commits(db, business):
    with time_machine.travel(T0, tick=False), db.session() as s:
        client = _client(s)
        sub = _buy(s, client, _plan(s, IntervalUnit.YEAR, 1, 120000), quantity=2)
        s.commit()
        s.refresh(client)
        assert client.mrr == 20000
        subscriptions.cancel(s, sub, at_period_end=False)
        s.flush()
        s.refresh(client)
        assert client.mrr == 20000  # not yet: written just before the commit
        s.commit()
        s.refresh(client)
        assert client.mrr == 0


# Random subscriptions against the reference ----------------------------------------------


# Every interval unit with every count a plan may have (at most three years).
intervals = st.one_of(
    st.tuples(st.just(IntervalUnit.DAY), st.integers(1, 1095)),
    st.tuples(st.just(IntervalUnit.WEEK), st.integers(1, 156)),
    st.tuples(st.just(IntervalUnit.MONTH), st.integers(1, 36)),
    st.tuples(st.just(IntervalUnit.YEAR), st.integers(1, 3)),
)
subscription_specs = st.lists(
    st.tuples(
        st.sampled_from(list(SubscriptionStatus)),
        intervals,
        st.integers(min_value=0, max_value=10_000_000),
        st.integers(min_value=1, max_value=50),
        st.integers(min_value=0, max_value=2),  # which client
    ),
    max_size=25,
)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(specs=subscription_specs)
def test_mrr_equals_the_decimal_reference_for_random_subscriptions(db, specs):
    with db.session() as s:
        shop.open_business(s)
        clients = [_client(s, name=f"Client {k}") for k in range(3)]
        plans: dict[tuple, Plan] = {}
        specs = [(status, u, c, a, q, w) for status, (u, c), a, q, w in specs]
        for status, unit, count, amount, quantity, who in specs:
            plan = plans.get((unit, count))
            if plan is None:
                plan = plans[(unit, count)] = _plan(s, unit, count, 100)
            s.add(
                Subscription(
                    client_id=clients[who].id,
                    plan_id=plan.id,
                    status=status,
                    quantity=quantity,
                    unit_amount=amount,
                    currency="EUR",
                    tax_rate_ids=[],
                    created_at=T0,
                )
            )
        s.flush()
        rows = [(st_, u, c, a, q) for st_, u, c, a, q, _w in specs]
        assert metrics.mrr(s) == reference_mrr(rows)
        assert metrics.overview(s)["revenue"]["mrr"] == reference_mrr(rows)
        metrics.refresh_all(s)
        for k, client in enumerate(clients):
            mine = [(st_, u, c, a, q) for st_, u, c, a, q, w in specs if w == k]
            assert metrics.mrr(s, client_id=client.id) == reference_mrr(mine)
            assert s.get(Client, client.id).mrr == reference_mrr(mine)
        s.rollback()


invoice_specs = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=5),  # quantity
        st.sampled_from(["draft", "open", "paid", "void", "uncollectible", "credited"]),
        st.booleans(),  # with VAT
        st.integers(min_value=0, max_value=1),  # which client
    ),
    min_size=1,
    max_size=8,
)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(specs=invoice_specs)
def test_net_billing_equals_the_sum_over_domain_built_invoices(db, specs):
    with time_machine.travel(T0, tick=False), db.session() as s:
        shop.open_business(s)
        vat = shop.add_vat(s, "20")
        product = catalog.create_product(s, name="Work")
        plan = catalog.create_plan(
            s, product, name="Day of work", kind=PlanKind.ONE_TIME, amount=33333
        )
        clients = [_client(s, name=f"Client {k}") for k in range(2)]
        built, notes = [], []
        for quantity, fate, with_vat, who in specs:
            invoice = invoices.bill_client(
                s, clients[who], [Item(plan.id, quantity)], tax_rate_ids=[vat] if with_vat else []
            )
            if fate != "draft":
                invoices.finalize(s, invoice)
            if fate in ("paid", "credited"):
                invoices.record_offline_payment(
                    s, invoice, amount=invoice.total, method=PaymentMethod.CASH
                )
            if fate == "credited":
                notes.append(invoices.issue_credit_note(s, invoice, amount=invoice.total // 3 + 1))
            if fate == "void":
                invoices.void(s, invoice)
            if fate == "uncollectible":
                invoices.mark_uncollectible(s, invoice)
            built.append((who, invoice))
        s.flush()
        metrics.refresh_pending(s)  # what committing runs (the examples roll back)
        finalized = ("open", "paid", "uncollectible")
        expected = sum(i.subtotal for _w, i in built if i.status.value in finalized) - sum(
            n.subtotal for n in notes
        )
        assert metrics.net_billing(s).before_tax == expected
        assert metrics.overview(s)["revenue"]["net_billing"] == expected
        for k, client in enumerate(clients):
            s.refresh(client)
            mine = [i for w, i in built if w == k]
            included = sum(i.total for i in mine if i.status.value in finalized) - sum(
                n.amount for n in notes if n.client_id == client.id
            )
            assert client.net_billing == included
            assert metrics.net_billing(s, client_id=client.id).tax_included == included
        s.rollback()


# History, forecast, overview ------------------------------------------------------------


def test_history_follows_starts_and_cancellations_month_by_month(db, business):
    with db.session() as s:
        shop.add_vat(s)
        plan = _plan(s, IntervalUnit.MONTH, 1, 10000)
        yearly = _plan(s, IntervalUnit.YEAR, 1, 120000)
        client = _client(s)
    with time_machine.travel(datetime(2026, 5, 10, tzinfo=UTC), tick=False), db.session() as s:
        client = s.get(Client, client.id)
        early = _buy(s, client, s.get(Plan, plan.id))
    with time_machine.travel(datetime(2026, 9, 20, tzinfo=UTC), tick=False), db.session() as s:
        _buy(s, s.get(Client, client.id), s.get(Plan, yearly.id))
    with time_machine.travel(datetime(2027, 1, 5, tzinfo=UTC), tick=False), db.session() as s:
        subscriptions.cancel(s, s.get(Subscription, early.id), at_period_end=False)
    with db.session() as s:
        months = metrics.history(s, now=T0)
    assert [m.month for m in months][:2] == [date(2026, 4, 1), date(2026, 5, 1)]
    assert months[-1].month == date(2027, 3, 1)
    by_month = {m.month: m for m in months}
    assert by_month[date(2026, 4, 1)].mrr == 0
    assert by_month[date(2026, 5, 1)].mrr == 10000
    assert by_month[date(2026, 8, 1)].mrr == 10000
    assert by_month[date(2026, 9, 1)].mrr == 20000
    assert by_month[date(2026, 12, 1)].mrr == 20000
    assert by_month[date(2027, 1, 1)].mrr == 10000  # cancelled on Jan 5
    assert by_month[date(2027, 3, 1)].mrr == 10000
    # Billing: each paid invoice in the month it was issued, before tax.
    assert by_month[date(2026, 5, 1)].billing == 10000
    assert by_month[date(2026, 9, 1)].billing == 120000
    assert by_month[date(2026, 6, 1)].billing == 0


def test_history_months_are_the_business_time_zone_months(db, business):
    with db.session() as s:
        business_settings(s).timezone = "Pacific/Auckland"
        plan_id = _plan(s, IntervalUnit.MONTH, 1, 10000).id
        client_id = _client(s).id
    # Sep 30 20:00 UTC is already Oct 1 in Auckland.
    with time_machine.travel(datetime(2026, 9, 30, 20, tzinfo=UTC), tick=False), db.session() as s:
        _buy(s, s.get(Client, client_id), s.get(Plan, plan_id))
    with db.session() as s:
        by_month = {m.month: m for m in metrics.history(s, now=T0)}
    assert by_month[date(2026, 9, 1)].mrr == 0
    assert by_month[date(2026, 10, 1)].mrr == 10000
    assert by_month[date(2026, 10, 1)].billing == 10000


def test_forecast_counts_each_renewal_and_skips_ending_subscriptions(db, business):
    with time_machine.travel(T0, tick=False), db.session() as s:
        client = _client(s)
        # Now is Mar 15: 30 days reach Apr 14, 60 May 14, 90 Jun 13.
        _buy(s, client, _plan(s, IntervalUnit.MONTH, 1, 1000))  # Apr 15, May 15
        _buy(s, client, _plan(s, IntervalUnit.WEEK, 1, 100))  # 12 renewals in 90 days
        _buy(s, client, _plan(s, IntervalUnit.YEAR, 1, 99999))  # none
        ending = _buy(s, client, _plan(s, IntervalUnit.MONTH, 1, 5000))
        subscriptions.cancel(s, ending, at_period_end=True)
        _buy(s, client, _plan(s, IntervalUnit.MONTH, 1, 7000, cycles=2))  # one renewal left
        _buy(s, client, _plan(s, IntervalUnit.MONTH, 1, 3000, cycles=1))  # none left
        s.flush()
        horizons = metrics.forecast(s, now=T0)
    assert [(h.days, h.renewals, h.amount) for h in horizons] == [
        (30, 4, 400),
        (60, 1 + 8 + 1, 1000 + 800 + 7000),
        (90, 2 + 12 + 1, 2000 + 1200 + 7000),
    ]


def test_overview_counts_clients_products_and_plans(db, business):
    with time_machine.travel(T0, tick=False), db.session() as s:
        client = _client(s)
        _client(s, name="No subscription")
        _buy(s, client, _plan(s, IntervalUnit.MONTH, 1, 1000))
        catalog.create_product(s, name="Empty product")
        one_time = catalog.create_product(s, name="Setup")
        catalog.create_plan(s, one_time, name="Setup", kind=PlanKind.ONE_TIME, amount=5000)
        s.commit()
        overview = metrics.overview(s)
    assert overview["currency"] == "EUR"
    assert overview["revenue"] == {"mrr": 1000, "active_subscriptions": 1, "net_billing": 1000}
    assert overview["clients"] == {
        "total": 2,
        "average_billing": 500,
        "with_active_subscriptions": 1,
    }
    assert overview["products"] == {
        "total": 3,
        "active_one_time_plans": 1,
        "active_recurring_plans": 1,
    }
    assert overview["stripe"]["connected"] is False


def test_refresh_all_agrees_with_the_figures_kept_by_events(db, business):
    with time_machine.travel(T0, tick=False), db.session() as s:
        first, second = _client(s), _client(s, name="Bo")
        _buy(s, first, _plan(s, IntervalUnit.WEEK, 2, 1999), quantity=3)
        _buy(s, second, _plan(s, IntervalUnit.DAY, 7, 500))
        s.commit()
        kept = {c.id: (c.mrr, c.net_billing, c.net_billing_before_tax) for c in (first, second)}
        s.execute(Client.__table__.update().values(mrr=0, net_billing=0))
        metrics.refresh_all(s)
        again = {
            c.id: (c.mrr, c.net_billing, c.net_billing_before_tax)
            for c in s.scalars(select(Client))
        }
    assert again == kept
    assert all(value[0] > 0 for value in kept.values())


def test_preview_skips_ending_subscriptions_and_uses_the_rates(db, business):
    with time_machine.travel(T0, tick=False), db.session() as s:
        vat = shop.add_vat(s, "20")
        client = _client(s)
        _buy(s, client, _plan(s, IntervalUnit.MONTH, 1, 1000), tax_rate_ids=[vat])
        ending = _buy(s, client, _plan(s, IntervalUnit.MONTH, 1, 5000))
        subscriptions.cancel(s, ending, at_period_end=True)
        s.flush()
        months = metrics.billing_preview(s, client_id=client.id, now=T0)
    issued = [i for m in months for i in m.invoices]
    assert len(issued) == 12
    assert issued[0].issue_date == date(2027, 4, 15)
    assert issued[-1].issue_date == date(2028, 3, 15)
    assert {(i.subtotal, i.tax, i.total) for i in issued} == {(1000, 200, 1200)}
    assert months[0].month == date(2027, 3, 1) and months[0].invoices == []
    assert sum(m.total for m in months) == 12 * 1200


forecast_specs = st.lists(
    st.tuples(
        intervals,
        st.datetimes(
            min_value=datetime(2024, 1, 1), max_value=datetime(2027, 3, 14), timezones=st.just(UTC)
        ),
        st.one_of(st.none(), st.integers(1, 40)),  # billing cycles
        st.integers(1, 1000),  # amount
    ),
    max_size=12,
)


# Both databases: the forecast's aggregates are SQL of each dialect.
@pytest.mark.parametrize(
    "database_url",
    ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True,
)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    specs=forecast_specs,
    zone=st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe"]),
    now=st.datetimes(
        min_value=datetime(2027, 3, 1), max_value=datetime(2027, 11, 30), timezones=st.just(UTC)
    ),
)
def test_forecast_equals_renewals_counted_one_by_one(db, specs, zone, now):
    from bridge.billing.periods import period_boundary

    tz = ZoneInfo(zone)
    with db.session() as s:
        shop.open_business(s)
        business_settings(s).timezone = zone
        client = _client(s)
        expected = {30: [0, 0], 60: [0, 0], 90: [0, 0]}
        for (unit, count), anchor, cycles, amount in specs:
            plan = _plan(s, unit, count, amount, cycles=cycles)
            # The period the subscription is in at ``now``, found by walking.
            index = 0
            while period_boundary(anchor, unit, count, index + 1, tz) <= now:
                index += 1
            invoiced = index + 1
            s.add(
                Subscription(
                    client_id=client.id,
                    plan_id=plan.id,
                    status=SubscriptionStatus.ACTIVE,
                    quantity=1,
                    unit_amount=amount,
                    currency="EUR",
                    tax_rate_ids=[],
                    anchor_at=anchor,
                    period_index=index,
                    current_period_start=period_boundary(anchor, unit, count, index, tz),
                    current_period_end=period_boundary(anchor, unit, count, index + 1, tz),
                    cycles_invoiced=invoiced,
                    created_at=anchor,
                )
            )
            for days, sums in expected.items():
                k = index + 1
                while (cycles is None or invoiced + (k - index - 1) < cycles) and period_boundary(
                    anchor, unit, count, k, tz
                ) <= now + timedelta(days=days):
                    sums[0] += 1
                    sums[1] += amount
                    k += 1
        s.flush()
        found = metrics.forecast(s, now=now)
        s.rollback()
    assert [(h.days, h.renewals, h.amount) for h in found] == [
        (d, n, a) for d, (n, a) in expected.items()
    ]


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_two_transactions_changing_the_same_clients_in_opposite_orders_do_not_deadlock(db):
    """Two schedulers (or staff) cancelling subscriptions of the same two
    clients in opposite orders: the clients' figures are written at commit,
    in id order, so one waits for the other instead of deadlocking."""
    import threading

    with time_machine.travel(T0, tick=False), db.session() as s:
        shop.open_business(s)
        first, second = _client(s), _client(s, name="Bo")
        plan = _plan(s, IntervalUnit.MONTH, 1, 1000)
        subs = {
            (who, k): _buy(s, client, plan).id
            for who, client in (("first", first), ("second", second))
            for k in range(2)
        }
        ids = (first.id, second.id)
    barrier = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []

    def cancel(order, k):
        try:
            with db.session() as s:
                for n, who in enumerate(order):
                    subscriptions.cancel(
                        s, s.get(Subscription, subs[(who, k)]), at_period_end=False
                    )
                    s.flush()
                    if n == 0:
                        barrier.wait()
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [
        threading.Thread(target=cancel, args=(("first", "second"), 0)),
        threading.Thread(target=cancel, args=(("second", "first"), 1)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    with db.session() as s:
        assert [s.get(Client, i).mrr for i in ids] == [0, 0]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    specs=st.lists(
        st.tuples(
            intervals,
            st.datetimes(
                min_value=datetime(2026, 1, 1),
                max_value=datetime(2027, 3, 14),
                timezones=st.just(UTC),
            ),
            st.one_of(st.none(), st.integers(1, 400)),
        ),
        min_size=1,
        max_size=6,
    ),
    zone=st.sampled_from(["UTC", "Europe/Paris", "America/New_York"]),
)
def test_the_counted_preview_equals_the_listed_one(db, specs, zone):
    """The whole business's preview counts day and week renewals by month
    arithmetically; it must give what listing them one by one gives."""
    from bridge.billing.periods import period_boundary

    tz = ZoneInfo(zone)
    with db.session() as s:
        shop.open_business(s)
        business_settings(s).timezone = zone
        client = _client(s)
        for (unit, count), anchor, cycles in specs:
            plan = _plan(s, unit, count, 1000, cycles=cycles)
            index = 0
            while period_boundary(anchor, unit, count, index + 1, tz) <= T0:
                index += 1
            s.add(
                Subscription(
                    client_id=client.id,
                    plan_id=plan.id,
                    status=SubscriptionStatus.ACTIVE,
                    quantity=2,
                    unit_amount=999,
                    currency="EUR",
                    tax_rate_ids=[],
                    anchor_at=anchor,
                    period_index=index,
                    current_period_start=period_boundary(anchor, unit, count, index, tz),
                    current_period_end=period_boundary(anchor, unit, count, index + 1, tz),
                    cycles_invoiced=min(index + 1, cycles or index + 1),
                    created_at=anchor,
                )
            )
        s.flush()
        listed = metrics.billing_preview(s, now=T0)
        counted = metrics.billing_preview(s, now=T0, detail=False)
        s.rollback()
    assert [(m.month, m.count, m.total) for m in counted] == [
        (m.month, len(m.invoices), m.total) for m in listed
    ]
