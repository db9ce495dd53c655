"""``redisops scale cluster``: change the spec's cluster size and converge the local cluster to it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from redisops.cli.cluster import (
    BatchOpt,
    KeysRateOpt,
    MbRateOpt,
    WaveOpt,
    WavesOpt,
    _progress,
    _settings,
    _stop_on_ctrl_c,
)
from redisops.cli.common import DEFAULT_SPEC, Ctx, DebugOpt, FileOpt, JsonOpt, Result, plural, run
from redisops.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from redisops.lifecycle import ScaleResult

__all__ = ["register"]

scale_app = typer.Typer(name="scale", help="Grow or shrink a deployment; the spec file records the new size.",
                        no_args_is_help=True, rich_markup_mode=None)


def register(app: typer.Typer) -> None:
    app.add_typer(scale_app)


@scale_app.command("cluster")
def cluster(masters: int | None = typer.Option(None, "--masters", min=3, help="Masters (shards) wanted."),
            replicas_per_master: int | None = typer.Option(None, "--replicas-per-master", min=0, max=5,
                                                           help="Replicas wanted per master."),
            timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for a healthy cluster at the end."),
            file: FileOpt = DEFAULT_SPEC, json_out: JsonOpt = False, debug: DebugOpt = False,
            batch: int = BatchOpt, slots_per_wave: int = WaveOpt, waves: int = WavesOpt,
            max_keys_per_s: float | None = KeysRateOpt, max_mb_per_s: float | None = MbRateOpt) -> None:
    """Scale the local cluster out or in: start or retire nodes, move slots, re-point replicas.

    No key is dropped: a master leaves only after its shard was handed to a
    staying replica or its slots were moved.  Ctrl-C stops at a clean point;
    run the same command again to finish.
    """
    settings = _settings(batch, slots_per_wave, waves, False, max_keys_per_s, max_mb_per_s)

    def body(ctx: Ctx) -> Result:
        from redisops.lifecycle import Deployment, scale_cluster

        if masters is None and replicas_per_master is None:
            raise UsageError("nothing to change", hint="give --masters N and/or --replicas-per-master M")
        dep = Deployment.open(ctx.file)
        def progress(step: str) -> None:  # plain lines: the move's progress bar is the one live display
            if not ctx.json:
                ctx.err.print(f"- {step}", highlight=False)

        with _stop_on_ctrl_c() as stop, _progress(ctx) as moving:
            result = scale_cluster(dep, masters=masters, replicas_per_master=replicas_per_master,
                                   settings=settings, progress=progress, move_progress=moving, stop=stop,
                                   timeout=timeout)
        return Result(result.to_dict(), lambda out: _render(out, result), 1 if result.report.stopped else 0)

    run(body, file=file, json_out=json_out, debug=debug)


def _render(out: Console, result: ScaleResult) -> None:
    (m0, r0), (m1, r1) = result.before, result.after
    out.print(f"cluster: {_shape(m0, r0)} -> {_shape(m1, r1)}, in {result.seconds:.1f} s", highlight=False)
    out.print(result.report.sentence(), highlight=False)
    if result.started:
        out.print(f"started: {', '.join(result.started)}", highlight=False)
    if result.retired:
        out.print(f"retired (stopped, data deleted): {', '.join(result.retired)}", highlight=False)
    if result.status is not None:
        from redisops.cli.status import render_report

        render_report(out, result.status)


def _shape(masters: int, replicas: int) -> str:
    """``3 masters with 1 replica each``; ``without replicas`` rather than ``with 0 replicas each``."""
    each = f"with {plural(replicas, 'replica')} each" if replicas else "without replicas"
    return f"{plural(masters, 'master')} {each}"
