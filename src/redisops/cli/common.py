"""What every command shares: options, output, and turning errors into exit codes.

A command body is a function returning ``(data, render)``: ``data`` is what
``--json`` prints, ``render`` draws it for people.  :func:`run` is the only
place where a :class:`~redisops.errors.RedisopsError` becomes one line of text
and an exit code.

Output goes through :func:`console`: on a terminal Rich sizes it to the
terminal; anywhere else (a pipe, a file, a test) it is wide and never
hard-wraps a line, so ``redisops status | grep`` sees whole lines and whole
table cells.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

from redisops.errors import EXIT_DOWN, EXIT_INPUT, RedisopsError

if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text

__all__ = ["Ctx", "DebugOpt", "FileOpt", "JsonOpt", "Result", "console", "keep_whole", "plural", "run", "table"]

FileOpt = Annotated[Path, typer.Option("-f", "--file", help="Topology spec.", show_default=True)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Debug logs and full tracebacks.")]
DEFAULT_SPEC = Path("redisops.yaml")

#: the width of output that is not a terminal: wider than any table redisops draws, so none is squeezed
PIPE_WIDTH = 1000


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
    ctx = Ctx(file, json_out, debug, console(), console(stderr=True))
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


def console(*, stderr: bool = False) -> Console:
    """A console for stdout (results) or stderr (progress, errors).

    Off a terminal Rich falls back to 80 columns (or to the width of a terminal
    that stdin happens to be), so ``redisops status | cat`` squeezed table cells
    to ``127.0.0.1:7…`` and hard-wrapped sentences mid-line, which a ``grep`` then
    finds only half of.  Output that is not a terminal has no screen to fit:
    it gets :data:`PIPE_WIDTH`, so tables take their natural width, and
    ``soft_wrap``, so a plain line stays one line however long.  ``COLUMNS``,
    when set, still wins: the user asked for that width.  On a terminal Rich's
    own sizing (the terminal's width) is right, and the tables keep their
    identifying columns whole at any width (see :func:`table`).
    """
    default = Console(stderr=stderr)
    if default.is_terminal:
        return default
    width = None if os.environ.get("COLUMNS", "").isdigit() else PIPE_WIDTH
    return Console(stderr=stderr, width=width, soft_wrap=True)


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 node``, ``0 nodes``, ``3 nodes``; ``many`` for a noun whose plural is not ``noun + "s"``."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"


def table(columns: Sequence[str], *, title: str | Text | None = None, right: Sequence[str] = (),
          wrap: Sequence[str] = ()) -> Table:
    """A borderless table whose cells never wrap, except in the ``wrap`` columns.

    When the table is wider than the console (an 80-column terminal), Rich
    first narrows the columns that may wrap (``wrap``: lists such as slots,
    flags or a verdict, folded onto more lines, never narrower than their
    header) and only then cuts every column alike; :func:`keep_whole` stops it
    from cutting the columns that say what a row is.  ``right``: columns
    aligned right (numbers).
    """
    from rich.table import Table

    out = Table(title=title, title_justify="left", box=None, pad_edge=False, header_style="bold underline")
    for column in columns:
        folds = column in wrap
        out.add_column(column, justify="right" if column in right else "left", no_wrap=not folds,
                       overflow="fold" if folds else "ellipsis", min_width=len(column) if folds else None)
    return out


def keep_whole(table: Table, columns: Sequence[str]) -> Table:
    """Give ``columns`` a minimum width of their widest cell, so no console width cuts them.

    An address cut to ``127.0.0.1:7…`` or a role cut to ``mast…`` makes a row
    useless; when even the folded columns cannot make room, the table is wider
    than the screen rather than lose them.  Call it after the rows are added.
    """
    from rich.cells import cell_len

    for column in table.columns:
        if column.header in columns:
            cells = [column.header, *column.cells]  # Text cells or plain strings
            column.min_width = max(cell_len(getattr(cell, "plain", str(cell))) for cell in cells)
    return table


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
