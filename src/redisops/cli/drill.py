"""``redisops drill failover``: fault the master under load and count lost writes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from redisops.cli.common import DEFAULT_SPEC, Ctx, DebugOpt, FileOpt, JsonOpt, Result, plural, run

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    drill = typer.Typer(help="Failure drills on the local deployment.", no_args_is_help=True)
    drill.command("failover")(failover)
    app.add_typer(drill, name="drill")


def failover(
    file: FileOpt = DEFAULT_SPEC,
    group: str | None = typer.Option(None, "--group", "-g", help="Sentinel group (default: the only one)."),
    rounds: int = typer.Option(1, "--rounds", min=1, max=100, help="Failovers in a row."),
    fault: str = typer.Option("kill", "--fault", help="kill (SIGKILL) | pause (SIGSTOP) | sleep (DEBUG SLEEP)."),
    safe: bool = typer.Option(False, "--safe", help="min-replicas-to-write 1 and WAIT 1: no acked write may be lost."),
    rate: float = typer.Option(200.0, "--rate", min=1, max=5000, help="Writes per second."),
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Fail the master over under a steady writer; report detection, promotion, outage and lost writes,
    then verify every replica against the master (exit 1 if writes were lost, the old master did not rejoin
    or a replica differs)."""

    def body(ctx: Ctx) -> Result:
        from redisops.chaos.drill import Fault, drill_failover
        from redisops.cli.deploy import progress_spinner
        from redisops.errors import UsageError
        from redisops.lifecycle import Deployment

        try:
            chosen = Fault(fault)
        except ValueError:
            raise UsageError(f"--fault {fault!r}: use kill, pause or sleep") from None
        dep = Deployment.open(ctx.file)
        with progress_spinner(ctx, "starting the drill") as progress:
            report = drill_failover(dep, group=group, rounds=rounds, fault=chosen, safe=safe, rate=rate,
                                    progress=progress)
        data = report.to_dict()
        diverged = report.replicas is not None and not report.replicas.consistent
        failed = report.lost_acked > 0 or not data["overall"]["rejoined"] or diverged  # type: ignore[index]

        def render(out: Console) -> None:
            out.print(f"{report.group}: {plural(len(report.rounds), 'round')}, fault {report.fault.value}"
                      f"{', safe (min-replicas-to-write 1 + WAIT 1)' if safe else ''}", highlight=False)
            for r in report.rounds:
                out.print(f"  round {r.round}: {r.old_master} -> {r.new_master}  detect {r.detection_s}s  "
                          f"promote {r.promotion_s}s  outage {r.outage_s}s  acked {r.acked}  lost {r.lost_acked}"
                          f"+{r.lost_increments} incr  unacked-applied {r.unacked_applied}  "
                          f"rejoined {'after ' + str(r.rejoined_s) + 's' if r.rejoined_s is not None else 'NO'}  "
                          f"alert {str(r.alert_s) + 's' if r.alert_s is not None else 'NONE'}",
                          highlight=False, soft_wrap=True)
            overall = data["overall"]
            out.print(f"overall: outage p50/p95 {overall['outage_s']['p50']}/{overall['outage_s']['p95']} s, "  # type: ignore[index]
                      f"detection p50 {overall['detection_s']['p50']} s, "  # type: ignore[index]
                      f"acknowledged writes lost: {report.lost_acked}", highlight=False)
            if report.replicas is not None:
                out.print(f"replicas (verify replicas): {report.replicas.summary}, "
                          f"{plural(report.replicas.differences, 'difference')}", highlight=False, soft_wrap=True)

        return Result(data, render, 1 if failed else 0)

    run(body, file=file, json_out=json_out, debug=debug)
