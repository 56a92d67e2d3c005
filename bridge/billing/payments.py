"""Card payments in the domain: an invoice's charge attempts, and what a
payment provider reports about one, recorded on the payment (through
``states.payment_to``) and on its invoice.

The provider's own protocol (Stripe's PaymentIntents, its errors, its
webhooks) stays with the payment gateways, which turn each answer into an
``Outcome`` and hand it here; this module knows nothing of Stripe beyond
the ids it stores.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from bridge.billing import audit, invoices
from bridge.billing.states import payment_may_become, payment_to
from bridge.core import clock
from bridge.models import Invoice, InvoiceStatus, Payment, PaymentState, PaymentStatus
from bridge.models.subscriptions import Subscription

log = logging.getLogger(__name__)

CARD_GATEWAY = "stripe"
"""``Payment.gateway`` of a card payment (offline ones say ``offline``)."""

COLLECTIBLE = (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE)


@dataclass(frozen=True)
class ChargeResult:
    """How a charge ended, for the page or job that asked.

    ``status``: ``succeeded``; ``requires_action`` (the client must
    authenticate in the browser: ``stripe.confirmCardPayment(client_secret,
    {payment_method: payment_method_id})``, then the page settles it);
    ``failed`` (``decline_code`` and ``message`` say why); ``processing``
    (the provider's answer is not known yet: the payment stays pending and
    is settled by a webhook or the reconcile job).
    """

    status: str
    payment_id: int | None
    client_secret: str | None = None
    decline_code: str | None = None
    message: str | None = None
    payment_intent_id: str | None = None
    payment_method_id: str | None = None


@dataclass(frozen=True)
class PreparedCharge:
    """A card charge ready to leave: its pending payment, carrying the
    idempotency key, is committed; ``request`` is what the gateway sends
    (opaque to the domain)."""

    invoice_id: int
    payment_id: int
    idempotency_key: str
    request: dict


@dataclass(frozen=True)
class Outcome:
    """What the provider says happened to one payment."""

    status: PaymentStatus
    payment_intent_id: str | None = None
    client_secret: str | None = None
    code: str | None = None
    message: str | None = None
    payment_method_id: str | None = None


def lock_invoice(session: Session, invoice_id: int) -> Invoice:
    # Invoice first, then its payments, everywhere: one lock order, no deadlock.
    return invoices.lock_invoice(session, invoice_id)


def lock_payment(session: Session, payment_id: int) -> tuple[Invoice, Payment]:
    invoice_id = session.scalar(select(Payment.invoice_id).where(Payment.id == payment_id))
    invoice = lock_invoice(session, invoice_id)
    payment = session.get(Payment, payment_id, with_for_update=True, populate_existing=True)
    return invoice, payment


def card_payments(session: Session, invoice_id: int) -> list[Payment]:
    """The invoice's card payments (one per charge attempt), oldest first."""
    return list(
        session.scalars(
            select(Payment)
            .where(Payment.invoice_id == invoice_id, Payment.gateway == CARD_GATEWAY)
            .order_by(Payment.id)
        )
    )


def _is_latest(session: Session, payment: Payment) -> bool:
    latest = session.scalar(
        select(func.max(Payment.id)).where(
            Payment.invoice_id == payment.invoice_id, Payment.gateway == CARD_GATEWAY
        )
    )
    return latest == payment.id


INVOICE_STATE = {
    PaymentStatus.FAILED: PaymentState.FAILED,
    PaymentStatus.REQUIRES_ACTION: PaymentState.ACTION_REQUIRED,
    PaymentStatus.CANCELED: PaymentState.NONE,
    PaymentStatus.PENDING: PaymentState.PROCESSING,
}


