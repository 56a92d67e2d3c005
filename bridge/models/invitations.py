"""Invitations: the single-use links that let a client's person set a
password (SPEC 3). Only the SHA-256 of a link's token is stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridge.models.base import Base
from bridge.models.clients import Client
from bridge.models.types import UTCDateTime
from bridge.models.users import User


class Invitation(Base):
    """One invitation link sent to ``user`` (a person of ``client``). Live
    while unused, not revoked (a re-invite revokes it) and before
    ``expires_at``."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    # A person deleted takes their links with them: such a link is unknown.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    client: Mapped[Client] = relationship()
    user: Mapped[User] = relationship()
