"""The one clock of the domain.

Everything that needs "now" asks ``now()``; tests move it with time-machine
(which patches the standard library underneath), so there is one time source.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    return datetime.now(UTC)
