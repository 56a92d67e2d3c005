"""Stripe webhook events, stored raw by id before anything is applied."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bridge.models.base import Base
from bridge.models.types import UTCDateTime


class StripeEvent(Base):
    """One event, once: the primary key is Stripe's event id, so a duplicate
    delivery finds the row and changes nothing. ``processed_at`` is set in the
    transaction that applied it; ``error`` keeps the traceback of a failure."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    type: Mapped[str] = mapped_column(String(100), index=True)
    livemode: Mapped[bool] = mapped_column(Boolean, default=False)
    # When Stripe created the event (its "created"), to order what arrives out of order.
    created: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
