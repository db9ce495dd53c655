"""``redisops doctor``: findings from inside the nodes and the host (exit 1 at or above --fail-on)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from redisops.cli.common import DEFAULT_SPEC, Ctx, DebugOpt, FileOpt, JsonOpt, Result, plural, run, table
from redisops.cli.targets import PasswordEnvOpt, UserOpt, env_password
from redisops.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from redisops.observe.doctor import DoctorNode, DoctorReport
    from redisops.runtime.temporary import Journal

__all__ = ["register"]

_STYLE = {"critical": "bold red", "error": "red", "warning": "yellow", "info": "dim"}


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(
    file: FileOpt = DEFAULT_SPEC,
    node: str | None = typer.Option(None, "--node", help="Only this node of the spec (mymaster-0, main-3)."),
    seed: str | None = typer.Option(None, "--seed", metavar="HOST:PORT[,HOST:PORT]",
                                    help="Nodes outside any spec (password from --password-env)."),
    password_env: PasswordEnvOpt = None, user: UserOpt = None,
    fail_on: str = typer.Option("warning", "--fail-on", metavar="SEVERITY",
                                help="Exit 1 on findings at or above: info, warning, error, critical."),
    latency_window: float = typer.Option(2.0, "--latency-window", min=0, max=600, metavar="SECONDS",
                                         help="Sample latency this long on nodes whose latency monitor is off "
                                              "(it is turned on for the window, then restored); 0: do not."),
    sample_keys: int = typer.Option(10_000, "--sample-keys", min=0, help="Keys sized per node for big keys."),
    sample_seconds: float = typer.Option(2.0, "--sample-seconds", min=0.1, max=600,
                                         help="Time spent sizing keys per node."),
    no_host: bool = typer.Option(False, "--no-host", help="Skip the host's kernel checks."),
    intrinsic: int = typer.Option(0, "--intrinsic-latency", min=0, max=600, metavar="SECONDS",
                                  help="Also measure this host's own stalls (redis-cli --intrinsic-latency) this "
                                       "long, beside the nodes' examination."),
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Examine nodes: memory, fragmentation, persistence, replication, latency, slowlog, big keys, host.

    Exit 0 without findings at or above --fail-on, 1 with some, 3 when no node answered."""

    def body(ctx: Ctx) -> Result:
        from redisops.observe.doctor import BigKeyLimits, DoctorSettings, Severity, examine

        try:
            threshold = Severity.parse(fail_on)
        except ValueError as exc:
            raise UsageError(f"--fail-on: {exc}") from None
        nodes, journal = _nodes(ctx, node, seed, password_env, user)
        settings = DoctorSettings(latency_window_s=latency_window, host=not no_host, intrinsic_s=intrinsic,
                                  bigkeys=BigKeyLimits(max_keys=sample_keys, max_seconds=sample_seconds))
        if latency_window and not ctx.json:
            ctx.err.print(f"examining {plural(len(nodes), 'node')} (up to {latency_window:g} s of latency "
                          "sampling where the monitor is off)", highlight=False)
        report = examine(nodes, journal=journal, settings=settings, fail_on=threshold)
        return Result(report.to_dict(), lambda out: _render(out, report), report.exit_code)

    run(body, file=file, json_out=json_out, debug=debug)


