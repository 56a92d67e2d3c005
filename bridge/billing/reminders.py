"""Reminders: an upcoming renewal (N days before), and overdue invoices
(after each configured number of days), recorded as events (the client is
emailed by the mail subscribers). Each is recorded once: the row remembers
what it was reminded of, and the outbox's dedupe key would refuse a second
email anyway. Claimed with row locks like every job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bridge.billing import audit
from bridge.billing.business import get_settings
from bridge.billing.schedule import overdue_thresholds_passed
from bridge.core import clock, events
from bridge.core.batches import locked_batches
from bridge.core.errors import Conflict
from bridge.models import Invoice, InvoiceStatus, OutboxMessage
from bridge.models.subscriptions import Subscription, SubscriptionStatus


@dataclass
class ReminderReport:
    renewal: int = 0
    overdue: int = 0

    def counts(self) -> dict:
        return dict(self.__dict__)


def _renews(subscription: Subscription) -> bool:
    """Will the current period end in a renewal (not in the end)?"""
    cycles = subscription.plan.billing_cycles
    return (
        not subscription.cancel_at_period_end
        and subscription.paused_at is None
        and (cycles is None or subscription.cycles_invoiced < cycles)
    )


def remind_renewals(session: Session, now: datetime, *, batch: int = 100) -> int:
    """Remind clients whose subscription renews within the reminder window,
    once per period (``UpcomingRenewal``). Returns how many were reminded.
    Commits."""
    days = get_settings(session).renewal_reminder_days
    if not days:
        return 0
    horizon = now + timedelta(days=days)
    query = select(Subscription).where(
        Subscription.status == SubscriptionStatus.ACTIVE,
        Subscription.current_period_end > now,
        Subscription.current_period_end <= horizon,
        or_(
            Subscription.renewal_reminded_for.is_(None),
            Subscription.renewal_reminded_for != Subscription.current_period_end,
        ),
    )
    sent = 0
    for due in locked_batches(session, query, Subscription, batch):
        for subscription in due:
            subscription.renewal_reminded_for = subscription.current_period_end
            if _renews(subscription):
                events.record(
                    session,
                    events.UpcomingRenewal(subscription.id, subscription.current_period_end),
                )
                sent += 1
    return sent


def remind_overdue(session: Session, now: datetime, *, batch: int = 100) -> int:
    """Remind clients of open invoices past their due date, once per
    configured threshold (only the latest passed one when several passed
    at once; ``InvoiceOverdue``). Returns how many were reminded. Commits."""
    days = sorted(get_settings(session).overdue_reminder_days or [])
    if not days:
        return 0
    first_threshold = now - timedelta(days=days[0])
    query = select(Invoice).where(
        Invoice.status == InvoiceStatus.OPEN,
        Invoice.total > Invoice.amount_paid,
        Invoice.due_at <= first_threshold,
        Invoice.overdue_reminders_sent < len(days),
    )
    sent = 0
    for candidates in locked_batches(session, query, Invoice, batch):
        for invoice in candidates:
            passed = overdue_thresholds_passed(invoice.due_at, now, days)
            if passed <= invoice.overdue_reminders_sent:
                continue
            invoice.overdue_reminders_sent = passed
            days_overdue = (now - invoice.due_at).days
            events.record(session, events.InvoiceOverdue(invoice.id, days_overdue))
            sent += 1
    return sent


# Reminding by hand ----------------------------------------------------------------


def can_remind(invoice: Invoice) -> bool:
    """An issued invoice with something left to pay, and a client to tell."""
    return (
        invoice.status == InvoiceStatus.OPEN
        and invoice.amount_due > 0
        and bool(invoice.client.email)
    )


def remind(session: Session, invoice: Invoice, now: datetime | None = None) -> datetime:
    """Remind the client of ``invoice`` now (staff's *remind*): an email
    through the outbox (``InvoiceReminded``), and a line in the invoice's
    history. Returns when. Call it with the invoice locked; the caller
    commits."""
    if not can_remind(invoice):
        raise Conflict(
            "Only an invoice with payment due, of a client with an email address, can be reminded.",
            code="invoice_not_remindable",
        )
    now = now or clock.now()
    events.record(session, events.InvoiceReminded(invoice.id, now))
    audit.record(session, invoice, "invoice.reminded", {"reminded_at": now.isoformat()})
    return now


def last_reminder(session: Session, invoice_id: int) -> datetime | None:
    """When the client was last reminded of the invoice (by staff or by the
    scheduler): the latest reminder queued for it."""
    return session.scalar(
        select(func.max(OutboxMessage.created_at)).where(
            OutboxMessage.invoice_id == invoice_id,
            or_(
                OutboxMessage.trigger == "overdue_reminder",
                OutboxMessage.dedupe_key.like("payment_reminder:%"),
            ),
        )
    )
