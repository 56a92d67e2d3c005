"""Subscriptions: pending until the first invoice is paid, then renewed
period after period until cancelled or out of billing cycles.

Renewal invoices are issued in advance, at the start of each new period, and
are unique per (subscription, period start) in the database, so however many
schedulers race, a period is invoiced once.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge.billing import audit
from bridge.billing.periods import period
from bridge.billing.states import subscription_to
from bridge.core import clock
from bridge.core.errors import Conflict, NotFound
from bridge.core.paging import Page
from bridge.models import CatalogStatus, TaxRate
from bridge.models.invoices import BillingReason, Invoice, InvoiceLine
from bridge.models.subscriptions import Subscription, SubscriptionStatus

CURRENT = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE, SubscriptionStatus.PENDING)
INACTIVE = (SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED)
RENEWABLE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)


def get_subscription(
    session: Session, subscription_id: int, client_id: int | None = None
) -> Subscription:
    subscription = session.get(Subscription, subscription_id)
    if subscription is None or (client_id is not None and subscription.client_id != client_id):
        raise NotFound("No such subscription.")
    return subscription


def list_subscriptions(
    session: Session,
    *,
    client_id: int | None = None,
    statuses: tuple[SubscriptionStatus, ...] | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    filters = []
    if client_id is not None:
        filters.append(Subscription.client_id == client_id)
    if statuses:
        filters.append(Subscription.status.in_(statuses))
    items = list(
        session.scalars(
            select(Subscription)
            .where(*filters)
            .order_by(Subscription.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    total = session.scalar(select(func.count()).select_from(Subscription).where(*filters))
    return Page(items=items, total=total or 0, page=page, per_page=per_page)


def start_pending(session: Session, invoice: Invoice, line: InvoiceLine) -> Subscription:
    """The subscription a recurring line starts, pending until the invoice is paid."""
    subscription = Subscription(
        client_id=invoice.client_id,
        site_id=invoice.site_id,
        plan_id=line.plan_id,
        status=SubscriptionStatus.PENDING,
        quantity=line.quantity,
        unit_amount=line.unit_amount,
        currency=invoice.currency,
        tax_rate_ids=list(invoice.tax_rate_ids),
        created_at=clock.now(),
    )
    session.add(subscription)
    session.flush()
    return subscription


def _period(session: Session, subscription: Subscription, index: int) -> tuple[datetime, datetime]:
    from bridge.billing.schedule import business_zone

    plan = subscription.plan
    return period(
        subscription.anchor_at,
        plan.interval_unit,
        plan.interval_count,
        index,
        business_zone(session),
    )


def _set_period(
    session: Session, subscription: Subscription, index: int
) -> tuple[datetime, datetime]:
    start, end = _period(session, subscription, index)
    subscription.period_index = index
    subscription.current_period_start = start
    subscription.current_period_end = end
    return start, end


def invoice_paid(session: Session, invoice: Invoice, now: datetime) -> None:
    """Payment of ``invoice``: its pending subscriptions start now (period 0
    begins at payment); a paid renewal brings a past-due subscription back."""
    for line in invoice.lines:
        if line.subscription_id is None:
            continue
        subscription = session.get(Subscription, line.subscription_id)
        if subscription.status == SubscriptionStatus.PENDING:
            audit.name_action(session, subscription, "subscription.activated")
            subscription_to(subscription, SubscriptionStatus.ACTIVE)
            subscription.anchor_at = now
            start, end = _set_period(session, subscription, 0)
            subscription.cycles_invoiced = 1
            line.period_start, line.period_end = start, end
            subscription.updated_at = now
        elif subscription.status == SubscriptionStatus.PAST_DUE and invoice.subscription_id:
            subscription_to(subscription, SubscriptionStatus.ACTIVE)
            subscription.past_due_since = None
            subscription.updated_at = now


def mark_past_due(session: Session, subscription: Subscription, now: datetime) -> None:
    """The renewal could not be collected (dunning used up); paying the
    renewal invoice makes it active again (``invoice_paid``)."""
    if subscription.status != SubscriptionStatus.ACTIVE:
        return
    audit.name_action(session, subscription, "subscription.past_due")
    subscription_to(subscription, SubscriptionStatus.PAST_DUE)
    subscription.past_due_since = now
    subscription.updated_at = now


def invoice_voided(session: Session, invoice: Invoice) -> None:
    for line in invoice.lines:
        if line.subscription_id is None:
            continue
        subscription = session.get(Subscription, line.subscription_id)
        if subscription.status == SubscriptionStatus.PENDING:
            subscription_to(subscription, SubscriptionStatus.CANCELLED)
            subscription.cancelled_at = subscription.ended_at = clock.now()


def is_due(subscription: Subscription, now: datetime) -> bool:
    return (
        subscription.status in RENEWABLE
        and subscription.current_period_end is not None
        and subscription.current_period_end <= now
    )


def renew(session: Session, subscription: Subscription, now: datetime | None = None):
    """Move a subscription whose period has ended into its next period.

    Returns the renewal invoice (finalized, open, dated on the first moment
    of its period), or None when the period end was the end of the
    subscription (cancel at period end, or billing cycles used up; the
    client is emailed) or when it is not due. Raises IntegrityError if
    another process already invoiced this period (the caller rolls back).
    """
    from bridge.billing import invoices
    from bridge.mail import notify

    now = now or clock.now()
    if not is_due(subscription, now):
        return None
    plan = subscription.plan
    ended_at = subscription.current_period_end
    if subscription.cancel_at_period_end:
        audit.name_action(session, subscription, "subscription.cancelled")
        subscription_to(subscription, SubscriptionStatus.CANCELLED)
        subscription.cancelled_at = subscription.cancelled_at or now
        subscription.ended_at = ended_at
        subscription.updated_at = now
        notify.subscription_cancelled(session, subscription)
        return None
    if plan.billing_cycles is not None and subscription.cycles_invoiced >= plan.billing_cycles:
        audit.name_action(session, subscription, "subscription.expired")
        subscription_to(subscription, SubscriptionStatus.EXPIRED)
        subscription.ended_at = ended_at
        subscription.updated_at = now
        notify.subscription_expired(session, subscription)
        return None

    audit.name_action(session, subscription, "subscription.renewed")
    index = subscription.period_index + 1
    start, end = _period(session, subscription, index)
    invoice = _renewal_invoice(session, subscription, start, end)
    # Sent or charged by the caller (bridge.billing.renewals.after_renewal).
    invoices.finalize(session, invoice, now, issued_at=min(start, now), send=False)
    _set_period(session, subscription, index)
    subscription.cycles_invoiced += 1
    subscription.updated_at = now
    return invoice


def _renewal_invoice(
    session: Session, subscription: Subscription, start: datetime, end: datetime
) -> Invoice:
    """The draft for one period. Rates and price are the subscription's own,
    even if the plan or a rate was archived since (existing subscriptions are
    untouched by archiving)."""
    from bridge.billing.business import get_settings
    from bridge.billing.invoices import make_line, rate_snapshots, set_totals
    from bridge.models.invoices import InvoiceStatus

    rates = [r for i in subscription.tax_rate_ids if (r := session.get(TaxRate, i)) is not None]
    line, totals = make_line(
        0,
        subscription.plan,
        subscription.quantity,
        subscription.unit_amount,
        rate_snapshots(rates),
        subscription_id=subscription.id,
        period_start=start,
        period_end=end,
    )
    invoice = Invoice(
        client_id=subscription.client_id,
        site_id=subscription.site_id,
        status=InvoiceStatus.DRAFT,
        billing_reason=BillingReason.SUBSCRIPTION_CYCLE,
        currency=subscription.currency,
        language=get_settings(session).invoice_language,
        subscription_id=subscription.id,
        period_start=start,
        period_end=end,
        tax_rate_ids=[r.id for r in rates],
        hosted_token=secrets.token_urlsafe(32),
        created_at=clock.now(),
        lines=[line],
    )
    set_totals(invoice, [totals])
    session.add(invoice)
    session.flush()
    return invoice


def cancel(
    session: Session,
    subscription: Subscription,
    *,
    at_period_end: bool,
    now: datetime | None = None,
) -> Subscription:
    """Cancel now, or let the current period run out (active ones only)."""
    now = now or clock.now()
    if at_period_end:
        if subscription.status not in RENEWABLE:
            raise Conflict(
                f"A {subscription.status.value} subscription has no period to run out.",
                code="illegal_transition",
            )
        audit.name_action(session, subscription, "subscription.cancel_scheduled")
        subscription.cancel_at_period_end = True
    else:
        from bridge.mail import notify

        audit.name_action(session, subscription, "subscription.cancelled")
        subscription_to(subscription, SubscriptionStatus.CANCELLED)
        subscription.cancelled_at = subscription.ended_at = now
        notify.subscription_cancelled(session, subscription)
    subscription.updated_at = now
    return subscription


def undo_cancel(session: Session, subscription: Subscription) -> Subscription:
    """Keep renewing a subscription that was set to cancel at period end."""
    if subscription.status not in RENEWABLE or not subscription.cancel_at_period_end:
        raise Conflict("This subscription is not set to cancel.", code="illegal_transition")
    subscription.cancel_at_period_end = False
    subscription.updated_at = clock.now()
    return subscription


def reactivate(session: Session, subscription: Subscription) -> Invoice:
    """A new invoice for the same plan; a new subscription starts when it is paid."""
    from bridge.billing import invoices

    if subscription.status not in INACTIVE:
        raise Conflict(
            "Only a cancelled or expired subscription can be reactivated.",
            code="illegal_transition",
        )
    plan = subscription.plan
    if plan.status == CatalogStatus.ARCHIVED or plan.product.status == CatalogStatus.ARCHIVED:
        raise Conflict(
            "The plan is archived: bill the client a current plan instead.", code="plan_archived"
        )
    invoice = invoices.bill_client(
        session,
        subscription.client,
        [invoices.Item(subscription.plan_id, subscription.quantity)],
        tax_rate_ids=[
            i
            for i in subscription.tax_rate_ids
            if (r := session.get(TaxRate, i)) is not None and r.status == CatalogStatus.ACTIVE
        ],
        site_id=subscription.site_id,
        reason=BillingReason.REACTIVATION,
    )
    invoices.finalize(session, invoice)
    for line in invoice.lines:
        if line.subscription_id is not None:
            session.get(Subscription, line.subscription_id).reactivated_from_id = subscription.id
    return invoice


def due_subscription_ids(session: Session, now: datetime, limit: int = 100) -> list[int]:
    return list(
        session.scalars(
            select(Subscription.id)
            .where(
                Subscription.status.in_(RENEWABLE),
                Subscription.current_period_end <= now,
            )
            .order_by(Subscription.current_period_end, Subscription.id)
            .limit(limit)
        )
    )
