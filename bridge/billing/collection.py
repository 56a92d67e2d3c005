"""Collecting renewal invoices from saved cards, and dunning.

An invoice to collect has ``next_charge_at`` set (by the renewal, then by
each failure). The collect step claims due invoices with row locks and a
*lease* (``next_charge_at`` pushed ahead) in a short transaction, then
charges each one outside any transaction through the ``PaymentGateway``
handed in (``gateway.charge_invoice``). With a gateway that charges in sets
(Stripe's), the first attempts of a claimed batch are prepared, and their
answers recorded, a set at a time (``_collect_in_sets``): renewal day.

Exactly once: the gateway commits the attempt's pending payment row, with
its idempotency key, before the request leaves. If this process dies right
after, the lease expires and the next run (or the reconcile job) settles
that same attempt instead of starting another one.

Dunning: the count of failed card attempts on the invoice and the time of
the first failure decide everything (``schedule.retry_at``), so a crash
between a decline and its bookkeeping cannot skip or repeat a retry. After
the last failure the subscription becomes past due (and is cancelled later,
per settings: ``renewals.cancel_long_past_due``). A payment that needs the
client's authentication is never retried blindly: the client is emailed the
hosted page, where they authenticate.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from bridge.billing import subscriptions
from bridge.billing.business import get_settings
from bridge.billing.gateway import ChargesInSets, PaymentGateway
from bridge.billing.payments import (
    CARD_GATEWAY,
    ChargeResult,
    PreparedCharge,
    card_payments,
    charge_result,
    record_outcomes,
)
from bridge.billing.schedule import retry_at
from bridge.core import events
from bridge.core.errors import DomainError, Unavailable
from bridge.core.outages import is_database_unavailable
from bridge.models import Invoice, InvoiceStatus, Payment, PaymentStatus
from bridge.models.subscriptions import Subscription

log = logging.getLogger(__name__)

# How long a claimed invoice is left alone: the time one charge may take,
# with Stripe's retries. A process that dies holding it frees it after this.
LEASE = timedelta(minutes=10)
# Stripe unreachable, or an answer still unknown: look again this soon.
RETRY_SOON = timedelta(minutes=5)
# Retries overdue by the schedule (the scheduler was stopped for days) are
# spread out rather than fired back to back.
MIN_RETRY_GAP = timedelta(hours=1)


@dataclass
class CollectReport:
    charged: int = 0
    failed: int = 0
    action_required: int = 0
    pending: int = 0
    waiting: int = 0
    gave_up: int = 0
    skipped: int = 0
    errors: int = 0

    def counts(self) -> dict:
        return dict(self.__dict__)


def _next_retry(session: Session, attempts: list[Payment]) -> tuple[int, datetime | None]:
    """(failed attempts so far, when the next one is due or None when the
    schedule is used up)."""
    failures = [p for p in attempts if p.status == PaymentStatus.FAILED]
    if not failures:
        return 0, None
    retry_days = list(get_settings(session).dunning_retry_days or [])
    return len(failures), retry_at(failures[0].created_at, len(failures), retry_days)


def claim_due(session: Session, now: datetime, batch: int) -> list[int]:
    """Invoices whose charge is due, each leased to this caller. Commits."""
    ids = list(
        session.scalars(
            select(Invoice.id)
            .where(Invoice.next_charge_at <= now)
            .order_by(Invoice.next_charge_at, Invoice.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
    )
    if ids:
        session.execute(
            update(Invoice)
            .where(Invoice.id.in_(ids))
            .values(next_charge_at=now + LEASE)
            .execution_options(synchronize_session=False)
        )
    session.commit()
    return ids


def give_up(session: Session, invoice: Invoice, now: datetime) -> None:
    """The last retry failed: the renewal's subscription is past due."""
    invoice.next_charge_at = None
    if invoice.subscription_id is not None:
        subscriptions.mark_past_due(
            session,
            session.get(Subscription, invoice.subscription_id),
            now,
            invoice_id=invoice.id,
        )


