"""Reconciliation with Stripe, the business rules: does the bridge agree
with what Stripe did over a period? Plain data in (Stripe's JSON shapes as
dicts, read by ``bridge.payments.stripe_reconcile``), no Stripe here.

``compare`` reads the bridge as it stands against ``StripeFacts`` and
reports each difference, typed (``DifferenceKind``), with what the bridge
can do about it (``Remedy``) and whether that is safe to do unattended
(``Difference.safe``). ``apply_safe`` does only those: record a payment
Stripe took for one of our open invoices, replace a saved card by the
customer's default card at Stripe, issue the credit note of a refund made
at Stripe when the credit-note rules allow it. Each fix checks the state
again under the invoice's lock and is recorded in the audit log; a fix
already made is skipped, so applying twice changes nothing the second time.
Everything else (a payment Stripe does not know, differing amounts,
disputes, a Stripe subscription that still renews) is for a person.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from bridge.billing import audit, balances, invoices
from bridge.billing.business import get_settings
from bridge.billing.pauses import day_start
from bridge.billing.payments import CARD_GATEWAY, COLLECTIBLE, Outcome, apply_outcome
from bridge.billing.periods import local_date
from bridge.billing.schedule import zone
from bridge.core import clock
from bridge.core.errors import DomainError, Invalid
from bridge.core.money import InvalidAmount, format_amount, from_stripe_amount
from bridge.models import (
    Client,
    CreditNote,
    Invoice,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Subscription,
    SubscriptionStatus,
)


class DifferenceKind(enum.StrEnum):
    """What disagrees, in the order the report lists them."""

    # A PaymentIntent succeeded at Stripe; no settled payment here.
    PAYMENT_MISSING_HERE = "payment_missing_here"
    # A settled card payment here; no PaymentIntent at Stripe, or not succeeded.
    PAYMENT_MISSING_AT_STRIPE = "payment_missing_at_stripe"
    # Both sides have the payment, for another amount or currency.
    AMOUNT_DIFFERS = "amount_differs"
    # A refund at Stripe of one of our payments; no credit note here.
    REFUND_WITHOUT_CREDIT_NOTE = "refund_without_credit_note"
    # The client's bank disputes a charge (open, or lost).
    DISPUTE = "dispute"
    # The customer's default card at Stripe is not the client's saved card.
    CARD_DIFFERS = "card_differs"
    # A Stripe subscription still renews for a client the bridge renews.
    DOUBLE_BILLING_RISK = "double_billing_risk"


class Remedy(enum.StrEnum):
    """What the bridge can do about a difference."""

    RECORD_PAYMENT = "record_payment"
    ISSUE_CREDIT_NOTE = "issue_credit_note"
    UPDATE_CARD = "update_card"
    MANUAL = "manual"  # a person decides (the detail says what to look at)


# Stripe subscriptions that still charge (a canceled or incomplete one does not).
RENEWING_AT_STRIPE = ("active", "trialing", "past_due")
# Bridge subscriptions the bridge renews.
RENEWED_HERE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
# Disputes that need the agency: still open, or lost (the money went back).
DISPUTES_TO_REPORT = (
    "warning_needs_response",
    "warning_under_review",
    "needs_response",
    "under_review",
    "lost",
)


@dataclass
class StripeFacts:
    """What Stripe says about the period, as plain dicts in Stripe's shapes.
    ``customers``: the bridge's linked customers by id (their default
    payment method expanded). ``unavailable``: list endpoints the Stripe
    server does not have (a stand-in), so nothing is known of those."""

    payment_intents: list[dict] = field(default_factory=list)
    refunds: list[dict] = field(default_factory=list)
    disputes: list[dict] = field(default_factory=list)
    customers: dict[str, dict] = field(default_factory=dict)
    subscriptions: list[dict] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)
    # Saved cards of the bridge that are still attached to their customer at
    # Stripe while another card is Stripe's default: which one is current
    # is a person's call (a card replaced in the portal is the bridge's
    # default, not Stripe's).
    saved_cards_still_attached: set[str] = field(default_factory=set)


@dataclass
class Difference:
    """One disagreement. ``change``: what the remedy would change, in words
    (printed before ``--apply`` does it); ``facts``: what the fix needs."""

    kind: DifferenceKind
    remedy: Remedy
    stripe_id: str
    detail: str
    safe: bool = False
    change: str = ""
    client_id: int | None = None
    invoice_id: int | None = None
    payment_id: int | None = None
    amount: int | None = None
    currency: str | None = None
    facts: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {**asdict(self), "kind": self.kind.value, "remedy": self.remedy.value}

    def line(self) -> str:
        """The difference in one line, for the CLI and the email."""
        where = []
        if self.client_id:
            where.append(f"client #{self.client_id}")
        if self.invoice_id:
            where.append(f"invoice #{self.invoice_id}")
        if self.amount is not None and self.currency:
            where.insert(0, format_amount(self.amount, self.currency))
        place = f" ({', '.join(where)})" if where else ""
        remedy = f"safe: {self.remedy.value}" if self.safe else self.remedy.value
        return f"{self.kind.value} {self.stripe_id}{place}: {self.detail} [{remedy}]"


@dataclass
class ReconciliationReport:
    since: datetime
    until: datetime
    differences: list[Difference] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.differences

    def counts(self) -> dict[str, int]:
        return dict(Counter(d.kind.value for d in self.differences))

    def as_dict(self) -> dict:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "counts": self.counts(),
            "differences": [d.as_dict() for d in self.differences],
            "unavailable": list(self.unavailable),
        }


DEFAULT_DAYS = 30
"""The period a report covers when no start is given: the last 30 days."""


def local_day(session: Session, moment: datetime | None = None) -> date:
    """The business's calendar day at ``moment`` (default: now)."""
    return local_date(moment or clock.now(), zone(get_settings(session).timezone))


