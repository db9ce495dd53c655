"""``redisops tls status|rotate``: a TLS deployment's certificates, and new ones rolled in while it serves."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from redisops.cli.common import DEFAULT_SPEC, Ctx, DebugOpt, FileOpt, JsonOpt, Result, run, table
from redisops.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from redisops.lifecycle import Deployment
    from redisops.security.tls.status import MaterialStatus

__all__ = ["register"]

app = typer.Typer(help="TLS certificates of a deployment with tls.enabled.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="tls")


def _tls_deployment(ctx: Ctx) -> Deployment:
    from redisops.lifecycle import Deployment
    from redisops.runtime.tls import local_tls

    dep = Deployment.open(ctx.file)
    if not local_tls(dep.spec):
        raise UsageError(f"{ctx.file} does not enable TLS", hint="set `tls: {enabled: true}` in a new deployment's "
                                                                 "spec (docs/tls.md)")
    return dep


@app.command("status")
def status(file: FileOpt = DEFAULT_SPEC, json_out: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Every certificate: whom it names, until when, which CA signed it. Exit 1 on a problem (expired, expiring
    within 30 days, a key that does not match, a rotation under way)."""

    def body(ctx: Ctx) -> Result:
        from redisops.runtime.tls import tls_dir
        from redisops.security.tls.status import material_status

        dep = _tls_deployment(ctx)
        found = material_status(tls_dir(dep.runtime.state_dir.resolve()))
        data = {"ok": found.ok, "rotation": found.rotation.value if found.rotation else None,
                "problems": list(found.problems),
                "certificates": [{"kind": e.kind, "name": e.name, "signer": e.signer.value, "problem": e.problem,
                                  "not_after": e.info.not_after.isoformat() if e.info else None,
                                  "sans": list(e.info.sans) if e.info else []} for e in found.entries]}
        return Result(data, lambda out: _render_status(out, found), 0 if found.ok and not found.rotation else 1)

    run(body, file=file, json_out=json_out, debug=debug)


def _render_status(out: Console, found: MaterialStatus) -> None:
    rows = table(["kind", "name", "valid until", "days left", "signed by", "names", ""], wrap=["names", ""])
    for e in found.entries:
        until = f"{e.info.not_after:%Y-%m-%d}" if e.info else "-"
        left = f"{e.info.days_left():.0f}" if e.info else "-"
        rows.add_row(e.kind, e.name, until, left, e.signer.value, ", ".join(e.info.sans) if e.info else "-",
                     e.problem or "ok")
    out.print(rows)
    if found.rotation:
        out.print(f"a CA rotation is under way ({found.rotation.value}): finish it with `redisops tls rotate --new-ca`",
                  highlight=False)
    for problem in found.problems:
        out.print(problem, style="red", highlight=False, markup=False)


@app.command("rotate")
def rotate(file: FileOpt = DEFAULT_SPEC, new_ca: bool = typer.Option(False, "--new-ca",
                                                                    help="Rotate the CA too (three steps)."),
           json_out: JsonOpt = False, debug: DebugOpt = False) -> None:
    """New certificates for every node and for redisops, loaded while the deployment serves: data nodes reload
    their files (CONFIG SET), sentinels restart one at a time.  With tls.own: your renewed files, checked and
    loaded. --new-ca: trust a new CA beside the old one, issue
    everything from it, drop the old one, every node loading each step. Rerun to finish a rotation cut short."""

    def body(ctx: Ctx) -> Result:
        from redisops.cli.deploy import progress_spinner
        from redisops.lifecycle import node_identity
        from redisops.runtime.local import find_binaries
        from redisops.runtime.tls import tls_dir
        from redisops.security.tls.roll import rotate_live

        dep = _tls_deployment(ctx)
        identities = [node_identity(n) for n in dep.plan.nodes]
        binaries = find_binaries(need_sentinel=bool(dep.plan.groups))
        root = tls_dir(dep.runtime.state_dir.resolve())
        own = dep.spec.tls.own
        if own is not None and not new_ca:
            from redisops.security.tls.own import import_own_material

            import_own_material(root, dep.spec_file.parent, own, identities)  # your renewed files, checked
        with progress_spinner(ctx, "rotating") as progress:
            report = rotate_live(root, dep.spec.name, dep.plan.nodes, identities, dep.runtime, binaries,
                                 dep.secrets.admin, new_ca=new_ca, own=own is not None, progress=progress)

        def render(out: Console) -> None:
            out.print(f"steps: {', '.join(report.steps)}; {len(report.reloaded)} data nodes reloaded their files, "
                      f"{len(report.restarted)} sentinels restarted", highlight=False)
            for name, why in report.failed.items():
                out.print(f"{name}: {why}", style="red", highlight=False, markup=False)
            if report.failed:
                out.print("mend those nodes and run `redisops tls rotate` again", highlight=False)

        return Result(report.to_dict(), render, 0 if report.ok else 1)

    run(body, file=file, json_out=json_out, debug=debug)

