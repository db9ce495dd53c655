"""``redisops acl apply``: the ACL users of the secrets file on every live node, and the migration to them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from redisops.cli.common import DEFAULT_SPEC, Ctx, DebugOpt, FileOpt, JsonOpt, Result, plural, run, table

if TYPE_CHECKING:
    from rich.console import Console

    from redisops.security.users import AclReport

__all__ = ["register"]

app = typer.Typer(help="ACL users: admin, app, replication, sentinel, monitoring.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="acl")


@app.command("apply")
def apply(file: FileOpt = DEFAULT_SPEC, json_out: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Put the secrets file's ACL users on every node, live and in its auth.conf, then turn the default user off.

    On a deployment with one shared password this migrates it in place while it serves; rerun it after an
    interruption. Exit 0 when every node is done, 1 when some node could not be reached (the default user
    stays on until all are), 2 for bad input."""

    def body(ctx: Ctx) -> Result:
        from redisops.cli.deploy import progress_spinner
        from redisops.lifecycle import Deployment
        from redisops.security.users import apply_acl

        dep = Deployment.open(ctx.file)
        secrets_file = ctx.file.parent / dep.spec.auth.secrets_file
        with progress_spinner(ctx, "connecting") as progress:
            report = apply_acl(dep.plan, dep.runtime, secrets_file, progress=progress)
        return Result(report.to_dict(), lambda out: _render(out, report), 0 if report.ok else 1)

    run(body, file=file, json_out=json_out, debug=debug)


def _render(out: Console, report: AclReport) -> None:
    rows = table(["node", "kind", "users", "done", ""], wrap=["users", "done"])
    for node in report.nodes:
        users = ", ".join(f"{u} {state}" for u, state in node.users.items()) or "-"
        rows.add_row(node.name, node.kind, users, ", ".join(node.steps) or "-", node.error or "ok")
    out.print(rows)
    failed = [n for n in report.nodes if n.error]
    if report.generated:
        out.print(f"generated {plural(len(report.generated), 'password')} into the secrets file "
                  f"({', '.join(report.generated)})", highlight=False)
    if failed:
        out.print(f"{plural(len(failed), 'node')} not done: start them (or reach them) and run "
                  "`redisops acl apply` again; the default user stays on until every node is done",
                  style="red", highlight=False)
        return
    if report.legacy_dropped:
        out.print("the shared password is gone: applications log in as user `app` (app_password in the secrets "
                  "file); a running `redisops watch` logs in as `admin` from its next poll", highlight=False)
    out.print("every node has the ACL users, the default user is off", highlight=False)