def _nodes(ctx: Ctx, name: str | None, seed: str | None,
           password_env: str | None, user: str | None = None) -> tuple[list[DoctorNode], Journal]:
    """The spec's data nodes (or one of them), or ``--seed``'s; and where temporary settings are journaled."""
    from redisops.address import parse_addresses
    from redisops.observe.doctor import DoctorNode
    from redisops.runtime.temporary import Journal

    if seed is not None:
        if name is not None:
            raise UsageError("--node and --seed do not go together", hint="--node names a node of the spec")
        try:
            addresses = parse_addresses(seed)
        except ValueError as exc:
            raise UsageError(f"--seed: {exc}", hint="use host:port[,host:port]") from None
        if not addresses:
            raise UsageError("--seed: no address given", hint="use host:port[,host:port]")
        password = env_password("--password-env", password_env, user)
        return [DoctorNode(str(a), a, password) for a in addresses], Journal.for_remote()
    if password_env is not None:
        raise UsageError("--password-env goes with --seed", hint="the spec's nodes use its secrets file")
    from redisops.lifecycle import Deployment
    from redisops.runtime.plan import NodeKind

    dep = Deployment.open(ctx.file)
    data = [n for n in dep.plan.nodes if n.kind is not NodeKind.SENTINEL]
    if name is not None:
        chosen = [n for n in dep.plan.nodes if n.name == name]
        if not chosen:
            raise UsageError(f"--node {name}: no such node in {ctx.file}",
                             hint=f"data nodes: {', '.join(n.name for n in data)}")
        if chosen[0].kind is NodeKind.SENTINEL:
            raise UsageError(f"--node {name} is a sentinel: it holds no data to examine",
                             hint=f"data nodes: {', '.join(n.name for n in data)}")
        data = chosen
    if not data:
        raise UsageError(f"{ctx.file} has no data nodes", hint="add a `sentinel:` or `cluster:` section")
    admin = dep.secrets.admin
    return [DoctorNode(n.name, n.address, admin) for n in data], dep.journal


def _render(out: Console, report: DoctorReport) -> None:
    from rich.text import Text

    for line in report.recovered:
        out.print(line, highlight=False, markup=False)
    nodes = table(["node", "address", "role", "used", "rss/used", "maxmemory", "ops/s", "slowlog", "biggest key",
                   "latency"], right=["used", "rss/used", "maxmemory", "ops/s", "slowlog"], wrap=["biggest key"])
    for n in report.nodes:
        if n.error is not None:
            nodes.add_row(n.name, str(n.address), Text("down", style="red"), "", "", "", "", "", "", "")
            continue
        f = n.figures
        big = n.bigkeys["top"][0] if n.bigkeys and n.bigkeys["top"] else None
        events = n.latency.get("events", []) if n.latency else []
        nodes.add_row(n.name, str(n.address), n.role, _mb(f.get("used_memory")), str(f.get("mem_fragmentation_ratio",
                      "")), _mb(f.get("maxmemory")) if f.get("maxmemory") != "0" else "none",
                      str(f.get("instantaneous_ops_per_sec", "")), str(n.slowlog.get("entries", "")),
                      f"{big['key']} ({big['type']}, {_mb(big['bytes'])})" if big else "",
                      ", ".join(f"{e['event']} {e['max_ms']} ms" for e in events) or "-")
    out.print(nodes)
    for finding in report.findings:
        where = finding.node or "host"
        out.print(Text.assemble((f"{finding.severity!s:8} ", _STYLE[str(finding.severity)]),
                                f"{where}: {finding.title}"), highlight=False)
        out.print(f"         why: {finding.explanation}", highlight=False, markup=False, soft_wrap=True)
        out.print(f"         fix: {finding.fix}", highlight=False, markup=False, soft_wrap=True)
    stalls = report.host_figures.get("intrinsic_latency")
    if stalls:
        out.print(f"host intrinsic latency: worst {stalls['max_us'] / 1000:.2f} ms, average {stalls['avg_us']:.3f} "
                  f"µs over {stalls['seconds']} s", highlight=False)
    if not report.host_figures.get("checked"):
        out.print(f"host not checked: {report.host_figures.get('why')}", highlight=False, markup=False)
    out.print(_verdict(report), highlight=False)


def _mb(value: object) -> str:
    try:
        return f"{int(str(value)) / 1024 / 1024:.1f} MB"
    except ValueError:
        return ""


def _verdict(report: DoctorReport) -> str:
    counts = report.counts()
    found = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    examined = f"{plural(len(report.nodes), 'node')} examined in {report.seconds:.1f} s"
    if not found:
        return f"no findings; {examined}"
    return f"{found}; {examined}; fail-on {report.fail_on}: exit {report.exit_code}"
