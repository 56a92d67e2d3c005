"""Logins (staff and clients in one table) and staff API tokens."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridge.models.base import Base
from bridge.models.types import UTCDateTime, enum_column


class UserKind(enum.StrEnum):
    STAFF = "staff"
    CLIENT = "client"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[UserKind] = mapped_column(enum_column(UserKind, "user_kind"))
    email: Mapped[str] = mapped_column(String(254))
    # Lower-cased email: the unique key, so Ann@x.com and ann@x.com are one login.
    email_key: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Staff who may see the Hub but change nothing (the policy refuses writes).
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    client_id: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Named by every session cookie of this login; logging out moves it on,
    # which ends every session made before (a copied cookie included).
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")


class ApiToken(Base):
    """A staff API token. Only its SHA-256 is stored: the token itself is shown
    once, when created. Tokens are long random strings, so a fast hash is enough
    (unlike passwords) and lookups stay one indexed query."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, to recognise a token in a list without revealing it.
    prefix: Mapped[str] = mapped_column(String(16))
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="tokens")
