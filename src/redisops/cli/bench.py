"""``redisops bench run | compare | chart``: redis-benchmark with history, percentiles and a regression gate."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from redisops.cli.common import DEFAULT_SPEC, Ctx, DebugOpt, FileOpt, JsonOpt, Result, plural, run, table
from redisops.cli.targets import MasterOpt, PasswordEnvOpt, SentinelOpt, SentinelPasswordEnvOpt, UserOpt

if TYPE_CHECKING:
    from rich.console import Console

    from redisops.bench import BenchOptions, Comparison, Record, RunResult

__all__ = ["register"]

app = typer.Typer(help="redis-benchmark runs: history, percentiles, charts, regression gate.", no_args_is_help=True)

_HISTORY = typer.Option(None, "--history", metavar="FILE",
                        help="History file (JSON lines; default .redisops/<name>/bench/history.jsonl).")
#: the history of runs against remote nodes (``--sentinel`` / ``--seed``), when --history is not given
REMOTE_HISTORY = Path(".redisops") / "bench" / "history.jsonl"
_CHART = typer.Option(None, "--chart", metavar="DIR", help="Also write the history's chart (HTML + PNG) into DIR.")
_OUTPUT = typer.Option(..., "--output", "-o", metavar="DIR", help="Directory to write into.")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="bench")


@app.command("run")
def run_cmd(file: FileOpt = DEFAULT_SPEC, json_out: JsonOpt = False, debug: DebugOpt = False,
            group: str | None = typer.Option(None, "--group", "-g", help="Sentinel group (default: the only one)."),
            cluster: bool = typer.Option(False, "--cluster", help="Benchmark the cluster (redis-benchmark --cluster)."),
            tests: str | None = typer.Option(None, "--tests", "-t", metavar="LIST",
                                             help="Comma-separated tests (default: ping,set,get,incr,lpush,lpop,"
                                                  "sadd,hset,zadd,mset)."),
            clients: int = typer.Option(50, "--clients", "-c", min=1, max=10_000, help="Parallel connections."),
            requests: int = typer.Option(100_000, "--requests", "-n", min=1, max=100_000_000,
                                         help="Requests per test."),
            pipeline: int = typer.Option(1, "--pipeline", "-P", min=1, max=10_000, help="Requests per pipeline."),
            threads: int = typer.Option(0, "--threads", min=0, max=256, help="redis-benchmark threads (0: off)."),
            size: int = typer.Option(3, "--size", "-d", min=1, max=512 * 1024 * 1024,
                                     help="Bytes of a SET/GET value."),
            keyspace: int = typer.Option(100_000, "--keyspace", "-r", min=1, help="Random keys over this many."),
            repeat: int = typer.Option(1, "--repeat", min=1, max=20,
                                       help="Run it N times and record each number's median (steadier gate)."),
            label: str | None = typer.Option(None, "--label", help="Name this run (a baseline for compare)."),
            history: Path | None = _HISTORY,
            timeout: float = typer.Option(300.0, "--timeout", min=1, help="Seconds before the run is stopped."),
            chart: Path | None = _CHART,
            sentinel: SentinelOpt = None, master: MasterOpt = None,
            seed: str | None = typer.Option(None, "--seed", metavar="H:P[,H:P]",
                                            help="Remote cluster seed(s), instead of the spec's cluster."),
            password_env: PasswordEnvOpt = None, user: UserOpt = None,
            sentinel_password_env: SentinelPasswordEnvOpt = None) -> None:
    """Run redis-benchmark against the group's master or the cluster; record p50/p95/p99 and rps per test."""

    def body(ctx: Ctx) -> Result:
        from redisops.bench import BenchOptions
        from redisops.bench.run import check_options
        from redisops.cli.deploy import progress_spinner

        defaults = BenchOptions()
        chosen = defaults.tests if tests is None else tuple(t.strip().lower() for t in tests.split(",") if t.strip())
        options = check_options(BenchOptions(chosen, clients, requests, pipeline, threads, size, keyspace,
                                               repeat))
        with progress_spinner(ctx, "starting redis-benchmark") as progress:
            remote = _remote(sentinel, master, seed, password_env, sentinel_password_env, group, cluster, user)
            done = _bench(ctx, options, remote, group, cluster, label, history, timeout, progress)
        data: dict[str, Any] = {"record": done.record.to_dict(), "history": str(done.history)}
        if chart is not None:
            data["chart"] = _chart(done.history, chart)

        def render(out: Console) -> None:
            _render_record(out, done.record)
            out.print(f"recorded in {done.history}", highlight=False, soft_wrap=True)
            if chart is not None:
                out.print(f"chart: {data['chart']['html']} and {data['chart']['png']}", highlight=False,
                          soft_wrap=True)

        return Result(data, render)

    run(body, file=file, json_out=json_out, debug=debug)


def _remote(sentinel: str | None, master: str | None, seed: str | None, password_env: str | None,
            sentinel_password_env: str | None, group: str | None, cluster: bool,
            user: str | None = None) -> tuple[Any, Any] | None:
    from redisops.cli.targets import remote_targets
    from redisops.errors import UsageError

    if sentinel is not None and seed is not None:
        raise UsageError("--sentinel and --seed exclude each other", hint="pick one target per run")
    if sentinel is None and seed is None and (master or password_env or sentinel_password_env):
        raise UsageError("--master and --*password-env only go with --sentinel or --seed")
    remote = remote_targets(sentinel, master, seed, password_env, sentinel_password_env, user)
    if remote is not None and (group is not None or cluster):
        raise UsageError("--group / --cluster pick from the spec; --sentinel / --seed name remote nodes",
                         hint="use one or the other")
    return remote


