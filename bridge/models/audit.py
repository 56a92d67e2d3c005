"""The audit log: who changed what, written in the same transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bridge.models.base import Base
from bridge.models.types import UTCDateTime


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        # One object's history, and one client's activity, newest first.
        Index("ix_audit_log_object", "object_type", "object_id", "id"),
        Index("ix_audit_log_client_id_id", "client_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # staff, api_token, client, scheduler, stripe_webhook, cli, system
    actor_kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_label: Mapped[str] = mapped_column(String(200), default="")
    action: Mapped[str] = mapped_column(String(60), index=True)
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int | None] = mapped_column(Integer)
    # The client the change concerns, for the per-client log. Not a foreign
    # key: the log outlives what it describes.
    client_id: Mapped[int | None] = mapped_column(Integer, index=True)
    summary: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
