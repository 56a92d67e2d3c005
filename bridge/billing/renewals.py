"""The renew job's domain: every subscription whose period has ended moves
into its next period (a renewal invoice), ends (cancel at period end,
billing cycles used up), or, past due for too long, is cancelled.

Claiming: due rows are selected ``FOR UPDATE SKIP LOCKED`` (PostgreSQL; on
SQLite the write transaction is exclusive anyway) in short transactions with
no network call inside, so any number of schedulers can run this at once and
each period is renewed by exactly one of them. The renewal invoice is also
unique per (subscription, period start) in the database: a race that got
past the locks still cannot invoice a period twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from bridge.billing import subscriptions
from bridge.billing.business import get_settings
from bridge.core.batches import locked_batches
from bridge.models import Client, Invoice, InvoiceStatus, Plan
from bridge.models.subscriptions import Subscription, SubscriptionStatus

log = logging.getLogger(__name__)


@dataclass
class RenewReport:
    renewed: int = 0
    ended: int = 0
    to_charge: int = 0
    emailed: int = 0
    errors: int = 0
    failed_ids: set[int] = field(default_factory=set)

    def counts(self) -> dict:
        return {
            "renewed": self.renewed,
            "ended": self.ended,
            "to_charge": self.to_charge,
            "emailed": self.emailed,
            "errors": self.errors,
        }


def card_on_file(session: Session, client: Client) -> bool:
    """Renewals of this client are charged to a saved card (else emailed)."""
    return bool(
        client.default_payment_method_id
        and client.stripe_customer_id
        and get_settings(session).stripe_secret_key_encrypted
    )


def _claim_due(
    session: Session, now: datetime, batch: int, skip: set[int], *, ending_only: bool = False
) -> list[int]:
    query = (
        select(Subscription.id)
        .where(
            Subscription.status.in_(subscriptions.RENEWABLE),
            Subscription.current_period_end <= now,
        )
        .order_by(Subscription.current_period_end, Subscription.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    if skip:
        query = query.where(Subscription.id.not_in(skip))
    if ending_only:
        cycles = select(Plan.billing_cycles).where(Plan.id == Subscription.plan_id)
        query = query.where(
            or_(
                Subscription.cancel_at_period_end.is_(True),
                Subscription.cycles_invoiced >= cycles.scalar_subquery(),
            )
        )
    return list(session.scalars(query))


def after_renewal(session: Session, invoice: Invoice, now: datetime) -> str:
    """Plan how a fresh renewal invoice is collected: charged to the saved
    card by the collect step (at once), or emailed to the client with its
    pay link. Returns ``"charge"`` or ``"email"``."""
    from bridge.mail import notify

    if invoice.status != InvoiceStatus.OPEN:  # zero total: already paid
        return "paid"
    if card_on_file(session, invoice.client):
        invoice.next_charge_at = now
        return "charge"
    notify.invoice_sent(session, invoice)
    return "email"


def end_due(session: Session, now: datetime, *, batch: int = 50) -> int:
    """End the due subscriptions that end rather than renew (cancel at period
    end, billing cycles used up). Returns how many ended. Commits."""
    return renew_due(session, now, batch=batch, ending_only=True).ended


def renew_due(
    session: Session, now: datetime, *, batch: int = 50, ending_only: bool = False
) -> RenewReport:
    """Renew or end every subscription due at ``now``; a subscription many
    periods behind (the scheduler was stopped) catches up period by period,
    each invoiced once. One subscription's error is logged and skipped, it
    never stops the others. Commits after each batch."""
    report = RenewReport()
    while True:
        ids = _claim_due(session, now, batch, report.failed_ids, ending_only=ending_only)
        if not ids:
            session.commit()
            return report
        # One query for the batch, with what renewing reads of each.
        claimed = {
            subscription.id: subscription
            for subscription in session.scalars(
                select(Subscription)
                .where(Subscription.id.in_(ids))
                .options(joinedload(Subscription.plan), joinedload(Subscription.client))
            ).unique()
        }
        for subscription_id in ids:
            savepoint = session.begin_nested()
            try:
                subscription = claimed[subscription_id]
                invoice = subscriptions.renew(session, subscription, now)
                if invoice is None:
                    report.ended += 1
                else:
                    report.renewed += 1
                    how = after_renewal(session, invoice, now)
                    report.to_charge += how == "charge"
                    report.emailed += how == "email"
                savepoint.commit()
            except IntegrityError:
                # Another scheduler invoiced this period first: nothing to do.
                savepoint.rollback()
                report.failed_ids.add(subscription_id)
            except Exception:
                savepoint.rollback()
                report.errors += 1
                report.failed_ids.add(subscription_id)
                log.exception("renewing subscription %s failed", subscription_id)
        session.commit()


def cancel_long_past_due(session: Session, now: datetime, *, batch: int = 100) -> int:
    """Cancel subscriptions past due for longer than the business allows
    (``past_due_cancel_after_days``; None: never). Returns how many."""
    settings = get_settings(session)
    if settings.past_due_cancel_after_days is None:
        return 0
    cutoff = now - timedelta(days=settings.past_due_cancel_after_days)
    query = select(Subscription).where(
        Subscription.status == SubscriptionStatus.PAST_DUE,
        Subscription.past_due_since <= cutoff,
    )
    cancelled = 0
    for due in locked_batches(session, query, Subscription, batch):
        for subscription in due:
            subscriptions.cancel(session, subscription, at_period_end=False, now=now)
            cancelled += 1
    return cancelled
