"""What every command shares: options, output, and turning errors into exit codes.

A command body is a function returning ``(data, render)``: ``data`` is what
``--json`` prints, ``render`` draws it for people.  :func:`run` is the only
place where a :class:`~redisops.errors.RedisopsError` becomes one line of text
and an exit code.

``--json`` output has one shape for every command (docs/json.md, and the JSON
Schema docs/json-envelope.schema.json): ``{"kind", "version", "data"}`` on
stdout, or ``{"kind", "version", "error"}`` as the last line of stderr, so
``redisops ... --json | jq .data`` never reads an error as data and the exit
code stays what it says.  ``kind`` is the command path (``cluster.rebalance``);
a command that prints records while it runs (``watch``, ``status --watch``,
``backup schedule``) prints one envelope per line, with the record's name after
the command's (``watch.cycle``).  This module is the only place that writes them.

Output goes through :func:`console`: on a terminal Rich sizes it to the
terminal; anywhere else (a pipe, a file, a test) it is wide and never
hard-wraps a line, so ``redisops status | grep`` sees whole lines and whole
table cells.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import threading
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

__all__ = ["ENVELOPE_VERSION", "Ctx", "DebugOpt", "FileOpt", "JsonOpt", "Result", "command_kind", "console",
           "envelope", "error_record", "keep_whole", "plural", "run", "table", "write_data", "write_error"]

FileOpt = Annotated[Path, typer.Option("-f", "--file", help="Topology spec.", show_default=True)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON: {kind, version, data} on stdout, "
                                                       "errors as {kind, version, error} on stderr.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Debug logs and full tracebacks.")]
DEFAULT_SPEC = Path("redisops.yaml")

#: the width of output that is not a terminal: wider than any table redisops draws, so none is squeezed
PIPE_WIDTH = 1000
#: the envelope's version: it changes only when the envelope's own fields change meaning, not a command's data
ENVELOPE_VERSION = 1
#: Ctrl-C (SIGINT), as a shell reports it: 128 + 2
EXIT_INTERRUPTED = 130
INTERNAL_HINT = "rerun with --debug for the traceback"


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
    kind: str = "redisops"  # the command path, the --json envelope's kind: "cluster.rebalance"

    def load_spec(self) -> Any:
        from redisops.spec import load

        return load(self.file)

    def line(self, data: Any, record: str | None = None) -> None:
        """One envelope on one stdout line, for commands that print records while they run (``--json``).

        Its kind is the command's, or ``<command>.<record>`` (``watch.cycle``) when a
        stream holds several kinds of record.
        """
        write_data(self.kind if record is None else f"{self.kind}.{record}", data, line=True)


def run(body: Callable[[Ctx], Result], *, file: Path = DEFAULT_SPEC, json_out: bool = False,
        debug: bool = False) -> NoReturn:
    """Run one command body; print its result; exit with its code."""
    ctx = Ctx(file, json_out, debug, console(), console(stderr=True), command_kind())
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        result = body(ctx)
        if result.streamed:
            pass
        elif ctx.json:
            write_data(ctx.kind, result.data)
        elif result.render is not None:
            result.render(ctx.out)
    except RedisopsError as exc:
        if debug:
            raise
        _fail(ctx, exc, exc.exit_code)
    except KeyboardInterrupt:
        _fail(ctx, Interrupted("interrupted"), EXIT_INTERRUPTED)
    except Exception as exc:  # a bug: still one line, unless --debug
        if debug:
            raise
        _fail(ctx, exc, EXIT_DOWN, internal=True)
    raise typer.Exit(result.exit_code)


class Interrupted(Exception):
    """Ctrl-C: reported like an error (``--json``: type ``Interrupted``), exit 130."""


def command_kind(context: Any = None) -> str:
    """The command path without the program name, dotted: ``cluster.rebalance``.

    Read from the parser's context (the running command's, or ``context``: where
    the parser stopped) rather than spelled out by each command, so a kind cannot
    drift from what the user typed.  ``redisops`` when there is no command.
    """
    context = context if context is not None else _current_context()
    names: list[str] = []
    while context is not None and context.parent is not None:
        names.append(context.info_name or "")
        context = context.parent
    return ".".join(reversed(names)) or "redisops"


def _current_context() -> Any:
    try:  # recent typer carries its own copy of click (typer._click)
        from typer._click.globals import get_current_context
    except ImportError:  # older typer runs on click itself
        from click import get_current_context  # type: ignore[no-redef]
    return get_current_context(silent=True)


def envelope(kind: str, *, data: Any = None, error: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"kind", "version", "data"}``, or ``{"kind", "version", "error"}`` when ``error`` is given."""
    body = {"data": data} if error is None else {"error": error}
    return {"kind": kind, "version": ENVELOPE_VERSION, **body}


_stdout = threading.Lock()  # stream records come from several threads (the watcher's backup schedule)


def write_data(kind: str, data: Any, *, line: bool = False) -> None:
    """A success envelope on stdout: indented, or on one line (a record of a stream)."""
    text = json.dumps(envelope(kind, data=data), indent=None if line else 2, default=str) + "\n"
    with _stdout:
        sys.stdout.write(text)
        sys.stdout.flush()


def write_error(kind: str, error: dict[str, Any]) -> None:
    """An error envelope as one line on stderr: its last line, after any log lines, for ``tail -n 1``."""
    sys.stdout.flush()
    sys.stderr.write(json.dumps(envelope(kind, error=error), default=str) + "\n")
    sys.stderr.flush()


def error_record(exc: BaseException, exit_code: int, *, internal: bool = False) -> dict[str, Any]:
    """The ``error`` of an envelope: message and hint apart, the type, the exit code, whether retrying helps."""
    if isinstance(exc, RedisopsError):
        message, hint, retryable = getattr(exc, "message", str(exc)), exc.hint, exc.retryable
    else:
        message, hint, retryable = str(exc) or type(exc).__name__, INTERNAL_HINT if internal else None, False
    record: dict[str, Any] = {"message": message, "hint": hint, "type": type(exc).__name__,
                              "exit_code": exit_code, "retryable": retryable}
    problems = getattr(exc, "problems", None)
    if problems:
        record["problems"] = [dataclasses.asdict(p) for p in problems]
    return record


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


def _fail(ctx: Ctx, exc: BaseException, code: int, *, internal: bool = False) -> NoReturn:
    """The one place an error is reported: one line of text, or (``--json``) an error envelope on stderr."""
    code = code or EXIT_INPUT
    if ctx.json:
        write_error(ctx.kind, error_record(exc, code, internal=internal))
    elif isinstance(exc, Interrupted):
        ctx.err.print("interrupted", highlight=False)
    else:
        text = f"internal error: {exc} ({INTERNAL_HINT})" if internal else f"error: {exc}"
        ctx.err.print(text, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)