def default_since(session: Session) -> date:
    """The first day of the default period, in the business time zone."""
    return local_day(session) - timedelta(days=DEFAULT_DAYS)


def period_start(session: Session, since: date) -> datetime:
    """The period starts at the beginning of ``since`` in the business time
    zone. A day still to come is refused (there is nothing to compare)."""
    start = day_start(session, since)
    if start > clock.now():
        raise Invalid(
            "The period cannot start in the future.",
            code="since_in_future",
            fields={"since": ["A date in the future."]},
        )
    return start


def _at(timestamp) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp else None


def _id(value) -> str | None:
    """An id from a field that may hold the id or the expanded object."""
    return value.get("id") if isinstance(value, dict) else value


def _amount(stripe_value, currency: str) -> int | None:
    try:
        return from_stripe_amount(int(stripe_value or 0), currency)
    except (InvalidAmount, ValueError, TypeError):
        return None


def _money(amount: int | None, currency: str, obj: dict) -> str:
    """An amount for people; Stripe's own figure when it is not one of ours."""
    if amount is None:
        return f"{obj.get('amount_received') or obj.get('amount')} {currency} (Stripe's units)"
    return format_amount(amount, currency)


def card_payments_since(session: Session, since: datetime) -> list[Payment]:
    """The settled card payments received since ``since``."""
    return list(
        session.scalars(
            select(Payment)
            .where(
                Payment.gateway == CARD_GATEWAY,
                Payment.status == PaymentStatus.SUCCEEDED,
                Payment.received_at >= since,
            )
            .order_by(Payment.id)
        )
    )


def linked_customers(session: Session) -> dict[str, Client]:
    """The clients linked to a Stripe customer, by customer id."""
    return {
        c.stripe_customer_id: c
        for c in session.scalars(select(Client).where(Client.stripe_customer_id.is_not(None)))
    }


