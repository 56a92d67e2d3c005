"""The catalog: products and services, their pricing plans, and tax rates."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridge.models.base import Base
from bridge.models.settings import StoredFile
from bridge.models.types import UTCDateTime, enum_column


class CatalogStatus(enum.StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


class ProductCategory(enum.StrEnum):
    """What kind of service a product is: the WordPress plugin shows a site's
    ``hosting`` subscription as its hosting plan."""

    HOSTING = "hosting"
    MAINTENANCE = "maintenance"
    SEO = "seo"
    OTHER = "other"


class PlanKind(enum.StrEnum):
    ONE_TIME = "one_time"
    RECURRING = "recurring"


class IntervalUnit(enum.StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    image_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id"))
    status: Mapped[CatalogStatus] = mapped_column(
        enum_column(CatalogStatus, "product_status"), default=CatalogStatus.ACTIVE, index=True
    )
    category: Mapped[ProductCategory] = mapped_column(
        enum_column(ProductCategory, "product_category"), default=ProductCategory.OTHER
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The Stripe product it was imported from (``bridge.billing.stripe_import``).
    stripe_product_id: Mapped[str | None] = mapped_column(String(100), unique=True, index=True)

    image: Mapped[StoredFile | None] = relationship()
    plans: Mapped[list[Plan]] = relationship(back_populates="product", order_by="Plan.id")


class Plan(Base):
    """A price for a product. Like Stripe prices, its terms are fixed once
    created: only the name and image change; anything else is a new plan
    (duplicate, edit the copy, archive the original)."""

    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[PlanKind] = mapped_column(enum_column(PlanKind, "plan_kind"))
    # Minor units of ``currency`` (cents for EUR, yen for JPY, fils for KWD).
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    interval_unit: Mapped[IntervalUnit | None] = mapped_column(
        enum_column(IntervalUnit, "interval_unit")
    )
    interval_count: Mapped[int | None] = mapped_column(Integer)
    # None: renews until cancelled.
    billing_cycles: Mapped[int | None] = mapped_column(Integer)
    image_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id"))
    status: Mapped[CatalogStatus] = mapped_column(
        enum_column(CatalogStatus, "plan_status"), default=CatalogStatus.ACTIVE, index=True
    )
    duplicated_from_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The Stripe price it was imported from. Not unique: a price whose amount
    # changed at Stripe becomes a new plan, the old one stays archived.
    stripe_price_id: Mapped[str | None] = mapped_column(String(100), index=True)

    product: Mapped[Product] = relationship(back_populates="plans")
    image: Mapped[StoredFile | None] = relationship()


class TaxRate(Base):
    __tablename__ = "tax_rates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # The percentage in ten-thousandths of a percent: 20% is 200000 and
    # 7.6543% is 76543. An integer, so the rate is exact on every database.
    percentage_e4: Mapped[int] = mapped_column(Integer)
    inclusive: Mapped[bool] = mapped_column(Boolean, default=False)
    # A 0 % rate may stand for a VAT exemption (bridge.billing.legal.EXEMPTIONS:
    # "franchise", "reverse_charge"), whose wording invoices print; "" none.
    exemption: Mapped[str] = mapped_column(String(20), default="", server_default="")
    status: Mapped[CatalogStatus] = mapped_column(
        enum_column(CatalogStatus, "tax_rate_status"), default=CatalogStatus.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
