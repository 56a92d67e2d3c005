"""Renewals on time, every time: the clock moved day by day over months and
years with the scheduler's jobs run each day (SQLite; the PostgreSQL
behaviour under concurrency is in test_concurrency.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bridge.models import InvoiceStatus
from bridge.models.subscriptions import SubscriptionStatus
from tests.scheduler.conftest import (
    Days,
    outbox,
    renewal_invoices,
    set_timezone,
    subscribe,
    subscription,
)

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def local_days(invoices, tz="UTC") -> list[date]:
    return [i.period_start.astimezone(ZoneInfo(tz)).date() for i in invoices]


@pytest.mark.slow  # a year of days, the jobs run each day
def test_monthly_plan_from_jan_31_with_12_cycles_renews_11_times_then_expires(
    db, ctx, shop, gateway
):
    start = datetime(2027, 1, 31, 10, 0, tzinfo=UTC)
    sub_id = subscribe(db, shop["monthly12"], start)

    Days(ctx, start).run(14 * 31)

    renewals = renewal_invoices(db, sub_id)
    # The first of the 12 invoices is the purchase; 11 renewals follow.
    assert local_days(renewals) == [
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
        date(2027, 5, 31),
        date(2027, 6, 30),
        date(2027, 7, 31),
        date(2027, 8, 31),
        date(2027, 9, 30),
        date(2027, 10, 31),
        date(2027, 11, 30),
        date(2027, 12, 31),
    ]
    assert [i.issued_at.date() for i in renewals] == local_days(renewals)
    assert all(i.status == InvoiceStatus.PAID for i in renewals)
    # Each renewal charged exactly once, for its own amount.
    assert len(gateway.charges) == 11
    for invoice in renewals:
        (charge,) = gateway.succeeded_for(invoice.id)
        assert charge["amount"] == invoice.total
    ended = subscription(db, sub_id)
    assert ended.status == SubscriptionStatus.EXPIRED
    assert ended.ended_at == datetime(2028, 1, 31, 10, 0, tzinfo=UTC)
    assert [m.to_address for m in outbox(db, "subscription_expired")] == ["ana@client.example"]


def test_weekly_plan_renews_every_seven_days(db, ctx, shop, gateway):
    start = datetime(2027, 3, 3, 8, 30, tzinfo=UTC)
    sub_id = subscribe(db, shop["weekly"], start)

    Days(ctx, start).run(7 * 10)

    renewals = renewal_invoices(db, sub_id)
    assert local_days(renewals) == [(start + timedelta(weeks=n)).date() for n in range(1, 11)]
    assert len(gateway.charges) == 10
    assert subscription(db, sub_id).status == SubscriptionStatus.ACTIVE


@pytest.mark.slow  # four years of days
def test_yearly_plan_from_feb_29_renews_feb_28_in_common_years(db, ctx, shop, gateway):
    start = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)
    sub_id = subscribe(db, shop["yearly"], start)

    Days(ctx, start).run(4 * 366 + 1)

    assert local_days(renewal_invoices(db, sub_id)) == [
        date(2029, 2, 28),
        date(2030, 2, 28),
        date(2031, 2, 28),
        date(2032, 2, 29),
    ]
    assert len(gateway.charges) == 4


def test_cancel_at_period_end_stops_renewal_on_the_day(db, ctx, shop, gateway, api):
    start = datetime(2027, 5, 15, 9, 0, tzinfo=UTC)
    sub_id = subscribe(db, shop["monthly"], start)
    days = Days(ctx, start)
    days.run(40)  # one renewal, on June 15
    response = api.post(f"/subscriptions/{sub_id}/cancel", json={"at_period_end": True})
    assert response.status_code == 200, response.json

    days.run(60)

    assert local_days(renewal_invoices(db, sub_id)) == [date(2027, 6, 15)]
    ended = subscription(db, sub_id)
    assert ended.status == SubscriptionStatus.CANCELLED
    assert ended.ended_at == datetime(2027, 7, 15, 9, 0, tzinfo=UTC)
    assert len(gateway.charges) == 1
    assert len(outbox(db, "subscription_cancelled")) == 1


@pytest.mark.slow  # two years of days, twice
@pytest.mark.parametrize("tz", ["Europe/Paris", "Pacific/Auckland"])
def test_two_years_across_dst_changes_give_one_invoice_per_period_on_the_local_day(
    db, ctx, shop, gateway, tz
):
    set_timezone(db, tz)
    zone = ZoneInfo(tz)
    # Bought at 00:30 local time on Jan 31: the earliest hour of the day, the
    # one a wrong offset would push onto the previous day.
    start = datetime(2027, 1, 31, 0, 30, tzinfo=zone).astimezone(UTC)
    sub_id = subscribe(db, shop["monthly"], start)
    days = Days(ctx, start, jobs=("renew",))
    # Three runs a day: the renewal never waits a whole day, and runs fall
    # at every hour of the local day over the two years.
    while days.now < datetime(2029, 2, 1, tzinfo=UTC):
        days.now += timedelta(hours=8)
        days.tick()

    renewals = renewal_invoices(db, sub_id)
    expected = []
    for n in range(1, 25):
        year, month = 2027 + n // 12, n % 12 + 1
        last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
        expected.append(date(year, month, min(31, last)))
    assert local_days(renewals, tz) == expected
    # Every period starts at 00:30 local time, in summer and in winter.
    assert {i.period_start.astimezone(zone).time().isoformat() for i in renewals} == {"00:30:00"}
    assert [i.issued_at.astimezone(zone).date() for i in renewals] == expected
    assert len({(i.period_start, i.period_end) for i in renewals}) == 24
    assert len(gateway.charges) == 24
