"""The daemon: the watcher, the backup schedule and ``/metrics`` on one asyncio loop, until stopped.

::

    daemon = Daemon.from_spec(spec, secrets, base_dir=spec_file.parent)
    daemon.run()                    # the process's main thread: until SIGTERM or Ctrl-C

    stop = asyncio.Event()          # or inside an application's own loop (a status page, the demo)
    task = asyncio.create_task(daemon.serve(stop))
    ...                             # daemon.watcher.open_incidents, daemon.metrics.registry
    stop.set(); await task

The endpoint also serves the status page (:mod:`redisops.daemon.page`:
``/``, ``/api/status``), fed with each poll's report and every incident.

Everything it owns shares one Prometheus registry (:class:`~redisops.ha.WatchMetrics`):
the watcher's series, the alert dispatcher's delivery counters and the
schedule's ``redisops_backup_*``.  Incidents go to the alert dispatcher of the
spec's ``alerts:`` channels and to any extra ``sinks`` the embedder passes (the
CLI's JSON lines, a status page's list); the backup schedule's
``backup_failed`` alerts take the same way and are counted like the watcher's.

:meth:`Daemon.serve` binds ``/metrics`` first, so a port in use fails before
anything started; then it starts the dispatcher (which replays its outbox),
the watcher and the schedule.  When ``stop`` is set it waits for a running
backup (up to :data:`~redisops.daemon.backups.BACKUP_STOP_S`), gives the
dispatcher 5 s to deliver what it holds (the rest stays in the outbox for the
next start) and closes the endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from redisops.alerts.dispatch import build_dispatcher
from redisops.alerts.model import AlertSink, Incident
from redisops.auth import Credential, TlsFiles, login_parts
from redisops.clock import Clock
from redisops.daemon.backups import BackupRunner, backup_schedule
from redisops.daemon.http import MetricsEndpoint
from redisops.daemon.page import StatusPage
from redisops.data.backup.schedule import ScheduleMetrics
from redisops.errors import RedisopsError, UsageError
from redisops.ha.metrics import WatchMetrics
from redisops.ha.watcher import Watcher
from redisops.runtime.plan import build_plan
from redisops.spec.alerts import AlertsSpec
from redisops.spec.models import Spec
from redisops.spec.secrets import Secrets, load_secrets
from redisops.spec.watch import WatchSpec
from redisops.topology.status import StatusReport
from redisops.topology.targets import ClusterTarget, SentinelTarget, targets_from_plan

__all__ = ["DISPATCH_STOP_S", "Daemon"]

log = logging.getLogger("redisops.watch")

#: on stop the alert dispatcher gets this long to deliver; what is left waits in the outbox
DISPATCH_STOP_S = 5.0

OnCycle = Callable[[str, StatusReport], Any]
OnBackup = Callable[[bool, str], Any]


class _FanOut:
    """Hand each incident to every sink; one that fails does not keep it from the others."""

    def __init__(self, sinks: Sequence[AlertSink]) -> None:
        self.sinks = list(sinks)

    def notify(self, incident: Incident) -> None:
        for sink in list(self.sinks):
            try:
                sink.notify(incident)
            except Exception:
                log.exception("alert sink %s failed on %s", type(sink).__name__, incident.key)


class _Counted:
    """The backup schedule's sink: the daemon's sinks, counted in ``redisops_incidents_total`` like the
    watcher's own incidents."""

    def __init__(self, metrics: WatchMetrics, sink: AlertSink) -> None:
        self.metrics = metrics
        self.sink = sink

    def notify(self, incident: Incident) -> None:
        self.metrics.incident(incident)
        self.sink.notify(incident)


