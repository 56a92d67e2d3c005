"""Invoices, their lines and taxes, credit notes, payments and refunds, and
the number series that keeps invoice numbers gap-free."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridge.core.money import line_amount, names_percentage, quantity_decimal, quantity_e3
from bridge.models.base import Base
from bridge.models.catalog import PlanKind
from bridge.models.clients import Client, Site
from bridge.models.coupons import Coupon, Discount
from bridge.models.types import UTCDateTime, enum_column


class InvoiceStatus(enum.StrEnum):
    DRAFT = "draft"
    OPEN = "open"  # "payment due"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


class PaymentState(enum.StrEnum):
    """Where the card payment of an open invoice stands (independent of the
    invoice status, which only ``paid`` ends)."""

    NONE = "none"
    PROCESSING = "processing"
    FAILED = "failed"
    ACTION_REQUIRED = "action_required"


class BillingReason(enum.StrEnum):
    MANUAL = "manual"  # "Bill client" by staff
    SUBSCRIPTION_CYCLE = "subscription_cycle"  # a renewal
    REACTIVATION = "reactivation"
    BILL_AGAIN = "bill_again"


class NumberSeries(Base):
    """The next number of a series ("invoice:2026", "credit_note:2026"...).
    Taken under a row lock in the transaction that finalizes, so numbers are
    unique and gap-free: a rolled-back finalization gives its number back."""

    __tablename__ = "number_series"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    next_value: Mapped[int] = mapped_column(BigInteger)


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        # One renewal invoice per subscription period, whatever crashes or
        # concurrent schedulers do (ARCHITECTURE decision 4).
        UniqueConstraint("subscription_id", "period_start", name="uq_invoices_subscription_period"),
        # The invoice lists, newest first: overall, by status, per client.
        Index("ix_invoices_created_at_id", "created_at", "id"),
        Index("ix_invoices_status_created_at_id", "status", "created_at", "id"),
        Index("ix_invoices_client_id_created_at_id", "client_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(60), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    site_id: Mapped[int | None] = mapped_column(
        ForeignKey("sites.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[InvoiceStatus] = mapped_column(
        enum_column(InvoiceStatus, "invoice_status"), default=InvoiceStatus.DRAFT, index=True
    )
    billing_reason: Mapped[BillingReason] = mapped_column(
        enum_column(BillingReason, "billing_reason"), default=BillingReason.MANUAL
    )
    currency: Mapped[str] = mapped_column(String(3))
    language: Mapped[str] = mapped_column(String(5), default="en")
    note: Mapped[str] = mapped_column(Text, default="")
    # The rates chosen for the invoice; applied to every line.
    tax_rate_ids: Mapped[list] = mapped_column(JSON, default=list)

    subtotal: Mapped[int] = mapped_column(BigInteger, default=0)
    tax: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    # The coupon's discount that reduced the lines (see bridge.models.coupons),
    # and the sum of the lines' discounts (before tax).
    discount_id: Mapped[int | None] = mapped_column(ForeignKey("discounts.id"), index=True)
    discount: Mapped[int] = mapped_column(BigInteger, default=0)

    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)

    payment_state: Mapped[PaymentState] = mapped_column(
        enum_column(PaymentState, "payment_state"), default=PaymentState.NONE
    )
    disputed: Mapped[bool] = mapped_column(Boolean, default=False)
    # The secret part of the hosted invoice page's URL.
    hosted_token: Mapped[str] = mapped_column(String(64), unique=True)

    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # The legal issue date: the business's local calendar date at
    # ``issued_at``, fixed at finalization. Every surface prints it and the
    # number takes its year, so a later change of time zone never redates
    # an issued invoice.
    issue_date: Mapped[date | None] = mapped_column(Date)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    uncollectible_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Collection by the scheduler. ``next_charge_at``: when the saved card is
    # charged next (the first charge of a renewal, then each dunning retry);
    # None when nothing is planned. While a scheduler works on the invoice it
    # holds a lease: the time is pushed ahead, so a crash retries later.
    next_charge_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Overdue reminders already sent (one per configured threshold passed).
    overdue_reminders_sent: Mapped[int] = mapped_column(Integer, default=0)

    client: Mapped[Client] = relationship()
    site: Mapped[Site | None] = relationship()
    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice",
        cascade="all, delete-orphan",
        order_by="InvoiceLine.position",
    )
    payments: Mapped[list[Payment]] = relationship(back_populates="invoice", order_by="Payment.id")
    credit_notes: Mapped[list[CreditNote]] = relationship(
        back_populates="invoice", order_by="CreditNote.id"
    )
    # The coupon applied, as its discount (``discount_id``): what the
    # invoice prints and the API names beside the lines' amounts.
    applied_discount: Mapped[Discount | None] = relationship(foreign_keys=[discount_id])

    @property
    def coupon(self) -> Coupon | None:
        """The coupon whose discount reduced the lines, if any."""
        return self.applied_discount.coupon if self.applied_discount is not None else None

    @property
    def line_taxes_differ(self) -> bool:
        """Whether the lines are not all taxed alike: then each line shows
        its rates (PDF, hosted page, Hub), besides the totals per rate."""
        kinds = {
            tuple(sorted((t.name, t.percentage_e4, t.inclusive) for t in line.taxes))
            for line in self.lines
        }
        return len(kinds) > 1

    @property
    def paid_from_credit(self) -> int:
        """What the client's account credit paid of the invoice (part of
        ``amount_paid``; no money moved)."""
        return sum(
            p.amount
            for p in self.payments
            if p.method == PaymentMethod.ACCOUNT_CREDIT and p.status == PaymentStatus.SUCCEEDED
        )

    @property
    def credited_to_account(self) -> int:
        """An issued invoice with a negative total (a downgrade now) puts
        its ``|total|`` on the client's account credit."""
        if self.status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID) or self.total >= 0:
            return 0
        return -self.total

    @property
    def amount_due(self) -> int:
        if self.status in (InvoiceStatus.VOID, InvoiceStatus.PAID):
            return 0
        return max(0, self.total - self.amount_paid)


