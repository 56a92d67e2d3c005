"""Client roles: what a client's people may see and do on their sites."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridge.models.base import Base
from bridge.models.types import UTCDateTime


class Role(Base):
    __tablename__ = "roles"
    __table_args__ = (
        # At most one default role, enforced by the database itself.
        Index(
            "uq_roles_single_default",
            "is_default",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Set on the three system roles only ("view_all", "edit_all", "billing_only"):
    # those rows are seeded by the first migration and never change.
    system_key: Mapped[str | None] = mapped_column(String(32), unique=True)
    description: Mapped[str] = mapped_column(String(300), default="")
    # {area: {"level": off|view|edit|custom, "actions": [...]}}; see bridge.auth.permissions
    permissions: Mapped[dict] = mapped_column(JSON)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_system(self) -> bool:
        return self.system_key is not None


class SiteRole(Base):
    """A person of a client given, on one of the client's sites, another role
    than the client's own (``clients.role_id``): it decides what they may see
    and do on that site only. No row: the client-wide role."""

    __tablename__ = "site_roles"
    __table_args__ = (UniqueConstraint("user_id", "site_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    # The person's and the site's client, kept here so the audit log files
    # the change under the client and a client's overrides read in one query.
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    # A role in use here cannot be deleted (bridge.billing.roles.delete_role).
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    role: Mapped[Role] = relationship(lazy="joined")
