"""Rules of the scheduler: the dunning schedule, overdue thresholds, periods
in the business time zone, and the client-side Stripe rate limiter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.billing.periods import period_boundary
from bridge.billing.schedule import overdue_thresholds_passed, retry_at
from bridge.models import IntervalUnit
from bridge.payments.ratelimit import RateLimiter

FIRST_FAILURE = datetime(2027, 4, 10, 9, 0, tzinfo=UTC)


def test_retries_come_the_configured_days_after_the_first_failure():
    days = [1, 3, 5, 7]
    assert [retry_at(FIRST_FAILURE, n, days) for n in (1, 2, 3, 4, 5)] == [
        FIRST_FAILURE + timedelta(days=1),
        FIRST_FAILURE + timedelta(days=3),
        FIRST_FAILURE + timedelta(days=5),
        FIRST_FAILURE + timedelta(days=7),
        None,
    ]


def test_no_retries_configured_gives_up_after_the_first_failure():
    assert retry_at(FIRST_FAILURE, 1, []) is None
    with pytest.raises(ValueError):
        retry_at(FIRST_FAILURE, 0, [1])


@given(st.lists(st.integers(1, 365), min_size=1, max_size=10, unique=True).map(sorted))
def test_retry_times_increase_and_end(days):
    times = [retry_at(FIRST_FAILURE, n, days) for n in range(1, len(days) + 2)]
    assert times[-1] is None
    assert times[:-1] == sorted(times[:-1])
    assert all(t > FIRST_FAILURE for t in times[:-1])


@given(
    st.lists(st.integers(1, 60), min_size=1, max_size=5, unique=True).map(sorted),
    st.integers(0, 24 * 90),
)
def test_overdue_thresholds_passed_counts_the_days_behind(days, hours_late):
    due = datetime(2027, 1, 1, tzinfo=UTC)
    passed = overdue_thresholds_passed(due, due + timedelta(hours=hours_late), days)
    assert passed == len([d for d in days if d * 24 <= hours_late])


@given(
    st.datetimes(
        min_value=datetime(2020, 1, 1),
        max_value=datetime(2035, 1, 1),
        timezones=st.just(ZoneInfo("Europe/Paris")),
    ),
    st.sampled_from([IntervalUnit.DAY, IntervalUnit.WEEK, IntervalUnit.MONTH, IntervalUnit.YEAR]),
    st.integers(1, 3),
    st.integers(0, 40),
    st.sampled_from(["Europe/Paris", "Pacific/Auckland", "America/New_York", "UTC"]),
)
def test_periods_keep_the_local_time_of_day_across_dst(anchor, unit, count, index, tz):
    zone = ZoneInfo(tz)
    anchor = anchor.astimezone(UTC)
    boundary = period_boundary(anchor, unit, count, index, zone)
    assert boundary.tzinfo is UTC
    local_anchor = anchor.astimezone(zone)
    local = boundary.astimezone(zone)
    skipped = local.replace(tzinfo=None) != (
        local_anchor.replace(tzinfo=None).replace(year=local.year, month=local.month, day=local.day)
    )
    # The wall-clock time is the anchor's, except where DST skipped it.
    if not skipped:
        assert local.time() == local_anchor.time()
    # Boundaries only move forward.
    assert period_boundary(anchor, unit, count, index + 1, zone) > boundary


def test_a_paris_plan_renews_at_the_same_local_hour_in_summer_and_winter():
    paris = ZoneInfo("Europe/Paris")
    anchor = datetime(2027, 1, 31, 0, 30, tzinfo=paris).astimezone(UTC)
    boundaries = [period_boundary(anchor, IntervalUnit.MONTH, 1, i, paris) for i in range(1, 4)]
    assert [b.astimezone(paris).isoformat() for b in boundaries] == [
        "2027-02-28T00:30:00+01:00",
        "2027-03-31T00:30:00+02:00",  # summer time since March 28
        "2027-04-30T00:30:00+02:00",
    ]


class FakeTime:
    def __init__(self):
        self.now = 0.0

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


@pytest.mark.parametrize("rate", [20, 80])
def test_the_rate_limiter_keeps_below_its_rate(rate):
    time = FakeTime()
    limiter = RateLimiter(rate, clock=time.clock, sleep=time.sleep)
    for _ in range(rate * 10):
        limiter.acquire()
    # 10 s worth of requests took at least 10 s less the initial burst.
    assert time.now >= 10 - limiter.burst / rate - 1e-9
    assert time.now <= 10 + 1e-6


def test_the_rate_limiter_does_not_wait_for_a_burst():
    time = FakeTime()
    limiter = RateLimiter(20, burst=5, clock=time.clock, sleep=time.sleep)
    for _ in range(5):
        limiter.acquire()
    assert time.now == 0
    limiter.acquire()
    assert time.now == pytest.approx(1 / 20)
