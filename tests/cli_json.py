"""Reading ``redisops ... --json`` in tests: every envelope is checked against docs/json-envelope.schema.json.

``data(done.stdout)`` is what a test used to get from ``json.loads(done.stdout)``;
``error(done)`` is the error of a failed command (on stderr; stdout must be
empty); ``record(line)`` / ``records(text)`` read the lines of a stream
(``watch --json``, ``status --watch --json``).  Each checks the envelope's
shape, so every integration test that reads ``--json`` also tests the schema
against real output.  Importable from every test directory (tests/conftest.py
puts tests/ on the path).
"""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

__all__ = ["SCHEMA_FILE", "data", "envelope", "error", "record", "records"]

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "docs" / "json-envelope.schema.json"


@functools.cache
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def envelope(text: str, kind: str | None = None) -> dict[str, Any]:
    """One envelope, parsed and checked against the schema (and its kind, when given)."""
    parsed = json.loads(text)
    errors = sorted(_validator().iter_errors(parsed), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]) + f"\n{text[:2000]}"
    if kind is not None:
        assert parsed["kind"] == kind, (parsed["kind"], kind)
    return parsed


def data(stdout: str, kind: str | None = None) -> Any:
    """The ``data`` of the success envelope that is the whole of a command's stdout."""
    parsed = envelope(stdout, kind)
    assert "data" in parsed, parsed
    return parsed["data"]


def error(done: subprocess.CompletedProcess[str], kind: str | None = None) -> dict[str, Any]:
    """The ``error`` of a failed ``--json`` command: the last line of stderr; nothing on stdout."""
    assert done.stdout == "", done.stdout
    lines = done.stderr.strip().splitlines()
    assert lines, "nothing on stderr"
    parsed = envelope(lines[-1], kind)
    assert "error" in parsed, parsed
    assert parsed["error"]["exit_code"] == done.returncode, (parsed, done.returncode)
    return parsed["error"]


def record(line: str) -> tuple[str, Any]:
    """``(kind, data)`` of one line of a stream."""
    parsed = envelope(line)
    assert "data" in parsed, parsed
    return parsed["kind"], parsed["data"]


def records(text: str) -> list[tuple[str, Any]]:
    """``(kind, data)`` of every line of a stream's output."""
    return [record(line) for line in text.splitlines() if line.strip()]
