"""``backup schedule``: run backups at the times of a cron expression, standalone.

The loop is a :class:`Scheduler` whose :meth:`~Scheduler.run_cycle` sleeps until the
next cron time, runs the job and returns a sentence for the log ("backup
20261125T180000Z-main done in 4.2 s; next at 19:00:00").  A failed job does not
stop the schedule: the error goes to ``on_failure`` (the CLI logs it; an alert
channel can be plugged in there) and the next time is awaited.  Missed times
(the process was down, a job overran) are skipped, not caught up: a backup
storm after an outage helps nobody.

Wall time comes from ``wall`` and sleeping from the injected clock, so tests
drive the loop without waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from croniter import croniter

from redisops.clock import Clock, SystemClock
from redisops.errors import RedisopsError

__all__ = ["Scheduler", "next_time"]


def next_time(cron: str, after: datetime) -> datetime:
    """The first time of ``cron`` strictly after ``after`` (UTC)."""
    value: datetime = croniter(cron, after).get_next(datetime)
    return value


class Scheduler:
    def __init__(self, cron: str, job: Callable[[], str], *, clock: Clock | None = None,
                 wall: Callable[[], datetime] | None = None,
                 on_failure: Callable[[RedisopsError], Any] | None = None) -> None:
        self.cron = cron
        self.job = job
        self.clock = clock or SystemClock()
        self.wall = wall or (lambda: datetime.now(timezone.utc))
        self.on_failure = on_failure

    def run_cycle(self) -> str:
        due = next_time(self.cron, self.wall())
        wait = (due - self.wall()).total_seconds()
        if wait > 0:
            self.clock.sleep(wait)
        began = self.clock.now()
        try:
            outcome = self.job()
        except RedisopsError as exc:
            if self.on_failure is not None:
                self.on_failure(exc)
            outcome = f"failed: {exc}"
        upcoming = next_time(self.cron, self.wall())
        return f"{outcome} ({self.clock.now() - began:.1f} s); next at {upcoming:%Y-%m-%d %H:%M:%S} UTC"
