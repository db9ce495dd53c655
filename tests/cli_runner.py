"""Typer's CliRunner with stderr apart from stdout under every Click the project supports.

Click 8.2 keeps them apart always and dropped ``mix_stderr``; Click 8.1 (``make test-min``'s floor) mixes them
unless told not to, and then ``result.stderr`` raises.  Importable from every test directory.
"""

from __future__ import annotations

from typer.testing import CliRunner

__all__ = ["cli_runner"]


def cli_runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg,unused-ignore]
    except TypeError:  # Click >= 8.2: always apart
        return CliRunner()