def _bench(ctx: Ctx, options: BenchOptions, remote: tuple[Any, Any] | None, group: str | None, cluster: bool,
           label: str | None, history: Path | None, timeout: float, progress: Any) -> RunResult:
    from redisops.bench import bench_run
    from redisops.bench.run import run_against
    from redisops.bench.target import remote_target

    if remote is None:
        from redisops.lifecycle import Deployment

        return bench_run(Deployment.open(ctx.file), options, group=group, cluster=cluster, label=label,
                         history=history, timeout=timeout, progress=progress)
    groups, clusters = remote
    if groups:
        target = remote_target(sentinels=groups[0].sentinels, master=groups[0].name, password=groups[0].password,
                               sentinel_password=groups[0].sentinel_password)
    else:
        target = remote_target(seeds=clusters[0].seeds, password=clusters[0].password)
    return run_against(target, options, history or REMOTE_HISTORY, label=label, timeout=timeout, progress=progress)


@app.command("compare")
def compare_cmd(file: FileOpt = DEFAULT_SPEC, json_out: JsonOpt = False, debug: DebugOpt = False,
                history: Path | None = _HISTORY,
                baseline: str | None = typer.Option(None, "--baseline", metavar="LABEL|FILE",
                                                    help="A run's label, or a history file (its latest run); "
                                                         "default: the run before the latest."),
                threshold: float = typer.Option(10.0, "--threshold", min=0, max=1000, metavar="PCT",
                                                help="Regression: rps down or p99 up by more than PCT percent.")
                ) -> None:
    """Compare the latest run with a baseline per test; exit 1 on a regression (the CI gate)."""

    def body(ctx: Ctx) -> Result:
        from redisops.bench import compare_history

        result = compare_history(_history(ctx, history), baseline=baseline, threshold_pct=threshold)
        return Result(result.to_dict(), lambda out: _render_comparison(out, result), result.exit_code)

    run(body, file=file, json_out=json_out, debug=debug)


@app.command("chart")
def chart_cmd(file: FileOpt = DEFAULT_SPEC, json_out: JsonOpt = False, debug: DebugOpt = False,
              history: Path | None = _HISTORY,
              output: Path = _OUTPUT,
              last: int = typer.Option(6, "--last", min=1, max=20, help="Runs drawn side by side.")) -> None:
    """Draw the history's runs against the latest run's target: an HTML page (inline SVG) and a PNG."""

    def body(ctx: Ctx) -> Result:
        written = _chart(_history(ctx, history), output, last)
        return Result(written, lambda out: out.print(f"wrote {written['html']} and {written['png']}",
                                                     highlight=False, soft_wrap=True))

    run(body, file=file, json_out=json_out, debug=debug)


def _history(ctx: Ctx, history: Path | None) -> Path:
    if history is not None:
        return history
    from redisops.bench import default_history
    from redisops.runtime.plan import state_dir

    spec = ctx.load_spec()
    return default_history(state_dir(spec, ctx.file))


def _chart(history: Path, output: Path, last: int = 6) -> dict[str, str]:
    from redisops.bench.chart import same_target, write_chart
    from redisops.bench.history import read_history

    records, _ = read_history(history)
    html, png = write_chart(same_target(records)[-last:], output)
    return {"html": str(html), "png": str(png)}


def _render_record(out: Console, record: Record) -> None:
    options = record.options
    env = record.environment
    out.print(f"{record.target['kind']} {record.target['name']} at {record.target['address']}: "
              f"{options.clients} clients, {options.requests:,} requests, pipeline {options.pipeline}, "
              f"{options.size} B values, {options.keyspace:,} keys"
              f"{f', {options.threads} threads' if options.threads else ''}"
              f"{f', medians of {options.repeat} runs' if options.repeat > 1 else ''}; "
              f"Redis {env.get('redis_version')}, "
              f"{plural(int(env.get('cpus') or 0), 'CPU')}"
              f"{f', label {record.label}' if record.label else ''}", highlight=False, soft_wrap=True)
    numbers = ["requests/s", "avg ms", "p50 ms", "p95 ms", "p99 ms", "max ms"]
    tab = table(["test", *numbers], right=numbers)
    for r in record.results:
        tab.add_row(r.test, f"{r.rps:,.0f}", f"{r.avg_ms:.3f}", f"{r.p50_ms:.3f}", f"{r.p95_ms:.3f}",
                    f"{r.p99_ms:.3f}", f"{r.max_ms:.3f}")
    out.print(tab)
    for note in record.extra.get("notes", ()):
        out.print(f"note: {note}", highlight=False, soft_wrap=True)


def _render_comparison(out: Console, result: Comparison) -> None:
    from rich.text import Text

    numbers = ["base rps", "rps", "rps %", "base p99", "p99", "p99 %"]
    tab = table(["test", *numbers, "verdict"], right=numbers)
    for d in result.deltas:
        verdict = Text("REGRESSED " + "+".join(d.regressed), style="bold red") if d.regressed else Text("ok")
        tab.add_row(d.test, f"{d.baseline.rps:,.0f}", f"{d.latest.rps:,.0f}", f"{d.rps_change_pct:+.1f}",
                    f"{d.baseline.p99_ms:.3f}", f"{d.latest.p99_ms:.3f}", f"{d.p99_change_pct:+.1f}", verdict)
    out.print(tab)
    for test in result.only_latest:
        out.print(f"{test}: not in the baseline", highlight=False)
    for test in result.only_baseline:
        out.print(f"{test}: only in the baseline", highlight=False)
    for note in result.notes:
        out.print(f"note: {note}", highlight=False, soft_wrap=True)
    out.print(Text(result.verdict(), style="red" if result.regressions else "green"), soft_wrap=True)
