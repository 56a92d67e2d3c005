"""A client-side limit on requests to Stripe, below Stripe's own limits
(documented: 100 read/write requests per second in live mode, 25 in test
mode), so a big renewal run paces itself instead of collecting 429s.

``RateLimiter``: a token bucket in this process. ``SharedRateLimiter``:
the same bucket kept in a PostgreSQL row, so that every scheduler process
on the database draws from one account-wide rate (N processes together
stay under it); it falls back to a bucket of its own process while the
database cannot answer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

LIVE_DEFAULT = 80.0
TEST_DEFAULT = 20.0


def default_burst(rate: float) -> float:
    """A bucket lets ``rate + burst`` requests into any one second, and the
    requests reach Stripe with the jitter of their threads: a twentieth of
    the rate keeps every second, as Stripe counts it, close to the rate (80
    a second: at most 84 taken, under 90 arriving)."""
    return max(1.0, rate / 20)


class RateLimiter:
    """At most ``rate`` acquisitions per second on average, bursts of up to
    ``burst``. ``acquire`` sleeps until a token is free."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else default_burst(rate))
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._updated = clock()
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self) -> None:
        # Each caller reserves the next token (the count may go below zero)
        # and sleeps, outside the lock, until its token has been earned.
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self.waited += wait
            self._sleep(wait)


def default_rate(livemode: bool) -> float:
    return LIVE_DEFAULT if livemode else TEST_DEFAULT


# One statement: refill by the time since the last take (the server's clock,
# the same for every process), take one token, answer what is left. The
# row lock orders the takers; a negative count is slots already promised.
_TAKE = text(
    """
    UPDATE rate_limit_buckets
    SET tokens = LEAST(
            :burst,
            tokens + EXTRACT(EPOCH FROM (clock_timestamp() - updated_at)) * :rate
        ) - 1,
        updated_at = clock_timestamp()
    WHERE name = :name
    RETURNING tokens
    """
)
_CREATE = text(
    """
    INSERT INTO rate_limit_buckets (name, tokens, updated_at)
    VALUES (:name, :burst, clock_timestamp())
    ON CONFLICT (name) DO NOTHING
    """
)


class SharedRateLimiter:
    """``RateLimiter`` with its bucket in the database row ``name`` of
    ``rate_limit_buckets`` (PostgreSQL): one rate for every process that
    uses the row. Each ``acquire`` is one short autocommit UPDATE."""

    def __init__(
        self,
        engine: Engine,
        name: str,
        rate: float,
        burst: float | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.name = name
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else default_burst(rate))
        self._sleep = sleep
        self._fallback = RateLimiter(rate, self.burst, sleep=sleep)
        self._warned = False
        self.waited = 0.0

    def acquire(self) -> None:
        try:
            left = self._take()
        except Exception as exc:  # the database is busy or gone: pace locally
            if not self._warned:
                log.warning("shared rate limit %s unavailable, pacing locally: %s", self.name, exc)
                self._warned = True
            self._fallback.acquire()
            return
        wait = -left / self.rate if left < 0 else 0.0
        if wait > 0:
            self.waited += wait
            self._sleep(wait)

    def _take(self) -> float:
        params = {"name": self.name, "rate": self.rate, "burst": self.burst}
        with self.engine.connect() as conn:
            left = conn.execute(_TAKE, params).scalar()
            if left is None:  # the first take ever: the row is made full
                conn.execute(_CREATE, params)
                left = conn.execute(_TAKE, params).scalar()
        return float(left)
