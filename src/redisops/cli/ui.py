"""``redisops ui``: Redis Commander on loopback, connected to every group and the cluster."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from redisops.cli.common import DEFAULT_SPEC, Ctx, DebugOpt, FileOpt, JsonOpt, Result, run
from redisops.errors import EXIT_DEGRADED, UsageError

if TYPE_CHECKING:
    from redisops.observe.commander import Commander, ConnectionState

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("ui")(ui)


def ui(
    file: FileOpt = DEFAULT_SPEC,
    port: int = typer.Option(None, "--port", min=1, max=65535, show_default=False,
                             help="Port on 127.0.0.1 (default 8081, or the running UI's)."),
    stop: bool = typer.Option(False, "--stop", help="Stop the UI this spec started."),
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Redis Commander on 127.0.0.1, connected to every Sentinel group (through its sentinels) and the cluster.

    Passwords go to it in a 0600 config file, never on its command line.  Idempotent: a running UI is kept
    (another --port restarts it).  Install it once with `make commander`.
    """

    def body(ctx: Ctx) -> Result:
        from redisops.observe.commander import Commander

        commander = Commander.open(ctx.file)
        if stop:
            if port is not None:
                raise UsageError("--stop takes no --port", hint="run `redisops ui --stop`")
            return _stop(commander)
        return _start(commander, ctx.file, port)

    run(body, file=file, json_out=json_out, debug=debug)


def _start(commander: Commander, spec_file: Path, port: int | None) -> Result:
    from redisops.observe.commander import describe, find_tool

    tool = find_tool([spec_file.parent, Path.cwd()])
    result = commander.start(tool, port)
    state = result.state
    data: dict[str, Any] = {
        "url": state.url, "pid": state.pid, "port": state.port, "version": state.version,
        "already_running": result.already_running, "config": str(commander.config_path),
        "log": str(commander.log_path), "connections": [_connection(c) for c in result.connections],
    }

    def render(out: Console) -> None:
        how = "already running" if result.already_running else "started"
        out.print(f"Redis Commander {how} (pid {state.pid}): {state.url}", highlight=False)
        for line in describe(result.connections) or ["no connection answered yet"]:
            out.print(f"- {line}", highlight=False)
        out.print("stop it with `redisops ui --stop`", highlight=False)

    return Result(data, render, 0 if result.all_connected else EXIT_DEGRADED)


def _stop(commander: Commander) -> Result:
    state = commander.stop()
    data = {"stopped": state is not None, "pid": None if state is None else state.pid}

    def render(out: Console) -> None:
        out.print("Redis Commander was not running" if state is None else f"Redis Commander stopped (pid {state.pid})",
                  highlight=False)

    return Result(data, render)


def _connection(state: ConnectionState) -> dict[str, Any]:
    return {"label": state.label, "connected": state.connected, "error": state.error}
