"""Offline payments (bank transfer, cash, cheque): what the hosted invoice
page shows instead of, or beside, the card form. Staff record the money
received with ``bridge.billing.invoices.record_offline_payment``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from bridge.billing.business import get_settings


@dataclass(frozen=True)
class PaymentOptions:
    """How a client can pay: by card (Stripe is connected: the page loads
    Stripe.js with ``publishable_key``) and/or by following the agency's
    ``offline_instructions`` (empty when the agency wrote none)."""

    card: bool
    publishable_key: str | None
    offline_instructions: str


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
