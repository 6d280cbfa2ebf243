"""Backoff between attempts after a lock timeout: exponential, capped, with jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass

from migrator.config import Settings

#: SQLSTATE of ``lock_not_available`` (``lock_timeout`` expired, ``NOWAIT`` failed)
LOCK_NOT_AVAILABLE = "55P03"


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` more attempts after the first; the n-th waits about
    ``delay_ms * 2**(n-1)``, at most ``max_delay_ms``."""

    retries: int = 5
    delay_ms: int = 500
    max_delay_ms: int = 10_000

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(settings.lock_retries, settings.retry_delay, settings.retry_max_delay)

    @property
    def attempts(self) -> int:
        """How many times a migration may be tried in all."""
        return self.retries + 1

    def delay_before(self, retry: int, rng: random.Random | None = None) -> int:
        """Milliseconds to wait before retry number ``retry`` (1-based).

        "Equal jitter": half of the capped exponential delay is fixed, the other half
        random, so runners that collided do not collide again in lockstep while each
        still backs off.
        """
        ceiling = min(self.max_delay_ms, self.delay_ms * (1 << max(0, retry - 1)))
        half = ceiling // 2
        jitter: int = (rng or random.Random()).randint(0, ceiling - half)
        return half + jitter
