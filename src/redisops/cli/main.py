"""The ``redisops`` command: a thin layer over the library.

Each command module exposes ``register(app)``; heavy imports happen inside the
command bodies so ``redisops status`` starts fast.
"""

from __future__ import annotations

import typer

from redisops.cli import alerts as alerts_cmd
from redisops.cli import backup as backup_cmd
from redisops.cli import cluster as cluster_cmd
from redisops.cli import config as config_cmd
from redisops.cli import deploy as deploy_cmd
from redisops.cli import drill as drill_cmd
from redisops.cli import ha as ha_cmd
from redisops.cli import render as render_cmd
from redisops.cli import scale as scale_cmd
from redisops.cli import status as status_cmd
from redisops.cli import verify as verify_cmd
from redisops.cli import watch as watch_cmd

__all__ = ["app", "main"]

app = typer.Typer(
    name="redisops",
    help="Deploy, operate and observe highly available Redis (Sentinel and Cluster).\n\n"
    "Exit codes: 0 fine, 1 degraded or findings, 2 usage or input error, 3 down or failed.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)



def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"redisops {version('redisops')}")
        raise typer.Exit()


@app.callback()
def _root(show_version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                            help="Print the version and exit.")) -> None:
    """Deploy, operate and observe highly available Redis (Sentinel and Cluster)."""


for module in (config_cmd, deploy_cmd, status_cmd, render_cmd, watch_cmd, alerts_cmd, ha_cmd, cluster_cmd,
               scale_cmd, verify_cmd, backup_cmd, drill_cmd):
    module.register(app)


def main() -> None:
    app()
