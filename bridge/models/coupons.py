"""Coupons and the discounts they give: a coupon is the offer (20 % off
for 3 cycles, 50.00 off once...), a discount is the coupon applied to a
client, a subscription or one invoice. Which invoices a discount reduced is
stored on the invoices (``Invoice.discount_id``), so an N-cycle countdown
is a count of those invoices: exact whatever crashes or retries happen."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridge.models.base import Base
from bridge.models.catalog import CatalogStatus
from bridge.models.types import UTCDateTime, enum_column


class CouponDuration(enum.StrEnum):
    ONCE = "once"  # one invoice
    REPEATING = "repeating"  # ``duration_cycles`` invoices (billing cycles)
    FOREVER = "forever"


class Coupon(Base):
    __tablename__ = "coupons"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The code clients type, as written; ``code_key`` (lower case) is unique,
    # so codes are unique whatever their case.
    code: Mapped[str | None] = mapped_column(String(60))
    code_key: Mapped[str | None] = mapped_column(String(60), unique=True)
    # Exactly one of: hundredths of a percent (12.5 % -> 1250), or an amount
    # in minor units of ``currency`` (the business currency).
    percent_off_e2: Mapped[int | None] = mapped_column(Integer)
    amount_off: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    # None: every line; else only lines of plans of these products.
    product_ids: Mapped[list | None] = mapped_column(JSON)
    duration: Mapped[CouponDuration] = mapped_column(enum_column(CouponDuration, "coupon_duration"))
    duration_cycles: Mapped[int | None] = mapped_column(Integer)
    # Last day (business calendar) it may be applied; None: no expiry.
    expires_on: Mapped[date | None] = mapped_column(Date)
    max_redemptions: Mapped[int | None] = mapped_column(Integer)
    times_redeemed: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[CatalogStatus] = mapped_column(
        enum_column(CatalogStatus, "coupon_status"), default=CatalogStatus.ACTIVE, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Discount(Base):
    """A coupon applied to one client, one subscription or one invoice."""

    __tablename__ = "discounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupons.id"), index=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"), index=True)
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Replaced by another coupon, or removed; None while it holds.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    coupon: Mapped[Coupon] = relationship()