class Daemon:
    """``groups`` and ``clusters`` watched, incidents to the ``alerts`` channels (and ``sinks``), ``/metrics``
    and the status page (:attr:`page`) on 127.0.0.1:``metrics_port`` (default ``settings.metrics_port``; 0: none),
    ``backups`` when set."""

    def __init__(self, groups: Sequence[SentinelTarget], clusters: Sequence[ClusterTarget], *,
                 settings: WatchSpec | None = None, alerts: AlertsSpec | None = None, base_dir: Path | None = None,
                 metrics_port: int | None = None, sinks: Sequence[AlertSink] = (), on_cycle: OnCycle | None = None,
                 clock: Clock | None = None, secrets_file: Path | None = None, tls: TlsFiles | None = None) -> None:
        self.settings = settings or WatchSpec()
        self.alerts = alerts or AlertsSpec()
        self.base_dir = base_dir or Path.cwd()  # the outbox and *_file secrets are relative to it
        self.metrics_port = self.settings.metrics_port if metrics_port is None else metrics_port
        self.metrics = WatchMetrics()
        self.page = StatusPage(poll_interval_s=self.settings.poll_interval_s, secrets=_passwords(groups, clusters))
        self.sink = _FanOut([*sinks, self.page])  # the dispatcher joins it in serve()
        self.on_cycle = on_cycle
        self.watcher = Watcher(groups, clusters, self.sink, settings=self.settings, metrics=self.metrics,
                               clock=clock, on_cycle=self._cycled)
        self.backups: BackupRunner | None = None
        self.endpoint: MetricsEndpoint | None = None  # while serving
        #: the spec's secrets file, read again after a poll when it changed (see :meth:`_follow_secrets`)
        self.secrets_file = secrets_file
        self.tls = tls  # kept on the logins of a re-read secrets file
        self._secrets_seen = _stamp(secrets_file)
        self._logins: tuple[Credential, Credential] | None = None  # from a changed secrets file

    @classmethod
    def from_spec(cls, spec: Spec, secrets: Secrets, *, base_dir: Path, backups: bool = True,
                  on_backup: OnBackup | None = None, **options: Any) -> Daemon:
        """The spec's nodes, watch settings and alert channels; with ``backups``, its ``backup.schedule``.

        ``base_dir``: the spec file's directory.  ``options``: the other keywords of :class:`Daemon`.
        Raises :class:`UsageError` when ``backup.schedule`` is set but unusable (no ``backup.target``)."""
        groups, clusters = targets_from_plan(build_plan(spec), secrets)
        options.setdefault("secrets_file", base_dir / spec.auth.secrets_file)
        options.setdefault("tls", secrets.tls)
        daemon = cls(groups, clusters, settings=spec.watch, alerts=spec.alerts, base_dir=base_dir, **options)
        if backups and spec.backup.schedule is not None:
            daemon.schedule_backups(spec, [*groups, *clusters], on_backup)
        return daemon

    def schedule_backups(self, spec: Spec, sets: Sequence[SentinelTarget | ClusterTarget],
                         on_backup: OnBackup | None = None) -> None:
        """Run ``spec``'s backup schedule of ``sets`` next to the watcher (see :mod:`redisops.daemon.backups`)."""
        def current() -> list[SentinelTarget | ClusterTarget]:  # with the logins of the latest secrets file
            return [self._login_of(s) for s in sets]

        try:
            scheduler = backup_schedule(spec, self.base_dir, current, _Counted(self.metrics, self.sink),
                                        metrics=ScheduleMetrics(self.metrics.registry))
        except UsageError as exc:
            raise UsageError(f"backup.schedule is set, but {exc.message}",
                             hint="set backup.target in the spec, or run the watcher without backups "
                                  "(--no-backups)") from None
        self.backups = BackupRunner(scheduler, on_backup)

    def _cycled(self, sentence: str, report: StatusReport) -> None:
        self.page.cycle(sentence, report)
        if self.on_cycle is not None:
            self.on_cycle(sentence, report)
        self._follow_secrets()

    def _login_of(self, target: SentinelTarget | ClusterTarget) -> SentinelTarget | ClusterTarget:
        if self._logins is None:
            return target
        if isinstance(target, SentinelTarget):
            return replace(target, password=self._logins[0], sentinel_password=self._logins[1])
        return replace(target, password=self._logins[0])

    def _follow_secrets(self) -> None:
        """Log in with the secrets file's passwords once it changed (``redisops acl apply`` migrated the nodes to
        ACL users, or a password was rotated), from the next poll on.  A poll that a login change catches
        half way is not an incident: a refused login needs a second poll (:mod:`redisops.ha.conditions`)."""
        stamp = _stamp(self.secrets_file)
        if self.secrets_file is None or stamp == self._secrets_seen:
            return
        try:
            secrets = replace(load_secrets(self.secrets_file), tls=self.tls)
        except RedisopsError as exc:  # half-edited by hand: keep the logins that work, try again next poll
            log.warning("secrets file changed but cannot be read (%s); keeping the current logins", exc.message)
            return
        self._secrets_seen = stamp
        self.watcher.use_credentials(secrets.admin, secrets.sentinel)
        self._logins = (secrets.admin, secrets.sentinel)
        self.page.add_secrets(secrets.passwords)
        log.info("secrets file changed: logging in with its passwords from the next poll")

    # --- running ------------------------------------------------------------------------------------

    def run(self) -> None:
        """:meth:`serve` on a new event loop until SIGTERM or SIGINT (the main thread of a process)."""
        asyncio.run(self._until_signalled())

    async def _until_signalled(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.serve(stop)

    async def serve(self, stop: asyncio.Event) -> None:
        """Watch, back up and serve ``/metrics`` until ``stop`` is set, then shut down in order."""
        endpoint = MetricsEndpoint(self.metrics.registry, self.metrics_port, pages=self.page) \
            if self.metrics_port else None
        if endpoint is not None:
            await endpoint.start()
        self.endpoint = endpoint
        try:
            await self._serve(stop)
        finally:
            if endpoint is not None:
                await endpoint.close()
            self.endpoint = None

    async def _serve(self, stop: asyncio.Event) -> None:
        dispatcher = build_dispatcher(self.alerts, self.base_dir, registry=self.metrics.registry)
        if not self.alerts.channels:
            log.warning("no alert channels in the spec (alerts.channels): incidents are only logged")
        self.sink.sinks.insert(0, dispatcher)
        dispatcher.start()
        try:
            log.info("watching %d groups and %d clusters every %g s", len(self.watcher.groups),
                     len(self.watcher.clusters), self.settings.poll_interval_s)
            jobs = [self.watcher.run(stop), *([self.backups.run(stop)] if self.backups is not None else [])]
            await _together(stop, jobs)
            log.info("stopped")
        finally:
            self.sink.sinks.remove(dispatcher)
            await asyncio.to_thread(dispatcher.stop, DISPATCH_STOP_S)


def _stamp(path: Path | None) -> tuple[int, int] | None:
    """What tells that a file changed: (mtime in ns, inode); a rewrite by rename changes the inode."""
    try:
        st = path.stat() if path is not None else None
    except OSError:
        return None
    return None if st is None else (st.st_mtime_ns, st.st_ino)


def _passwords(groups: Sequence[SentinelTarget], clusters: Sequence[ClusterTarget]) -> list[str | None]:
    return [login_parts(c)[1] for c in (*(t.password for t in groups), *(t.sentinel_password for t in groups),
                                        *(t.password for t in clusters))]


async def _together(stop: asyncio.Event, jobs: Sequence[Coroutine[Any, Any, None]]) -> None:
    """Run ``jobs`` until all end; if one fails, ``stop`` the others, then raise its error."""
    tasks = [asyncio.create_task(job) for job in jobs]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
