"""What the WordPress site API keeps per site: one-time connect codes, the
request ids of recent signed writes, and the SEO scans its plugin sends."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridge.models.base import Base
from bridge.models.clients import Site
from bridge.models.types import UTCDateTime


class SiteConnectCode(Base):
    """A code staff hand to a site's administrator: the plugin exchanges it,
    once and within 15 minutes, for the site's id and a fresh secret. Only
    the SHA-256 of the code is stored."""

    __tablename__ = "site_connect_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    site: Mapped[Site] = relationship()


class SiteRequestNonce(Base):
    """The request id (``X-Bridge-Nonce``, or the signature) of a signed
    write a site sent, kept until its timestamp leaves the signature window
    (``expires_at``), so that the same request is never applied twice."""

    __tablename__ = "site_request_nonces"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SeoScan(Base):
    """One SEO scan of a site's pages, as its plugin sent it (validated)."""

    __tablename__ = "seo_scans"
    __table_args__ = (
        # The latest scans of a site, newest first.
        Index("ix_seo_scans_site_id_id", "site_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[dict] = mapped_column(JSON)
