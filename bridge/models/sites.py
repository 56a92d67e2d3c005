"""What the WordPress site API keeps per site: one-time connect codes and the
SEO scans its plugin sends."""

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
