"""Telling "the database went away" from every other failure.

A lost connection, a connection that cannot be made, a statement cut off by
its timeout or a pool with no connection to give are not bugs of a request
or of one subscription: the whole database is out of reach for now. Web
answers turn them into 503 ``database_unavailable`` and the scheduler's
batches stop at the first one, rather than failing each remaining row.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

# Seconds a client should wait before trying again (the Retry-After header).
RETRY_AFTER_SECONDS = 5


def is_database_unavailable(error: BaseException | None) -> bool:
    """Whether ``error`` (or what caused it) says the database cannot be
    reached right now: a DBAPI OperationalError (refused, lost, timed out,
    cancelled by ``statement_timeout``, SQLite busy), a connection SQLAlchemy
    found dead (``connection_invalidated``), or the pool's own timeout. A
    deadlock, a serialization failure or a lock not available (PostgreSQL
    raises them as OperationalErrors too) are races between requests, not
    an outage."""
    seen = 0
    while error is not None and seen < 10:
        if _is_contention(error):
            return False
        if isinstance(error, sa_exc.OperationalError | sa_exc.TimeoutError):
            return True
        if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


# SQLSTATEs of races between transactions: class 40 (serialization failure,
# deadlock detected) and lock_not_available.
CONTENTION_CLASSES = ("40",)
CONTENTION_STATES = {"55P03"}


def _is_contention(error: BaseException) -> bool:
    state = getattr(getattr(error, "orig", None), "sqlstate", None) or getattr(
        error, "sqlstate", None
    )
    return isinstance(state, str) and (
        state.startswith(CONTENTION_CLASSES) or state in CONTENTION_STATES
    )
