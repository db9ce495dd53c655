"""``redisops render compose``: the spec as a Docker Compose project."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from redisops.cli.common import DEFAULT_SPEC, Ctx, DebugOpt, FileOpt, JsonOpt, Result, run
from redisops.runtime.ui import UI  # light; runtime.compose (Jinja2) loads only when rendering

__all__ = ["register"]

OutputOpt = Annotated[Path, typer.Option("-o", "--output", help="Directory to write (created or replaced).")]
UIOpt = Annotated[
    Optional[UI],  # noqa: UP045 - typer reads the annotation at runtime; `UI | None` breaks it on 3.10
    typer.Option("--with-ui", help="Add a web UI under the Compose profile `ui`.", case_sensitive=False),
]
MonitoringOpt = Annotated[
    bool, typer.Option("--with-monitoring", help="Add Prometheus, Alertmanager, redis_exporter, Grafana, Loki and "
                                                  "promtail (see docs/compose-monitoring.md).")
]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Write into a non-empty directory redisops did not write.")
]


def register(app: typer.Typer) -> None:
    render = typer.Typer(help="Render deployment files from the spec.", no_args_is_help=True)
    render.command("compose")(compose)
    app.add_typer(render, name="render")


def compose(
    output: OutputOpt,
    with_ui: UIOpt = None,
    with_monitoring: MonitoringOpt = False,
    force: ForceOpt = False,
    file: FileOpt = DEFAULT_SPEC,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Write docker-compose.yml, the node configs, the cluster-init script and redisops.env (0600);
    with --with-monitoring also the monitoring services and their configs under monitoring/."""

    def body(ctx: Ctx) -> Result:
        from redisops.security.tls.compose import render_compose_project

        spec = ctx.load_spec()
        addon = None
        if with_monitoring:
            from redisops.observe.compose import monitoring_addon
            from redisops.runtime.plan import build_plan

            addon = monitoring_addon(spec, ctx.file, build_plan(spec))
        result = render_compose_project(spec, ctx.file, output, ui=with_ui, force=force, addon=addon)

        def render(out: Console) -> None:
            out.print(f"wrote {len(result.files)} files to {result.output}", highlight=False)
            profile = " --profile ui" if result.ui else ""
            next_step = f"next: cd {result.output} && docker compose{profile} up -d"
            out.print(next_step, highlight=False, markup=False)
            if result.tls:
                out.print("TLS only: clients trust tls/ca-bundle.crt and present tls/clients/app.crt + app.key "
                          "(tls.enabled: auto; docs/tls.md)", highlight=False, markup=False)
            if with_monitoring:
                m = spec.monitor
                out.print(f"monitoring: Grafana http://127.0.0.1:{m.grafana_port}/ (admin, password in grafana.env), "
                          f"Prometheus http://127.0.0.1:{m.prometheus_port}/, "
                          f"Alertmanager http://127.0.0.1:{m.alertmanager_port}/", highlight=False, markup=False)

        return Result(result.as_dict(), render)

    run(body, file=file, json_out=json_out, debug=debug)
