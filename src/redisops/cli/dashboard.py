"""``redisops dashboard``: the URL of the live status page (the watcher serves it), or ``--serve`` one here.

Without ``--serve`` it asks the watcher's HTTP port (``--port``, else the
spec's ``watch.metrics_port``, 9122) for its page and prints the URL with the
verdict the page shows; exit 0 when the page answers (whatever the verdict:
``redisops status`` judges the deployment), 3 when nothing answers, 2 when
another program holds the port.  ``--wait S`` waits that long for a watcher
that is starting (``make up`` uses it).

``--serve`` runs the page from this process until SIGTERM or Ctrl-C, for when
no watcher runs: it watches the spec's nodes (or ``--sentinel … --master`` /
``--cluster`` with ``--password-env``, like ``status``) and serves the page
and ``/metrics`` on 127.0.0.1:PORT, but sends no alerts and runs no backups
(that is the watcher's job; two would page twice).  ``--json`` prints one
``dashboard`` envelope (``url``) before serving.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import typer

from redisops.cli.common import DEFAULT_SPEC, Ctx, DebugOpt, FileOpt, JsonOpt, Result, run
from redisops.cli.targets import (
    ClusterOpt,
    MasterOpt,
    PasswordEnvOpt,
    SentinelOpt,
    SentinelPasswordEnvOpt,
    UserOpt,
)

if TYPE_CHECKING:
    from rich.console import Console

    from redisops.cli.targets import Targets
    from redisops.daemon.dashboard import PageFound

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("dashboard")(dashboard)


def dashboard(
    file: FileOpt = DEFAULT_SPEC,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
    port: int | None = typer.Option(None, "--port", min=1, max=65535,
                                    help="The watcher's HTTP port (default: the spec's watch.metrics_port)."),
    wait: float = typer.Option(0.0, "--wait", min=0, max=300, metavar="SECONDS",
                               help="Wait this long for a watcher that is starting."),
    serve: bool = typer.Option(False, "--serve", help="Serve the page from here until Ctrl-C (watches, no alerts, "
                                                      "no backups): for when no watcher runs."),
    sentinel: SentinelOpt = None,
    master: MasterOpt = None,
    cluster: ClusterOpt = None,
    password_env: PasswordEnvOpt = None, user: UserOpt = None,
    sentinel_password_env: SentinelPasswordEnvOpt = None,
) -> None:
    """Print the URL of the live status page (topology, verdict, incidents), or serve it with --serve."""

    def body(ctx: Ctx) -> Result:
        from redisops.cli.targets import remote_targets
        from redisops.errors import UsageError

        remote = remote_targets(sentinel, master, cluster, password_env, sentinel_password_env, user)
        if not serve:
            if remote is not None:
                raise UsageError("--sentinel / --cluster go with --serve",
                                 hint="without --serve, dashboard finds the running watcher's page")
            return _find(ctx, port, wait)
        return _serve(ctx, port, remote)

    run(body, file=file, json_out=json_out, debug=debug)


def _port(ctx: Ctx, port: int | None) -> int:
    from redisops.errors import UsageError

    if port is not None:
        return port
    chosen = int(ctx.load_spec().watch.metrics_port)
    if chosen == 0:
        raise UsageError(f"watch.metrics_port is 0 in {ctx.file}: the watcher serves no HTTP, so no status page",
                         hint="set watch.metrics_port (e.g. 9122) and restart the watcher, or pass --port")
    return chosen


def _find(ctx: Ctx, port: int | None, wait: float) -> Result:
    from redisops.daemon.dashboard import find_page

    found = find_page(_port(ctx, port), wait_s=wait)
    return Result(found.to_dict(), lambda out: _render(out, found))


def _render(out: Console, found: PageFound) -> None:
    from rich.text import Text

    line = Text(f"status page: {found.url}")
    if found.health is None:
        line.append("  (the watcher has not polled yet)", "dim")
    else:
        firing = f", {found.firing} incident{'s' if found.firing != 1 else ''} firing" if found.firing else ""
        line.append(f"  (verdict {found.health.upper()}{firing})", "dim")
    out.print(line, soft_wrap=True)


def _serve(ctx: Ctx, port: int | None, remote: Targets | None) -> Result:
    import sys
    from pathlib import Path

    from redisops.cli.targets import spec_targets
    from redisops.daemon.dashboard import page_daemon, page_url
    from redisops.spec.watch import WatchSpec

    if remote is not None and not ctx.file.exists():
        (groups, clusters), settings, base_dir = remote, WatchSpec(), Path.cwd()
        chosen = port or settings.metrics_port
    else:
        spec = ctx.load_spec()
        groups, clusters = remote if remote is not None else spec_targets(ctx)
        settings, base_dir = spec.watch, ctx.file.parent.resolve()
        chosen = port or spec.watch.metrics_port or WatchSpec().metrics_port
    daemon = page_daemon(groups, clusters, port=chosen, settings=settings, base_dir=base_dir)
    # the page is the output; the watcher's own lines would only repeat it (and warn that no alerts go out)
    logging.getLogger("redisops.watch").setLevel(logging.DEBUG if ctx.debug else logging.ERROR)
    url = page_url(chosen)
    if ctx.json:
        ctx.line({"url": url})
    else:
        ctx.out.print(f"status page: {url}  (serving until Ctrl-C; no alerts, no backups)", soft_wrap=True,
                      markup=False, highlight=False)
        sys.stdout.flush()  # read before the first poll, also through a pipe
    daemon.run()
    return Result(None, streamed=True)
