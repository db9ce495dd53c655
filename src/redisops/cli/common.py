"""What every command shares: options, output, and turning errors into exit codes.

A command body is a function returning ``(data, render)``: ``data`` is what
``--json`` prints, ``render`` draws it for people.  :func:`run` is the only
place where a :class:`~redisops.errors.RedisopsError` becomes one line of text
and an exit code.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from redisops.errors import EXIT_DOWN, EXIT_INPUT, RedisopsError

__all__ = ["Ctx", "DebugOpt", "FileOpt", "JsonOpt", "Result", "run"]

FileOpt = Annotated[Path, typer.Option("-f", "--file", help="Topology spec.", show_default=True)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Debug logs and full tracebacks.")]
DEFAULT_SPEC = Path("redisops.yaml")


@dataclass
class Result:
    data: Any
    render: Callable[[Console], None] | None = None
    exit_code: int = 0
    #: the body already wrote its output (e.g. JSON lines while it ran): print nothing more
    streamed: bool = False


@dataclass
class Ctx:
    file: Path
    json: bool
    debug: bool
    out: Console  # results
    err: Console  # progress and messages: never mixed into --json output

    def load_spec(self) -> Any:
        from redisops.spec import load

        return load(self.file)


def run(body: Callable[[Ctx], Result], *, file: Path = DEFAULT_SPEC, json_out: bool = False,
        debug: bool = False) -> NoReturn:
    """Run one command body; print its result; exit with its code."""
    ctx = Ctx(file, json_out, debug, Console(), Console(stderr=True))
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        result = body(ctx)
        if result.streamed:
            pass
        elif ctx.json:
            sys.stdout.write(json.dumps(result.data, indent=2, default=str) + "\n")
        elif result.render is not None:
            result.render(ctx.out)
    except RedisopsError as exc:
        if debug:
            raise
        _fail(ctx, exc, exc.exit_code)
    except KeyboardInterrupt:
        ctx.err.print("interrupted")
        raise typer.Exit(130) from None
    except Exception as exc:  # a bug: still one line, unless --debug
        if debug:
            raise
        _fail(ctx, exc, EXIT_DOWN, prefix="internal error", suffix=" (rerun with --debug for the traceback)")
    raise typer.Exit(result.exit_code)


def _fail(ctx: Ctx, exc: BaseException, code: int, prefix: str = "error", suffix: str = "") -> NoReturn:
    text = f"{prefix}: {exc}{suffix}"
    if ctx.json:
        payload = {"error": str(exc), "type": type(exc).__name__, "exit_code": code}
        problems = getattr(exc, "problems", None)
        if problems:
            payload["problems"] = [p.__dict__ for p in problems]
        sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
    else:
        ctx.err.print(text, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code if code else EXIT_INPUT)
