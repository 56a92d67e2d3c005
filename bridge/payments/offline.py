"""Offline payments (bank transfer, cash, cheque): what the hosted invoice
page shows instead of, or beside, the card form, and the gateway of a bridge
without Stripe keys. Staff record the money received with
``bridge.billing.invoices.record_offline_payment``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bridge.billing.business import get_settings
from bridge.billing.gateway import PaymentOptions
from bridge.billing.payments import ChargeResult
from bridge.core.errors import Conflict
from bridge.models import CreditNote, Invoice

__all__ = ["OfflineGateway", "PaymentOptions", "instructions", "payment_options"]


def instructions(session: Session) -> str:
    """The agency's offline payment instructions, trimmed ("" when none)."""
    return (get_settings(session).offline_payment_instructions or "").strip()


def payment_options(session: Session) -> PaymentOptions:
    """The ways to pay an invoice. Without Stripe keys the bridge takes
    offline payments only (ARCHITECTURE decision 7)."""
    settings = get_settings(session)
    card = bool(settings.stripe_secret_key_encrypted and settings.stripe_publishable_key)
    return PaymentOptions(
        card=card,
        publishable_key=settings.stripe_publishable_key if card else None,
        offline_instructions=instructions(session),
    )


class OfflineGateway:
    """The ``PaymentGateway`` of a bridge that takes no cards: nothing is
    charged, nothing is ever pending, money comes back by credit note."""

    name = "offline"
    charges_saved_cards = False

    def payment_options(self, session: Session) -> PaymentOptions:
        return payment_options(session)

    def charge_invoice(
        self, session: Session, invoice: Invoice, *, on_session: bool = False
    ) -> ChargeResult:
        raise Conflict(
            "Card payments are not available: the invoice is paid as its payment instructions say.",
            code="card_payments_unavailable",
        )

    def reconcile_pending(
        self, session: Session, *, now: datetime | None = None, limit: int = 100
    ) -> int:
        return 0

    def refund(
        self, session: Session, invoice: Invoice, amount: int, reason: str = ""
    ) -> CreditNote:
        raise Conflict(
            "Stripe is not connected: record the refund as a credit note for money "
            "returned another way (refund_to_card false).",
            code="stripe_not_configured",
        )
