"""Walking the rows a job must handle, a batch at a time, each batch locked
for this caller (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent
schedulers take different rows) and committed before the next."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Select
from sqlalchemy.orm import Session


def locked_batches(session: Session, query: Select, model, batch: int) -> Iterator[list]:
    """Yield the rows of ``query`` (a ``select(model).where(...)``) in id
    order, ``batch`` at a time. Commits after each batch the caller handled,
    and at the end, so locks are short and a crash loses one batch at most."""
    last_id = 0
    while True:
        rows = list(
            session.scalars(
                query.where(model.id > last_id)
                .order_by(model.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        )
        if not rows:
            session.commit()
            return
        yield rows
        last_id = rows[-1].id
        session.commit()
