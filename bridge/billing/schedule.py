"""When things happen: the business time zone, the dunning schedule and the
reminder days, as the agency sets them.

Pure rules plus the one function that changes them; the scheduler jobs
(``bridge.billing.renewals``, ``collection``, ``reminders``) read them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy.orm import Session

from bridge.billing.business import get_settings
from bridge.core import clock
from bridge.core.errors import Invalid
from bridge.models import BusinessSettings

MAX_RETRIES = 10
MAX_DAYS = 365


def business_zone(session: Session) -> ZoneInfo:
    """The business time zone (periods and invoice dates follow it)."""
    return zone(get_settings(session).timezone)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # A name that was valid when saved but is unknown to this system's
        # tz database: UTC rather than a scheduler that cannot run.
        return ZoneInfo("UTC")


def retry_at(first_failure_at: datetime, failures: int, retry_days: list[int]) -> datetime | None:
    """When the next charge of a failing invoice is due, given when the first
    attempt failed and how many attempts have failed so far: retry ``k``
    comes ``retry_days[k-1]`` days after the first failure. None once every
    retry has been used."""
    if failures < 1:
        raise ValueError("retry_at is for an invoice whose charge has failed")
    if failures > len(retry_days):
        return None
    return first_failure_at + timedelta(days=retry_days[failures - 1])


def overdue_thresholds_passed(due_at: datetime, now: datetime, days: list[int]) -> int:
    """How many of the overdue-reminder thresholds ``now`` has passed."""
    return sum(1 for d in days if now >= due_at + timedelta(days=d))


def _day_list(value, field: str, problems: dict) -> list[int] | None:
    if not isinstance(value, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) for d in value
    ):
        problems[field] = ["A list of whole numbers of days."]
        return None
    if len(value) > MAX_RETRIES:
        problems[field] = [f"At most {MAX_RETRIES} entries."]
        return None
    if any(d < 1 or d > MAX_DAYS for d in value):
        problems[field] = [f"Each entry is between 1 and {MAX_DAYS} days."]
        return None
    if value != sorted(set(value)):
        problems[field] = ["Days must be increasing, without repeats."]
        return None
    return value


def _days(value, field: str, problems: dict, *, allow_none: bool) -> int | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_DAYS:
        problems[field] = [f"A whole number of days between 0 and {MAX_DAYS}."]
        return None
    return value


def update_schedule(session: Session, changes: dict) -> BusinessSettings:
    """Change any of: ``timezone``, ``dunning_retry_days``,
    ``past_due_cancel_after_days``, ``renewal_reminder_days``,
    ``overdue_reminder_days``. All or nothing: ``Invalid`` names every bad
    field and nothing changes."""
    problems: dict[str, list[str]] = {}
    clean: dict = {}
    if "timezone" in changes:
        name = changes["timezone"]
        if not isinstance(name, str) or name not in available_timezones():
            problems["timezone"] = ["An IANA time zone name, such as Europe/Paris."]
        else:
            clean["timezone"] = name
    for field in ("dunning_retry_days", "overdue_reminder_days"):
        if field in changes:
            value = _day_list(changes[field], field, problems)
            if field not in problems:
                clean[field] = value
    if "past_due_cancel_after_days" in changes:
        value = _days(
            changes["past_due_cancel_after_days"],
            "past_due_cancel_after_days",
            problems,
            allow_none=True,
        )
        if "past_due_cancel_after_days" not in problems:
            clean["past_due_cancel_after_days"] = value
    if "renewal_reminder_days" in changes:
        value = _days(
            changes["renewal_reminder_days"], "renewal_reminder_days", problems, allow_none=False
        )
        if "renewal_reminder_days" not in problems:
            clean["renewal_reminder_days"] = value
    if problems:
        raise Invalid("Some schedule settings are not valid.", fields=problems)
    settings = get_settings(session)
    for field, value in clean.items():
        setattr(settings, field, value)
    if clean:
        settings.updated_at = clock.now()
    return settings
