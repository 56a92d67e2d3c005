"""Subscriptions: pending until the first invoice is paid, then renewed
period after period (``bridge.billing.renewals``) until cancelled or out of
billing cycles.

Invoices start, activate and drop subscriptions through this module; this
module never reaches back into invoices (renewing, which writes invoices,
lives in ``renewals``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge.billing import audit
from bridge.billing.periods import period
from bridge.billing.schedule import business_zone
from bridge.billing.states import subscription_to
from bridge.core import clock, events
from bridge.core.errors import Conflict, NotFound
from bridge.core.paging import Page
from bridge.models.catalog import Plan
from bridge.models.invoices import Invoice, InvoiceLine
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
        tax_rate_ids=list(
            line.tax_rate_ids if line.tax_rate_ids is not None else invoice.tax_rate_ids
        ),
        created_at=clock.now(),
    )
    session.add(subscription)
    session.flush()
    events.record(session, events.SubscriptionCreated(subscription.id, invoice.id))
    return subscription


def period_bounds(
    session: Session, subscription: Subscription, index: int
) -> tuple[datetime, datetime]:
    """Start and end of the subscription's period ``index`` (0: the first)."""
    plan = subscription.plan
    return period(
        subscription.anchor_at,
        plan.interval_unit,
        plan.interval_count,
        index,
        business_zone(session),
    )


def enter_period(
    session: Session, subscription: Subscription, index: int
) -> tuple[datetime, datetime]:
    """Make period ``index`` the subscription's current one; returns its bounds."""
    start, end = period_bounds(session, subscription, index)
    subscription.period_index = index
    subscription.current_period_start = start
    subscription.current_period_end = end
    return start, end


@dataclass(frozen=True)
class NextRenewal:
    """What the subscription's next renewal bills: the plan, quantity and
    unit price (those of the change scheduled for it, if any) and the
    period, with the anchor and index it has. ``switches``: a scheduled
    change takes effect there; ``new_period``: across billing intervals
    the new plan's periods are anchored at the old period's end."""

    plan: Plan
    quantity_e3: int
    unit_amount: int
    anchor_at: datetime
    index: int
    start: datetime
    end: datetime
    switches: bool
    new_period: bool


def check_renews(subscription: Subscription) -> None:
    """Refuse (409) what needs the subscription to renew after its current
    period: set to end with it (``cancel_scheduled``), or its billing
    cycles used up (``last_cycle``)."""
    if subscription.cancel_at_period_end:
        raise Conflict(
            "This subscription is set to end with its period: undo that first.",
            code="cancel_scheduled",
        )
    cycles = subscription.plan.billing_cycles
    if cycles is not None and subscription.cycles_invoiced >= cycles:
        raise Conflict(
            "This subscription ends with its period (its billing cycles are used up).",
            code="last_cycle",
        )


def has_pending_change(subscription: Subscription) -> bool:
    """A plan or quantity change is scheduled for the next renewal."""
    return subscription.pending_change_requested_at is not None


def next_renewal(session: Session, subscription: Subscription) -> NextRenewal:
    """The next renewal after the current period (nothing written)."""
    if not has_pending_change(subscription):
        index = subscription.period_index + 1
        start, end = period_bounds(session, subscription, index)
        return NextRenewal(
            subscription.plan,
            subscription.quantity_e3,
            subscription.unit_amount,
            subscription.anchor_at,
            index,
            start,
            end,
            switches=False,
            new_period=False,
        )
    return renewal_on(
        session,
        subscription,
        subscription.pending_plan,
        subscription.pending_quantity_e3,
        subscription.pending_unit_amount,
    )


def renewal_on(
    session: Session, subscription: Subscription, plan: Plan, quantity_e3: int, unit_amount: int
) -> NextRenewal:
    """The next renewal if it switched to ``plan``, ``quantity_e3`` and
    ``unit_amount`` (nothing written)."""
    old = subscription.plan
    anchor, index = subscription.anchor_at, subscription.period_index + 1
    new_period = (plan.interval_unit, plan.interval_count) != (
        old.interval_unit,
        old.interval_count,
    )
    if new_period:
        # Another interval: the new plan's period 0 starts where the old
        # period ends (nothing is credited: the old period was served).
        anchor, index = subscription.current_period_end, 0
    start, end = period(
        anchor, plan.interval_unit, plan.interval_count, index, business_zone(session)
    )
    return NextRenewal(
        plan,
        quantity_e3,
        unit_amount,
        anchor,
        index,
        start,
        end,
        switches=True,
        new_period=new_period,
    )


def switch_to_pending(session: Session, subscription: Subscription) -> int:
    """Put the subscription on its scheduled plan, quantity and price (the
    current period has ended: the renewal prices the new terms next).
    Returns the index of the period to enter. Call it inside the renewal's
    transaction: the renewal invoice's uniqueness per (subscription, period
    start) makes the switch happen once, however many schedulers race."""
    renewal = next_renewal(session, subscription)
    if not renewal.switches:
        return renewal.index
    old_plan_id, old_quantity_e3 = subscription.plan_id, subscription.quantity_e3
    subscription.plan_id = renewal.plan.id
    subscription.plan = renewal.plan
    subscription.quantity_e3 = renewal.quantity_e3
    subscription.unit_amount = renewal.unit_amount
    if renewal.new_period:
        subscription.anchor_at = renewal.anchor_at
        # The new plan's billing cycles count from its first period.
        subscription.cycles_invoiced = 0
    clear_pending_change(subscription)
    events.record(
        session,
        events.SubscriptionPlanSwitched(
            subscription.id, old_plan_id, old_quantity_e3, renewal.plan.id, renewal.quantity_e3
        ),
    )
    return renewal.index


