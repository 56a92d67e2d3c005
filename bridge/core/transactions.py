"""Commits that wait for the end of a web request.

An API request sent with an ``Idempotency-Key`` must commit its work and
the answer it gives in one transaction, so that a retry after a lost commit
acknowledgement finds the answer rather than doing the work twice. Views and
the domain commit as they always do; while commits are deferred, those
commits only flush, and the request commits once, with its answer.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

COMMITS_DEFERRED = "bridge.commits_deferred"
PLAN_FOR_VALUES = "bridge_plan_for_values"
"""Execution option of a statement that PostgreSQL must plan for the values
of each execution: psycopg never prepares it (``bridge.db``)."""
WROTE = "bridge.wrote"
"""``Connection.info`` key: whether the current transaction sent anything
but a ``SELECT`` (kept by ``bridge.db``; missing when not known)."""


class BridgeSession(Session):
    """A Session whose ``commit()`` can be held back to the end of a web
    request (``defer_commits``): a request that replays its answer to a retry
    (``bridge.api.idempotency``) commits its work and its answer together,
    once the answer is known. Meanwhile ``commit()`` only flushes, so the
    work is visible to the request and written out, and still in one
    transaction with the answer."""

    def commit(self) -> None:
        """Commits, unless commits are deferred: then flushes."""
        if self.info.get(COMMITS_DEFERRED):
            self.flush()
            return
        super().commit()


def defer_commits(session: Session, deferred: bool = True) -> None:
    """Hold ``commit()`` back (True) until ``defer_commits(session, False)``."""
    if deferred:
        session.info[COMMITS_DEFERRED] = True
    else:
        session.info.pop(COMMITS_DEFERRED, None)


def commit_now(session: Session) -> None:
    """Commits, even while commits are deferred: before waiting on an outside
    service (Stripe), row locks must not be held. What the request did so far
    is committed, its answer comes in a later commit."""
    deferred = session.info.pop(COMMITS_DEFERRED, None)
    try:
        session.commit()
    finally:
        if deferred:
            session.info[COMMITS_DEFERRED] = deferred
