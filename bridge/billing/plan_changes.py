"""Changing a subscription's plan or quantity *now*, with proration, or at
the next renewal.

What a change now means, precisely (Stripe's default proration):

- The unused time of the current period on the old plan is credited and
  the new plan is charged for the same remaining time, on ONE invoice: a
  credit line (negative) and a charge line. Both are priced by seconds of
  the period with ``bridge.core.money.prorated_amount`` (unit amount x
  quantity x remaining seconds / period seconds, rounded half-up once per
  line). Monthly 10.00 -> 20.00 halfway through a 30-day period: -5.00 and
  +10.00, 5.00 to pay.
- Across billing intervals (another interval unit or count: monthly ->
  yearly) a new period starts at the change: the unused old time is
  credited and a full period of the new plan is charged from now (the
  subscription is re-anchored there, as Stripe's
  ``billing_cycle_anchor=now``).
- The invoice is charged like a renewal: finalized, then charged to the
  saved card off-session when the client has one, else emailed
  (``renewals.after_renewal``). Its ``billing_reason`` is
  ``subscription_cycle`` (it bills a subscription's period, so dunning and
  "past due" treat it as they treat renewals); its period is
  [change time, end of the charged period).
- Coupons (``coupons.proration_reductions``, as Stripe's proration items
  take the subscription's discounts): the credit is reduced as the period
  it credits was billed (the client gets back what it paid for that time),
  the charge as the discount standing now reduces a full period, prorated
  like the charge. 20 % off forever, monthly 10.00 -> 20.00 halfway:
  -4.00 and +8.00, 4.00 to pay. The change invoice does not use up a cycle
  of a once or N-cycle coupon (only period invoices do, as Stripe's): it
  carries the lines' discounts (``Invoice.discount``) but no
  ``discount_id``.
- A change whose credit exceeds its charge (a downgrade now) makes an
  invoice with a negative total: finalized and numbered all the same (the
  legal document of both lines), paid at once with nothing due (never
  charged, emailed with a pay link nor dunned), and its ``|total|`` goes to
  the client's account credit, which pays their next invoices first
  (``bridge.billing.balances``, where the rule and why it is an invoice and
  not a credit note are written). Monthly 20.00 -> 10.00 halfway through a
  30-day period: -10.00 and +5.00, 5.00 credited.
- The same price rules as renewals: the subscription's own tax rates; a
  quantity change on the same plan keeps the subscription's own price; a
  new plan brings its catalog price.

Preview and apply are one code path: ``quote`` builds the lines and totals
(writing nothing), ``apply`` takes that quote and persists it.

Exactly once: applying the same change twice is refused the second time
(the subscription is already on that plan and quantity: 409 ``no_change``),
the change invoice is unique per (subscription, period start) in the
database like renewals, and the API replays ``Idempotency-Key`` retries.

A change *at the next renewal* (``schedule``) bills nothing now: it is
stored on the subscription (``pending_*``) and the renewal switches to it
before pricing its invoice (``subscriptions.switch_to_pending``, inside the
renewal's transaction, so it happens once with the renewal invoice),
without proration; across intervals the new plan's first period starts at
the old period's end. ``quote_renewal`` previews that renewal invoice with
the renewal's own code; ``cancel_scheduled`` drops it; a change now, a
cancellation and a cancel at period end drop it too.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from bridge.billing import audit, coupons, invoices, renewals, subscriptions
from bridge.billing.business import get_settings
from bridge.billing.periods import period
from bridge.billing.schedule import business_zone
from bridge.billing.taxes import LineTotals, invoice_totals
from bridge.core import clock, events
from bridge.core.errors import Conflict, Invalid
from bridge.core.l10n import Localiser
from bridge.core.money import QUANTITY_SCALE, line_amount, prorated_amount, quantity_decimal
from bridge.models import (
    CatalogStatus,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Plan,
    PlanKind,
    TaxRate,
)
from bridge.models.invoices import BillingReason
from bridge.models.subscriptions import Subscription, SubscriptionStatus

NOW = "now"
RENEWAL = "renewal"
MAX_QUANTITY_E3 = 10_000 * QUANTITY_SCALE


@dataclass
class Quote:
    """What a change would do: the new plan, quantity and price, the lines
    (unsaved) of its invoice and their totals."""

    subscription: Subscription
    plan: Plan
    quantity_e3: int
    unit_amount: int
    at: datetime
    new_period: bool
    lines: list[InvoiceLine] = field(default_factory=list)
    line_totals: list[LineTotals] = field(default_factory=list)
    discount: int = 0  # the lines' discounts (credit's negative), before tax
    subtotal: int = 0
    tax: int = 0
    total: int = 0
    period_start: datetime | None = None
    period_end: datetime | None = None


def quote(
    session: Session,
    subscription: Subscription,
    *,
    plan_id: int | None = None,
    quantity_e3: int | None = None,
    now: datetime | None = None,
) -> Quote:
    """The invoice a change now would make. Writes nothing. Raises
    ``Invalid`` (422, naming ``plan_id`` or ``quantity``) or ``Conflict``
    (409: ``illegal_transition`` unless active, ``subscription_paused``,
    ``cancel_scheduled``, ``renewal_due``, ``no_change``). The total may be
    negative (a downgrade): ``apply`` credits it to the client's balance."""
    now = now or clock.now()
    plan = _new_plan(session, subscription, plan_id)
    quantity_e3 = _checked_quantity(subscription, quantity_e3)
    _check_state(subscription, now)
    if plan.id == subscription.plan_id and quantity_e3 == subscription.quantity_e3:
        raise Conflict("The subscription is on this plan and quantity already.", code="no_change")
    unit_amount = subscription.unit_amount if plan.id == subscription.plan_id else plan.amount
    old = subscription.plan
    new_period = (plan.interval_unit, plan.interval_count) != (
        old.interval_unit,
        old.interval_count,
    )
    result = Quote(subscription, plan, quantity_e3, unit_amount, now, new_period)
    rates = invoices.rate_snapshots(
        [r for i in subscription.tax_rate_ids if (r := session.get(TaxRate, i)) is not None]
    )
    # The lines' words are in the invoice's language, like its PDF.
    words = Localiser(get_settings(session).invoice_language)
    start, end = subscription.current_period_start, subscription.current_period_end
    period_seconds = _seconds(end - start)
    remaining = _seconds(end - now)
    credit = prorated_amount(
        subscription.unit_amount, subscription.quantity_e3, remaining, period_seconds
    )
    credit_line, credit_totals = invoices.make_line(
        0,
        old,
        QUANTITY_SCALE,
        credit,
        rates,
        description=words.gettext("Unused time on %(plan)s")
        % {"plan": _named(old, subscription.quantity_e3, words)},
        subscription_id=subscription.id,
        period_start=now,
        period_end=end,
    )
    if new_period:
        # A full period of the new plan from now (period 0 of a new anchor).
        charge_start, charge_end = _first_period(session, subscription, plan, now)
        charge_line, charge_totals = invoices.make_line(
            1,
            plan,
            quantity_e3,
            unit_amount,
            rates,
            subscription_id=subscription.id,
            period_start=charge_start,
            period_end=charge_end,
        )
    else:
        charge_start, charge_end = now, end
        charge = prorated_amount(unit_amount, quantity_e3, remaining, period_seconds)
        charge_line, charge_totals = invoices.make_line(
            1,
            plan,
            QUANTITY_SCALE,
            charge,
            rates,
            description=words.gettext("Remaining time on %(plan)s")
            % {"plan": _named(plan, quantity_e3, words)},
            subscription_id=subscription.id,
            period_start=charge_start,
            period_end=charge_end,
        )
    # Both lines take the subscription's discount (the documented rule:
    # ``coupons.proration_reductions``); the credit is negated after.
    full_charge = line_amount(unit_amount, quantity_e3)
    credit_off, charge_off = coupons.proration_reductions(
        session,
        subscription,
        plan,
        credit=credit,
        charge=full_charge if new_period else charge,
        full_charge=full_charge,
        at=now,
    )
    credit_line, credit_totals = _negated(credit_line, coupons.reduce_line(credit_line, credit_off))
    charge_totals = coupons.reduce_line(charge_line, charge_off)
    result.discount = credit_line.discount + charge_line.discount
    result.lines = [credit_line, charge_line]
    result.line_totals = [credit_totals, charge_totals]
    totals = invoice_totals(result.line_totals)
    result.subtotal, result.tax, result.total = totals.subtotal, totals.tax, totals.total
    result.period_start, result.period_end = charge_start, charge_end
    return result


