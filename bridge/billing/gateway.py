"""The payment gateway as the domain, the scheduler and the API see it.

Two gateways implement it, in the payments package: Stripe, when keys are
stored, and offline (bank transfer, cash, cheque recorded by staff), when
none are. The domain never imports them: a gateway is handed in
(``collection.collect_due``), so billing does not depend on any payment
provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from sqlalchemy.orm import Session

from bridge.billing.payments import ChargeResult, Outcome, PreparedCharge
from bridge.models import CreditNote, Invoice


@dataclass(frozen=True)
class PaymentOptions:
    """How a client can pay: by card (Stripe is connected: the page loads
    Stripe.js with ``publishable_key``) and/or by following the agency's
    ``offline_instructions`` (empty when the agency wrote none)."""

    card: bool
    publishable_key: str | None
    offline_instructions: str


@runtime_checkable
class PaymentGateway(Protocol):
    """One way of taking payments. Every operation that talks to a
    provider commits the session it is given (what the provider did cannot
    be rolled back)."""

    name: str
    """``Payment.gateway`` of the payments it takes."""

    charges_saved_cards: bool
    """It can charge a client's saved card without the client (renewals
    and dunning retries); when False, invoices wait for the client."""

    def payment_options(self, session: Session) -> PaymentOptions:
        """The ways a client can pay an invoice, for the hosted page."""
        ...

    def charge_invoice(
        self, session: Session, invoice: Invoice, *, on_session: bool = False
    ) -> ChargeResult:
        """Charge what is due on ``invoice`` to the client's saved card,
        exactly once per attempt. Raises ``Conflict`` when the invoice
        cannot be charged (``invoice_not_payable``, ``no_saved_card``,
        ``card_payments_unavailable``...) and ``Unavailable`` when the
        provider cannot be reached with nothing recorded. Commits."""
        ...

    def reconcile_pending(
        self, session: Session, *, now: datetime | None = None, limit: int = 100
    ) -> int:
        """Settle payments whose outcome is still unknown; how many were
        settled. Commits."""
        ...

    def refund(
        self, session: Session, invoice: Invoice, amount: int, reason: str = ""
    ) -> CreditNote:
        """Give ``amount`` (minor units) of what the invoice's client paid
        back through the gateway, recorded as a credit note. Commits."""
        ...


@runtime_checkable
class ChargesInSets(Protocol):
    """A gateway that charges renewal day's first attempts in sets: the
    pending payments of many invoices written and committed together
    before their requests leave, the requests sent from any thread with no
    database session, the answers recorded together
    (``payments.record_outcomes``)."""

    def prepare_charges(self, session: Session, invoices: list[Invoice]) -> list[PreparedCharge]:
        """The first card attempt of each of ``invoices`` (locked by the
        caller, none with a card payment yet) that the saved card can pay,
        its pending payment added. Flushes; the caller commits."""
        ...

    def send_charge(self, charge: PreparedCharge) -> Outcome | None:
        """Send one prepared charge; the provider's answer, None when it is
        unknown (the payment stays pending). Thread-safe."""
        ...
