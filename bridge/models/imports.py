"""Import jobs: an import from Stripe asked for over the API, run in the
background, polled for its progress and report."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bridge.models.base import Base
from bridge.models.types import UTCDateTime, enum_column


class ImportJobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ImportJob(Base):
    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(20))  # "stripe"
    status: Mapped[ImportJobStatus] = mapped_column(
        enum_column(ImportJobStatus, "import_job_status"), default=ImportJobStatus.QUEUED
    )
    dry_run: Mapped[bool] = mapped_column(Boolean)
    # What was asked: {"customers": [...] | None, "subscriptions": None | "import" | ...}.
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    # Objects read from Stripe so far, and in all when known.
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(Integer)
    report: Mapped[dict | None] = mapped_column(JSON)
    error_code: Mapped[str | None] = mapped_column(String(60))
    error: Mapped[str | None] = mapped_column(String(500))
    requested_by: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