def apply(
    session: Session,
    subscription: Subscription,
    *,
    plan_id: int | None = None,
    quantity_e3: int | None = None,
    now: datetime | None = None,
) -> tuple[Quote, Invoice]:
    """Make the change now: the quote's invoice is stored and finalized (the
    client's account credit pays what it can; the rest is sent unless a
    saved card pays it: the caller plans the charge with
    ``renewals.after_renewal``; a negative total is paid at once and
    credited to the client's balance), and the subscription moves to the
    new plan and quantity (and a new period across intervals). Raises as
    ``quote``; IntegrityError if an invoice for the same subscription and moment
    exists already (the caller rolls back)."""
    now = now or clock.now()
    change = quote(session, subscription, plan_id=plan_id, quantity_e3=quantity_e3, now=now)
    old_plan_id, old_quantity_e3 = subscription.plan_id, subscription.quantity_e3
    invoice = Invoice(
        client_id=subscription.client_id,
        site_id=subscription.site_id,
        status=InvoiceStatus.DRAFT,
        billing_reason=BillingReason.SUBSCRIPTION_CYCLE,
        currency=subscription.currency,
        language=get_settings(session).invoice_language,
        subscription_id=subscription.id,
        period_start=now,
        period_end=change.period_end,
        tax_rate_ids=list(subscription.tax_rate_ids),
        hosted_token=secrets.token_urlsafe(32),
        created_at=now,
        lines=change.lines,
        discount=change.discount,  # no discount_id: a change uses no coupon cycle
    )
    invoices.set_totals(invoice, change.line_totals)
    session.add(invoice)
    session.flush()
    audit.name_action(session, subscription, "subscription.plan_changed")
    subscription.plan_id = change.plan.id
    subscription.plan = change.plan
    subscription.quantity_e3 = change.quantity_e3
    subscription.unit_amount = change.unit_amount
    if change.new_period:
        subscription.anchor_at = now
        subscriptions.enter_period(session, subscription, 0)
        subscription.cycles_invoiced = 1
    subscription.renewal_reminded_for = None
    # A change now replaces one scheduled for the renewal.
    subscriptions.clear_pending_change(subscription)
    subscription.updated_at = now
    invoices.finalize(
        session, invoice, now, send=not renewals.card_on_file(session, subscription.client)
    )
    events.record(
        session,
        events.SubscriptionPlanChanged(
            subscription.id,
            invoice.id,
            old_plan_id,
            old_quantity_e3,
            change.plan.id,
            change.quantity_e3,
        ),
    )
    return change, invoice


