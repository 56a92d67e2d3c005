"""Billing periods.

Periods are computed from the subscription's *anchor* (its start) and the
period index, never by adding one interval to the previous end: adding a
month to Feb 28 would lose the 31st for ever. A plan started on Jan 31
therefore renews Feb 28 (29 in leap years), Mar 31, Apr 30, ... Days and
weeks are calendar days too.

Calendar arithmetic happens in the business time zone: a plan started at
10:00 in Paris renews at 10:00 Paris time on the right local day, whatever
daylight saving time did in between. Results are UTC.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bridge.models import IntervalUnit


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus ``months`` calendar months, the day clamped to the
    last day of the target month (Jan 31 + 1 month = Feb 28 or 29)."""
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def local_date(moment: datetime, tz: ZoneInfo | None = None) -> date:
    """The calendar date of the aware instant ``moment`` on a wall clock in
    ``tz`` (default UTC): the date an invoice issued then carries."""
    if moment.tzinfo is None:
        raise ValueError("local_date takes an aware datetime")
    return moment.astimezone(tz or UTC).date()


def instant_on(day: date, now: datetime, tz: ZoneInfo | None = None) -> datetime:
    """An instant for something known only by its local calendar ``day`` (a
    payment received that day): ``now`` when ``day`` is today in ``tz``
    (default UTC), else noon that day, in UTC (noon keeps the day whatever
    the DST offset)."""
    if day == local_date(now, tz):
        return now
    return datetime.combine(day, time(12), tz or UTC).astimezone(UTC)


def add_local_days(moment: datetime, days: int, tz: ZoneInfo | None = None) -> datetime:
    """``days`` calendar days after ``moment`` at the same wall-clock time in
    ``tz`` (default UTC), in UTC: across a DST change that is 23 or 25 hours
    a day, so the local date moves by exactly ``days``."""
    local = moment.astimezone(tz or UTC).replace(tzinfo=None) + timedelta(days=days)
    # A wall-clock time a DST change skips or repeats resolves as in
    # ``period_boundary`` (fold=0).
    return local.replace(tzinfo=tz or UTC).astimezone(UTC)


def period_boundary(
    anchor: datetime,
    unit: IntervalUnit,
    count: int,
    index: int,
    tz: ZoneInfo | None = None,
) -> datetime:
    """The start of period ``index`` (0 is the anchor itself) of a plan
    billed every ``count`` ``unit``s, counted in the time zone ``tz``
    (default UTC) and returned in UTC."""
    if index < 0 or count < 1:
        raise ValueError("period index must be >= 0 and interval count >= 1")
    steps = count * index
    # The wall-clock time in the business's zone, without its offset, so that
    # adding days or months moves the calendar, not a number of hours.
    local = anchor.astimezone(tz or UTC).replace(tzinfo=None)
    if unit == IntervalUnit.DAY:
        boundary = local + timedelta(days=steps)
    elif unit == IntervalUnit.WEEK:
        boundary = local + timedelta(weeks=steps)
    elif unit == IntervalUnit.MONTH:
        boundary = add_months(local, steps)
    elif unit == IntervalUnit.YEAR:
        boundary = add_months(local, 12 * steps)
    else:
        raise ValueError(f"unknown interval unit {unit!r}")
    # A wall-clock time skipped or repeated by a DST change resolves to its
    # first occurrence (fold=0), the same answer every time it is computed.
    return boundary.replace(tzinfo=tz or UTC).astimezone(UTC)


def period(
    anchor: datetime,
    unit: IntervalUnit,
    count: int,
    index: int,
    tz: ZoneInfo | None = None,
) -> tuple[datetime, datetime]:
    """``(start, end)`` of period ``index``; the end is the next period's start."""
    return (
        period_boundary(anchor, unit, count, index, tz),
        period_boundary(anchor, unit, count, index + 1, tz),
    )


def starts_by_local_month(
    anchor: datetime,
    unit: IntervalUnit,
    count: int,
    first: int,
    last: int,
    tz: ZoneInfo | None = None,
) -> dict[tuple[int, int], int]:
    """How many of the periods ``first`` to ``last`` (indexes, included)
    start in each local calendar month, ``{(year, month): n}``, by
    arithmetic rather than computing each start: period ``i`` starts at the
    anchor's wall-clock time plus ``i x count`` units (``period_boundary``),
    so months and years keep the anchor's month plus ``i x count`` months
    (the day is clamped, never the month), and days and weeks are whole days
    apart; a start moved by a DST change keeps its date."""
    found: dict[tuple[int, int], int] = {}
    if last < first:
        return found
    wall = anchor.astimezone(tz or UTC).replace(tzinfo=None)
    if unit in (IntervalUnit.MONTH, IntervalUnit.YEAR):
        step_months = count * (12 if unit == IntervalUnit.YEAR else 1)
        base = wall.year * 12 + wall.month - 1
        for index in range(first, last + 1):
            month = base + index * step_months
            key = (month // 12, month % 12 + 1)
            found[key] = found.get(key, 0) + 1
        return found
    step = timedelta(days=count * (7 if unit == IntervalUnit.WEEK else 1))
    start, end = (wall + first * step).date(), (wall + last * step).date()
    month = start.year * 12 + start.month - 1
    while month <= end.year * 12 + end.month - 1:
        lower = datetime(month // 12, month % 12 + 1, 1)
        upper = datetime((month + 1) // 12, (month + 1) % 12 + 1, 1)
        # The first index starting on or after each bound (ceiling division).
        low = max(first, -((wall - lower) // step))
        high = min(last + 1, -((wall - upper) // step))
        if high > low:
            found[(month // 12, month % 12 + 1)] = high - low
        month += 1
    return found
