"""Change stamps: a random value per watched table, replaced by database
triggers (migration 0031) in the transaction that changes what a cached
figure depends on, so a process may keep the figure as long as the stamp it
read with it is unchanged."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from bridge.models.base import Base

# The clients' stamp: replaced when a client is added or deleted, or its
# status or search text changes (what the client list's total depends on).
CLIENTS_STAMP = "clients"


class ChangeStamp(Base):
    __tablename__ = "change_stamps"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    # Random (a UUID on PostgreSQL, 32 hex digits on SQLite), never a counter:
    # a counter would repeat after a restore or a test's reset, with other
    # rows behind the same value.
    stamp: Mapped[str] = mapped_column(String(36))
