"""Renewing: every subscription whose period has ended moves into its next
period (a renewal invoice), ends (cancel at period end, billing cycles used
up), or, past due for too long, is cancelled; and reactivating an ended
subscription with a new invoice.

Renewal invoices are issued in advance, at the start of each new period, and
are unique per (subscription, period start) in the database, so however many
schedulers race, a period is invoiced once. A subscription many periods
behind is not billed them all at once: see ``renew_due``'s ``catch_up``.

Claiming: due rows are selected ``FOR UPDATE SKIP LOCKED`` (PostgreSQL; on
SQLite the write transaction is exclusive anyway) in short transactions with
no network call inside, so any number of schedulers can run this at once and
each period is renewed by exactly one of them. The renewal invoice is also
unique per (subscription, period start) in the database: a race that got
past the locks still cannot invoice a period twice.

In sets: most of a claimed batch renews plainly (one period due, no change
scheduled, no coupon, no account credit, nothing ending). Those are priced
in memory and written together, in claim order: one block of invoice
numbers, then a few multi-row statements for the invoices, lines, taxes,
subscriptions and audit rows, with the same events (so the same outbox
rows) as ``renew`` one by one, and row for row the same result. The others,
and a set whose write fails (a period another scheduler invoiced first), are
renewed one by one, each in a savepoint of its own.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from bridge.billing import audit, balances, coupons, invoices, subscriptions
from bridge.billing.business import get_settings
from bridge.billing.numbering import NumberFormatCollides
from bridge.billing.states import subscription_to
from bridge.billing.taxes import LineTotals
from bridge.core import clock, events
from bridge.core.batches import locked_batches
from bridge.core.errors import Conflict, Invalid
from bridge.core.money import card_limit
from bridge.core.outages import is_database_unavailable
from bridge.models import (
    CatalogStatus,
    Client,
    Discount,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Plan,
    TaxRate,
)
from bridge.models.invoices import BillingReason
from bridge.models.subscriptions import Subscription, SubscriptionStatus

log = logging.getLogger(__name__)


@dataclass
class RenewReport:
    renewed: int = 0
    ended: int = 0
    to_charge: int = 0
    emailed: int = 0
    errors: int = 0
    # Subscriptions more periods behind than the run may catch up: not
    # renewed, logged.
    held: int = 0
    failed_ids: set[int] = field(default_factory=set)
    # A number format that gives issued numbers fails every renewal the
    # same way: counted in errors each time, logged once per run.
    number_format_collides: NumberFormatCollides | None = None

    def counts(self) -> dict:
        return {
            "renewed": self.renewed,
            "ended": self.ended,
            "to_charge": self.to_charge,
            "emailed": self.emailed,
            "errors": self.errors,
            "held": self.held,
        }


# The unique constraint that says "this period is invoiced already": the only
# IntegrityError a renewal may meet from a concurrent scheduler. Any other
# (a number format that collides with issued numbers, say) is an error.
RENEWED_CONSTRAINT = "uq_invoices_subscription_period"
# ``periods_to_invoice`` counts no further when asked for a figure to show.
MAX_COUNTED = 1000


def already_renewed(exc: IntegrityError) -> bool:
    """Whether ``exc`` is the (subscription, period start) unique violation."""
    diag = getattr(exc.orig, "diag", None)
    if diag is not None and getattr(diag, "constraint_name", None):
        return diag.constraint_name == RENEWED_CONSTRAINT
    # SQLite names the columns, not the constraint.
    return "invoices.subscription_id, invoices.period_start" in str(exc.orig)


def periods_to_invoice(
    session: Session, subscription: Subscription, now: datetime, limit: int | None = None
) -> int:
    """How many renewal invoices ``subscription`` needs to be current at
    ``now``: 0 when not due, 1 in the normal case (its period just ended),
    more when periods went by without a renewal (the scheduler was stopped).
    Counting stops past ``limit``; periods after a cancel at period end or
    the plan's last billing cycle are not counted."""
    if not subscriptions.is_due(subscription, now) or subscription.cancel_at_period_end:
        return 0
    cycles = subscription.plan.billing_cycles
    most = None if cycles is None else max(0, cycles - subscription.cycles_invoiced)
    count, index = 1, subscription.period_index + 1
    while (limit is None or count <= limit) and (most is None or count < most):
        _start, end = subscriptions.period_bounds(session, subscription, index)
        if end > now:
            break
        count, index = count + 1, index + 1
    return count if most is None else min(count, most)


