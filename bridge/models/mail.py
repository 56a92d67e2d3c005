"""Email: the agency's edited templates and the outbox of rendered messages."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bridge.models.base import Base
from bridge.models.types import UTCDateTime, enum_column


class EmailTemplate(Base):
    """An edited template. Templates without a row use the default shipped in
    ``templates/emails/``; deleting the row goes back to it."""

    __tablename__ = "email_templates"

    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    subject: Mapped[str] = mapped_column(String(300))
    body_html: Mapped[str] = mapped_column(Text)
    # Empty: the text alternative is derived from the HTML body.
    body_text: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting for next_attempt_at
    SENDING = "sending"  # claimed by a deliverer until next_attempt_at (its lease)
    SENT = "sent"
    FAILED = "failed"  # given up: last_error says why


class OutboxMessage(Base):
    """A message rendered when its event happened, in the event's own
    transaction, and delivered later by the scheduler (``bridge.mail.delivery``).
    ``dedupe_key`` (trigger, object, occasion) is unique: the same event can
    never queue the same mail twice, whatever retries or concurrent workers do."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        # The deliverer's question: what is due now?
        Index("ix_outbox_messages_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    trigger: Mapped[str] = mapped_column(String(50))
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    to_address: Mapped[str] = mapped_column(String(254))
    from_name: Mapped[str] = mapped_column(String(200), default="")
    reply_to: Mapped[str] = mapped_column(String(254), default="")
    subject: Mapped[str] = mapped_column(String(500))
    body_html: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    # The logo the HTML shows as an inline image (cid:), when branded.
    logo_id: Mapped[int | None] = mapped_column(
        ForeignKey("stored_files.id", ondelete="SET NULL"), index=True
    )
    client_id: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id", ondelete="SET NULL"), index=True
    )
    invoice_id: Mapped[int | None] = mapped_column(
        ForeignKey("invoices.id", ondelete="SET NULL"), index=True
    )
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[OutboxStatus] = mapped_column(
        enum_column(OutboxStatus, "outbox_status"), default=OutboxStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
