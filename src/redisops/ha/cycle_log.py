"""A loop's sentence in the log when it changes, and a heartbeat while it does not.

The watcher says what each cycle did (``no action: mymaster 127.0.0.1:6400
master, 2/2 replicas in sync, 3/3 sentinels agree``).  Logged every cycle,
that is a line every ``poll_interval_s`` (2 s: some 40,000 lines a day) saying
the same thing, which buries the lines that matter and fills the disk.  So a
sentence is logged when it differs from the last one (a change of state,
every alert included), and an unchanged one again at most every
``heartbeat_s`` with how long it has held, so the log still shows the loop is
alive.  The level is the caller's (a ``waiting:`` sentence is a WARNING
whether it is new or a heartbeat).
"""

from __future__ import annotations

import logging

from redisops.clock import Clock

__all__ = ["HEARTBEAT_S", "CycleLog"]

#: an unchanged sentence is logged again this often: one line a minute proves the loop runs
HEARTBEAT_S = 60.0


class CycleLog:
    def __init__(self, logger: logging.Logger, clock: Clock, heartbeat_s: float = HEARTBEAT_S) -> None:
        self.logger = logger
        self.clock = clock
        self.heartbeat_s = heartbeat_s
        self._last: str | None = None
        self._since = 0.0  # when the sentence was first said
        self._said = 0.0  # when it was last logged
        self._cycles = 0  # how many cycles said it

    def say(self, sentence: str, level: int = logging.INFO, *, exc_info: bool = False) -> bool:
        """Log ``sentence`` if it is new or the heartbeat is due; True when a line was written.

        ``exc_info``: add the current exception's traceback (only when the line is written)."""
        now = self.clock.now()
        if sentence != self._last:
            self._last, self._since, self._said, self._cycles = sentence, now, now, 1
            self.logger.log(level, "%s", sentence, exc_info=exc_info)
            return True
        self._cycles += 1
        if now - self._said < self.heartbeat_s:
            return False
        self._said = now
        self.logger.log(level, "%s (unchanged for %.0f s, %d cycles)", sentence, now - self._since, self._cycles)
        return True
