"""A client's account credit: a ledger of signed entries per currency,
whose sum is the balance (as Stripe's customer balance, but positive means
credit the client holds)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridge.models.base import Base
from bridge.models.invoices import Invoice
from bridge.models.types import UTCDateTime, enum_column


class BalanceEntryKind(enum.StrEnum):
    GRANTED = "granted"  # by staff, by hand (+, or - to take back)
    INVOICE_CREDIT = "invoice_credit"  # an invoice with a negative total (+)
    APPLIED = "applied"  # paid part of an invoice (-)
    INVOICE_VOIDED = "invoice_voided"  # an invoice paid from it was voided (+)
    CREDIT_NOTE = "credit_note"  # a credit note on an invoice paid from it (+)


class ClientBalanceEntry(Base):
    """One movement of a client's account credit, in minor units: positive
    when credit is granted, negative when it is used. Never updated nor
    deleted. ``key`` makes the entries that follow from a document unique
    ("invoice:12", "payment:40", "void:40", "credit_note:7"): each is made
    exactly once, whatever retries do; staff grants have none."""

    __tablename__ = "client_balance_entries"
    __table_args__ = (
        Index("ix_client_balance_entries_client_id_currency", "client_id", "currency"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[BalanceEntryKind] = mapped_column(
        enum_column(BalanceEntryKind, "balance_entry_kind")
    )
    reason: Mapped[str] = mapped_column(String(500), default="")
    key: Mapped[str | None] = mapped_column(String(60), unique=True)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    credit_note_id: Mapped[int | None] = mapped_column(ForeignKey("credit_notes.id"))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    invoice: Mapped[Invoice | None] = relationship(viewonly=True)