def collect_one(session: Session, gateway: PaymentGateway, invoice_id: int, now: datetime) -> str:
    """Charge one leased invoice if its time has come, and plan what follows.
    Returns what happened (a ``CollectReport`` field name). Commits."""
    invoice = session.get(Invoice, invoice_id, populate_existing=True)
    if invoice.status != InvoiceStatus.OPEN or invoice.amount_due <= 0:
        invoice.next_charge_at = None
        session.commit()
        return "skipped"
    attempts = card_payments(session, invoice_id)
    latest_failed = bool(attempts) and attempts[-1].status == PaymentStatus.FAILED
    failures, due = _next_retry(session, attempts)
    if failures and latest_failed:
        if due is None:
            give_up(session, invoice, now)
            session.commit()
            return "gave_up"
        if due > now:
            invoice.next_charge_at = due
            session.commit()
            return "waiting"
    session.commit()

    try:
        result = gateway.charge_invoice(session, invoice)
    except Unavailable:
        session.rollback()
        invoice = session.get(Invoice, invoice_id)
        invoice.next_charge_at = now + RETRY_SOON
        session.commit()
        return "pending"
    except DomainError as exc:  # Conflict, Invalid, the provider's refusal
        # This charge cannot be made (nothing was sent): never retried
        # blindly, the client pays from the email and, unless the card is
        # merely gone, the agency is told why.
        session.rollback()
        invoice = session.get(Invoice, invoice_id, populate_existing=True)
        invoice.next_charge_at = None
        if invoice.status == InvoiceStatus.OPEN and invoice.amount_due > 0:
            if exc.code == "no_saved_card":
                events.record(session, events.SavedCardMissing(invoice.id))
            elif exc.code not in ("invoice_not_payable", "charge_in_progress"):
                events.record(session, events.CardPaymentImpossible(invoice.id, exc.message))
        session.commit()
        return "skipped"

    invoice = session.get(Invoice, invoice_id, populate_existing=True)
    outcome = _follow_up(session, invoice, result, failures, now)
    session.commit()
    return outcome


def _follow_up(
    session: Session, invoice: Invoice, result: ChargeResult, failures: int, now: datetime
) -> str:
    """Plan what follows a charge attempt whose outcome is recorded (the
    invoice's ``failures`` failed attempts before it): when to try again,
    who is told. Returns what happened (a ``CollectReport`` field name).
    Does not commit."""
    status = result.status
    if status == "succeeded":
        invoice.next_charge_at = None
        return "charged"
    if status == "processing":
        # Stripe's answer is unknown: the next run settles the same attempt.
        invoice.next_charge_at = now + RETRY_SOON
        return "pending"
    attempt = failures + 1
    if status == "requires_action":
        invoice.next_charge_at = None
        events.record(session, events.PaymentRequiresAction(invoice.id, attempt))
        return "action_required"
    failures, due = _next_retry(session, card_payments(session, invoice.id))
    if due is not None:
        due = max(due, now + MIN_RETRY_GAP)
    reason = getattr(result, "message", None) or getattr(result, "decline_code", None) or ""
    events.record(session, events.PaymentFailed(invoice.id, failures, due, reason))
    if due is None:
        give_up(session, invoice, now)
        return "gave_up"
    invoice.next_charge_at = due
    return "failed"


def collect_due(
    session: Session,
    gateway: PaymentGateway,
    now: datetime,
    *,
    batch: int = 20,
    in_flight: int = 1,
    new_session: Callable[[], Session] | None = None,
) -> CollectReport:
    """Charge every invoice whose charge is due. With a gateway that cannot
    charge saved cards (offline payments only) nothing is claimed.

    ``in_flight`` > 1 (with ``new_session``, a session per charge) keeps that
    many charges waiting on the payment provider at once, each in a thread
    of its own, all paced by the gateway's one rate limiter: a charge spends
    most of its time waiting for Stripe's answer, so one process charges at
    the limiter's rate instead of one charge per round trip. Every rule of
    a single charge holds unchanged (its pending row and key committed
    before its request leaves, the invoice locked while it is decided).

    A gateway that charges in sets (``ChargesInSets``) has the first
    attempts of a claimed batch prepared together, sent, and their answers
    recorded together (see ``_collect_in_sets``)."""
    report = CollectReport()
    if not gateway.charges_saved_cards:
        return report
    if isinstance(gateway, ChargesInSets):
        at_once = in_flight if in_flight > 1 and new_session is not None else None
        return _collect_in_sets(session, gateway, now, report, batch, at_once, new_session)
    if in_flight > 1 and new_session is not None:
        return _collect_in_flight(session, gateway, now, report, in_flight, new_session)
    seen: set[int] = set()
    while True:
        ids = [i for i in claim_due(session, now, batch) if i not in seen]
        if not ids:
            return report
        for invoice_id in ids:
            seen.add(invoice_id)
            outcome = _collect_counted(session, gateway, invoice_id, now)
            _count(report, outcome)


