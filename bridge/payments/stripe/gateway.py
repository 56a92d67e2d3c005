"""``StripeGateway``: the Stripe API (``client.StripeApi``) with the
``PaymentGateway`` operations and the card flows of the hosted page on top
(``cards``, ``charges``, ``refunds``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bridge.billing.gateway import PaymentOptions
from bridge.billing.payments import CARD_GATEWAY, ChargeResult, Outcome, PreparedCharge
from bridge.models import Client, CreditNote, Invoice, Payment
from bridge.payments import offline
from bridge.payments.stripe import cards, charges, refunds
from bridge.payments.stripe.client import StripeApi


class StripeFlows:
    """The payment gateway's operations in terms of the Stripe API methods
    of the class this is mixed into (``StripeApi``'s, or a stand-in's that
    answers in the same shapes)."""

    name = CARD_GATEWAY
    charges_saved_cards = True

    def payment_options(self, session: Session) -> PaymentOptions:
        return offline.payment_options(session)

    def charge_invoice(
        self, session: Session, invoice: Invoice, *, on_session: bool = False
    ) -> ChargeResult:
        return charges.charge_invoice(session, self, invoice, on_session=on_session)

    def prepare_charges(self, session: Session, invoices: list[Invoice]) -> list[PreparedCharge]:
        return charges.prepare_first_charges(session, invoices)

    def send_charge(self, charge: PreparedCharge) -> Outcome | None:
        return charges.send_prepared(self, charge)

    def reconcile_pending(
        self, session: Session, *, now: datetime | None = None, limit: int = 100
    ) -> int:
        return charges.reconcile_pending(session, self, now=now, limit=limit)

    def refund(
        self, session: Session, invoice: Invoice, amount: int, reason: str = ""
    ) -> CreditNote:
        return refunds.refund(session, self, invoice, amount, reason)

    # The hosted page's card flows

    def ensure_customer(self, session: Session, client: Client) -> str:
        return cards.ensure_customer(session, self, client)

    def start_card_setup(self, session: Session, client: Client) -> dict:
        return cards.start_card_setup(session, self, client)

    def complete_card_setup(
        self,
        session: Session,
        client: Client,
        setup_intent_id: str,
        *,
        action: str = "client.card_saved",
    ) -> None:
        cards.complete_card_setup(session, self, client, setup_intent_id, action=action)

    def payment_action(self, session: Session, payment: Payment) -> ChargeResult:
        return charges.payment_action(session, self, payment)

    def settle_payment_intent(
        self, session: Session, payment_intent_id: str, *, invoice: Invoice | None = None
    ) -> ChargeResult:
        return charges.settle_payment_intent(session, self, payment_intent_id, invoice=invoice)


class StripeGateway(StripeFlows, StripeApi):
    """One Stripe account as a ``PaymentGateway`` (see ``StripeApi`` for
    the construction: key, API base, retries, rate limit)."""
