"""Pausing a subscription ("the client's site is closed for the summer").

What a pause means, precisely:

- Staff pause an active or past-due subscription until a date (or
  indefinitely). The period already invoiced is served to its end: the
  pause starts at ``current_period_end`` (paid June, paused on June 10
  until Sept 1: June runs out, the pause is July 1 - Sept 1).
- While the pause is set, the renew job issues no renewal invoice.
- On resuming (the date comes, or staff resume by hand after the paid
  period ended) a new period starts *on the resume moment*: the
  subscription is re-anchored there (its billing day moves to the resume
  date, as Stripe's ``billing_cycle_anchor=now``) and the renewal invoice
  for that first period is issued at once, charged or emailed like any
  renewal. Paused time is never billed, and no second is billed twice:
  the periods invoiced are [.., pause start) and [resume, ..).
- Resuming before the paid period ended just removes the pause: renewals
  continue at the period end as if nothing happened.

The scheduler's renew job resumes due pauses first (``resume_due``), each
once: rows are claimed ``FOR UPDATE SKIP LOCKED``, the pause is cleared in
the same transaction as the invoice is written, and the invoice is unique
per (subscription, period start) in the database, so two schedulers racing
(or a crash between the two) never invoice a resumed period twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bridge.billing import audit, invoices, renewals, subscriptions
from bridge.billing.schedule import business_zone
from bridge.core import clock, events
from bridge.core.errors import Conflict, Invalid
from bridge.core.outages import is_database_unavailable
from bridge.models.subscriptions import Subscription

log = logging.getLogger(__name__)


def day_start(session: Session, day: date) -> datetime:
    """The moment a pause "until ``day``" ends: the start of that local day
    in the business time zone (paused until Sept 1: the new period starts
    Sept 1 at 00:00)."""
    return datetime.combine(day, time(0), business_zone(session)).astimezone(UTC)


def is_paused(subscription: Subscription, now: datetime | None = None) -> bool:
    """Whether the pause is in effect at ``now`` (set, and the paid period over)."""
    now = now or clock.now()
    return (
        subscription.paused_at is not None
        and subscription.current_period_end is not None
        and subscription.current_period_end <= now
    )


def pause(
    session: Session,
    subscription: Subscription,
    until: datetime | date | None,
    *,
    now: datetime | None = None,
) -> Subscription:
    """Pause from the end of the paid period until ``until`` (None: until
    resumed by hand). Pausing again changes the date."""
    now = now or clock.now()
    if isinstance(until, date) and not isinstance(until, datetime):
        until = day_start(session, until)
    if subscription.status not in subscriptions.RENEWABLE:
        raise Conflict(
            f"A {subscription.status.value} subscription cannot be paused.",
            code="illegal_transition",
        )
    subscriptions.check_renews(subscription)
    if until is not None:
        starts = max(now, subscription.current_period_end or now)
        if until <= now:
            raise Invalid(
                "The pause must end in the future.",
                code="until_in_past",
                fields={"until": ["Must be in the future."]},
            )
        if until <= starts:
            raise Invalid(
                "The pause starts when the paid period ends: end it after that.",
                code="until_before_period_end",
                fields={"until": ["Must be after the end of the paid period."]},
            )
    audit.name_action(session, subscription, "subscription.paused")
    subscription.paused_at = subscription.paused_at or now
    subscription.paused_until = until
    subscription.updated_at = now
    events.record(session, events.SubscriptionPaused(subscription.id, until))
    return subscription


def resume(session: Session, subscription: Subscription, *, now: datetime | None = None, at=None):
    """End the pause. Before the paid period ended: the pause is removed,
    nothing else. After: a new period starts at ``at`` (default ``now``;
    the scheduler passes the pause's date) and its invoice is issued.
    Returns that invoice, or None."""
    now = now or clock.now()
    if subscription.paused_at is None:
        raise Conflict("This subscription is not paused.", code="not_paused")
    at = at or now
    audit.name_action(session, subscription, "subscription.resumed")
    subscription.paused_at = None
    subscription.paused_until = None
    subscription.updated_at = now
    if subscription.current_period_end is None or at < subscription.current_period_end:
        events.record(session, events.SubscriptionResumed(subscription.id, None))
        return None
    # A new period starts at ``at``: period 0 of the new anchor, on the
    # plan of a change scheduled for the next renewal, if any.
    subscriptions.switch_to_pending(session, subscription)
    subscription.anchor_at = at
    start, end = subscriptions.period_bounds(session, subscription, 0)
    invoice = renewals.renewal_invoice(session, subscription, start, end)
    invoices.finalize(
        session,
        invoice,
        now,
        issued_at=min(start, now),
        send=not renewals.card_on_file(session, subscription.client),
    )
    subscriptions.enter_period(session, subscription, 0)
    subscription.cycles_invoiced += 1
    events.record(session, events.SubscriptionResumed(subscription.id, invoice.id))
    return invoice


def resume_due(session: Session, now: datetime, *, batch: int = 50) -> tuple[int, int]:
    """Resume every pause whose date has come, each exactly once, its new
    period starting on the pause's date. Returns (resumed, errors). Commits
    after each batch."""
    resumed = errors = 0
    failed: set[int] = set()
    while True:
        query = (
            select(Subscription)
            .where(
                Subscription.paused_at.is_not(None),
                Subscription.paused_until <= now,
                Subscription.status.in_(subscriptions.RENEWABLE),
            )
            .order_by(Subscription.paused_until, Subscription.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        if failed:
            query = query.where(Subscription.id.not_in(failed))
        due = list(session.scalars(query))
        if not due:
            session.commit()
            return resumed, errors
        for subscription in due:
            savepoint = session.begin_nested()
            try:
                invoice = resume(session, subscription, now=now, at=subscription.paused_until)
                if invoice is not None:
                    renewals.after_renewal(session, invoice, now)
                savepoint.commit()
                resumed += 1
            except IntegrityError as exc:
                savepoint.rollback()
                failed.add(subscription.id)
                if not renewals.already_renewed(exc):
                    errors += 1
                    log.exception("resuming subscription %s failed", subscription.id)
            except Exception as exc:
                if is_database_unavailable(exc):
                    raise
                savepoint.rollback()
                failed.add(subscription.id)
                errors += 1
                log.exception("resuming subscription %s failed", subscription.id)
        session.commit()
