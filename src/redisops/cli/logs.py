"""``redisops logs scan``: trouble in Redis and Sentinel logs (exit 1 on findings at or above --fail-on)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from redisops.cli.common import DEFAULT_SPEC, Ctx, DebugOpt, FileOpt, JsonOpt, Result, plural, run, table
from redisops.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from redisops.observe.logs import LogSource, ScanReport, Severity

__all__ = ["register"]

app = typer.Typer(help="Log anomaly scanner: signatures, incidents, rate spikes.", no_args_is_help=True)

_FILES = typer.Argument(None, help="Log files (default: every node's log of the spec).", show_default=False)
_STYLE = {"critical": "bold red", "error": "red", "warning": "yellow", "info": "dim"}


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="logs")


@app.command("scan")
def scan_cmd(files: list[Path] = _FILES,
             file: FileOpt = DEFAULT_SPEC, json_out: JsonOpt = False, debug: DebugOpt = False,
             follow: bool = typer.Option(False, "--follow", help="Keep reading as the nodes write (Ctrl-C stops)."),
             since: str | None = typer.Option(None, "--since", metavar="DURATION",
                                              help="Only lines of the last DURATION (90s, 10m, 2h, 1d)."),
             fail_on: str = typer.Option("warning", "--fail-on", metavar="SEVERITY",
                                         help="Exit 1 on findings at or above: info, warning, error, critical."),
             window: float = typer.Option(60.0, "--window", min=1, help="Seconds per window for rate spikes.")
             ) -> None:
    """Find trouble in Redis / Sentinel logs: failovers, sync failures, save errors, OOM, attacks, crashes."""

    def body(ctx: Ctx) -> Result:
        from redisops.observe.logs import ScanOptions, Severity, SpikeRule, parse_duration, scan

        try:
            threshold = Severity.parse(fail_on)
        except ValueError as exc:
            raise UsageError(f"--fail-on: {exc}") from None
        cutoff = None if since is None else datetime.now() - parse_duration(since)
        sources = _sources(ctx, files or [])
        if follow:
            return _follow(ctx, sources, cutoff)
        report = scan(sources, ScanOptions(cutoff, threshold, SpikeRule(window_s=window)))
        return Result(report.to_dict(), lambda out: _render(out, report), report.exit_code)

    run(body, file=file, json_out=json_out, debug=debug)


def _sources(ctx: Ctx, files: list[Path]) -> list[LogSource]:
    from redisops.observe.logs import file_sources, spec_sources

    if files:
        return file_sources(files)
    return spec_sources(ctx.load_spec(), ctx.file)


def _follow(ctx: Ctx, sources: list[LogSource], since: datetime | None) -> Result:
    from redisops.observe.logs import Finding, follow

    live = [s for s in sources if s.path.is_file()]
    if not live:
        raise UsageError("no log file to follow", hint="start the nodes with `redisops up`, or pass log files")
    ctx.err.print(f"following {plural(len(live), 'log')}; Ctrl-C stops")
    for event in follow(live, lambda: False, since=since):
        if isinstance(event, Finding):
            if ctx.json:
                ctx.line(event.to_dict(), "finding")
            else:
                ctx.out.print(f"{event.time:%H:%M:%S} {str(event.severity):8} {event.source:20} "
                              f"{event.signature.id:26} {event.message[:120]}", markup=False, highlight=False)
        elif ctx.json:
            ctx.line(event.to_dict(), "incident")
        else:
            ctx.out.print(f"INCIDENT {event.summary()}", markup=False, highlight=False)
    return Result(None, streamed=True)


def _render(out: Console, report: ScanReport) -> None:
    from rich.text import Text

    rows = report.by_signature()
    if rows:
        tab = table(["severity", "signature", "count", "sources", "last", "example"], right=["count"],
                    wrap=["sources", "example"])
        for sig, found in rows:
            severity = str(found[0].severity)
            sources = ", ".join(sorted({f.source for f in found}))
            tab.add_row(Text(severity, style=_STYLE[severity]), sig, str(len(found)), sources,
                        f"{found[-1].time:%Y-%m-%d %H:%M:%S}", found[-1].message[:100])
        out.print(tab)
    for incident in report.incidents:
        out.print(Text(f"incident: {incident.summary()}", style=_STYLE[str(incident.severity)]))
    for spike in report.spikes:
        out.print(Text(f"rate spike: {spike.summary()}", style="yellow"))
    out.print(_verdict(report))


def _verdict(report: ScanReport) -> str:
    scanned = f"{plural(len(report.sources), 'log')}, {report.bytes_read / 1e6:.1f} MB"
    missing = f" ({plural(len(report.missing), 'node')} without a log)" if report.missing else ""
    if not report.findings and not report.spikes:
        return f"no findings in {scanned}{missing}"
    worst: Severity | None = report.worst
    return (f"{plural(len(report.findings), 'finding')}, {plural(len(report.incidents), 'incident')}, "
            f"{plural(len(report.spikes), 'rate spike')} in {scanned}{missing}; worst: {worst}; "
            f"fail-on {report.fail_on}: exit {report.exit_code}")