def card_on_file(session: Session, client: Client) -> bool:
    """Renewals of this client are charged to a saved card (else emailed)."""
    return saved_card_charged(client, bool(get_settings(session).stripe_secret_key_encrypted))


def saved_card_charged(client: Client, stripe_connected: bool) -> bool:
    """``card_on_file`` when whether Stripe is connected is known already."""
    return bool(client.default_payment_method_id and client.stripe_customer_id and stripe_connected)


def _claim_due(
    session: Session, now: datetime, batch: int, skip: set[int], *, ending_only: bool = False
) -> list[int]:
    query = (
        select(Subscription.id)
        .where(
            Subscription.status.in_(subscriptions.RENEWABLE),
            # Paused: no renewal (``bridge.billing.pauses`` resumes them).
            Subscription.paused_at.is_(None),
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


def renew(session: Session, subscription: Subscription, now: datetime | None = None):
    """Move a subscription whose period has ended into its next period.

    Returns the renewal invoice (finalized, open, dated on the first moment
    of its period; sent to the client unless it is charged to a saved card),
    or None when the period end was the end of the subscription (cancel at
    period end, or billing cycles used up) or when it is not due. Raises
    IntegrityError if another process already invoiced this period (the
    caller rolls back).
    """
    now = now or clock.now()
    if not subscriptions.is_due(subscription, now):
        return None
    plan = subscription.plan
    ended_at = subscription.current_period_end
    if subscription.cancel_at_period_end:
        audit.name_action(session, subscription, "subscription.cancelled")
        subscription_to(subscription, SubscriptionStatus.CANCELLED)
        subscription.cancelled_at = subscription.cancelled_at or now
        subscription.ended_at = ended_at
        subscription.updated_at = now
        events.record(
            session, events.SubscriptionCancelled(subscription.id, events.CANCEL_AT_PERIOD_END)
        )
        return None
    if plan.billing_cycles is not None and subscription.cycles_invoiced >= plan.billing_cycles:
        audit.name_action(session, subscription, "subscription.expired")
        subscription_to(subscription, SubscriptionStatus.EXPIRED)
        subscription.ended_at = ended_at
        subscription.updated_at = now
        events.record(session, events.SubscriptionExpired(subscription.id))
        return None

    audit.name_action(session, subscription, "subscription.renewed")
    # A change scheduled for this renewal: the new plan, quantity and price
    # (and, across intervals, a period anchored at the old end) before the
    # invoice is priced. Rolled back with the invoice if another scheduler
    # renewed this period first.
    index = subscriptions.switch_to_pending(session, subscription)
    start, end = subscriptions.period_bounds(session, subscription, index)
    invoice = renewal_invoice(session, subscription, start, end)
    # Charged to the saved card by the collect step (``after_renewal`` plans
    # it), or else emailed with its pay link.
    invoices.finalize(
        session,
        invoice,
        now,
        issued_at=min(start, now),
        send=not card_on_file(session, subscription.client),
    )
    subscriptions.enter_period(session, subscription, index)
    subscription.cycles_invoiced += 1
    subscription.updated_at = now
    events.record(session, events.SubscriptionRenewed(subscription.id, invoice.id, index))
    return invoice


def renewal_invoice(
    session: Session, subscription: Subscription, start: datetime, end: datetime
) -> Invoice:
    """The draft for one period. Rates and price are the subscription's own,
    even if the plan or a rate was archived since (existing subscriptions are
    untouched by archiving)."""
    invoice = renewal_draft(session, subscription, start, end)
    session.add(invoice)
    session.flush()
    return invoice


def renewal_draft(
    session: Session,
    subscription: Subscription,
    start: datetime,
    end: datetime,
    renewal: subscriptions.NextRenewal | None = None,
    *,
    coupon: bool = True,
) -> Invoice:
    """The renewal invoice for ``start``-``end``, not added to the session
    (a preview prices it on the terms of ``renewal``, a change scheduled
    for it, without writing). ``coupon`` False: the caller knows no coupon
    stands for it (no query)."""
    rates, line, totals = renewal_line(session, subscription, start, end, renewal)
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
    invoices.set_totals(invoice, [totals])
    if not coupon:
        return invoice
    # The subscription's (or its client's) coupon, while it has cycles left:
    # stored on the invoice, so the countdown moves once per renewal invoice.
    discount = coupons.standing(
        session, client_id=subscription.client_id, subscription_id=subscription.id
    )
    if discount is not None:
        coupons.apply_discount(session, invoice, discount)
    return invoice


def renewal_line(
    session: Session,
    subscription: Subscription,
    start: datetime,
    end: datetime,
    renewal: subscriptions.NextRenewal | None = None,
) -> tuple[list[TaxRate], InvoiceLine, LineTotals]:
    """The rates, the (unsaved) line and its totals of the renewal invoice
    for the period ``start``-``end``, on the subscription's terms or those
    of ``renewal``. Writes nothing: the billing preview
    (``bridge.billing.metrics``) prices renewals with it too."""
    rates = [r for i in subscription.tax_rate_ids if (r := session.get(TaxRate, i)) is not None]
    line, totals = invoices.make_line(
        0,
        renewal.plan if renewal else subscription.plan,
        renewal.quantity_e3 if renewal else subscription.quantity_e3,
        renewal.unit_amount if renewal else subscription.unit_amount,
        invoices.rate_snapshots(rates),
        subscription_id=subscription.id,
        period_start=start,
        period_end=end,
    )
    return rates, line, totals


def after_renewal(session: Session, invoice: Invoice, now: datetime) -> str:
    """Plan how a fresh renewal invoice is collected: charged to the saved
    card by the collect step (at once), or paid by the client from the email
    ``renew`` sent. Returns ``"charge"``, ``"email"`` or ``"paid"`` (nothing
    to pay)."""
    if invoice.status != InvoiceStatus.OPEN:  # zero total: already paid
        return "paid"
    if card_on_file(session, invoice.client):
        limit = card_limit(invoice.amount_due, invoice.currency)
        if limit is None:
            invoice.next_charge_at = now
            return "charge"
        # Stripe would refuse it at every attempt: paid offline instead.
        reason = f"Not charged to the saved card: {limit.message(invoice.currency)}"
        events.record(session, events.CardPaymentImpossible(invoice.id, reason))
    return "email"


def reactivate(session: Session, subscription: Subscription) -> Invoice:
    """A new invoice for the same plan, finalized and sent; a new
    subscription starts when it is paid."""
    if subscription.status not in subscriptions.INACTIVE:
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


def end_due(session: Session, now: datetime, *, batch: int = 50) -> int:
    """End the due subscriptions that end rather than renew (cancel at period
    end, billing cycles used up). Returns how many ended. Commits."""
    return renew_due(session, now, batch=batch, ending_only=True).ended


def renew_due(
    session: Session,
    now: datetime,
    *,
    batch: int = 50,
    ending_only: bool = False,
    catch_up: int | None = 1,
    on_batch: Callable[[dict], None] | None = None,
) -> RenewReport:
    """Renew or end every subscription due at ``now``, each period invoiced
    once. A subscription that needs more than ``catch_up`` renewal invoices
    to be current (the scheduler was stopped, or its periods were anchored
    in the past) is not renewed: it is held, logged once per run,
    counted in ``held``, the agency is emailed once (``SubscriptionBehind``)
    and staff see it as ``periods_behind`` on the subscription, until they
    cancel it or run the job with a larger
    ``catch_up`` (None: no limit), which catches up period by period.
    One subscription's error is logged and skipped, it never stops the
    others; a number format that gives issued numbers fails each renewal
    (counted in ``errors``) and is logged once per run. Commits after each
    batch, then tells ``on_batch`` the run's counts so far (with ``batches``
    and ``claimed``)."""
    report = RenewReport()
    batches = claimed_so_far = 0
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
        in_sets = {} if ending_only else _plain_renewals(session, claimed, ids, now, catch_up)
        run: list[_PlainRenewal] = []
        for subscription_id in ids:
            plain = in_sets.get(subscription_id)
            if plain is not None:
                run.append(plain)
                continue
            # The set so far first: numbers follow the claim's order.
            _renew_set(session, report, run, now, catch_up)
            run = []
            _renew_one(session, report, claimed[subscription_id], now, catch_up, ending_only)
        _renew_set(session, report, run, now, catch_up)
        session.commit()
        batches += 1
        claimed_so_far += len(ids)
        if on_batch is not None:
            on_batch({**report.counts(), "batches": batches, "claimed": claimed_so_far})


def _renew_one(
    session: Session,
    report: RenewReport,
    subscription: Subscription,
    now: datetime,
    catch_up: int | None,
    ending_only: bool,
) -> None:
    """Renew, end or hold one claimed subscription in a savepoint of its
    own, object by object; its error is counted and logged, never raised
    (but for the database being unavailable). Commits the savepoint only:
    the batch's transaction is the caller's."""
    subscription_id = subscription.id
    savepoint = session.begin_nested()
    try:
        if not ending_only and catch_up is not None:
            needed = periods_to_invoice(session, subscription, now, limit=catch_up)
            if needed > catch_up:
                _hold(session, report, subscription, catch_up)
                savepoint.commit()
                return
        invoice = renew(session, subscription, now)
        if invoice is None:
            report.ended += 1
        else:
            report.renewed += 1
            how = after_renewal(session, invoice, now)
            report.to_charge += how == "charge"
            report.emailed += how == "email"
        savepoint.commit()
    except IntegrityError as exc:
        savepoint.rollback()
        report.failed_ids.add(subscription_id)
        if not already_renewed(exc):
            report.errors += 1
            log.exception("renewing subscription %s failed", subscription_id)
        # Else another scheduler invoiced this period first: nothing to do.
    except NumberFormatCollides as exc:
        savepoint.rollback()
        report.errors += 1
        report.failed_ids.add(subscription_id)
        if report.number_format_collides is None:
            report.number_format_collides = exc
            log.error(
                "renewals cannot be numbered: %s (subscription %s; every "
                "renewal of this run fails the same way, counted in errors)",
                exc.message,
                subscription_id,
            )
    except Exception as exc:
        if is_database_unavailable(exc):
            raise  # not this subscription's fault: the batch stops, logged once
        savepoint.rollback()
        report.errors += 1
        report.failed_ids.add(subscription_id)
        log.exception("renewing subscription %s failed", subscription_id)


# Renewing in sets ----------------------------------------------------------------------


@dataclass
class _PlainRenewal:
    """A claimed subscription that renews plainly into its next period,
    with its renewal draft priced in memory."""

    subscription: Subscription
    index: int
    start: datetime
    invoice: Invoice
    # Emailed with its pay link, or charged to the saved card.
    send: bool


def _plain_renewals(
    session: Session,
    claimed: dict[int, Subscription],
    ids: list[int],
    now: datetime,
    catch_up: int | None,
) -> dict[int, _PlainRenewal]:
    """The claimed subscriptions whose renewal ``renew`` and
    ``after_renewal`` would write with nothing but a draft, its number and
    the new period: one period due (not held, not ending), no change
    scheduled, no coupon, no account credit to use, a total above zero and,
    charged to a saved card, one the card can take. Read in two queries for
    the batch; the others renew one by one."""
    if catch_up is not None and catch_up < 1:
        return {}
    candidates = [claimed[i] for i in ids if _plainly_due(claimed[i], now)]
    if not candidates:
        return {}
    client_ids = sorted({s.client_id for s in candidates})
    discounted = session.execute(
        select(Discount.subscription_id, Discount.client_id).where(
            Discount.ended_at.is_(None),
            or_(
                Discount.subscription_id.in_([s.id for s in candidates]),
                Discount.client_id.in_(client_ids),
            ),
        )
    ).all()
    subscriptions_with_coupon = {row.subscription_id for row in discounted}
    clients_with_coupon = {row.client_id for row in discounted}
    credit = balances.balances(session, client_ids)
    plain = {}
    for subscription in candidates:
        if (
            subscription.id in subscriptions_with_coupon
            or subscription.client_id in clients_with_coupon
        ):
            continue
        if credit[subscription.client_id].of(subscription.currency) > 0:
            continue
        index = subscription.period_index + 1
        start, end = subscriptions.period_bounds(session, subscription, index)
        if end <= now:  # more than one period behind: held or caught up one by one
            continue
        try:
            invoice = renewal_draft(session, subscription, start, end, coupon=False)
        except Invalid:
            continue  # too large: refused (and logged) one by one
        if invoice.total <= 0:
            continue
        send = not card_on_file(session, subscription.client)
        if not send and card_limit(invoice.total, invoice.currency) is not None:
            continue
        plain[subscription.id] = _PlainRenewal(subscription, index, start, invoice, send)
    return plain


def _plainly_due(subscription: Subscription, now: datetime) -> bool:
    cycles = subscription.plan.billing_cycles
    return (
        subscriptions.is_due(subscription, now)
        and not subscription.cancel_at_period_end
        and (cycles is None or subscription.cycles_invoiced < cycles)
        and not subscriptions.has_pending_change(subscription)
    )


def _renew_set(
    session: Session,
    report: RenewReport,
    run: list[_PlainRenewal],
    now: datetime,
    catch_up: int | None,
) -> None:
    """Renew ``run`` with set-based statements in a savepoint; if that
    fails (another scheduler renewed one of them first, a number already
    issued...), renew each one by one instead, as if the set was never
    tried. Commits the savepoint only: the batch's transaction is the
    caller's."""
    if not run:
        return
    savepoint = session.begin_nested()
    try:
        # The set's invoice emails are queued in one statement, in the savepoint.
        with events.handled_together(session):
            _write_renewals(session, run, now)
        savepoint.commit()
    except Exception as exc:
        if is_database_unavailable(exc):
            raise
        savepoint.rollback()
        log.info("renewing %s subscriptions in a set failed (%s): one by one", len(run), exc)
        for plain in run:
            _renew_one(session, report, plain.subscription, now, catch_up, ending_only=False)
        return
    report.renewed += len(run)
    report.emailed += sum(plain.send for plain in run)
    report.to_charge += sum(not plain.send for plain in run)


def _write_renewals(session: Session, run: list[_PlainRenewal], now: datetime) -> None:
    """What ``renew`` then ``after_renewal`` write for each of ``run``, in
    two flushes (the drafts; then their numbers, the opened invoices and
    the new periods), each a few multi-row statements, and the same events."""
    for plain in run:
        audit.name_action(session, plain.subscription, "subscription.renewed")
        session.add(plain.invoice)
    session.flush()
    invoices.finalize_renewals(
        session, [(plain.invoice, min(plain.start, now), plain.send) for plain in run], now
    )
    for plain in run:
        subscription = plain.subscription
        subscriptions.enter_period(session, subscription, plain.index)
        subscription.cycles_invoiced += 1
        subscription.updated_at = now
        if not plain.send:
            # Charged to the saved card by the collect step, at once.
            plain.invoice.next_charge_at = now
    session.flush()
    for plain in run:
        invoices.record_finalized(session, plain.invoice, plain.send)
        events.record(
            session,
            events.SubscriptionRenewed(plain.subscription.id, plain.invoice.id, plain.index),
        )


def _hold(session: Session, report: RenewReport, subscription: Subscription, catch_up: int) -> None:
    report.held += 1
    report.failed_ids.add(subscription.id)
    # The agency hears of it once per held period (the event's email is
    # deduplicated by the period end it is stuck at); the log at every run.
    events.record(
        session, events.SubscriptionBehind(subscription.id, subscription.current_period_end)
    )
    log.warning(
        "subscription %s is more than %s period(s) behind: not renewed, so as not to "
        "invoice them all at once; cancel it, or catch up with "
        "`bridge scheduler --once --job renew --catch-up N`",
        subscription.id,
        catch_up,
    )


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
            subscriptions.cancel(
                session,
                subscription,
                at_period_end=False,
                now=now,
                reason=events.CANCEL_PAST_DUE,
            )
            cancelled += 1
    return cancelled
