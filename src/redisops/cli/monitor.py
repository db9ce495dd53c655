"""``redisops monitor up | down | status``: the local Prometheus + redis_exporter + Alertmanager stack."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console

from redisops.cli.common import DEFAULT_SPEC, Ctx, DebugOpt, FileOpt, JsonOpt, Result, plural, run, table

if TYPE_CHECKING:
    from redisops.observe.stack import StackReport

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    monitor = typer.Typer(help="The local Prometheus + redis_exporter + Alertmanager stack.", no_args_is_help=True)
    monitor.command("up")(up)
    monitor.command("down")(down)
    monitor.command("status")(status)
    app.add_typer(monitor, name="monitor")


def up(
    file: FileOpt = DEFAULT_SPEC,
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait until every target is scraped up."),
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Start (or reload) Prometheus, redis_exporter and Alertmanager on loopback; wait for every target (idempotent)."""

    def body(ctx: Ctx) -> Result:
        from redisops.cli.deploy import progress_spinner
        from redisops.observe.stack import Monitor

        monitor = Monitor.open(ctx.file)
        with progress_spinner(ctx, "monitor: checking") as progress:
            report = monitor.up(timeout=timeout, progress=progress)

        def render(out: Console) -> None:
            for name, state in report.services.items():
                out.print(f"{name}: {state}  {report.urls[name]}", highlight=False)
            _render_targets(out, report)
            for note in report.notes:
                out.print(f"note: {note}", highlight=False)

        return Result(report.to_dict(), render, report.exit_code)

    run(body, file=file, json_out=json_out, debug=debug)


def down(file: FileOpt = DEFAULT_SPEC, json_out: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Stop the stack and wait until each process has exited (its data is kept)."""

    def body(ctx: Ctx) -> Result:
        from redisops.observe.stack import Monitor

        states = Monitor.open(ctx.file).down()

        def render(out: Console) -> None:
            stopped = [name for name, state in states.items() if state == "stopped"]
            out.print(f"stopped {', '.join(stopped)}" if stopped else "the monitoring stack was not running",
                      highlight=False)

        return Result({"services": states}, render)

    run(body, file=file, json_out=json_out, debug=debug)


def status(file: FileOpt = DEFAULT_SPEC, json_out: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Every scrape target with its health and last error, and the alerts firing (exit 1: a target down)."""

    def body(ctx: Ctx) -> Result:
        from redisops.observe.stack import Monitor

        report = Monitor.open(ctx.file).status()

        def render(out: Console) -> None:
            for name, state in report.services.items():
                out.print(f"{name}: {state}  {report.urls[name]}", highlight=False)
            if report.services.get("prometheus") != "running":
                out.print("start it with `redisops monitor up`", highlight=False)
                return
            _render_targets(out, report)
            firing = [a for a in report.alerts if a["state"] == "firing"]
            pending = len(report.alerts) - len(firing)
            out.print(f"alerts: {len(firing)} firing, {pending} pending", highlight=False)
            for alert in firing:
                labels = alert["labels"]
                # a node's alert names its instance; a group's or cluster's (failover, quorum, slots) names those
                where = next((f"{key}={labels[key]}" if key != "instance" else labels[key]
                              for key in ("instance", "master_name", "redis_group", "redis_cluster")
                              if labels.get(key)), "")
                out.print(f"- {alert['name']} {where}".rstrip(), highlight=False)

        return Result(report.to_dict(), render, report.exit_code)

    run(body, file=file, json_out=json_out, debug=debug)


def _render_targets(out: Console, report: StackReport) -> None:
    rows = table(["job", "target", "node", "health", "last error"], wrap=["last error"])
    for target in report.targets:
        style = "green" if target.health == "up" else "red"
        rows.add_row(target.job, target.instance, target.node, f"[{style}]{target.health}[/]", target.last_error)
    out.print(rows)
    up_count = len(report.targets) - len(report.down)
    out.print(f"{up_count}/{plural(len(report.targets), 'target')} up", highlight=False)
