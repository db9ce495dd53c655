"""``redisops tune memory``: maxmemory and the eviction policy from the host's RAM and the data's role."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from redisops.cli.common import DEFAULT_SPEC, Ctx, DebugOpt, FileOpt, JsonOpt, Result, plural, run, table
from redisops.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from redisops.address import Address
    from redisops.ha.memory import MemoryAdvice
    from redisops.lifecycle import Deployment

__all__ = ["register"]

app = typer.Typer(help="Settings derived from the host and the spec.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="tune")


@app.command("memory")
def memory(
    file: FileOpt = DEFAULT_SPEC,
    apply: bool = typer.Option(False, "--apply", help="CONFIG SET it on every node, write it into their config "
                                                     "files and into the spec."),
    role: str | None = typer.Option(None, "--role", metavar="cache|store",
                                    help="Override the spec's `role:` for every section."),
    ram: str | None = typer.Option(None, "--ram", metavar="SIZE",
                                   help="Divide this much RAM (e.g. 16gb) instead of this host's MemTotal."),
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """maxmemory from host RAM minus backlog, output buffers and fork headroom; eviction policy by role.

    Exit 1 while a node differs from the advice (or the RAM is too small), 0 when every node matches."""

    def body(ctx: Ctx) -> Result:
        from redisops.ha.memory import advise_memory, apply_memory, host_ram
        from redisops.lifecycle import Deployment
        from redisops.spec.models import DataRole, parse_bytes

        try:
            chosen = DataRole(role) if role is not None else None
        except ValueError:
            raise UsageError(f"--role {role!r}: use cache or store") from None
        try:
            total = parse_bytes(ram) if ram is not None else host_ram()
        except ValueError as exc:
            raise UsageError(f"--ram: {exc}") from None
        dep = Deployment.open(ctx.file)
        advice = advise_memory(dep.plan, total, _live(dep), role=chosen, confs=dep.journal.confs)
        applied: list[str] = []
        if apply:
            applied = apply_memory(advice, dep.secrets.admin, dep.spec_file)
            advice = advise_memory(dep.plan, total, _live(dep), role=chosen, confs=dep.journal.confs)
        differing = [n.name for a in advice for n in a.nodes if n.differs(a)]
        code = 1 if differing or not all(a.feasible for a in advice) else 0
        data = {"ram": total, "sections": [a.to_dict() for a in advice], "applied": applied,
                "differing": differing}
        return Result(data, lambda out: _render(out, advice, applied, differing, apply), code)

    run(body, file=file, json_out=json_out, debug=debug)


def _live(dep: Deployment) -> dict[Address, dict[str, str] | str]:
    import redis

    from redisops.ha.memory import read_memory
    from redisops.runtime.plan import NodeKind

    out: dict[Address, dict[str, str] | str] = {}
    for node in dep.plan.nodes:
        if node.kind is NodeKind.SENTINEL:
            continue
        try:
            out[node.address] = read_memory(node.address, dep.secrets.admin)
        except redis.RedisError as exc:
            out[node.address] = f"not answering ({exc})"
    return out


def _render(out: Console, advice: list[MemoryAdvice], applied: list[str], differing: list[str],
            apply: bool) -> None:
    for item in advice:
        out.print(f"{item.name} ({item.section}): {item.role.value} -> maxmemory-policy {item.policy} "
                  f"({item.policy_reason})", highlight=False, markup=False, soft_wrap=True)
        for line in item.terms.explain():
            out.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
        if not item.feasible:
            out.print("  too little RAM for this many nodes: run fewer nodes on this host, or add RAM",
                      style="red", highlight=False)
        rows = table(["node", "maxmemory now", "policy now", ""], right=["maxmemory now"])
        for node in item.nodes:
            now = "-" if node.maxmemory is None else f"{node.maxmemory / 1024 / 1024:.0f} MB"
            verdict = node.error or ("differs" if node.differs(item) else "ok")
            rows.add_row(node.name, now, node.policy or "-", verdict)
        out.print(rows)
    for line in applied:
        out.print(f"applied: {line}", highlight=False, markup=False, soft_wrap=True)
    if differing:
        hint = "" if apply else "; `redisops tune memory --apply` sets it"
        out.print(f"{plural(len(differing), 'node')} differ from the advice{hint}", highlight=False)
    else:
        out.print("every running node matches the advice", highlight=False)
