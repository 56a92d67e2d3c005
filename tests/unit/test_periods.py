"""Billing periods follow the calendar, anchored on the start day."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.billing.periods import add_months, period, period_boundary
from bridge.models import IntervalUnit

JAN_31 = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)


def starts(anchor, unit, count, n):
    return [period_boundary(anchor, unit, count, i).date().isoformat() for i in range(n)]


def test_month_end_anchor_clamps_then_comes_back():
    assert starts(JAN_31, IntervalUnit.MONTH, 1, 5) == [
        "2026-01-31",
        "2026-02-28",
        "2026-03-31",
        "2026-04-30",
        "2026-05-31",
    ]


def test_leap_year_february_gets_the_29th():
    anchor = datetime(2028, 1, 31, tzinfo=UTC)
    assert starts(anchor, IntervalUnit.MONTH, 1, 3) == ["2028-01-31", "2028-02-29", "2028-03-31"]


def test_yearly_plan_started_feb_29_renews_feb_28_then_29_in_leap_years():
    anchor = datetime(2028, 2, 29, tzinfo=UTC)
    assert starts(anchor, IntervalUnit.YEAR, 1, 5) == [
        "2028-02-29",
        "2029-02-28",
        "2030-02-28",
        "2031-02-28",
        "2032-02-29",
    ]


def test_quarterly_plan():
    assert starts(JAN_31, IntervalUnit.MONTH, 3, 4) == [
        "2026-01-31",
        "2026-04-30",
        "2026-07-31",
        "2026-10-31",
    ]


def test_days_and_weeks_are_exact_and_keep_the_time_of_day():
    assert period(JAN_31, IntervalUnit.WEEK, 2, 1) == (
        JAN_31 + timedelta(weeks=2),
        JAN_31 + timedelta(weeks=4),
    )
    start, end = period(JAN_31, IntervalUnit.DAY, 30, 0)
    assert end - start == timedelta(days=30)
    assert end.time() == JAN_31.time()


def test_periods_chain_without_gaps():
    for index in range(30):
        assert (
            period(JAN_31, IntervalUnit.MONTH, 1, index)[1]
            == period(JAN_31, IntervalUnit.MONTH, 1, index + 1)[0]
        )


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        period_boundary(JAN_31, IntervalUnit.MONTH, 1, -1)
    with pytest.raises(ValueError):
        period_boundary(JAN_31, IntervalUnit.MONTH, 0, 1)


moments = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 12, 31), timezones=st.just(UTC)
)


@given(moments, st.integers(min_value=0, max_value=600))
def test_add_months_lands_in_the_right_month_on_the_anchor_day_or_month_end(moment, months):
    result = add_months(moment, months)
    assert (result.year * 12 + result.month) - (moment.year * 12 + moment.month) == months
    assert result.day == moment.day or (
        result.day < moment.day and (result + timedelta(days=1)).day == 1
    )
    assert result.time() == moment.time()


@given(moments, st.sampled_from(list(IntervalUnit)), st.integers(1, 12), st.integers(0, 200))
def test_periods_strictly_increase(anchor, unit, count, index):
    start, end = period(anchor, unit, count, index)
    assert start < end
    assert start >= anchor


@given(moments, st.integers(1, 12), st.integers(0, 120))
def test_monthly_periods_are_between_28_and_31_days_per_month(anchor, count, index):
    start, end = period(anchor, IntervalUnit.MONTH, count, index)
    assert 28 * count <= (end - start).days <= 31 * count


def test_a_day_known_only_by_its_date_is_now_when_today_else_local_noon():
    from datetime import date
    from zoneinfo import ZoneInfo

    from bridge.billing.periods import instant_on

    paris = ZoneInfo("Europe/Paris")
    now = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)  # already the 29th in Paris
    assert instant_on(date(2026, 3, 29), now, paris) == now
    # Noon on the day DST starts in Paris is 10:00 UTC, still that day.
    assert instant_on(date(2026, 3, 29), datetime(2026, 4, 2, tzinfo=UTC), paris) == datetime(
        2026, 3, 29, 10, tzinfo=UTC
    )
    assert instant_on(date(2026, 3, 28), now, paris) == datetime(2026, 3, 28, 11, tzinfo=UTC)