def clear_pending_change(subscription: Subscription) -> None:
    """Forget the change scheduled for the next renewal (if any)."""
    subscription.pending_plan_id = None
    subscription.pending_plan = None
    subscription.pending_quantity_e3 = None
    subscription.pending_unit_amount = None
    subscription.pending_change_requested_at = None


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
            start, end = enter_period(session, subscription, 0)
            subscription.cycles_invoiced = 1
            line.period_start, line.period_end = start, end
            subscription.updated_at = now
            events.record(session, events.SubscriptionActivated(subscription.id, invoice.id))
        elif subscription.status == SubscriptionStatus.PAST_DUE and invoice.subscription_id:
            subscription_to(subscription, SubscriptionStatus.ACTIVE)
            subscription.past_due_since = None
            subscription.updated_at = now
            events.record(session, events.SubscriptionRecovered(subscription.id, invoice.id))


def mark_past_due(
    session: Session, subscription: Subscription, now: datetime, *, invoice_id: int | None = None
) -> None:
    """The renewal (``invoice_id``) could not be collected (dunning used up);
    paying the renewal invoice makes it active again (``invoice_paid``)."""
    if subscription.status != SubscriptionStatus.ACTIVE:
        return
    audit.name_action(session, subscription, "subscription.past_due")
    subscription_to(subscription, SubscriptionStatus.PAST_DUE)
    subscription.past_due_since = now
    subscription.updated_at = now
    events.record(session, events.SubscriptionPastDue(subscription.id, invoice_id))


def invoice_voided(session: Session, invoice: Invoice) -> None:
    for line in invoice.lines:
        if line.subscription_id is None:
            continue
        subscription = session.get(Subscription, line.subscription_id)
        if subscription.status == SubscriptionStatus.PENDING:
            subscription_to(subscription, SubscriptionStatus.CANCELLED)
            subscription.cancelled_at = subscription.ended_at = clock.now()
            events.record(
                session,
                events.SubscriptionCancelled(subscription.id, events.CANCEL_INVOICE_VOIDED),
            )


def is_due(subscription: Subscription, now: datetime) -> bool:
    return (
        subscription.status in RENEWABLE
        and subscription.paused_at is None
        and subscription.current_period_end is not None
        and subscription.current_period_end <= now
    )


def cancel(
    session: Session,
    subscription: Subscription,
    *,
    at_period_end: bool,
    now: datetime | None = None,
    reason: str = events.CANCEL_REQUESTED,
) -> Subscription:
    """Cancel now, or let the current period run out (active ones only).
    ``reason`` (a ``CANCEL_*`` of ``bridge.core.events``) says why it ends now."""
    now = now or clock.now()
    if at_period_end:
        if subscription.paused_at is not None:
            raise Conflict(
                "A paused subscription has no period to run out: cancel it now, or resume it.",
                code="subscription_paused",
            )
        if subscription.status not in RENEWABLE:
            raise Conflict(
                f"A {subscription.status.value} subscription has no period to run out.",
                code="illegal_transition",
            )
        audit.name_action(session, subscription, "subscription.cancel_scheduled")
        subscription.cancel_at_period_end = True
        # The period end is the end: no renewal for a scheduled change.
        clear_pending_change(subscription)
        subscription.updated_at = now
        events.record(session, events.SubscriptionCancelScheduled(subscription.id))
    else:
        audit.name_action(session, subscription, "subscription.cancelled")
        subscription_to(subscription, SubscriptionStatus.CANCELLED)
        subscription.cancelled_at = subscription.ended_at = now
        subscription.paused_at = subscription.paused_until = None
        clear_pending_change(subscription)
        subscription.updated_at = now
        events.record(session, events.SubscriptionCancelled(subscription.id, reason))
    return subscription


def undo_cancel(session: Session, subscription: Subscription) -> Subscription:
    """Keep renewing a subscription that was set to cancel at period end."""
    if subscription.status not in RENEWABLE or not subscription.cancel_at_period_end:
        raise Conflict("This subscription is not set to cancel.", code="illegal_transition")
    audit.name_action(session, subscription, "subscription.cancel_undone")
    subscription.cancel_at_period_end = False
    subscription.updated_at = clock.now()
    events.record(session, events.SubscriptionCancelUndone(subscription.id))
    return subscription


def due_subscription_ids(session: Session, now: datetime, limit: int = 100) -> list[int]:
    return list(
        session.scalars(
            select(Subscription.id)
            .where(
                Subscription.status.in_(RENEWABLE),
                Subscription.paused_at.is_(None),
                Subscription.current_period_end <= now,
            )
            .order_by(Subscription.current_period_end, Subscription.id)
            .limit(limit)
        )
    )