def quote_renewal(
    session: Session,
    subscription: Subscription,
    *,
    plan_id: int | None = None,
    quantity_e3: int | None = None,
    now: datetime | None = None,
) -> Quote:
    """The next renewal invoice if the change were scheduled for it: the
    lines and totals the renewal would price (``renewals.renewal_draft``,
    the renewal's own code, the coupon included). Writes nothing. Raises
    ``Invalid`` (422, naming ``plan_id`` or ``quantity``) or ``Conflict``
    (409: ``illegal_transition`` unless active or past due,
    ``subscription_paused``, ``cancel_scheduled``, ``last_cycle``,
    ``renewal_due``, ``no_change``)."""
    now = now or clock.now()
    plan = _new_plan(session, subscription, plan_id)
    quantity_e3 = _checked_quantity(subscription, quantity_e3)
    _check_schedulable(subscription, now)
    if plan.id == subscription.plan_id and quantity_e3 == subscription.quantity_e3:
        raise Conflict(
            "The subscription renews on this plan and quantity already: to drop the "
            "change scheduled for its renewal, cancel it.",
            code="no_change",
        )
    unit_amount = subscription.unit_amount if plan.id == subscription.plan_id else plan.amount
    renewal = subscriptions.renewal_on(session, subscription, plan, quantity_e3, unit_amount)
    start, end = renewal.start, renewal.end
    draft = renewals.renewal_draft(session, subscription, start, end, renewal)
    result = Quote(
        subscription,
        plan,
        quantity_e3,
        unit_amount,
        subscription.current_period_end,
        renewal.new_period,
    )
    result.lines = list(draft.lines)
    result.subtotal, result.tax, result.total = draft.subtotal, draft.tax, draft.total
    result.period_start, result.period_end = start, end
    return result


