"""The scheduler's runs: one row per run of a job, written when the run
starts and completed when it ends, so a run whose process died shows as
unfinished. Read by ``GET /api/v1/jobs`` (and the Hub) to say what the
scheduler did on renewal day."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bridge.models.base import Base
from bridge.models.types import UTCDateTime


class JobRun(Base):
    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job_id", "job", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(40))
    # Which scheduler ran it: "host:pid".
    runner: Mapped[str] = mapped_column(String(120), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # None while running, and for ever when the process died mid-run.
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ok: Mapped[bool | None] = mapped_column(Boolean)
    counts: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(String(500))
    duration_ms: Mapped[int | None] = mapped_column(Integer)

    @property
    def state(self) -> str:
        """succeeded, failed, or unfinished (running, or its process died)."""
        if self.finished_at is None:
            return "unfinished"
        return "succeeded" if self.ok else "failed"


class RateLimitBucket(Base):
    """A token bucket shared by every process on one PostgreSQL database
    (``bridge.payments.ratelimit.SharedRateLimiter``): the Stripe account's
    request rate, whatever the number of schedulers."""

    __tablename__ = "rate_limit_buckets"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    # Tokens left (negative: requests already promised a later slot).
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
