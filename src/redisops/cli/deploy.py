"""``redisops up`` and ``redisops down`` on the local runtime."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from redisops.cli.common import DEFAULT_SPEC, Ctx, DebugOpt, FileOpt, JsonOpt, Result, plural, run
from redisops.errors import UsageError

if TYPE_CHECKING:
    from redisops.lifecycle import Deployment

__all__ = ["progress_spinner", "register"]


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("down")(down)


@contextmanager
def progress_spinner(ctx: Ctx, first: str) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr with the current step and elapsed time (silent in --json mode)."""
    if ctx.json:
        yield lambda _msg: None
        return
    import time

    began = time.monotonic()
    with ctx.err.status(first) as status:

        def update(message: str) -> None:
            status.update(f"{message} [{time.monotonic() - began:4.1f} s]")

        yield update


def up(
    file: FileOpt = DEFAULT_SPEC,
    only: str = typer.Option(None, "--only", help="Start only `sentinel` or `cluster`.", show_default=False),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for a healthy deployment."),
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Start the deployment as local processes and wait until it is healthy (idempotent)."""

    def body(ctx: Ctx) -> Result:
        from redisops.cli.status import render_report
        from redisops.lifecycle import Deployment
        from redisops.lifecycle import up as do_up

        dep = Deployment.open(ctx.file)
        with progress_spinner(ctx, "checking nodes") as progress:
            result = do_up(dep, only=only, timeout=timeout, progress=progress)
        data = {"started": result.started, "already_running": result.already_running,
                "actions": result.actions, "seconds": round(result.seconds, 2), "status": result.report.to_dict()}

        def render(out: Console) -> None:
            started = f"started {plural(len(result.started), 'node')}" if result.started else "all nodes were running"
            out.print(f"{started}; healthy after {result.seconds:.1f} s", highlight=False)
            for action in result.actions:
                out.print(f"- {action}", highlight=False)
            render_report(out, result.report)

        return Result(data, render)

    run(body, file=file, json_out=json_out, debug=debug)


def down(
    file: FileOpt = DEFAULT_SPEC,
    purge: bool = typer.Option(False, "--purge", help="Also delete every node's data and config (asks first)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before --purge deletes (scripts, CI)."),
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Stop every node cleanly (sentinels first); --purge also deletes the data."""

    def body(ctx: Ctx) -> Result:
        from redisops.lifecycle import Deployment
        from redisops.lifecycle import down as do_down

        dep = Deployment.open(ctx.file)
        if purge and not yes:
            _confirm_purge(dep)
        with progress_spinner(ctx, "stopping nodes") as progress:
            result = do_down(dep, purge=purge, progress=progress)
        data = {"stopped": result.stopped, "killed": result.killed, "purged": result.purged,
                "companions": result.companions}

        def render(out: Console) -> None:
            out.print(f"stopped {plural(len(result.stopped), 'node')}" + (" and deleted their data" if purge else ""),
                      highlight=False)
            if result.killed:
                out.print(f"killed after the grace period: {', '.join(result.killed)}", highlight=False)
            if result.companions:
                out.print(f"stopped first, as their state went too: {', '.join(result.companions)}", highlight=False)

        return Result(data, render)

    run(body, file=file, json_out=json_out, debug=debug)


def _confirm_purge(dep: Deployment) -> None:
    """Ask on a terminal before ``--purge`` deletes every node's data; refuse when nobody can answer.

    Deleting the data cannot be undone, and one stray ``--purge`` in shell
    history should not cost a dataset: a script or CI job says ``--yes``.
    Nothing is stopped or deleted unless the answer is yes.
    """
    where = dep.runtime.state_dir
    if not sys.stdin.isatty():
        raise UsageError(f"down --purge would delete every node's data and config in {where}, and stdin is not a "
                         "terminal to ask: nothing stopped or deleted", hint="add --yes to confirm")
    sys.stderr.write(f"stop every node and delete its data and config in {where}? [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()  # "" at end of input: no
    if answer.strip().lower() not in ("y", "yes"):
        raise UsageError("down --purge not confirmed: nothing stopped or deleted",
                         hint="answer y, or add --yes")
