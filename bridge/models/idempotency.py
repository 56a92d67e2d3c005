"""Idempotency keys of the API: the first answer to a POST, kept for a day
and replayed to a retry that sends the same ``Idempotency-Key``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bridge.models.base import Base
from bridge.models.types import UTCDateTime


class IdempotencyKey(Base):
    """One key of one caller (``scope``: ``user:<id>`` for staff tokens,
    ``site:<id>`` for a signed site). Inserted when the request starts, in
    the request's own transaction, and completed with the answer before that
    transaction commits: a commit whose acknowledgement was lost holds the
    answer too, and the retry replays it. ``locked_until`` bounds how long a
    request may hold the key (a key whose request died is taken over)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key", name="uq_idempotency_keys_scope_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    # sha256 of method, path and body: the same key with another request is a 409.
    request_hash: Mapped[str] = mapped_column(String(64))
    # "in_progress" or "done"
    status: Mapped[str] = mapped_column(String(20))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[str | None] = mapped_column(Text)  # JSON object
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
