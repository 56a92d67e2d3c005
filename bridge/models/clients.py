"""Clients and their WordPress sites."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridge.models.base import Base
from bridge.models.roles import Role
from bridge.models.types import UTCDateTime, enum_column


class ClientStatus(enum.StrEnum):
    INACTIVE = "inactive"  # no invitation sent
    PENDING = "pending"  # invited, not yet accepted
    ACTIVE = "active"  # invitation accepted


class Client(Base):
    __tablename__ = "clients"
    __table_args__ = (
        # The client list: filtered by status, ordered by name, a page at a time.
        Index("ix_clients_status_name_id", "status", "name", "id"),
        Index("ix_clients_name_id", "name", "id"),
        # Counting a filtered list reads this narrow index, not the wide rows.
        Index("ix_clients_status_search_text", "status", "search_text"),
        # Text search of three letters or more on PostgreSQL: the trigrams of
        # the search text (pg_trgm) find the few matching clients instead of
        # testing the LIKE on every one. SQLite has no such index: there it
        # is an empty one (WHERE 0), so models and migrations stay one.
        Index(
            "ix_clients_search_text_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
            sqlite_where=text("0"),
        ),
        # The client list sorted by its figures, a page at a time.
        Index("ix_clients_mrr_id", "mrr", "id"),
        Index("ix_clients_net_billing_id", "net_billing", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    email_key: Mapped[str] = mapped_column(String(254), unique=True)
    company: Mapped[str] = mapped_column(String(200), default="")
    # Lower-cased "name email company", kept by the domain: the list's text
    # search is one LIKE on one column instead of three on computed values.
    search_text: Mapped[str] = mapped_column(String(700), default="")
    address_line1: Mapped[str] = mapped_column(String(200), default="")
    address_line2: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    postal_code: Mapped[str] = mapped_column(String(20), default="")
    state: Mapped[str] = mapped_column(String(100), default="")
    country: Mapped[str] = mapped_column(String(2), default="")
    status: Mapped[ClientStatus] = mapped_column(
        enum_column(ClientStatus, "client_status"), default=ClientStatus.INACTIVE
    )
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id"), index=True)
    custom_fields: Mapped[dict] = mapped_column(JSON, default=dict)
    # A tax id (VAT number), as imported from Stripe; "" when none.
    tax_id: Mapped[str] = mapped_column(String(50), default="", server_default="")
    # The French company registration number (9 digits), "" when none.
    siren: Mapped[str] = mapped_column(String(9), default="", server_default="")
    # The client's Stripe customer (created when first needed) and the card
    # saved for renewals: only Stripe's ids and display facts, never a number.
    stripe_customer_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    default_payment_method_id: Mapped[str | None] = mapped_column(String(100))
    card_brand: Mapped[str | None] = mapped_column(String(20))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    card_exp_month: Mapped[int | None] = mapped_column(Integer)
    card_exp_year: Mapped[int | None] = mapped_column(Integer)
    # The client's figures (SPEC 10), kept in step by ``bridge.billing.metrics``
    # whenever a subscription or an issued invoice or credit note of the
    # client changes, so the client list sorts by them with an index: MRR
    # (tax excluded), net billing tax included (the list's column) and
    # before tax (summed by the overview). Minor units.
    mrr: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    net_billing: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    net_billing_before_tax: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    role: Mapped[Role] = relationship(lazy="joined")
    sites: Mapped[list[Site]] = relationship(
        back_populates="client", cascade="all, delete-orphan", order_by="Site.id"
    )


class Site(Base):
    """A client's WordPress site. Its plugin authenticates with ``public_id``
    and a secret; the secret signs requests (HMAC), so the bridge must be able
    to read it back: it is stored encrypted, never in clear."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(500))
    secret_encrypted: Mapped[str] = mapped_column(String(500))
    secret_rotated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    client: Mapped[Client] = relationship(back_populates="sites")
