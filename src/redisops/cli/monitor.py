"""``redisops monitor up | down | status | grafana``: the local Prometheus + redis_exporter + Alertmanager
stack, and Grafana provisioning for it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
    monitor.command("grafana")(grafana)
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


def grafana(
    output: Annotated[Path, typer.Option("-o", "--output", help="Directory to write provisioning/ and dashboards/ "
                                                                 "into.")],
    prometheus_url: str = typer.Option("", "--prometheus-url",
                                       help="The URL Grafana reaches Prometheus at (default: the stack's own)."),
    dashboards_dir: str = typer.Option("", "--dashboards-dir",
                                       help="Where Grafana sees OUTPUT/dashboards (a container path); default that."),
    extra: Annotated[list[Path] | None, typer.Option("--dashboard", help="Your own dashboard JSON to check and "
                                                                         "provision too.")] = None,
    check: bool = typer.Option(False, "--check", help="Run every panel query against the running stack's "
                                                      "Prometheus (exit 1: a query returns no series)."),
    window: float = typer.Option(300.0, "--window", help="Seconds of data --check queries over."),
    file: FileOpt = DEFAULT_SPEC,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Grafana provisioning (datasource + dashboards: overview, Sentinel groups, Cluster, node) for the stack."""

    def body(ctx: Ctx) -> Result:
        from redisops.observe.grafana import check_queries, load_dashboard, write_grafana_provisioning
        from redisops.observe.stack import Monitor

        monitor = Monitor.open(ctx.file)
        own = monitor.urls()["prometheus"]
        interval = monitor.spec.monitor.scrape_interval_s
        files = write_grafana_provisioning(output, prometheus_url or own, scrape_interval_s=interval,
                                           dashboards_dir=dashboards_dir or None, extra=extra or ())
        out = files.to_dict()
        checked = None
        if check:
            checked = check_queries(own, [load_dashboard(p) for p in files.dashboards], window_s=window,
                                    scrape_interval_s=interval)
            out["check"] = checked.to_dict()

        def render(console: Console) -> None:
            console.print(f"wrote {plural(len(files.dashboards), 'dashboard')} and their provisioning to "
                          f"{files.directory} (datasource uid {out['datasource_uid']})", highlight=False)
            if checked is not None:
                for line in checked.empty:
                    console.print(f"no data: {line}", highlight=False)
                console.print(f"{checked.queries - len(checked.empty)}/{plural(checked.queries, 'query', 'queries')} "
                              f"returned data from {own}", highlight=False)

        return Result(out, render, 1 if checked is not None and checked.empty else 0)

    run(body, file=file, json_out=json_out, debug=debug)


def _render_targets(out: Console, report: StackReport) -> None:
    rows = table(["job", "target", "node", "health", "last error"], wrap=["last error"])
    for target in report.targets:
        style = "green" if target.health == "up" else "red"
        rows.add_row(target.job, target.instance, target.node, f"[{style}]{target.health}[/]", target.last_error)
    out.print(rows)
    up_count = len(report.targets) - len(report.down)
    out.print(f"{up_count}/{plural(len(report.targets), 'target')} up", highlight=False)
