"""``redisops watch``: the watcher daemon (Sentinel events + polls -> incidents -> alert channels).

Runs until SIGTERM or Ctrl-C (then exits 0).  Targets come from the spec or
from ``--sentinel h:p,h:p --master NAME`` (passwords from the environment
variables named by ``--sentinel-password-env`` / ``--password-env``); watch
settings and alert channels come from the spec when the file exists.
``--json`` writes one JSON line per incident and per poll cycle on stdout.
``--once`` runs one poll cycle, prints its sentence and exits with the status
code (0 ok, 1 degraded, 3 down); it sends no alerts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    from redisops.ha.watcher import Watcher
    from redisops.spec.alerts import AlertsSpec
    from redisops.spec.watch import WatchSpec
    from redisops.topology import ClusterTarget, SentinelTarget, StatusReport

__all__ = ["register"]

log = logging.getLogger("redisops.watch")


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
) -> None:
    """Watch every sentinel and node; hand failovers and other incidents to the alert channels."""

    def body(ctx: Ctx) -> Result:
        from redisops.cli.targets import remote_targets

        remote = remote_targets(sentinel, master, cluster, password_env, sentinel_password_env)
        setup = _setup(ctx, remote)
        if once:
            return _once(ctx, setup)
        port = setup.settings.metrics_port if metrics_port is None else metrics_port
        return _daemon(ctx, setup, port)

    run(body, file=file, json_out=json_out, debug=debug)


@dataclass(frozen=True)
class _Setup:
    groups: list[SentinelTarget]
    clusters: list[ClusterTarget]
    settings: WatchSpec
    alerts: AlertsSpec
    remote: bool
    base_dir: Path  # the spec's directory: the alert outbox and *_file secrets are relative to it


def _setup(ctx: Ctx, remote: tuple[list[SentinelTarget], list[ClusterTarget]] | None) -> _Setup:
    from redisops.cli.targets import spec_targets
    from redisops.spec.alerts import AlertsSpec
    from redisops.spec.watch import WatchSpec

    if remote is not None and not ctx.file.exists():
        return _Setup(remote[0], remote[1], WatchSpec(), AlertsSpec(), True, Path.cwd())
    spec = ctx.load_spec()
    groups, clusters = remote if remote is not None else spec_targets(ctx)
    return _Setup(groups, clusters, spec.watch, spec.alerts, remote is not None, ctx.file.parent.resolve())


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


def _daemon(ctx: Ctx, setup: _Setup, port: int) -> Result:
    from redisops.ha.metrics import WatchMetrics
    from redisops.ha.watcher import Watcher

    logging.getLogger("redisops.watch").setLevel(logging.DEBUG if ctx.debug else logging.INFO)
    metrics = WatchMetrics()
    server = _metrics_server(metrics, port)
    dispatcher = _dispatcher(setup, metrics.registry)
    sinks: list[AlertSink] = [dispatcher]
    if ctx.json:
        sinks.append(_JsonLines())
    on_cycle = (lambda sentence, report: _line(cycle_record(sentence, report))) if ctx.json else None
    watcher = Watcher(setup.groups, setup.clusters, _FanOut(sinks), settings=setup.settings, metrics=metrics,
                      on_cycle=on_cycle)
    dispatcher.start()
    try:
        asyncio.run(_until_signalled(watcher))
    finally:
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


def _line(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, default=str) + "\n")
    sys.stdout.flush()


def incident_record(incident: Incident) -> dict[str, Any]:
    return {"type": "incident", "status": "resolved" if incident.resolved else "firing", **incident.to_dict()}


def cycle_record(sentence: str, report: StatusReport) -> dict[str, Any]:
    return {"type": "cycle", "sentence": sentence, "health": report.health.value, "exit_code": report.exit_code,
            "reasons": list(report.reasons)}
