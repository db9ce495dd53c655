"""The ``redisops`` command: a thin layer over the library.

Each command module exposes ``register(app)``; heavy imports happen inside the
command bodies so ``redisops status`` starts fast.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from redisops.cli import acl as acl_cmd
from redisops.cli import alerts as alerts_cmd
from redisops.cli import audit as audit_cmd
from redisops.cli import backup as backup_cmd
from redisops.cli import bench as bench_cmd
from redisops.cli import cluster as cluster_cmd
from redisops.cli import config as config_cmd
from redisops.cli import dashboard as dashboard_cmd
from redisops.cli import deploy as deploy_cmd
from redisops.cli import doctor as doctor_cmd
from redisops.cli import drill as drill_cmd
from redisops.cli import firewall as firewall_cmd
from redisops.cli import ha as ha_cmd
from redisops.cli import logs as logs_cmd
from redisops.cli import monitor as monitor_cmd
from redisops.cli import render as render_cmd
from redisops.cli import scale as scale_cmd
from redisops.cli import status as status_cmd
from redisops.cli import tls as tls_cmd
from redisops.cli import tune as tune_cmd
from redisops.cli import ui as ui_cmd
from redisops.cli import verify as verify_cmd
from redisops.cli import watch as watch_cmd

__all__ = ["app", "main"]

app = typer.Typer(
    name="redisops",
    help="Deploy, operate and observe highly available Redis (Sentinel and Cluster).\n\n"
    "Exit codes: 0 fine, 1 degraded or findings, 2 usage or input error, 3 down or failed, 130 interrupted.",
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
               scale_cmd, verify_cmd, backup_cmd, drill_cmd, dashboard_cmd, monitor_cmd,
               ui_cmd, logs_cmd, firewall_cmd, bench_cmd, doctor_cmd, audit_cmd, tune_cmd, acl_cmd, tls_cmd):
    module.register(app)


def main() -> None:
    """The ``redisops`` program.

    With ``--json`` on the command line, what the option parser rejects (an
    unknown option, a missing argument) is an error envelope on stderr too, so
    a program reading ``--json`` output meets one shape for every failure.
    """
    if "--json" not in sys.argv[1:]:
        app()
        return
    from redisops.cli.common import command_kind, error_record, write_error

    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        write_error("redisops", error_record(RuntimeError("aborted"), 1))
        raise SystemExit(1) from None
    except _click_exception() as exc:
        write_error(command_kind(getattr(exc, "ctx", None)), _parser_error(exc))
        raise SystemExit(exc.exit_code) from None
    raise SystemExit(code or 0)


def _click_exception() -> Any:
    try:  # recent typer carries its own copy of click (typer._click)
        from typer._click.exceptions import ClickException
    except ImportError:  # older typer runs on click itself
        from click import ClickException  # type: ignore[assignment]
    return ClickException


def _parser_error(exc: Any) -> dict[str, Any]:
    context = getattr(exc, "ctx", None)
    help_command = "redisops --help" if context is None else f"{context.command_path} --help"
    return {"message": exc.format_message(), "hint": f"see `{help_command}`", "type": type(exc).__name__,
            "exit_code": exc.exit_code, "retryable": False}
