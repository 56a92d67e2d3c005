"""What a client's people see of their plans and card, and do themselves,
in the client portal (SPEC 11): their subscriptions with the next renewal
as it will be billed, cancelling at the end of the paid period when the
agency allows it (``portal_client_can_cancel``) and resuming before the
end, the state of the saved card, and the renewals waiting for them to
confirm a card payment.

Each action is harmless when sent twice: cancelling a subscription already
set to end, or resuming one that renews, changes nothing and records
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bridge.billing import renewals, subscriptions
from bridge.billing.business import get_settings
from bridge.billing.schedule import business_zone
from bridge.core import clock
from bridge.core.errors import Conflict
from bridge.models import Client, Invoice, InvoiceStatus, PaymentState, Plan
from bridge.models.subscriptions import Subscription, SubscriptionStatus

# How many of a client's subscriptions the portal lists (newest first).
MAX_LISTED = 200


@dataclass(frozen=True)
class PlanRow:
    """One subscription as the portal shows it.

    ``price_total``: what one period bills, tax included, priced as the
    scheduler prices renewals (None for an ended subscription).
    ``renews_at`` / ``renewal_total``: when the next renewal invoice is
    issued and what it will bill (None when it will not renew). ``ends_at``:
    the end of the paid period of a subscription that stops then (cancelled
    at period end, or its last billing cycle)."""

    subscription: Subscription
    price_total: int | None
    renews_at: datetime | None
    renewal_total: int | None
    ends_at: datetime | None

    @property
    def cancelling(self) -> bool:
        return self.subscription.cancel_at_period_end

    @property
    def may_cancel(self) -> bool:
        """Whether its state lets it be cancelled at the period end."""
        return self.renews_at is not None and not self.cancelling

    @property
    def may_resume(self) -> bool:
        """Whether it is set to end and may renew again instead."""
        return (
            self.cancelling
            and self.subscription.status in subscriptions.RENEWABLE
            and self.ends_at is not None
            and self.ends_at > clock.now()
        )


def clients_may_cancel(session: Session) -> bool:
    """The agency lets clients cancel their own subscriptions (a setting)."""
    return bool(get_settings(session).portal_client_can_cancel)


def _last_cycle(subscription: Subscription) -> bool:
    cycles = subscription.plan.billing_cycles
    return cycles is not None and subscription.cycles_invoiced >= cycles


def _priced(session: Session, subscription: Subscription, start: datetime, end: datetime) -> int:
    _rates, _line, totals = renewals.renewal_line(session, subscription, start, end)
    return totals.total


def plan_row(session: Session, subscription: Subscription) -> PlanRow:
    """The subscription with its price per period and its next renewal
    (date and total with tax)."""
    if subscription.status not in subscriptions.CURRENT:
        return PlanRow(subscription, None, None, None, None)
    if subscription.status == SubscriptionStatus.PENDING or (
        subscription.current_period_end is None
    ):
        now = clock.now()
        return PlanRow(subscription, _priced(session, subscription, now, now), None, None, None)
    if subscription.paused_at is not None:
        # Paused (``bridge.billing.pauses``): no renewal; the portal shows
        # the pause's dates instead. Clients cannot pause nor cancel it.
        start, end = subscription.current_period_start, subscription.current_period_end
        return PlanRow(subscription, _priced(session, subscription, start or end, end), *[None] * 3)
    if subscription.cancel_at_period_end or _last_cycle(subscription):
        start, end = subscription.current_period_start, subscription.current_period_end
        price = _priced(session, subscription, start or end, end)
        return PlanRow(subscription, price, None, None, end)
    index = subscription.period_index + 1
    start, end = subscriptions.period_bounds(session, subscription, index)
    total = _priced(session, subscription, start, end)
    renewal = subscriptions.next_renewal(session, subscription)
    if renewal.switches:
        # A change scheduled for the renewal: it bills the new terms.
        _rates, _line, totals = renewals.renewal_line(
            session, subscription, renewal.start, renewal.end, renewal
        )
        return PlanRow(subscription, total, renewal.start, totals.total, None)
    return PlanRow(subscription, total, start, total, None)


def client_plans(session: Session, client_id: int) -> tuple[list[PlanRow], list[PlanRow]]:
    """The client's subscriptions: current ones (active, past due, pending,
    cancelling at the period end) and inactive ones (cancelled, expired),
    newest first."""
    rows = list(
        session.scalars(
            select(Subscription)
            .where(Subscription.client_id == client_id)
            .options(
                selectinload(Subscription.plan).selectinload(Plan.product),
                selectinload(Subscription.pending_plan).selectinload(Plan.product),
                selectinload(Subscription.site),
            )
            .order_by(Subscription.id.desc())
            .limit(MAX_LISTED)
        )
    )
    current, inactive = [], []
    for subscription in rows:
        if subscription.status in subscriptions.CURRENT:
            current.append(plan_row(session, subscription))
        else:
            inactive.append(plan_row(session, subscription))
    return current, inactive


def cancel_at_period_end(session: Session, subscription: Subscription) -> bool:
    """The client cancels: the subscription runs to the end of the paid
    period, then stops, and nothing more is billed. False when it was set
    to end already (nothing changes). Raises ``Conflict``:
    ``portal_cancel_disabled`` when the agency does not allow it,
    ``illegal_transition`` when it has no period to run out."""
    if not clients_may_cancel(session):
        raise Conflict(
            "Cancelling from the portal is not allowed: contact the agency.",
            code="portal_cancel_disabled",
        )
    if subscription.cancel_at_period_end and subscription.status in subscriptions.RENEWABLE:
        return False
    subscriptions.cancel(session, subscription, at_period_end=True)
    return True


def resume(session: Session, subscription: Subscription) -> bool:
    """The client keeps a subscription set to end: it renews again. False
    when it renews already (nothing changes). Raises ``Conflict`` as
    ``cancel_at_period_end`` does, and ``illegal_transition`` once it has
    ended."""
    if not clients_may_cancel(session):
        raise Conflict(
            "Changing subscriptions from the portal is not allowed: contact the agency.",
            code="portal_cancel_disabled",
        )
    if subscription.status in subscriptions.RENEWABLE and not subscription.cancel_at_period_end:
        return False
    subscriptions.undo_cancel(session, subscription)
    return True


# The card -----------------------------------------------------------------------


def card_expiry(client: Client, today: date | None = None) -> str | None:
    """``"expired"``, ``"expires_soon"`` (this month or the next) or None
    (valid, or no expiry known). A card is valid to the end of its month."""
    if not client.card_exp_month or not client.card_exp_year:
        return None
    today = today or clock.now().date()
    expiry = client.card_exp_year * 12 + client.card_exp_month
    now = today.year * 12 + today.month
    if expiry < now:
        return "expired"
    if expiry <= now + 1:
        return "expires_soon"
    return None


def today(session: Session) -> date:
    """Today in the business time zone."""
    return clock.now().astimezone(business_zone(session)).date()


def renewals_awaiting_authentication(session: Session, client_id: int) -> list[Invoice]:
    """The client's open invoices whose card payment waits for them to
    confirm it (3-D Secure), oldest first."""
    return list(
        session.scalars(
            select(Invoice)
            .where(
                Invoice.client_id == client_id,
                Invoice.status == InvoiceStatus.OPEN,
                Invoice.payment_state == PaymentState.ACTION_REQUIRED,
            )
            .order_by(Invoice.id)
            .limit(MAX_LISTED)
        )
    )