def schedule(
    session: Session,
    subscription: Subscription,
    *,
    plan_id: int | None = None,
    quantity_e3: int | None = None,
    now: datetime | None = None,
) -> Quote:
    """Schedule the change for the next renewal: at the end of the current
    period the subscription switches to the new plan, quantity and price
    before the renewal invoice is priced (no proration). Replaces a change
    scheduled before. Returns the quote of that renewal invoice; raises as
    ``quote_renewal``."""
    now = now or clock.now()
    change = quote_renewal(session, subscription, plan_id=plan_id, quantity_e3=quantity_e3, now=now)
    audit.name_action(session, subscription, "subscription.change_scheduled")
    subscription.pending_plan_id = change.plan.id
    subscription.pending_plan = change.plan
    subscription.pending_quantity_e3 = change.quantity_e3
    subscription.pending_unit_amount = change.unit_amount
    subscription.pending_change_requested_at = now
    subscription.updated_at = now
    events.record(
        session,
        events.SubscriptionPlanChangeScheduled(
            subscription.id, change.plan.id, change.quantity_e3, change.at
        ),
    )
    return change


def cancel_scheduled(
    session: Session, subscription: Subscription, *, now: datetime | None = None
) -> Subscription:
    """Drop the change scheduled for the next renewal: it renews on its
    current plan and quantity. 409 ``no_scheduled_change`` when none is."""
    now = now or clock.now()
    if not subscriptions.has_pending_change(subscription):
        raise Conflict("No change is scheduled for this subscription.", code="no_scheduled_change")
    audit.name_action(session, subscription, "subscription.change_unscheduled")
    subscriptions.clear_pending_change(subscription)
    subscription.updated_at = now
    events.record(session, events.SubscriptionPlanChangeUnscheduled(subscription.id))
    return subscription


@dataclass(frozen=True)
class PendingChange:
    """The change scheduled for the next renewal, as shown to people."""

    plan: Plan
    quantity_e3: int
    unit_amount: int
    # When it takes effect: the end of the current period (of a pause:
    # its resume date; None: when resumed by hand).
    effective_at: datetime | None

    @property
    def plan_id(self) -> int:
        return self.plan.id

    @property
    def quantity(self):
        return quantity_decimal(self.quantity_e3)

    @property
    def amount(self) -> int:
        """What each renewal bills before tax: unit x quantity, rounded once."""
        return line_amount(self.unit_amount, self.quantity_e3)


def pending_change(subscription: Subscription) -> PendingChange | None:
    """The change scheduled for the subscription's next renewal, or None."""
    if not subscriptions.has_pending_change(subscription):
        return None
    effective_at = (
        subscription.paused_until
        if subscription.paused_at is not None
        else subscription.current_period_end
    )
    return PendingChange(
        subscription.pending_plan,
        subscription.pending_quantity_e3,
        subscription.pending_unit_amount,
        effective_at,
    )