class InvoiceLine(Base):
    """A line as billed: names and prices are copied from the plan, so a
    later rename of the plan never rewrites an issued invoice."""

    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("invoices.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"), index=True)
    kind: Mapped[PlanKind] = mapped_column(enum_column(PlanKind, "line_kind"))
    description: Mapped[str] = mapped_column(String(500))
    # Thousandths of the quantity (1.5 hours -> 1500): see bridge/core/money.py.
    quantity_e3: Mapped[int] = mapped_column(Integer)

    @property
    def quantity(self) -> Decimal:
        """The quantity, exact (Decimal("1.5"), Decimal("2"))."""
        return quantity_decimal(self.quantity_e3)

    @quantity.setter
    def quantity(self, value: int | Decimal | str) -> None:
        self.quantity_e3 = quantity_e3(value)

    unit_amount: Mapped[int] = mapped_column(BigInteger)
    # Taken off ``amount`` by a coupon, before taxes (0 <= discount <= amount).
    discount: Mapped[int] = mapped_column(BigInteger, default=0)
    net: Mapped[int] = mapped_column(BigInteger)
    tax: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    # The line's own tax rates (ids), or None: the invoice's rates apply.
    tax_rate_ids: Mapped[list | None] = mapped_column(JSON)
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)

    invoice: Mapped[Invoice] = relationship(back_populates="lines")

    @property
    def amount(self) -> int:
        """What the line prints in its Amount column: quantity x unit price,
        the taxes included in the price inside it, those added on top not
        (``net`` + included taxes: for an inclusive 19 % VAT, 1 x 340.00 =
        340.00, of which 54.29 VAT; ``net`` is 285.71)."""
        return line_amount(self.unit_amount, self.quantity_e3)

    @property
    def discounted_amount(self) -> int:
        """The Amount column less the line's discount (what is taxed)."""
        return self.amount - self.discount

    taxes: Mapped[list[InvoiceLineTax]] = relationship(
        back_populates="line", cascade="all, delete-orphan", order_by="InvoiceLineTax.id"
    )


class InvoiceLineTax(Base):
    """One tax on one line, with a copy of the rate as it was."""

    __tablename__ = "invoice_line_taxes"

    id: Mapped[int] = mapped_column(primary_key=True)
    line_id: Mapped[int] = mapped_column(
        ForeignKey("invoice_lines.id", ondelete="CASCADE"), index=True
    )
    tax_rate_id: Mapped[int | None] = mapped_column(ForeignKey("tax_rates.id"))
    name: Mapped[str] = mapped_column(String(100))
    percentage_e4: Mapped[int] = mapped_column(Integer)
    inclusive: Mapped[bool] = mapped_column(Boolean)
    exemption: Mapped[str] = mapped_column(String(20), default="", server_default="")
    amount: Mapped[int] = mapped_column(BigInteger)

    line: Mapped[InvoiceLine] = relationship(back_populates="taxes")

    @property
    def names_percentage(self) -> bool:
        """Whether the name says the percentage already ("VAT 20%")."""
        return names_percentage(self.name, self.percentage_e4)


class PaymentMethod(enum.StrEnum):
    CARD = "card"
    BANK_TRANSFER = "bank_transfer"
    CASH = "cash"
    CHEQUE = "cheque"
    OTHER = "other"
    # Paid from the client's account credit (``bridge.billing.balances``):
    # no money moved, never refunded through a gateway.
    ACCOUNT_CREDIT = "account_credit"


class PaymentStatus(enum.StrEnum):
    # A charge request is about to leave or has left, answer not stored yet:
    # the reconcile job settles these by their idempotency key.
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REQUIRES_ACTION = "requires_action"
    CANCELED = "canceled"


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[PaymentMethod] = mapped_column(enum_column(PaymentMethod, "payment_method"))
    gateway: Mapped[str] = mapped_column(String(20))
    status: Mapped[PaymentStatus] = mapped_column(
        enum_column(PaymentStatus, "payment_status"), index=True
    )
    reference: Mapped[str] = mapped_column(String(200), default="")
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    failure_code: Mapped[str | None] = mapped_column(String(100))
    failure_message: Mapped[str | None] = mapped_column(String(500))
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    invoice: Mapped[Invoice] = relationship(back_populates="payments")


class CreditNote(Base):
    """A (full or partial) credit against an issued invoice, with its own
    number series. ``subtotal`` and ``tax`` split ``amount`` in the invoice's
    own proportions, so net billing can subtract the part before tax."""

    __tablename__ = "credit_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(60), unique=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    subtotal: Mapped[int] = mapped_column(BigInteger)
    tax: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(500), default="")
    refund_payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    stripe_refund_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    # The business's local calendar date at ``created_at`` (the number's year).
    issue_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    invoice: Mapped[Invoice] = relationship(back_populates="credit_notes")
