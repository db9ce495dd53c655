"""``redisops failover`` and ``redisops sentinel tune``: acting on Sentinel groups."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from redisops.address import Address
from redisops.cli.common import DEFAULT_SPEC, Ctx, DebugOpt, FileOpt, JsonOpt, Result, plural, run
from redisops.cli.targets import (
    MasterOpt,
    PasswordEnvOpt,
    SentinelOpt,
    SentinelPasswordEnvOpt,
    UserOpt,
    remote_targets,
    spec_targets,
)
from redisops.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from redisops.runtime.temporary import Journal
    from redisops.topology import SentinelTarget

__all__ = ["register"]

GroupOpt = Annotated[str | None, typer.Option("--group", "-g", help="Sentinel group (default: the only one).")]


def register(app: typer.Typer) -> None:
    app.command("failover")(failover)
    sentinel_app = typer.Typer(help="Sentinel settings.", no_args_is_help=True)
    sentinel_app.command("tune")(tune)
    app.add_typer(sentinel_app, name="sentinel")


def pick_group(ctx: Ctx, group: str | None, sentinel: str | None, master: str | None, password_env: str | None,
               sentinel_password_env: str | None, user: str | None = None) -> SentinelTarget:
    """The one Sentinel group a command acts on, from the spec or the remote flags."""
    remote = remote_targets(sentinel, master, None, password_env, sentinel_password_env, user)
    groups, _ = remote if remote is not None else spec_targets(ctx)
    if not groups:
        raise UsageError("no sentinel group to act on", hint="add `sentinel:` to the spec or use --sentinel/--master")
    if group is None:
        if len(groups) > 1:
            raise UsageError("the spec has several sentinel groups",
                             hint=f"choose one with --group ({', '.join(g.name for g in groups)})")
        return groups[0]
    for target in groups:
        if target.name == group:
            return target
    raise UsageError(f"unknown group {group!r}", hint=f"groups: {', '.join(g.name for g in groups)}")


def _node_address(ctx: Ctx, text: str, remote: bool) -> Address:
    """``--to`` takes a node name from the spec (mymaster-1) or host:port."""
    if not remote and ":" not in text:
        from redisops.runtime.plan import build_plan

        try:
            return build_plan(ctx.load_spec()).node(text).address
        except KeyError:
            raise UsageError(f"--to {text}: no such node in the spec", hint="use a node name or host:port") from None
    try:
        return Address.parse(text)
    except ValueError as exc:
        raise UsageError(f"--to: {exc}", hint="use a node name (mymaster-1) or host:port") from None


def _journal(ctx: Ctx, *, remote: bool) -> Journal:
    """Where temporary settings are kept until undone: the spec's state dir, or the user's for remote nodes."""
    from redisops.lifecycle import Deployment
    from redisops.runtime.temporary import Journal

    return Journal.for_remote() if remote else Deployment.open(ctx.file).journal


def failover(
    file: FileOpt = DEFAULT_SPEC,
    group: GroupOpt = None,
    to: str | None = typer.Option(None, "--to", help="Replica to promote: node name or host:port."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for the failover to finish."),
    sentinel: SentinelOpt = None,
    master: MasterOpt = None,
    password_env: PasswordEnvOpt = None, user: UserOpt = None,
    sentinel_password_env: SentinelPasswordEnvOpt = None,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Fail a Sentinel group over (SENTINEL FAILOVER), optionally to a chosen replica; print the timeline."""

    def body(ctx: Ctx) -> Result:
        from redisops.cli.deploy import progress_spinner
        from redisops.ha.failover import manual_failover

        target = pick_group(ctx, group, sentinel, master, password_env, sentinel_password_env, user)
        wanted = _node_address(ctx, to, sentinel is not None) if to else None
        with progress_spinner(ctx, f"checking {target.name}") as progress:
            result = manual_failover(target, to=wanted, timeout=timeout, progress=progress,
                                     journal=_journal(ctx, remote=sentinel is not None))

        def render(out: Console) -> None:
            out.print(result.sentence, highlight=False)
            first = result.timeline[0].at if result.timeline else 0.0
            for entry in result.timeline:
                out.print(f"  +{entry.at - first:6.3f} s  {entry.event:<34} {entry.detail}", highlight=False,
                          markup=False, soft_wrap=True)

        return Result(result.to_dict(), render)

    run(body, file=file, json_out=json_out, debug=debug)


def tune(
    file: FileOpt = DEFAULT_SPEC,
    group: GroupOpt = None,
    apply: bool = typer.Option(False, "--apply", help="SENTINEL SET / CONFIG SET the fixes, then verify."),
    force: bool = typer.Option(False, "--force", help="Allow down-after below 2000 ms on non-loopback hosts."),
    sentinel: SentinelOpt = None,
    master: MasterOpt = None,
    password_env: PasswordEnvOpt = None, user: UserOpt = None,
    sentinel_password_env: SentinelPasswordEnvOpt = None,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Compare live Sentinel and node settings with the spec and good practice; --apply fixes them.

    Exit 1 when errors or warnings (findings) remain; advice is printed but is not a finding."""

    def body(ctx: Ctx) -> Result:
        from redisops.ha.tune import apply_fixes, findings_only, read_live, review

        target = pick_group(ctx, group, sentinel, master, password_env, sentinel_password_env, user)
        spec_group = None if sentinel is not None else ctx.load_spec().group(target.name)
        hosts = [a.host for a in (*target.sentinels, *target.nodes)]
        live = read_live(target)
        findings = review(live, spec_group, hosts, force=force)
        result = apply_fixes(target, live, findings, spec_group, hosts, force=force) if apply else None
        remaining = result.remaining if result is not None else findings_only(findings)
        code = 0 if not remaining else 1
        counted = len(findings_only(findings))
        summary = f"{plural(counted, 'finding')}, {len(findings) - counted} advice"
        data = {"group": target.name, "rtt_ms": round(live.rtt_ms, 3), "summary": summary,
                "findings": [f.to_dict() for f in findings],
                "applied": [] if result is None else [f"{x.scope} {x.param}={x.value}" for x in result.applied],
                "remaining": [f.to_dict() for f in remaining]}

        def render(out: Console) -> None:
            out.print(f"{target.name}: {summary} (slowest RTT {live.rtt_ms:.2f} ms)", highlight=False)
            for f in findings:
                fix = f"  [fix: {f.fix.scope} {f.fix.param} {f.fix.value}]" if f.fix else ""
                out.print(f"{f.severity:<8} {f.setting}: {f.current} -> {f.recommended}: {f.reason}{fix}",
                          highlight=False, markup=False, soft_wrap=True)
            if result is not None:
                out.print(f"applied {plural(len(result.applied), 'fix', 'fixes')}; "
                          + ("verified: nothing left to fix" if not result.remaining
                             else f"still differing: {', '.join(f.setting for f in result.remaining)}"))
            elif any(f.fix for f in findings):
                out.print("run with --apply to set the fixes on every sentinel and node")

        return Result(data, render, code)

    run(body, file=file, json_out=json_out, debug=debug)
