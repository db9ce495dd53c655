"""``redisops watch``: options for the daemon of :mod:`redisops.daemon` (Sentinel events + polls -> incidents ->
alert channels, the backup schedule, /metrics), which does the work.

Runs until SIGTERM or Ctrl-C (then exits 0).  Targets come from the spec or
from ``--sentinel h:p,h:p --master NAME`` (passwords from the environment
variables named by ``--sentinel-password-env`` / ``--password-env``); watch
settings and alert channels come from the spec when the file exists.
``--json`` writes one envelope line per incident (kind ``watch.incident``) and per
poll cycle (``watch.cycle``) on stdout.
The log (stderr, or ``--log-file PATH`` rotated at 10 MB with 3 old files kept)
has each cycle's sentence when it changes and at most once a minute otherwise.
``--once`` runs one poll cycle, prints its sentence and exits with the status
code (0 ok, 1 degraded, 3 down); it sends no alerts.

When the spec sets ``backup.schedule`` (and the targets come from the spec), the
daemon also runs that backup schedule next to the watcher, with the same code as
``redisops backup schedule``: every set backed up, then pruned to
``backup.keep``; each run's sentence is logged (and a ``watch.backup`` line with
``--json``), a failure raises the ``backup_failed`` alert through the same
channels and the next success resolves it; ``redisops_backup_*`` series show on
/metrics.  ``--no-backups`` leaves the schedule to a separate process.
"""

from __future__ import annotations

import asyncio
import logging
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
    UserOpt,
)

if TYPE_CHECKING:
    from redisops.alerts.model import Incident
    from redisops.spec.alerts import AlertsSpec
    from redisops.spec.watch import WatchSpec
    from redisops.topology import ClusterTarget, SentinelTarget, StatusReport

__all__ = ["register"]

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
                                            help="/metrics and the status page on 127.0.0.1:PORT "
                                                 "(default watch.metrics_port; 0: off)."),
    sentinel: SentinelOpt = None,
    master: MasterOpt = None,
    cluster: ClusterOpt = None,
    password_env: PasswordEnvOpt = None, user: UserOpt = None,
    sentinel_password_env: SentinelPasswordEnvOpt = None,
    no_backups: bool = typer.Option(False, "--no-backups",
                                    help="Do not run the spec's backup.schedule inside the watcher."),
    log_file: LogFileOpt = None,
) -> None:
    """Watch every sentinel and node; hand failovers and other incidents to the alert channels."""

    def body(ctx: Ctx) -> Result:
        from redisops.cli.targets import remote_targets

        remote = remote_targets(sentinel, master, cluster, password_env, sentinel_password_env, user)
        setup = _setup(ctx, remote)
        if once:
            return _once(ctx, setup)
        return _daemon(ctx, setup, metrics_port, backups=not no_backups, log_file=log_file)

    run(body, file=file, json_out=json_out, debug=debug)


@dataclass(frozen=True)
class _Setup:
    groups: list[SentinelTarget]
    clusters: list[ClusterTarget]
    settings: WatchSpec
    alerts: AlertsSpec
    remote: bool
    base_dir: Path  # the spec's directory: the alert outbox and *_file secrets are relative to it
    spec: Any = None  # the spec whose nodes are watched (not with --sentinel / --cluster): its backup.schedule


def _setup(ctx: Ctx, remote: tuple[list[SentinelTarget], list[ClusterTarget]] | None) -> _Setup:
    from redisops.cli.targets import spec_targets
    from redisops.spec.alerts import AlertsSpec
    from redisops.spec.watch import WatchSpec

    if remote is not None and not ctx.file.exists():
        return _Setup(remote[0], remote[1], WatchSpec(), AlertsSpec(), True, Path.cwd())
    spec = ctx.load_spec()
    groups, clusters = remote if remote is not None else spec_targets(ctx)
    return _Setup(groups, clusters, spec.watch, spec.alerts, remote is not None, ctx.file.parent.resolve(),
                  None if remote is not None else spec)


# --- --once -----------------------------------------------------------------------------------------


class _Collect:
    def __init__(self) -> None:
        self.incidents: list[Incident] = []

    def notify(self, incident: Incident) -> None:
        self.incidents.append(incident)


def _once(ctx: Ctx, setup: _Setup) -> Result:
    from redisops.daemon.page import incident_record
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
            ctx.line(incident_record(incident), "incident")
        ctx.line(cycle_record(sentence, report), "cycle")
        return Result(None, None, report.exit_code, streamed=True)
    return Result(None, lambda out: out.print(sentence, markup=False, highlight=False, soft_wrap=True),
                  report.exit_code)


# --- the daemon -------------------------------------------------------------------------------------


class _JsonLines:
    """``--json``: each incident as a ``watch.incident`` line, each cycle as a ``watch.cycle`` line, each
    scheduled backup as a ``watch.backup`` line (from the schedule's thread: :meth:`Ctx.line` serializes)."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx

    def notify(self, incident: Incident) -> None:
        from redisops.daemon.page import incident_record

        self.ctx.line(incident_record(incident), "incident")

    def cycle(self, sentence: str, report: StatusReport) -> None:
        self.ctx.line(cycle_record(sentence, report), "cycle")

    def backup(self, ok: bool, sentence: str) -> None:
        self.ctx.line({"ok": ok, "sentence": sentence}, "backup")


def _daemon(ctx: Ctx, setup: _Setup, metrics_port: int | None, *, backups: bool, log_file: Path | None) -> Result:
    from redisops.daemon import Daemon, log_to_file

    logging.getLogger("redisops.watch").setLevel(logging.DEBUG if ctx.debug else logging.INFO)
    lines = _JsonLines(ctx) if ctx.json else None
    daemon = Daemon(setup.groups, setup.clusters, settings=setup.settings, alerts=setup.alerts,
                    base_dir=setup.base_dir, metrics_port=metrics_port, sinks=[lines] if lines else [],
                    on_cycle=lines.cycle if lines else None,
                    secrets_file=None if setup.spec is None else setup.base_dir / setup.spec.auth.secrets_file)
    if backups and setup.spec is not None and setup.spec.backup.schedule is not None:
        daemon.schedule_backups(setup.spec, [*setup.groups, *setup.clusters],
                                on_backup=lines.backup if lines else None)
    if log_file is not None:
        log_to_file(log_file)
    daemon.run()
    return Result(None, streamed=ctx.json)


# --- JSON records (the data of watch.incident / watch.cycle lines) ---------------------------------------


def cycle_record(sentence: str, report: StatusReport) -> dict[str, Any]:
    return {"sentence": sentence, "health": report.health.value, "exit_code": report.exit_code,
            "reasons": list(report.reasons)}