def _collect_counted(
    session: Session, gateway: PaymentGateway, invoice_id: int, now: datetime
) -> str:
    """``collect_one``, an error counted (``errors``) and logged rather than
    raised, except a database gone away: not this invoice's fault, so the
    run stops there and it is logged once."""
    try:
        return collect_one(session, gateway, invoice_id, now)
    except Exception as exc:
        if is_database_unavailable(exc):
            raise
        session.rollback()
        log.exception("collecting invoice %s failed", invoice_id)
        return "errors"


def _collect_in_flight(
    session: Session,
    gateway: PaymentGateway,
    now: datetime,
    report: CollectReport,
    in_flight: int,
    new_session: Callable[[], Session],
) -> CollectReport:
    """Claim due invoices as charges finish, keeping ``in_flight`` charges
    going and as many claimed ones queued (their lease covers the wait)."""

    def charge(invoice_id: int) -> str:
        with new_session() as own:
            return _collect_counted(own, gateway, invoice_id, now)

    seen: set[int] = set()
    running: set[Future] = set()
    claiming = True
    stopped_by: BaseException | None = None
    with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="charge") as pool:
        while True:
            if claiming and len(running) <= in_flight:
                ids = [
                    i
                    for i in claim_due(session, now, 2 * in_flight - len(running))
                    if i not in seen
                ]
                seen.update(ids)
                running.update(pool.submit(charge, invoice_id) for invoice_id in ids)
                claiming = bool(ids)
            if not running:
                break
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    outcome = future.result()
                except Exception as exc:  # the database went away
                    claiming = False
                    stopped_by = stopped_by or exc
                    continue
                _count(report, outcome)
    if stopped_by is not None:
        raise stopped_by
    return report


def _collect_in_sets(
    session: Session,
    gateway: ChargesInSets,
    now: datetime,
    report: CollectReport,
    batch: int,
    in_flight: int | None,
    new_session: Callable[[], Session] | None,
) -> CollectReport:
    """Renewal day's charges with a few statements and commits per set
    instead of per charge. Each claimed batch is locked in one transaction:
    invoices no longer to charge are skipped, and the first attempts of the
    others get their pending payments, idempotency keys included, committed
    together before any of their requests leaves. The requests go out
    (``in_flight`` at once, in threads that touch no database, all paced
    by the gateway's one rate limiter; one after another when None), and
    the answers that have come are recorded together, with what follows
    each (``_follow_up``), in one transaction. A charge whose invoice has
    earlier attempts (a retry, an attempt pending or awaiting
    authentication) or that its card cannot pay goes the one-by-one way,
    ``collect_one``, in a thread of its own with ``new_session``."""
    seen: set[int] = set()
    sends: dict[Future, PreparedCharge] = {}
    singles: set[Future] = set()
    claiming = True
    stopped_by: BaseException | None = None

    def charge_alone(invoice_id: int) -> str:
        with new_session() as own:
            return _collect_counted(own, gateway, invoice_id, now)

    workers = in_flight or 1
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="charge") as pool:
        while True:
            running = len(sends) + len(singles)
            if claiming and running <= workers:
                want = batch if in_flight is None else 2 * in_flight - running
                ids = [i for i in claim_due(session, now, want) if i not in seen]
                seen.update(ids)
                claiming = bool(ids)
                prepared, one_by_one = _prepare_set(session, gateway, ids, report)
                if in_flight is None:
                    answered = [(charge, _send_counted(gateway, charge)) for charge in prepared]
                    _record_set(session, answered, now, report)
                    for invoice_id in one_by_one:
                        _count(report, _collect_counted(session, gateway, invoice_id, now))
                    if claiming:
                        continue
                else:
                    for charge in prepared:
                        sends[pool.submit(_send_counted, gateway, charge)] = charge
                    singles.update(pool.submit(charge_alone, i) for i in one_by_one)
            if not sends and not singles:
                break
            done, _ = wait([*sends, *singles], return_when=FIRST_COMPLETED)
            answered = []
            for future in done:
                if future in sends:
                    answered.append((sends.pop(future), future.result()))
                    continue
                singles.discard(future)
                try:
                    _count(report, future.result())
                except Exception as exc:  # the database went away
                    claiming = False
                    stopped_by = stopped_by or exc
            if stopped_by is None:
                try:
                    _record_set(session, answered, now, report)
                except Exception as exc:  # the database went away
                    claiming = False
                    stopped_by = exc
    if stopped_by is not None:
        raise stopped_by
    return report


