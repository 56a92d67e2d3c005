"""Refunds: part or all of a card payment given back at Stripe and recorded
as a credit note carrying the refund's id, whether the bridge asked for it
or it was made in Stripe's dashboard (``charge.refunded`` webhook)."""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge.billing import invoices
from bridge.billing.payments import card_payments, lock_invoice
from bridge.core.errors import Conflict, Invalid
from bridge.core.money import from_stripe_amount, stripe_amount
from bridge.models import CreditNote, Invoice, InvoiceStatus, Payment, PaymentStatus
from bridge.payments.stripe.client import StripeApi, StripeRefused, release, translated

log = logging.getLogger(__name__)


def _refunded_on(session: Session, payment_id: int) -> tuple[int, int]:
    """(amount credited against a payment, number of its credit notes)."""
    total, count = session.execute(
        select(func.coalesce(func.sum(CreditNote.amount), 0), func.count()).where(
            CreditNote.refund_payment_id == payment_id
        )
    ).one()
    return int(total), int(count)


def refund(
    session: Session,
    api: StripeApi,
    invoice: Invoice,
    amount: int,
    reason: str = "",
) -> CreditNote:
    """Refund ``amount`` (minor units) of the invoice's card payment at
    Stripe, then record it as a credit note carrying the refund's id.

    The refund comes from the newest succeeded card payment that still
    covers it (idempotency key ``bb-refund-{payment}-{n}``, n counting that
    payment's credit notes, so a retry after a crash is a replay). If the
    ``charge.refunded`` webhook recorded the refund first, that credit note
    is returned. Raises ``Invalid`` (amount), ``Conflict``
    (``no_card_payment``, not creditable), ``StripeRefused``,
    ``StripeUnavailable``. Commits.
    """
    invoice = lock_invoice(session, invoice.id)
    if invoice.status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID):
        raise Conflict(
            f"A {invoice.status.value} invoice cannot be credited.", code="not_creditable"
        )
    if not 1 <= amount <= invoices.refundable(invoice):
        raise Invalid(
            f"The amount must be between 1 and what was paid and not refunded "
            f"({invoices.refundable(invoice)}).",
            fields={"amount": ["Out of range."]},
        )
    candidates = [
        p
        for p in reversed(card_payments(session, invoice.id))
        if p.status == PaymentStatus.SUCCEEDED and p.stripe_payment_intent_id
    ]
    if not candidates:
        raise Conflict(
            "No card payment of this invoice can be refunded through Stripe: "
            "issue a credit note for money returned another way.",
            code="no_card_payment",
        )
    payment = None
    left = 0
    for candidate in candidates:
        refunded, count = _refunded_on(session, candidate.id)
        left = max(left, candidate.amount - refunded)
        if candidate.amount - refunded >= amount:
            payment, number = candidate, count + 1
            break
    if payment is None:
        raise Invalid(
            f"A refund comes from one card payment: at most {left} here.",
            fields={"amount": ["More than one card payment holds."]},
        )
    params = {
        "payment_intent": payment.stripe_payment_intent_id,
        "amount": stripe_amount(amount, invoice.currency),
        "metadata": {
            "bb_invoice_id": str(invoice.id),
            "bb_payment_id": str(payment.id),
            "bb_reason": reason[:500],
        },
    }
    # The credit note must be numbered after the refund: check that it can
    # be before the money leaves.
    invoices.require_credit_note_number(session)
    payment_id, invoice_id, currency = payment.id, invoice.id, invoice.currency
    release(session)
    with translated():
        stripe_refund = api.create_refund(params, f"bb-refund-{payment_id}-{number}")
    if stripe_refund.get("status") in ("failed", "canceled"):
        raise StripeRefused(
            f"Stripe did not refund the payment (refund {stripe_refund.get('status')}).",
            code="refund_failed",
        )
    invoice = lock_invoice(session, invoice_id)
    existing = session.scalar(
        select(CreditNote).where(CreditNote.stripe_refund_id == stripe_refund["id"])
    )
    if existing is not None:
        if reason and not existing.reason:
            existing.reason = reason[:500]
        session.commit()
        return existing
    note = invoices.issue_credit_note(
        session,
        invoice,
        amount=from_stripe_amount(stripe_refund["amount"], currency),
        reason=reason[:500],
        refund_payment=session.get(Payment, payment_id),
        stripe_refund_id=stripe_refund["id"],
    )
    session.commit()
    return note


def record_refund(
    session: Session, invoice: Invoice, payment: Payment, stripe_refund: dict
) -> CreditNote | None:
    """A refund made at Stripe (the dashboard, or our own ``refund`` whose
    webhook arrived first) as a credit note, once per refund id; capped at
    what is still refundable. Does not commit."""
    refund_id = stripe_refund.get("id")
    if not refund_id or stripe_refund.get("status") not in ("succeeded", "pending", None):
        return None
    if session.scalar(select(CreditNote.id).where(CreditNote.stripe_refund_id == refund_id)):
        return None
    amount = from_stripe_amount(int(stripe_refund.get("amount") or 0), invoice.currency)
    amount = min(amount, invoices.refundable(invoice))
    if amount <= 0:
        log.warning("refund %s of invoice %s: nothing left to credit", refund_id, invoice.id)
        return None
    reason = (stripe_refund.get("metadata") or {}).get("bb_reason") or "Refunded in Stripe"
    return invoices.issue_credit_note(
        session,
        invoice,
        amount=amount,
        reason=reason[:500],
        refund_payment=payment,
        stripe_refund_id=refund_id,
    )
