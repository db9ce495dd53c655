"""``redisops watch``: the watcher daemon (Sentinel events + polls -> incidents -> alert channels).

Runs until SIGTERM or Ctrl-C (then exits 0).  Targets come from the spec or
from ``--sentinel h:p,h:p --master NAME`` (passwords from the environment
variables named by ``--sentinel-password-env`` / ``--password-env``); watch
settings and alert channels come from the spec when the file exists.
``--json`` writes one JSON line per incident and per poll cycle on stdout.
The log (stderr, or ``--log-file PATH`` rotated at 10 MB with 3 old files kept)
has each cycle's sentence when it changes and at most once a minute otherwise.
``--once`` runs one poll cycle, prints its sentence and exits with the status
code (0 ok, 1 degraded, 3 down); it sends no alerts.

When the spec sets ``backup.schedule`` (and the targets come from the spec), the
daemon also runs that backup schedule in a thread next to the watcher, exactly as
``redisops backup schedule`` does: every set backed up, then pruned to
``backup.keep``; each run's sentence is logged (and a ``backup`` JSON line with
``--json``), a failure raises the ``backup_failed`` alert through the same
channels and the next success resolves it; ``redisops_backup_*`` series show on
/metrics.  ``--no-backups`` leaves the schedule to a separate process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from redisops.cli.common import DEFAULT_SPEC, Ctx, DebugOpt, FileOpt, JsonOpt, Result, run
from redisops.cli.targets import (
    ClusterOpt,
    MasterOpt,
    PasswordEnvOpt,
    SentinelOpt,
    SentinelPasswordEnvOpt,
)
from redisops.errors import UsageError

if TYPE_CHECKING:
    from redisops.alerts.model import AlertSink, Incident
    from redisops.data.backup.schedule import Scheduler
    from redisops.ha.watcher import Watcher
    from redisops.spec.alerts import AlertsSpec
    from redisops.spec.watch import WatchSpec
    from redisops.topology import ClusterTarget, SentinelTarget, StatusReport

__all__ = ["register"]

log = logging.getLogger("redisops.watch")


LogFileOpt = Annotated[Path | None, typer.Option("--log-file", metavar="PATH",
                                                 help="Log to PATH (rotated at 10 MB, 3 kept) instead of stderr.")]


def register(app: typer.Typer) -> None:
    app.command("watch")(watch)


def watch(
    file: FileOpt = DEFAULT_SPEC,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
    once: bool = typer.Option(False, "--once", help="One poll cycle: print the sentence, exit with the status code."),
    metrics_port: int | None = typer.Option(None, "--metrics-port", min=0, max=65535,
                                            help="/metrics on 127.0.0.1:PORT (default watch.metrics_port; 0: off)."),
    sentinel: SentinelOpt = None,
    master: MasterOpt = None,
    cluster: ClusterOpt = None,
    password_env: PasswordEnvOpt = None,
    sentinel_password_env: SentinelPasswordEnvOpt = None,
    no_backups: bool = typer.Option(False, "--no-backups",
                                    help="Do not run the spec's backup.schedule inside the watcher."),
    log_file: LogFileOpt = None,
) -> None:
    """Watch every sentinel and node; hand failovers and other incidents to the alert channels."""

    def body(ctx: Ctx) -> Result:
        from redisops.cli.targets import remote_targets

        remote = remote_targets(sentinel, master, cluster, password_env, sentinel_password_env)
        setup = _setup(ctx, remote)
        if once:
            return _once(ctx, setup)
        port = setup.settings.metrics_port if metrics_port is None else metrics_port
        if log_file is not None:
            _log_to_file(log_file)
        return _daemon(ctx, setup, port, backups=not no_backups)

    run(body, file=file, json_out=json_out, debug=debug)


@dataclass(frozen=True)
class _Setup:
    groups: list[SentinelTarget]
    clusters: list[ClusterTarget]
    settings: WatchSpec
    alerts: AlertsSpec
    remote: bool
    base_dir: Path  # the spec's directory: the alert outbox and *_file secrets are relative to it
    backup_schedule: str | None = None  # backup.schedule of the spec (not with --sentinel / --cluster)


def _setup(ctx: Ctx, remote: tuple[list[SentinelTarget], list[ClusterTarget]] | None) -> _Setup:
    from redisops.cli.targets import spec_targets
    from redisops.spec.alerts import AlertsSpec
    from redisops.spec.watch import WatchSpec

    if remote is not None and not ctx.file.exists():
        return _Setup(remote[0], remote[1], WatchSpec(), AlertsSpec(), True, Path.cwd())
    spec = ctx.load_spec()
    groups, clusters = remote if remote is not None else spec_targets(ctx)
    return _Setup(groups, clusters, spec.watch, spec.alerts, remote is not None, ctx.file.parent.resolve(),
                  None if remote is not None else spec.backup.schedule)


# --- --once -----------------------------------------------------------------------------------------


class _Collect:
    def __init__(self) -> None:
        self.incidents: list[Incident] = []

    def notify(self, incident: Incident) -> None:
        self.incidents.append(incident)


def _once(ctx: Ctx, setup: _Setup) -> Result:
    from redisops.ha.watcher import Watcher

    sink = _Collect()
    watcher = Watcher(setup.groups, setup.clusters, sink, settings=setup.settings)
    sentence = asyncio.run(watcher.run_cycle())
    report = watcher.last_report
    assert report is not None
    error = report.unreachable_error() if setup.remote else None
    if error is not None:
        raise error
    if ctx.json:
        for incident in sink.incidents:
            _line(incident_record(incident))
        _line(cycle_record(sentence, report))
        return Result(None, None, report.exit_code, streamed=True)
    return Result(None, lambda out: out.print(sentence, markup=False, highlight=False, soft_wrap=True),
                  report.exit_code)


# --- the daemon -------------------------------------------------------------------------------------


class _FanOut:
    """Hand each incident to every sink (the dispatcher, the JSON lines)."""

    def __init__(self, sinks: list[AlertSink]) -> None:
        self.sinks = sinks

    def notify(self, incident: Incident) -> None:
        for sink in self.sinks:
            sink.notify(incident)


class _JsonLines:
    def notify(self, incident: Incident) -> None:
        _line(incident_record(incident))


def _daemon(ctx: Ctx, setup: _Setup, port: int, *, backups: bool = True) -> Result:
    from redisops.ha.metrics import WatchMetrics
    from redisops.ha.watcher import Watcher

    logging.getLogger("redisops.watch").setLevel(logging.DEBUG if ctx.debug else logging.INFO)
    metrics = WatchMetrics()
    dispatcher = _dispatcher(setup, metrics.registry)
    sinks: list[AlertSink] = [dispatcher]
    if ctx.json:
        sinks.append(_JsonLines())
    schedule = _backup_thread(ctx, setup, _Counted(metrics, sinks), metrics.registry) if backups else None
    server = _metrics_server(metrics, port)
    on_cycle = (lambda sentence, report: _line(cycle_record(sentence, report))) if ctx.json else None
    watcher = Watcher(setup.groups, setup.clusters, _FanOut(sinks), settings=setup.settings, metrics=metrics,
                      on_cycle=on_cycle)
    dispatcher.start()
    if schedule is not None:
        schedule.start()
    try:
        asyncio.run(_until_signalled(watcher))
    finally:
        if schedule is not None:
            schedule.stop(_BACKUP_STOP_S)
        dispatcher.stop(5.0)
        if server is not None:
            server.stop()
    return Result(None, streamed=ctx.json)


async def _until_signalled(watcher: Watcher) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("watching %d groups and %d clusters every %g s", len(watcher.groups), len(watcher.clusters),
             watcher.settings.poll_interval_s)
    await watcher.run(stop)
    log.info("stopped")


#: the log file is rotated at this size, and this many rotated files are kept (40 MB on disk at most)
LOG_MAX_BYTES = 10_000_000
LOG_BACKUPS = 3


def _log_to_file(path: Path) -> None:
    """redisops' log lines to ``path`` only (not stderr too), rotated: a daemon's log must not grow forever.

    ``make up`` passes ``--log-file .redisops/watch.log``; under a service manager that keeps the journal
    (systemd), leave it out and log to stderr."""
    from logging.handlers import RotatingFileHandler

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--log-file {path}: {exc.strerror or exc}", hint="pick a writable path") from None
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("redisops")
    logger.addHandler(handler)
    logger.propagate = False


# --- the backup schedule ----------------------------------------------------------------------------

#: On SIGTERM a backup that is running gets this long to finish; after that it is abandoned (its files
#: have no manifest, so it never lists) and the process exits anyway.
_BACKUP_STOP_S = 30.0


class _Counted(_FanOut):
    """The backup alerts' sink: the watcher's sinks, counted in ``redisops_incidents_total`` as its own are."""

    def __init__(self, metrics: Any, sinks: list[AlertSink]) -> None:
        super().__init__(sinks)
        self.metrics = metrics

    def notify(self, incident: Incident) -> None:
        self.metrics.incident(incident)
        super().notify(incident)


class _BackupThread:
    """The spec's backup schedule in a daemon thread; :meth:`stop` ends the wait for the next time at once."""

    def __init__(self, scheduler: Scheduler, json_lines: bool) -> None:
        self.scheduler = scheduler
        self.json_lines = json_lines
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="redisops-backups", daemon=True)

    def start(self) -> None:
        log.info("backups at '%s' (UTC); failures alert through the alert channels", self.scheduler.cron)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("a scheduled backup was still running after %g s: abandoned (it has no manifest, "
                        "so it never lists)", timeout)

    def _main(self) -> None:
        while not self._stop.is_set():
            try:
                self.scheduler.run(self._stop, self._report)
            except Exception:  # the schedule outlives any one surprise; the next time is awaited again
                log.exception("backup schedule")
                self._stop.wait(1.0)

    def _report(self, sentence: str) -> None:
        ok = bool(self.scheduler.last_ok)
        log.log(logging.INFO if ok else logging.WARNING, "backup: %s", sentence)
        if self.json_lines:
            _line({"type": "backup", "ok": ok, "sentence": sentence})


