"""``redisops firewall render | apply | remove | status``: the deployment's ports for its clients and members only."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.console import Console

from redisops.cli.common import DEFAULT_SPEC, Ctx, DebugOpt, FileOpt, JsonOpt, Result, run
from redisops.errors import EXIT_DEGRADED, UsageError

if TYPE_CHECKING:
    from redisops.security.firewall import Ruleset

__all__ = ["register"]


class Format(str, Enum):
    NFTABLES = "nftables"
    IPTABLES = "iptables"


FormatOpt = typer.Option(Format.NFTABLES, "--format", case_sensitive=False,
                         help="nftables (table inet redisops_<name>, IPv4 and IPv6) or iptables (chain "
                              "REDISOPS-<NAME>, IPv4).")


OutputOpt = Annotated[Optional[Path], typer.Option("-o", "--output", show_default=False,  # noqa: UP045 - typer reads it at runtime
                                                   help="Write the rules to this file (default: stdout).")]


def register(app: typer.Typer) -> None:
    firewall = typer.Typer(help="Firewall rules from the spec: data and sentinel ports for client networks and "
                                "members, cluster bus ports for members only, the rest dropped.",
                           no_args_is_help=True)
    firewall.command("render")(render)
    firewall.command("apply")(apply)
    firewall.command("remove")(remove)
    firewall.command("status")(status)
    app.add_typer(firewall, name="firewall")


def render(
    file: FileOpt = DEFAULT_SPEC,
    fmt: Format = FormatOpt,
    output: OutputOpt = None,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Print (or write) the rules for `nft -f` / `iptables-restore --noflush`; no root needed, nothing applied."""

    def body(ctx: Ctx) -> Result:
        from redisops.security.firewall import Backend
        from redisops.security.firewall import render as render_rules

        rules = _ruleset(ctx)
        text = render_rules(rules, Backend(fmt.value))
        if output is not None:
            _write(output, text)
        data = {"format": fmt.value, "output": None if output is None else str(output), **rules.to_data(),
                "text": text}

        def show(out: Console) -> None:
            if output is None:
                sys.stdout.write(text)
            else:
                out.print(f"wrote {output}: {_summary(rules)}; apply with `redisops firewall apply"
                          f"{'' if fmt is Format.NFTABLES else ' --format iptables'}`", highlight=False)

        return Result(data, show)

    run(body, file=file, json_out=json_out, debug=debug)


def apply(file: FileOpt = DEFAULT_SPEC, fmt: Format = FormatOpt, json_out: JsonOpt = False,
          debug: DebugOpt = False) -> None:
    """Check, then load the rules in one transaction (root); idempotent, replaces what a previous apply loaded."""

    def body(ctx: Ctx) -> Result:
        rules = _ruleset(ctx)
        status = _firewall(fmt).apply(rules)
        data = {**status.to_data(), "ports": [str(p) for p in rules.ports]}

        def show(out: Console) -> None:
            out.print(f"{status.sentence}; {_summary(rules)}", highlight=False)
            out.print("not saved across reboots: see docs/firewall.md; undo with `redisops firewall remove"
                      f"{'' if fmt is Format.NFTABLES else ' --format iptables'}`", highlight=False)

        return Result(data, show)

    run(body, file=file, json_out=json_out, debug=debug)


def remove(file: FileOpt = DEFAULT_SPEC, fmt: Format = FormatOpt, json_out: JsonOpt = False,
           debug: DebugOpt = False) -> None:
    """Delete exactly what `firewall apply` loaded (root); nothing else is touched, removing twice is fine."""

    def body(ctx: Ctx) -> Result:
        rules = _ruleset(ctx)
        removed = _firewall(fmt).remove(rules)
        name = f"table inet {rules.table}" if fmt is Format.NFTABLES else f"chain {rules.chain} and its jumps"
        data = {"backend": fmt.value, "removed": removed, "name": name}

        def show(out: Console) -> None:
            out.print(f"removed {name}" if removed else f"nothing to remove: no {name}", highlight=False)

        return Result(data, show)

    run(body, file=file, json_out=json_out, debug=debug)


def status(file: FileOpt = DEFAULT_SPEC, fmt: Format = FormatOpt, json_out: JsonOpt = False,
           debug: DebugOpt = False) -> None:
    """Whether the live rules are the spec's (root): exit 0 applied, 1 stale or not applied."""

    def body(ctx: Ctx) -> Result:
        from redisops.security.firewall import State

        state = _firewall(fmt).status(_ruleset(ctx))

        def show(out: Console) -> None:
            out.print(state.sentence, highlight=False)

        return Result(state.to_data(), show, 0 if state.state is State.APPLIED else EXIT_DEGRADED)

    run(body, file=file, json_out=json_out, debug=debug)


def _ruleset(ctx: Ctx) -> Ruleset:
    from redisops.runtime.plan import build_plan
    from redisops.security.firewall import build_ruleset

    return build_ruleset(build_plan(ctx.load_spec()))


def _firewall(fmt: Format) -> Any:
    from redisops.security.firewall import Backend, Firewall

    return Firewall(Backend(fmt.value))


def _summary(rules: Ruleset) -> str:
    ports = ", ".join(str(p) for p in rules.ports)
    return f"{len(rules.services)} services, ports {ports} guarded"


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}",
                         hint="pass -o a path in a directory you can write") from exc
