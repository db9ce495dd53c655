"""A count of unfinished deliveries, so ``flush`` and ``stop`` can wait for zero.

Waits are in real time (threads do the work, not the injected clock), always
with a timeout.
"""

from __future__ import annotations

import threading

__all__ = ["Progress"]


class Progress:
    def __init__(self) -> None:
        self._open = 0
        self._cond = threading.Condition()

    def add(self, n: int = 1) -> None:
        with self._cond:
            self._open += n

    def done(self, n: int = 1) -> None:
        with self._cond:
            self._open -= n
            if self._open <= 0:
                self._cond.notify_all()

    @property
    def open(self) -> int:
        return self._open

    def wait_idle(self, timeout: float) -> bool:
        """True when nothing is left within ``timeout`` seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: self._open <= 0, timeout=timeout)
