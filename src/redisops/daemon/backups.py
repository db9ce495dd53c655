"""The spec's backup schedule: what each run does (:func:`backup_schedule`) and how a daemon runs it
(:class:`BackupRunner`), shared by ``redisops watch`` and ``redisops backup schedule``.

Each run backs up every set of the spec (each Sentinel group, the cluster),
then prunes the store to ``backup.keep``.  A failure raises the
``backup_failed`` alert through the sink (the alert dispatcher) and the next
success resolves it; any exception of a run, not only a
:class:`~redisops.errors.RedisopsError`, counts as a failure, so a daemon's
schedule never dies quietly.

The backups themselves block (a fork, a replication stream, a store upload),
so the :class:`~redisops.data.backup.schedule.Scheduler` runs in a thread of
its own; :meth:`BackupRunner.run` is the asyncio side: it starts the thread,
and when the daemon stops it ends the wait for the next time at once and gives
a backup already running :data:`BACKUP_STOP_S` to finish.  After that the
thread is abandoned (a daemon thread: the process exits anyway) and the
backup it was taking has no manifest, so it never lists.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from croniter import croniter

from redisops.alerts.model import AlertSink
from redisops.data.backup import (
    BackupOptions,
    Keep,
    Manifest,
    Store,
    backup_sources,
    open_store,
    prune_backups,
    run_backup,
)
from redisops.data.backup.alerting import BackupAlerts
from redisops.data.backup.errors import BackupError
from redisops.data.backup.schedule import ScheduleMetrics, Scheduler
from redisops.errors import RedisopsError, UsageError
from redisops.spec.models import Spec
from redisops.topology.targets import ClusterTarget, SentinelTarget

__all__ = ["BACKUP_STOP_S", "BackupRunner", "back_up_sets", "backup_schedule", "spec_store"]

log = logging.getLogger("redisops.watch")

#: on stop a backup that is running gets this long to finish (a large RDB over a slow store takes a while)
BACKUP_STOP_S = 30.0

Progress = Callable[[str], Any]


def spec_store(spec: Spec, base_dir: Path, url: str | None = None) -> Store:
    """``url`` or the spec's ``backup.target``; relative ``file://`` paths are taken from ``base_dir``."""
    target = url or spec.backup.target
    if target is None:
        raise UsageError("backup.target is not set in the spec",
                         hint="set it (e.g. file://./backups or s3://bucket/redis) or pass --to URL")
    return open_store(target, base_dir=base_dir, endpoint_url=spec.backup.s3_endpoint_url)


def back_up_sets(sets: Sequence[SentinelTarget | ClusterTarget], store: Store, options: BackupOptions,
                 progress: Progress | None = None) -> list[Manifest]:
    """One backup set per target, in order: ``sentinel`` sets for groups, a ``cluster`` set for a cluster."""
    manifests = []
    for target in sets:
        kind = "sentinel" if isinstance(target, SentinelTarget) else "cluster"
        manifests.append(run_backup(kind, target.name, backup_sources(target, options.prefer), store, options,
                                    progress=progress))
    return manifests


Sets = Sequence[SentinelTarget | ClusterTarget]


def backup_schedule(spec: Spec, base_dir: Path, sets: Sets | Callable[[], Sets], sink: AlertSink, *,
                    cron: str | None = None, to: str | None = None, prune: bool = True,
                    progress: Progress | None = None, on_error: Callable[[RedisopsError], Any] | None = None,
                    metrics: ScheduleMetrics | None = None) -> Scheduler:
    """The scheduler of ``spec``'s backups (``cron`` or ``backup.schedule``) of ``sets`` into ``to`` or
    ``backup.target``; ``sets`` may be a function, asked at each run (the daemon's logins may change).

    A failed run goes to ``on_error`` (the caller says it), then raises the ``backup_failed`` alert
    through ``sink``.  Raises :class:`UsageError` at once when there is no valid cron expression or no store.
    """
    expression = cron or spec.backup.schedule
    if expression is None or not croniter.is_valid(expression):
        raise UsageError("no valid cron expression", hint="set backup.schedule in the spec or pass --cron")
    if to is None and spec.backup.target is None:
        raise UsageError("backup.target is not set in the spec",
                         hint="set it (e.g. file://./backups or s3://bucket/redis) or pass --to URL")
    alerts = BackupAlerts(sink, spec.name)
    options = BackupOptions(prefer=spec.backup.source.value, zstd_level=spec.backup.zstd_level)

    def job() -> str:
        try:
            store = spec_store(spec, base_dir, to)
            manifests = back_up_sets(sets() if callable(sets) else sets, store, options, progress)
            if prune:
                k = spec.backup.keep
                prune_backups(store, Keep(k.last, k.daily, k.weekly))
        except RedisopsError:
            raise
        except Exception as exc:  # a bug or an unwrapped client error: still a failed backup, alerted
            log.debug("scheduled backup failed", exc_info=True)
            raise BackupError(f"{type(exc).__name__}: {exc}") from exc
        sentence = "backed up " + ", ".join(f"{m.id} ({_keys(m.keys)})" for m in manifests)
        alerts.succeeded(sentence)
        return sentence

    def failed(exc: RedisopsError) -> None:
        if on_error is not None:
            on_error(exc)
        alerts.failed(exc)

    return Scheduler(expression, job, on_failure=failed, metrics=metrics)


def _keys(count: int | None) -> str:
    """``1 key``, ``5 keys``; a backup taken without a digest was never counted."""
    if count is None:
        return "keys not counted"
    return f"{count} key" if count == 1 else f"{count} keys"


class BackupRunner:
    """A :class:`Scheduler` in a daemon thread for as long as an asyncio task awaits :meth:`run`.

    ``on_run(ok, sentence)`` hears each run (from the thread); the sentence is logged as ``backup: ...``.
    """

    def __init__(self, scheduler: Scheduler, on_run: Callable[[bool, str], Any] | None = None,
                 stop_s: float = BACKUP_STOP_S) -> None:
        self.scheduler = scheduler
        self.on_run = on_run
        self.stop_s = stop_s
        self._stop = threading.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Run the schedule until ``stop`` is set, then wait up to ``stop_s`` for a running backup."""
        loop = asyncio.get_running_loop()
        finished = asyncio.Event()
        thread = threading.Thread(target=self._main, args=(loop, finished), name="redisops-backups", daemon=True)
        log.info("backups at '%s' (UTC); failures alert through the alert channels", self.scheduler.cron)
        thread.start()
        try:
            await stop.wait()
        finally:
            self._stop.set()
            waiting = asyncio.ensure_future(finished.wait())
            done, _ = await asyncio.wait({waiting}, timeout=self.stop_s)
            if not done:
                waiting.cancel()
                log.warning("a scheduled backup was still running after %g s: abandoned (it has no manifest, "
                            "so it never lists)", self.stop_s)

    def _main(self, loop: asyncio.AbstractEventLoop, finished: asyncio.Event) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self.scheduler.run(self._stop, self._report)
                except Exception:  # the schedule outlives any one surprise; the next time is awaited again
                    log.exception("backup schedule")
                    self._stop.wait(1.0)
        finally:
            try:
                loop.call_soon_threadsafe(finished.set)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass

    def _report(self, sentence: str) -> None:
        ok = bool(self.scheduler.last_ok)
        log.log(logging.INFO if ok else logging.WARNING, "backup: %s", sentence)
        if self.on_run is not None:
            self.on_run(ok, sentence)