def _backup_thread(ctx: Ctx, setup: _Setup, sink: AlertSink, registry: Any) -> _BackupThread | None:
    """The thread for ``backup.schedule`` (None without one); a schedule without a store is a usage error."""
    from redisops.cli.backup import scheduled_backups
    from redisops.data.backup.schedule import ScheduleMetrics

    if setup.backup_schedule is None:
        return None
    try:
        scheduler = scheduled_backups(ctx, sink, progress=False, metrics=ScheduleMetrics(registry))
    except UsageError as exc:
        raise UsageError(f"backup.schedule is set, but {exc.message}",
                         hint="set backup.target in the spec, or run the watcher with --no-backups") from None
    return _BackupThread(scheduler, ctx.json)


def _metrics_server(metrics: Any, port: int) -> Any:
    from redisops.ha.metrics import MetricsServer

    if port == 0:
        return None
    try:
        return MetricsServer(metrics.registry, port)
    except OSError as exc:
        raise UsageError(f"cannot serve /metrics on 127.0.0.1:{port}: {exc.strerror or exc}",
                         hint="pick another port with --metrics-port (or watch.metrics_port); 0 turns it off",
                         ) from exc


def _dispatcher(setup: _Setup, registry: Any) -> Any:
    """The alert dispatcher for the spec's channels, counting deliveries on the watcher's registry."""
    from redisops.alerts.dispatch import build_dispatcher

    dispatcher = build_dispatcher(setup.alerts, setup.base_dir, registry=registry)
    if not setup.alerts.channels:
        log.warning("no alert channels in the spec (alerts.channels): incidents are only logged")
    return dispatcher


# --- JSON records -----------------------------------------------------------------------------------


_stdout = threading.Lock()  # the backup thread writes lines too


def _line(record: dict[str, Any]) -> None:
    text = json.dumps(record, default=str) + "\n"
    with _stdout:
        sys.stdout.write(text)
        sys.stdout.flush()


def incident_record(incident: Incident) -> dict[str, Any]:
    return {"type": "incident", "status": "resolved" if incident.resolved else "firing", **incident.to_dict()}


def cycle_record(sentence: str, report: StatusReport) -> dict[str, Any]:
    return {"type": "cycle", "sentence": sentence, "health": report.health.value, "exit_code": report.exit_code,
            "reasons": list(report.reasons)}