# A send that raised something other than an answer from the provider: not
# recorded (its payment stays pending, its invoice leased), counted an error.
_SEND_ERROR = object()


def _send_counted(gateway: ChargesInSets, charge: PreparedCharge):
    try:
        return gateway.send_charge(charge)
    except Exception:
        log.exception("sending the charge of invoice %s failed", charge.invoice_id)
        return _SEND_ERROR


def _count(report: CollectReport, outcome: str) -> None:
    setattr(report, outcome, getattr(report, outcome) + 1)


def _prepare_set(
    session: Session, gateway: ChargesInSets, ids: list[int], report: CollectReport
) -> tuple[list[PreparedCharge], list[int]]:
    """The claimed invoices ``ids`` locked and sorted out in one
    transaction: skipped (no longer open or owing), first attempts
    prepared by the gateway (their pending payments committed here), and
    the rest, returned to be charged one by one. Commits."""
    if not ids:
        return [], []
    try:
        invoices = list(
            session.scalars(
                select(Invoice)
                .where(Invoice.id.in_(ids))
                .order_by(Invoice.id)
                .with_for_update(of=Invoice)
                .options(selectinload(Invoice.client))
                .execution_options(populate_existing=True)
            )
        )
        tried = set(
            session.scalars(
                select(Payment.invoice_id).where(
                    Payment.invoice_id.in_(ids), Payment.gateway == CARD_GATEWAY
                )
            )
        )
        skipped, first = [], []
        for invoice in invoices:
            if invoice.status != InvoiceStatus.OPEN or invoice.amount_due <= 0:
                invoice.next_charge_at = None
                skipped.append(invoice.id)
            elif invoice.id not in tried:
                first.append(invoice)
        prepared = gateway.prepare_charges(session, first)
        session.commit()
        present = {invoice.id for invoice in invoices}
    except Exception as exc:
        if is_database_unavailable(exc):
            raise
        session.rollback()
        log.exception("preparing %d charges together failed: one by one instead", len(ids))
        return [], list(ids)
    report.skipped += len(skipped)
    gone = set(skipped) | {charge.invoice_id for charge in prepared}
    return prepared, [i for i in ids if i in present and i not in gone]


def _record_set(
    session: Session, answered: list[tuple[PreparedCharge, object]], now: datetime, report
) -> None:
    """Record the answers to sent charges, and what follows each, in one
    transaction. If that fails for any reason but the database itself,
    each is recorded in a transaction of its own (one bad apple does not
    leave the others pending). Commits."""
    errors = [charge for charge, outcome in answered if outcome is _SEND_ERROR]
    report.errors += len(errors)
    answered = [(charge, outcome) for charge, outcome in answered if outcome is not _SEND_ERROR]
    if not answered:
        return
    try:
        # The set's receipts and failure emails are queued in one statement.
        with events.handled_together(session):
            recorded = record_outcomes(session, answered)
            outcomes = []
            for charge, outcome in answered:
                invoice, payment = recorded[charge.payment_id]
                result = charge_result(payment, outcome)
                outcomes.append(_follow_up(session, invoice, result, 0, now))
        session.commit()
    except Exception as exc:
        if is_database_unavailable(exc):
            raise
        session.rollback()
        if len(answered) == 1:
            log.exception("recording the charge of invoice %s failed", answered[0][0].invoice_id)
            report.errors += 1
            return
        log.warning("recording %d charges together failed (%s): one by one", len(answered), exc)
        for item in answered:
            _record_set(session, [item], now, report)
        return
    for outcome in outcomes:
        _count(report, outcome)