def _checked_quantity(subscription: Subscription, quantity_e3: int | None) -> int:
    quantity_e3 = subscription.quantity_e3 if quantity_e3 is None else quantity_e3
    if not 1 <= quantity_e3 <= MAX_QUANTITY_E3:
        raise Invalid(
            "The quantity must be above 0 and at most 10000.",
            code="invalid_quantity",
            fields={"quantity": ["Must be above 0 and at most 10000."]},
        )
    return quantity_e3


def _check_schedulable(subscription: Subscription, now: datetime) -> None:
    # Past due too: its current period runs, and its next renewal can
    # switch plan like an active one's.
    if subscription.status not in subscriptions.RENEWABLE:
        raise Conflict(
            f"A {subscription.status.value.replace('_', ' ')} subscription has no renewal "
            "to change.",
            code="illegal_transition",
        )
    if subscription.paused_at is not None:
        raise Conflict(
            "A paused subscription cannot schedule a change: resume it first.",
            code="subscription_paused",
        )
    subscriptions.check_renews(subscription)
    if subscription.current_period_end is None or subscription.current_period_end <= now:
        raise Conflict(
            "The subscription's period has ended and waits for its renewal.",
            code="renewal_due",
        )


def _new_plan(session: Session, subscription: Subscription, plan_id: int | None) -> Plan:
    if plan_id is None or plan_id == subscription.plan_id:
        return subscription.plan
    plan = session.get(Plan, plan_id)
    problem = None
    if plan is None:
        problem = "No such plan."
    elif plan.kind != PlanKind.RECURRING:
        problem = "A subscription can only change to a recurring plan."
    elif plan.status == CatalogStatus.ARCHIVED or plan.product.status == CatalogStatus.ARCHIVED:
        problem = "This plan is archived."
    elif plan.currency != subscription.currency:
        problem = f"The plan is in {plan.currency}, the subscription in {subscription.currency}."
    if problem is not None:
        raise Invalid(problem, code="invalid_plan", fields={"plan_id": [problem]})
    return plan


def _check_state(subscription: Subscription, now: datetime) -> None:
    # Active only: paying a change invoice must not bring a past-due
    # subscription back while its renewal is still unpaid.
    if subscription.status != SubscriptionStatus.ACTIVE:
        raise Conflict(
            f"A {subscription.status.value.replace('_', ' ')} subscription cannot change plan.",
            code="illegal_transition",
        )
    if subscription.paused_at is not None:
        raise Conflict(
            "A paused subscription cannot change plan: resume it first.",
            code="subscription_paused",
        )
    if subscription.cancel_at_period_end:
        raise Conflict(
            "This subscription is set to end with its period: undo that first.",
            code="cancel_scheduled",
        )
    if (
        subscription.current_period_start is None
        or subscription.current_period_end is None
        or not subscription.current_period_start <= now < subscription.current_period_end
    ):
        raise Conflict(
            "The subscription's period has ended and waits for its renewal.",
            code="renewal_due",
        )


def _first_period(
    session: Session, subscription: Subscription, plan: Plan, at: datetime
) -> tuple[datetime, datetime]:
    return period(at, plan.interval_unit, plan.interval_count, 0, business_zone(session))


def _seconds(delta) -> int:
    return delta.days * 86_400 + delta.seconds


def _named(plan: Plan, quantity_e3: int, words: Localiser) -> str:
    name = invoices.describe_plan(plan)
    if quantity_e3 == QUANTITY_SCALE:
        return name
    return f"{name} × {words.number(quantity_decimal(quantity_e3))}"


def _negated(line: InvoiceLine, totals: LineTotals) -> tuple[InvoiceLine, LineTotals]:
    """The credit: the line priced as a positive amount (taxes rounded
    half-up, symmetric), every amount then negated."""
    line.unit_amount, line.discount, line.net, line.tax, line.total = (
        -line.unit_amount,
        -line.discount,
        -line.net,
        -line.tax,
        -line.total,
    )
    for tax in line.taxes:
        tax.amount = -tax.amount
    return line, LineTotals(
        base=-totals.base,
        net=-totals.net,
        taxes={key: -amount for key, amount in totals.taxes.items()},
        total=-totals.total,
        discount=-totals.discount,
    )
