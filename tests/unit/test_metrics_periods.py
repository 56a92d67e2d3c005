"""The arithmetic the metrics count renewals with agrees with the periods
the scheduler computes one by one (``periods.period_boundary``), in time
zones with and without daylight saving time."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.billing.periods import local_date, period_boundary, starts_by_local_month
from bridge.models import IntervalUnit

ZONES = ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Pacific/Auckland"]


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    unit=st.sampled_from(list(IntervalUnit)),
    count=st.integers(1, 12),
    anchor=st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
    first=st.integers(0, 40),
    length=st.integers(-1, 80),
)
def test_starts_by_local_month_counts_what_period_boundary_gives(
    zone, unit, count, anchor, first, length
):
    tz = ZoneInfo(zone)
    last = first + length
    expected: dict[tuple[int, int], int] = {}
    for index in range(first, last + 1):
        day = local_date(period_boundary(anchor, unit, count, index, tz), tz)
        expected[(day.year, day.month)] = expected.get((day.year, day.month), 0) + 1
    assert starts_by_local_month(anchor, unit, count, first, last, tz) == expected


def test_a_month_end_anchor_keeps_its_months():
    anchor = datetime(2027, 1, 31, 9, 0, tzinfo=UTC)
    found = starts_by_local_month(anchor, IntervalUnit.MONTH, 1, 1, 3, ZoneInfo("Europe/Paris"))
    assert found == {(2027, 2): 1, (2027, 3): 1, (2027, 4): 1}