def _metadata_id(obj: dict, key: str) -> int | None:
    """One of our ids from the metadata the bridge sets on its charges."""
    raw = str((obj.get("metadata") or {}).get(key) or "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None


class _Payments:
    """Our payments of a set of PaymentIntents, read in two queries: by the
    PaymentIntent id stored on the payment, else by the ``bb_payment_id``
    metadata the bridge sets on its charges (checked against the invoice)."""

    def __init__(self, session: Session, intents: list[dict]):
        ids = [i["id"] for i in intents if i.get("id")]
        self.by_intent = {
            p.stripe_payment_intent_id: p
            for p in session.scalars(
                select(Payment).where(Payment.stripe_payment_intent_id.in_(ids))
            )
        }
        wanted = {_metadata_id(i, "bb_payment_id") for i in intents} - {None}
        self.by_id = {
            p.id: p for p in session.scalars(select(Payment).where(Payment.id.in_(wanted)))
        }

    def of(self, intent: dict) -> Payment | None:
        payment = self.by_intent.get(intent.get("id"))
        if payment is not None:
            return payment
        payment = self.by_id.get(_metadata_id(intent, "bb_payment_id"))
        if (
            payment is None
            or payment.gateway != CARD_GATEWAY
            or payment.stripe_payment_intent_id not in (None, intent.get("id"))
            or _metadata_id(intent, "bb_invoice_id") != payment.invoice_id
        ):
            return None
        return payment


def compare(
    session: Session, facts: StripeFacts, since: datetime, until: datetime | None = None
) -> ReconciliationReport:
    """Every difference between the bridge and ``facts`` (Stripe over the
    period from ``since``). Reads only."""
    report = ReconciliationReport(since, until or clock.now(), unavailable=list(facts.unavailable))
    payments = _Payments(session, facts.payment_intents)
    # The invoices the PaymentIntents' metadata name, with their clients.
    named = {_metadata_id(i, "bb_invoice_id") for i in facts.payment_intents} - {None}
    invoices_named = {
        invoice.id: invoice
        for invoice in session.scalars(
            select(Invoice).where(Invoice.id.in_(named)).options(selectinload(Invoice.client))
        )
    }
    seen_intents: set[str] = set()
    for intent in facts.payment_intents:
        seen_intents.add(intent.get("id"))
        difference = _intent_difference(intent, payments.of(intent), invoices_named)
        if difference is not None:
            report.differences.append(difference)
    for payment in card_payments_since(session, since):
        if payment.stripe_payment_intent_id in seen_intents:
            continue
        report.differences.append(
            Difference(
                DifferenceKind.PAYMENT_MISSING_AT_STRIPE,
                Remedy.MANUAL,
                payment.stripe_payment_intent_id or f"payment #{payment.id}",
                "a settled card payment here with no PaymentIntent at Stripe: check the "
                "payment in Stripe's dashboard before relying on it",
                client_id=payment.client_id,
                invoice_id=payment.invoice_id,
                payment_id=payment.id,
                amount=payment.amount,
                currency=payment.currency,
            )
        )
    refunded = {r.get("id") for r in facts.refunds}
    notes = set(
        session.scalars(
            select(CreditNote.stripe_refund_id).where(CreditNote.stripe_refund_id.in_(refunded))
        )
    )
    by_intent = _Payments(
        session,
        [{"id": _id(x.get("payment_intent"))} for x in (*facts.refunds, *facts.disputes)],
    ).by_intent
    for refund in facts.refunds:
        if refund.get("id") in notes or refund.get("status") not in ("succeeded", "pending"):
            continue
        payment = by_intent.get(_id(refund.get("payment_intent")))
        if payment is not None:
            report.differences.append(_refund_difference(session, refund, payment))
    for dispute in facts.disputes:
        if dispute.get("status") in DISPUTES_TO_REPORT:
            report.differences.append(
                _dispute_difference(dispute, by_intent.get(_id(dispute.get("payment_intent"))))
            )
    clients = linked_customers(session)
    for customer_id, client in clients.items():
        difference = _card_difference(
            client, facts.customers.get(customer_id), facts.saved_cards_still_attached
        )
        if difference is not None:
            report.differences.append(difference)
    report.differences.extend(_double_billing(session, facts.subscriptions, clients))
    order = list(DifferenceKind)
    report.differences.sort(key=lambda d: (order.index(d.kind), d.stripe_id))
    return report


def _intent_difference(intent: dict, payment: Payment | None, invoices_named: dict):
    intent_id = intent.get("id")
    currency = (intent.get("currency") or "").upper()
    amount = _amount(intent.get("amount_received") or intent.get("amount"), currency)
    status = intent.get("status")
    if status != "succeeded":
        if payment is not None and payment.status == PaymentStatus.SUCCEEDED:
            return Difference(
                DifferenceKind.PAYMENT_MISSING_AT_STRIPE,
                Remedy.MANUAL,
                intent_id,
                f"settled here, but the PaymentIntent is {status} at Stripe",
                client_id=payment.client_id,
                invoice_id=payment.invoice_id,
                payment_id=payment.id,
                amount=payment.amount,
                currency=payment.currency,
            )
        return None
    if payment is not None and payment.status == PaymentStatus.SUCCEEDED:
        if amount == payment.amount and currency == payment.currency:
            return None
        return Difference(
            DifferenceKind.AMOUNT_DIFFERS,
            Remedy.MANUAL,
            intent_id,
            f"Stripe took {_money(amount, currency, intent)}; the payment here is "
            f"{format_amount(payment.amount, payment.currency)}",
            client_id=payment.client_id,
            invoice_id=payment.invoice_id,
            payment_id=payment.id,
            amount=amount,
            currency=currency,
        )
    invoice = invoices_named.get(_metadata_id(intent, "bb_invoice_id"))
    return _missing_payment(intent, payment, invoice, amount, currency)


def _missing_payment(intent, payment, invoice, amount, currency) -> Difference:
    """A PaymentIntent that succeeded with no settled payment here: safe to
    record when its metadata names one of our invoices, still open, of the
    same client, currency, and an amount not above what is due."""
    difference = Difference(
        DifferenceKind.PAYMENT_MISSING_HERE,
        Remedy.MANUAL,
        intent.get("id"),
        "succeeded at Stripe, not made by the bridge (no invoice named in its metadata)",
        amount=amount,
        currency=currency,
        payment_id=payment.id if payment is not None else None,
        facts={"customer": _id(intent.get("customer"))},
    )
    if invoice is None:
        return difference
    difference.invoice_id, difference.client_id = invoice.id, invoice.client_id
    reason = None
    if payment is not None and payment.invoice_id != invoice.id:
        reason = "its metadata names another invoice than its payment's"
    elif _id(intent.get("customer")) != invoice.client.stripe_customer_id:
        reason = "its customer is not the invoice's client's"
    elif invoice.status not in COLLECTIBLE:
        reason = f"the invoice is {invoice.status.value}"
    elif amount is None or currency != invoice.currency:
        reason = f"its currency {currency} is not the invoice's {invoice.currency}"
    elif amount > invoice.amount_due:
        reason = f"it is more than the invoice's amount due ({invoice.amount_due})"
    label = invoice.number or f"#{invoice.id}"
    if reason is not None:
        difference.detail = f"succeeded at Stripe for invoice {label}, not recorded: {reason}"
        return difference
    difference.remedy, difference.safe = Remedy.RECORD_PAYMENT, True
    difference.detail = f"succeeded at Stripe for invoice {label}, no settled payment here"
    difference.change = (
        f"invoice {label}: amount due {invoice.amount_due} -> {invoice.amount_due - amount} "
        f"{currency} (a card payment of {amount} recorded with {intent.get('id')})"
    )
    return difference


def _refund_difference(session: Session, refund: dict, payment: Payment) -> Difference:
    """A refund at Stripe of one of our payments without its credit note:
    safe to credit when the credit-note rules allow it as it stands (the
    invoice creditable for that much, a number available today)."""
    invoice = payment.invoice
    currency = (refund.get("currency") or "").upper()
    amount = _amount(refund.get("amount"), currency)
    difference = Difference(
        DifferenceKind.REFUND_WITHOUT_CREDIT_NOTE,
        Remedy.MANUAL,
        refund.get("id"),
        "",
        client_id=payment.client_id,
        invoice_id=invoice.id,
        payment_id=payment.id,
        amount=amount,
        currency=currency,
    )
    label = invoice.number or f"#{invoice.id}"
    reason = None
    if payment.status != PaymentStatus.SUCCEEDED:
        reason = "its payment is not settled here"
    elif amount is None or currency != invoice.currency:
        reason = f"its currency {currency} is not the invoice's {invoice.currency}"
    else:
        try:
            invoices.require_creditable(invoice, amount)
            invoices.require_credit_note_number(session)
        except DomainError as exc:
            reason = exc.message
    if reason is not None:
        difference.detail = f"refunded at Stripe on invoice {label}, no credit note: {reason}"
        return difference
    difference.remedy, difference.safe = Remedy.ISSUE_CREDIT_NOTE, True
    difference.detail = f"refunded at Stripe on invoice {label}, no credit note here"
    difference.change = (
        f"invoice {label}: refunded {invoice.amount_refunded} -> "
        f"{invoice.amount_refunded + amount} {currency} (a credit note for {refund.get('id')})"
    )
    return difference


def _dispute_difference(dispute: dict, payment: Payment | None) -> Difference:
    currency = (dispute.get("currency") or "").upper()
    status = dispute.get("status")
    detail = f"disputed by the client's bank ({dispute.get('reason') or 'no reason'}), {status}"
    if status != "lost":
        detail += ": respond in Stripe's dashboard"
    return Difference(
        DifferenceKind.DISPUTE,
        Remedy.MANUAL,
        dispute.get("id"),
        detail,
        client_id=payment.client_id if payment else None,
        invoice_id=payment.invoice_id if payment else None,
        payment_id=payment.id if payment else None,
        amount=_amount(dispute.get("amount"), currency),
        currency=currency,
    )


def default_card(customer: dict | None) -> dict | None:
    """The customer's default card (``invoice_settings.
    default_payment_method``, expanded), or None."""
    if not customer or customer.get("deleted"):
        return None
    method = (customer.get("invoice_settings") or {}).get("default_payment_method")
    if isinstance(method, str):
        return {"id": method, "card": {}}
    if isinstance(method, dict) and method.get("type", "card") == "card":
        return method
    return None


def _card_difference(
    client: Client, customer: dict | None, still_attached: set[str] = frozenset()
) -> Difference | None:
    """Stripe's default card against the client's saved one. A customer with
    no default card at Stripe agrees (a card saved before the bridge made its
    saved cards Stripe's default too). Taking Stripe's card is safe only when
    the saved card is gone from the customer at Stripe (or there is none):
    a saved card still attached may be the newer one (replaced in the
    portal), and overwriting it would charge a card the client left."""
    card = default_card(customer)
    if card is None or card["id"] == client.default_payment_method_id:
        return None
    details = card.get("card") or {}
    saved = client.default_payment_method_id or "none"
    new = f"{details.get('brand') or 'card'} {details.get('last4') or card['id']}"
    detail = f"the default card at Stripe is {card['id']}, the client's saved card {saved}"
    if client.default_payment_method_id in still_attached:
        return Difference(
            DifferenceKind.CARD_DIFFERS,
            Remedy.MANUAL,
            client.stripe_customer_id,
            f"{detail}; both cards are on the customer at Stripe, so which one is current "
            "is for a person to say (Stripe may have refused to make a card replaced in the "
            "portal its default)",
            safe=False,
            client_id=client.id,
        )
    return Difference(
        DifferenceKind.CARD_DIFFERS,
        Remedy.UPDATE_CARD,
        client.stripe_customer_id,
        detail,
        safe=True,
        change=f"client {client.name}: saved card {saved} -> {card['id']} ({new})",
        client_id=client.id,
        facts={
            "payment_method": card["id"],
            "brand": (details.get("brand") or "")[:20] or None,
            "last4": (details.get("last4") or "")[:4] or None,
            "exp_month": details.get("exp_month"),
            "exp_year": details.get("exp_year"),
        },
    )


def _double_billing(
    session: Session, subscriptions: list[dict], clients: dict[str, Client]
) -> list[Difference]:
    """Stripe subscriptions that still renew, of clients the bridge renews."""
    renewing = [
        s
        for s in subscriptions
        if s.get("status") in RENEWING_AT_STRIPE
        and not s.get("cancel_at_period_end")
        and _id(s.get("customer")) in clients
    ]
    if not renewing:
        return []
    client_ids = {clients[_id(s.get("customer"))].id for s in renewing}
    renewed = {
        row.client_id: row
        for row in session.scalars(
            select(Subscription)
            .where(Subscription.client_id.in_(client_ids), Subscription.status.in_(RENEWED_HERE))
            .order_by(Subscription.id)
        )
    }
    found = []
    for stripe_sub in renewing:
        client = clients[_id(stripe_sub.get("customer"))]
        ours = renewed.get(client.id)
        if ours is None:
            continue
        end = _at(stripe_sub.get("current_period_end"))
        when = f" on {end.date().isoformat()}" if end else ""
        found.append(
            Difference(
                DifferenceKind.DOUBLE_BILLING_RISK,
                Remedy.MANUAL,
                stripe_sub.get("id"),
                f"{stripe_sub.get('status')} at Stripe and renewing{when}, while the bridge "
                f"renews subscription #{ours.id}: cancel it at Stripe at period end "
                "(bridge import-stripe --subscriptions cancel-at-stripe does it for "
                "taken-over ones)",
                client_id=client.id,
                facts={"subscription_id": ours.id},
            )
        )
    return found


# Applying the safe fixes -----------------------------------------------------------


@dataclass
class Applied:
    difference: Difference
    done: bool  # False: already fixed, or no longer safe (``note`` says)
    note: str = ""


def apply_safe(session: Session, report: ReconciliationReport) -> list[Applied]:
    """Do each safe fix of ``report``, one transaction each (a fix that is
    refused leaves the others). Each checks the state again under the
    invoice's lock: what is already fixed is skipped. Commits."""
    results = []
    for difference in report.differences:
        if not difference.safe:
            continue
        try:
            note = FIXES[difference.remedy](session, difference)
        except DomainError as exc:
            session.rollback()
            results.append(Applied(difference, False, exc.message))
            continue
        except IntegrityError:
            # Recorded meanwhile by another path (a webhook, the reconcile
            # job): the unique Stripe ids refuse a second copy.
            session.rollback()
            results.append(Applied(difference, False, "changed meanwhile: run it again"))
            continue
        if note:
            session.rollback()
            results.append(Applied(difference, False, note))
            continue
        session.commit()
        results.append(Applied(difference, True))
    return results


def _recorded(session: Session, obj, difference: Difference) -> None:
    audit.record(
        session,
        obj,
        f"{audit.AUDITED[type(obj)]}.reconciled",
        {
            "difference": difference.kind.value,
            "remedy": difference.remedy.value,
            "stripe_id": difference.stripe_id,
            "change": difference.change,
        },
    )


def _record_payment(session: Session, difference: Difference) -> str | None:
    invoice = invoices.lock_invoice(session, difference.invoice_id)
    intent_id = difference.stripe_id
    if session.scalar(
        select(Payment.id).where(
            Payment.stripe_payment_intent_id == intent_id,
            Payment.status == PaymentStatus.SUCCEEDED,
        )
    ):
        return "already recorded"
    if invoice.status not in COLLECTIBLE or difference.amount > invoice.amount_due:
        return f"no longer safe: the invoice is {invoice.status.value}, {invoice.amount_due} due"
    payment = session.get(Payment, difference.payment_id) if difference.payment_id else None
    if payment is None:
        now = clock.now()
        payment = Payment(
            invoice=invoice,
            client_id=invoice.client_id,
            amount=difference.amount,
            currency=invoice.currency,
            method=PaymentMethod.CARD,
            gateway=CARD_GATEWAY,
            status=PaymentStatus.PENDING,
            reference=f"card (found at Stripe: {intent_id})"[:200],
            created_at=now,
        )
        session.add(payment)
        session.flush()
    apply_outcome(
        session, invoice, payment, Outcome(PaymentStatus.SUCCEEDED, payment_intent_id=intent_id)
    )
    if payment.status != PaymentStatus.SUCCEEDED:
        return "the payment could not be settled"
    _recorded(session, payment, difference)
    return None


def _update_card(session: Session, difference: Difference) -> str | None:
    balances.lock_client(session, difference.client_id)
    client = session.get(Client, difference.client_id, populate_existing=True)
    facts = difference.facts
    if client is None or client.stripe_customer_id != difference.stripe_id:
        return "the client is no longer linked to this customer"
    if client.default_payment_method_id == facts["payment_method"]:
        return "already the saved card"
    audit.name_action(session, client, "client.card_replaced")
    client.default_payment_method_id = facts["payment_method"]
    client.card_brand = facts.get("brand")
    client.card_last4 = facts.get("last4")
    client.card_exp_month = facts.get("exp_month")
    client.card_exp_year = facts.get("exp_year")
    session.flush()
    _recorded(session, client, difference)
    return None


def _issue_credit_note(session: Session, difference: Difference) -> str | None:
    invoice = invoices.lock_invoice(session, difference.invoice_id)
    if session.scalar(
        select(CreditNote.id).where(CreditNote.stripe_refund_id == difference.stripe_id)
    ):
        return "already credited"
    invoices.require_credit_note_number(session)
    note = invoices.issue_credit_note(
        session,
        invoice,
        amount=difference.amount,
        reason="Refunded in Stripe (found by reconciliation)",
        refund_payment=session.get(Payment, difference.payment_id),
        stripe_refund_id=difference.stripe_id,
    )
    _recorded(session, note, difference)
    return None


FIXES = {
    Remedy.RECORD_PAYMENT: _record_payment,
    Remedy.UPDATE_CARD: _update_card,
    Remedy.ISSUE_CREDIT_NOTE: _issue_credit_note,
}