def apply_outcome(session: Session, invoice: Invoice, payment: Payment, outcome: Outcome) -> None:
    """Record ``outcome`` on a locked payment and its invoice, in any order
    and any number of times: a succeeded payment is final (never applied
    twice, never undone by a late failure); a canceled one only gives way to
    a success; the invoice's payment state follows its latest attempt while
    it is unpaid. A report the payment state machine does not allow is a
    stale one (a late webhook) and changes nothing. Does not commit."""
    if outcome.status == payment.status:
        if payment.status in (PaymentStatus.SUCCEEDED, PaymentStatus.CANCELED):
            return
    elif not payment_may_become(payment.status, outcome.status):
        return
    now = clock.now()
    if outcome.payment_intent_id and payment.stripe_payment_intent_id is None:
        payment.stripe_payment_intent_id = outcome.payment_intent_id
        payment.updated_at = now
    if outcome.status == PaymentStatus.SUCCEEDED:
        audit.name_action(session, payment, "payment.succeeded")
        payment_to(payment, PaymentStatus.SUCCEEDED)
        payment.received_at = payment.updated_at = now
        payment.failure_code = payment.failure_message = None
        if invoice.status not in COLLECTIBLE:
            log.warning(
                "card payment %s succeeded on %s invoice %s: refund it if it is not owed",
                payment.id,
                invoice.status.value,
                invoice.id,
            )
        invoices.apply_payment(session, invoice, payment)
        if invoice.status in COLLECTIBLE:
            invoice.payment_state = PaymentState.NONE
        return
    if outcome.status != payment.status:
        audit.name_action(session, payment, f"payment.{outcome.status.value}")
        payment_to(payment, outcome.status)
        payment.updated_at = now
    if outcome.status != PaymentStatus.PENDING:
        payment.failure_code = (outcome.code or "")[:100] or None
        payment.failure_message = (outcome.message or "")[:500] or None
    if invoice.status in COLLECTIBLE and _is_latest(session, payment):
        state = INVOICE_STATE[outcome.status]
        if invoice.payment_state != state:
            invoice.payment_state = state
            invoice.updated_at = now


def charge_result(payment: Payment, outcome: Outcome | None = None) -> ChargeResult:
    """The ``ChargeResult`` of a payment as recorded (``outcome`` adds what
    is not stored: the client secret, the card used)."""
    outcome = outcome or Outcome(payment.status)
    common = {
        "payment_id": payment.id,
        "payment_intent_id": payment.stripe_payment_intent_id or outcome.payment_intent_id,
        "payment_method_id": outcome.payment_method_id,
    }
    if payment.status == PaymentStatus.SUCCEEDED:
        return ChargeResult("succeeded", **common)
    if payment.status == PaymentStatus.REQUIRES_ACTION:
        return ChargeResult(
            "requires_action",
            client_secret=outcome.client_secret,
            decline_code="authentication_required",
            message=payment.failure_message,
            **common,
        )
    if payment.status in (PaymentStatus.FAILED, PaymentStatus.CANCELED):
        return ChargeResult(
            "failed", decline_code=payment.failure_code, message=payment.failure_message, **common
        )
    return ChargeResult(
        "processing",
        message="The payment is being processed: its outcome will be recorded shortly.",
        **common,
    )


def record_outcome(session: Session, payment_id: int, outcome: Outcome) -> ChargeResult:
    """Lock the payment and its invoice and apply ``outcome``. Commits."""
    invoice, payment = lock_payment(session, payment_id)
    apply_outcome(session, invoice, payment, outcome)
    session.commit()
    return charge_result(payment, outcome)


def record_outcomes(
    session: Session, outcomes: list[tuple[PreparedCharge, Outcome | None]]
) -> dict[int, tuple[Invoice, Payment]]:
    """``record_outcome`` for many payments in one transaction: their
    invoices locked first (in id order, as every caller locks them), then
    the payments, each outcome applied (None, an answer still unknown,
    leaves its payment pending). Returns the locked invoice and
    payment of each payment id. Does not commit."""
    if not outcomes:
        return {}
    invoices = _locked(
        session,
        Invoice,
        {charge.invoice_id for charge, _ in outcomes},
        selectinload(Invoice.client),
        selectinload(Invoice.lines),
    )
    payments = _locked(session, Payment, {charge.payment_id for charge, _ in outcomes})
    # What a paid invoice's lines start or bring back, read at once
    # (``subscriptions.invoice_paid`` finds them in the identity map, which
    # keeps them only while they are referenced: held here until the end).
    subscription_ids = {
        line.subscription_id
        for invoice in invoices.values()
        for line in invoice.lines
        if line.subscription_id is not None
    }
    held = (
        session.scalars(select(Subscription).where(Subscription.id.in_(subscription_ids))).all()
        if subscription_ids
        else []
    )
    recorded = {}
    for charge, outcome in outcomes:
        invoice = invoices[charge.invoice_id]
        payment = payments[charge.payment_id]
        if outcome is not None:
            apply_outcome(session, invoice, payment, outcome)
        recorded[payment.id] = (invoice, payment)
    del held
    return recorded


def _locked(session: Session, model, ids: set[int], *options) -> dict:
    """Rows of ``model`` by id, locked in id order and read afresh."""
    rows = session.scalars(
        select(model)
        .where(model.id.in_(sorted(ids)))
        .order_by(model.id)
        .with_for_update(of=model)
        .options(*options)
        .execution_options(populate_existing=True)
    )
    return {row.id: row for row in rows}
