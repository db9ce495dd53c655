"""How fast deliveries go out: exponential backoff between attempts, a token bucket per channel.

Both read an injected :class:`~redisops.clock.Clock`, so tests step through a
minute of retries or refills without waiting for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from redisops.clock import Clock

__all__ = ["Backoff", "TokenBucket"]


@dataclass(frozen=True)
class Backoff:
    """``base * 2**(attempt-1)`` capped at ``cap``: quick first retries, then a steady pace."""

    base: float
    cap: float
    max_attempts: int

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return min(self.cap, self.base * 2.0 ** max(0, attempt - 1))


class TokenBucket:
    """``per_minute`` messages in a burst, refilled evenly over a minute.

    A burst is allowed because one failover legitimately yields several
    messages at once; a steady stream beyond the rate is what the limit stops.
    """

    def __init__(self, per_minute: int, clock: Clock) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._clock = clock
        self._tokens = self.capacity
        self._at = clock.now()

    def take(self) -> bool:
        now = self._clock.now()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
