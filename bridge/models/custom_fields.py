"""Fields the agency adds to its business profile and to client profiles."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bridge.models.base import Base
from bridge.models.types import UTCDateTime, enum_column


class CustomFieldEntity(enum.StrEnum):
    BUSINESS = "business"
    CLIENT = "client"


class CustomFieldType(enum.StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    CHOICE = "choice"


class CustomField(Base):
    __tablename__ = "custom_fields"
    __table_args__ = (UniqueConstraint("entity", "key", name="uq_custom_fields_entity_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[CustomFieldEntity] = mapped_column(
        enum_column(CustomFieldEntity, "custom_field_entity")
    )
    # Stable machine name; values are stored under it.
    key: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(100))
    field_type: Mapped[CustomFieldType] = mapped_column(
        enum_column(CustomFieldType, "custom_field_type")
    )
    options: Mapped[list] = mapped_column(JSON, default=list)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    show_on_invoice: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
