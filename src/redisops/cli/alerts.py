"""``redisops alerts test``: send a test message to every channel and report each result."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from redisops.cli.common import DEFAULT_SPEC, Ctx, DebugOpt, FileOpt, JsonOpt, Result, run

__all__ = ["register"]

ChannelOpt = Annotated[
    str | None,
    typer.Option("--channel", help="Only the channel with this name (a channel without `name` is called by its type)."),
]


def register(app: typer.Typer) -> None:
    alerts = typer.Typer(help="Alert channels.", no_args_is_help=True)
    alerts.command("test")(test)
    app.add_typer(alerts, name="alerts")


def test(file: FileOpt = DEFAULT_SPEC, channel: ChannelOpt = None, json_out: JsonOpt = False,
         debug: DebugOpt = False) -> None:
    """Send a TEST alert to every channel now; exit 0 if all arrived, 1 if some failed."""

    def body(ctx: Ctx) -> Result:
        from redisops.alerts import probe_channels
        from redisops.errors import UsageError

        spec = ctx.load_spec()
        if not spec.alerts.channels:
            raise UsageError(f"{ctx.file} configures no alert channels", hint="add `alerts: channels:` to the spec")
        try:
            results = probe_channels(spec.alerts, ctx.file.parent, only=channel)
        except KeyError as exc:
            raise UsageError(str(exc.args[0])) from None
        failed = [r for r in results if not r.ok]

        def render(out: Console) -> None:
            table = Table("channel", "type", "result", "latency", "reason")
            for r in results:
                table.add_row(Text(r.channel), r.type, "[green]ok[/]" if r.ok else "[red]failed[/]",
                              f"{r.latency_ms:.0f} ms", Text(r.reason))
            out.print(table)
            out.print(f"{len(results) - len(failed)}/{len(results)} channels delivered", highlight=False)

        data = {"ok": not failed, "results": [r.__dict__ for r in results]}
        return Result(data, render, 1 if failed else 0)

    run(body, file=file, json_out=json_out, debug=debug)
