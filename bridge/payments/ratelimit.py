"""A client-side limit on requests to Stripe, below Stripe's own limits
(documented: 100 read/write requests per second in live mode, 25 in test
mode), so a big renewal run paces itself instead of collecting 429s.

A token bucket per gateway (per process): several scheduler processes
share the account's limit, so each should get its share (set
``BRIDGE_STRIPE_RATE_LIMIT`` to the account limit divided by the number of
processes).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

LIVE_DEFAULT = 80.0
TEST_DEFAULT = 20.0


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
        self.burst = float(burst if burst is not None else max(1.0, rate / 10))
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
