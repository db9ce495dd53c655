"""``redisops init`` and ``redisops config validate``."""

from __future__ import annotations

import typer
from rich.console import Console

from redisops.cli.common import DEFAULT_SPEC, Ctx, DebugOpt, FileOpt, JsonOpt, Result, plural, run

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    config = typer.Typer(help="Check the topology spec.", no_args_is_help=True)
    config.command("validate")(validate)
    app.add_typer(config, name="config")


def init(
    file: FileOpt = DEFAULT_SPEC,
    force: bool = typer.Option(False, "--force", help="Overwrite an existing spec (secrets are kept)."),
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Write a commented default spec and a secrets file (mode 0600) with strong passwords."""

    def body(ctx: Ctx) -> Result:
        from redisops.lifecycle import init_files

        written = init_files(ctx.file, force=force)

        def render(out: Console) -> None:
            for path, what in written.items():
                out.print(f"wrote {path} ({what})")
            if not written:
                out.print(f"{ctx.file} and its secrets file already exist; nothing written (use --force for the spec)")
            out.print("next: `redisops config validate`, then `redisops up`")

        return Result({"written": {str(k): v for k, v in written.items()}}, render)

    run(body, file=file, json_out=json_out, debug=debug)


def validate(file: FileOpt = DEFAULT_SPEC, json_out: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Report every problem of the spec at once, each with its path and line."""

    def body(ctx: Ctx) -> Result:
        from redisops.spec import validate as validate_spec

        spec, problems = validate_spec(ctx.file)
        errors = [p for p in problems if p.severity == "error"]
        code = 2 if errors or spec is None else (1 if problems else 0)

        def render(out: Console) -> None:
            for problem in problems:
                style = "red" if problem.severity == "error" else "yellow"
                out.print(f"[{style}]{problem.severity}[/]: ", end="")
                out.print(problem.render(str(ctx.file)), markup=False, highlight=False, soft_wrap=True)
            if not problems:
                out.print(f"{ctx.file}: valid", highlight=False)
            else:
                warnings = len(problems) - len(errors)
                out.print(f"{plural(len(errors), 'error')}, {plural(warnings, 'warning')}", highlight=False)

        data = {"file": str(ctx.file), "valid": not errors and spec is not None,
                "problems": [p.__dict__ for p in problems]}
        return Result(data, render, code)

    run(body, file=file, json_out=json_out, debug=debug)


