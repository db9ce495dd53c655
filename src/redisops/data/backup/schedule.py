"""``backup schedule``: run backups at the times of a cron expression, standalone or inside ``redisops watch``.

The loop is a :class:`Scheduler` whose :meth:`~Scheduler.run_cycle` sleeps until the
next cron time, runs the job and returns a sentence for the log ("backup
20261125T180000Z-main done in 4.2 s; next at 19:00:00").  A failed job does not
stop the schedule: the error goes to ``on_failure`` (the CLI logs it and raises
an alert) and the next time is awaited.  Missed times (the process was down, a
job overran) are skipped, not caught up: a backup storm after an outage helps
nobody.  :meth:`~Scheduler.run` is the same loop for a thread: it returns as soon
as its stop event is set (a job already running is finished first).

Expressions are croniter's: five fields (minute hour day month weekday), UTC,
plus an optional sixth field for seconds, *last* (``* * * * * */30``: every 30 s),
not first as in Quartz.

Wall time comes from ``wall`` and sleeping from the injected clock, so tests
drive the loop without waiting.  With ``metrics`` (:class:`ScheduleMetrics`, on a
Prometheus registry such as the watcher's), every run sets the last-run gauges.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from croniter import croniter
from prometheus_client import CollectorRegistry, Counter, Gauge

from redisops.clock import Clock, SystemClock
from redisops.errors import RedisopsError

__all__ = ["ScheduleMetrics", "Scheduler", "next_time"]


def next_time(cron: str, after: datetime) -> datetime:
    """The first time of ``cron`` strictly after ``after`` (UTC)."""
    value: datetime = croniter(cron, after).get_next(datetime)
    return value


class ScheduleMetrics:
    """Scheduled backup runs as Prometheus series (``redisops_backup_*``) on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs = Counter("redisops_backup_runs", "Scheduled backup runs, per outcome (ok, failed).",
                            ["outcome"], registry=registry)
        self.last_run = Gauge("redisops_backup_last_run_timestamp_seconds",
                              "Unix time the last scheduled backup run ended.", registry=registry)
        self.last_success = Gauge("redisops_backup_last_success_timestamp_seconds",
                                  "Unix time the last successful scheduled backup ended (0: none yet).",
                                  registry=registry)
        self.last_ok = Gauge("redisops_backup_last_run_success",
                             "1 if the last scheduled backup run succeeded, 0 if it failed.", registry=registry)
        for outcome in ("ok", "failed"):
            self.runs.labels(outcome)

    def record(self, ok: bool, at: float) -> None:
        self.runs.labels("ok" if ok else "failed").inc()
        self.last_run.set(at)
        self.last_ok.set(1 if ok else 0)
        if ok:
            self.last_success.set(at)


class Scheduler:
    def __init__(self, cron: str, job: Callable[[], str], *, clock: Clock | None = None,
                 wall: Callable[[], datetime] | None = None,
                 on_failure: Callable[[RedisopsError], Any] | None = None,
                 metrics: ScheduleMetrics | None = None) -> None:
        self.cron = cron
        self.job = job
        self.clock = clock or SystemClock()
        self.wall = wall or (lambda: datetime.now(timezone.utc))
        self.on_failure = on_failure
        self.metrics = metrics
        self.last_ok: bool | None = None  # how the last run went (None: none yet)
        self._last_due: datetime | None = None

    def run_cycle(self) -> str:
        """Sleep until the next cron time, run the job; the sentence for the log."""
        sentence = self._cycle(None)
        assert sentence is not None
        return sentence

    def run(self, stop: threading.Event, report: Callable[[str], Any]) -> None:
        """Cycles until ``stop`` is set, each sentence to ``report``; waiting ends at once when it is set."""
        while (sentence := self._cycle(stop)) is not None:
            report(sentence)

    def _cycle(self, stop: threading.Event | None) -> str | None:
        now = self.wall()
        # never the same time twice, even if a sleep ends a hair before the wall clock reaches it
        due = next_time(self.cron, now if self._last_due is None else max(now, self._last_due))
        self._last_due = due
        wait = (due - self.wall()).total_seconds()
        if stop is None:
            if wait > 0:
                self.clock.sleep(wait)
        elif stop.wait(max(wait, 0.0)):
            return None
        began = self.clock.now()
        ok = True
        try:
            outcome = self.job()
        except RedisopsError as exc:
            ok = False
            if self.on_failure is not None:
                self.on_failure(exc)
            outcome = f"failed: {exc}"
        self.last_ok = ok
        if self.metrics is not None:
            self.metrics.record(ok, self.wall().timestamp())
        upcoming = next_time(self.cron, max(self.wall(), due))
        return f"{outcome} ({self.clock.now() - began:.1f} s); next at {upcoming:%Y-%m-%d %H:%M:%S} UTC"
