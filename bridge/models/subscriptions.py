"""Subscriptions: a client's recurring plan, period after period."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridge.core.money import line_amount, quantity_decimal, quantity_e3
from bridge.models.base import Base
from bridge.models.catalog import Plan
from bridge.models.clients import Client, Site
from bridge.models.types import UTCDateTime, enum_column


class SubscriptionStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its first invoice to be paid
    ACTIVE = "active"
    PAST_DUE = "past_due"  # a renewal could not be collected yet
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # its billing cycles are used up


class Subscription(Base):
    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    site_id: Mapped[int | None] = mapped_column(
        ForeignKey("sites.id", ondelete="SET NULL"), index=True
    )
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    status: Mapped[SubscriptionStatus] = mapped_column(
        enum_column(SubscriptionStatus, "subscription_status"),
        default=SubscriptionStatus.PENDING,
        index=True,
    )
    # Thousandths of the quantity (1.5 hours -> 1500): see bridge/core/money.py.
    quantity_e3: Mapped[int] = mapped_column(Integer)

    @property
    def quantity(self) -> Decimal:
        """The quantity, exact (Decimal("1.5"), Decimal("2"))."""
        return quantity_decimal(self.quantity_e3)

    @quantity.setter
    def quantity(self, value: int | Decimal | str) -> None:
        self.quantity_e3 = quantity_e3(value)

    @property
    def amount(self) -> int:
        """What a renewal bills before tax: unit x quantity, rounded once."""
        return line_amount(self.unit_amount, self.quantity_e3)

    # A copy of the plan's price: plans never change, but the copy keeps the
    # subscription readable on its own.
    unit_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    tax_rate_ids: Mapped[list] = mapped_column(JSON, default=list)

    # Periods are computed from the anchor (the start of period 0).
    anchor_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    period_index: Mapped[int] = mapped_column(Integer, default=0)
    current_period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    cycles_invoiced: Mapped[int] = mapped_column(Integer, default=0)

    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reactivated_from_id: Mapped[int | None] = mapped_column(ForeignKey("subscriptions.id"))
    # Since when the renewal charge has been given up on (dunning exhausted);
    # the subscription is cancelled a configurable number of days later.
    past_due_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The period end the client was last reminded of (one reminder a period).
    renewal_reminded_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A pause (``bridge.billing.pauses``): set when staff paused it; the
    # pause starts when the paid period ends (``current_period_end``) and
    # lasts until ``paused_until`` (None: until resumed by hand). No renewal
    # while it is set; resuming starts a new period on the resume date.
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # A change scheduled for the next renewal (``bridge.billing.plan_changes``):
    # the plan, quantity and price the next renewal switches to before it is
    # priced. All null when none is scheduled.
    pending_plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"))
    pending_quantity_e3: Mapped[int | None] = mapped_column(Integer)
    pending_unit_amount: Mapped[int | None] = mapped_column(BigInteger)
    pending_change_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def pending_quantity(self) -> Decimal | None:
        """The scheduled quantity, exact (None: no change scheduled)."""
        e3 = self.pending_quantity_e3
        return None if e3 is None else quantity_decimal(e3)

    # The Stripe subscription it took over (imported to start at the end of
    # the period Stripe had already charged).
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(100), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    client: Mapped[Client] = relationship()
    site: Mapped[Site | None] = relationship()
    plan: Mapped[Plan] = relationship(foreign_keys=[plan_id])
    pending_plan: Mapped[Plan | None] = relationship(foreign_keys=[pending_plan_id])
