"""Scheduled backups that fail raise an alert; the next success resolves it.

One incident per backup set name, ``backup_failed:<name>``: repeated failures
keep the same key, so the dispatcher pages once (its dedup), not at every
cron tick; the first backup that succeeds afterwards sends the resolve message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from redisops.alerts.model import AlertSink, Incident, IncidentKind, Severity, TimelineEntry
from redisops.errors import RedisopsError

__all__ = ["BackupAlerts"]


@dataclass
class BackupAlerts:
    sink: AlertSink
    name: str  # the deployment (spec name): what the backups are of
    wall: Callable[[], float] = time.time
    _open: Incident | None = field(default=None, init=False)

    def failed(self, error: RedisopsError) -> None:
        now = self.wall()
        entry = TimelineEntry(now, "backup failed", "backup schedule", str(error))
        previous = self._open
        self._open = Incident(
            key=f"backup_failed:{self.name}", kind=IncidentKind.BACKUP_FAILED, severity=Severity.CRITICAL,
            group=self.name, title=f"scheduled backup of {self.name} failed",
            started_at=previous.started_at if previous else now, summary=str(error),
            timeline=(*(previous.timeline if previous else ()), entry)[-10:],
        )
        self.sink.notify(self._open)

    def succeeded(self, sentence: str) -> None:
        if self._open is None:
            return
        now = self.wall()
        entry = TimelineEntry(now, "backup succeeded", "backup schedule", sentence)
        self.sink.notify(replace(self._open, resolved_at=now, timeline=(*self._open.timeline, entry)))
        self._open = None
