"""Billing periods.

Periods are computed from the subscription's *anchor* (its start) and the
period index, never by adding one interval to the previous end: adding a
month to Feb 28 would lose the 31st for ever. A plan started on Jan 31
therefore renews Feb 28 (29 in leap years), Mar 31, Apr 30, ... Days and
weeks are exact durations. Times of day are kept (in UTC).
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

from bridge.models import IntervalUnit


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus ``months`` calendar months, the day clamped to the
    last day of the target month (Jan 31 + 1 month = Feb 28 or 29)."""
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def period_boundary(anchor: datetime, unit: IntervalUnit, count: int, index: int) -> datetime:
    """The start of period ``index`` (0 is the anchor itself) of a plan
    billed every ``count`` ``unit``s."""
    if index < 0 or count < 1:
        raise ValueError("period index must be >= 0 and interval count >= 1")
    steps = count * index
    if unit == IntervalUnit.DAY:
        return anchor + timedelta(days=steps)
    if unit == IntervalUnit.WEEK:
        return anchor + timedelta(weeks=steps)
    if unit == IntervalUnit.MONTH:
        return add_months(anchor, steps)
    if unit == IntervalUnit.YEAR:
        return add_months(anchor, 12 * steps)
    raise ValueError(f"unknown interval unit {unit!r}")


def period(
    anchor: datetime, unit: IntervalUnit, count: int, index: int
) -> tuple[datetime, datetime]:
    """``(start, end)`` of period ``index``; the end is the next period's start."""
    return (
        period_boundary(anchor, unit, count, index),
        period_boundary(anchor, unit, count, index + 1),
    )
