"""One ``--json`` shape for every command, errors on stderr, ``down --purge`` asks first: the CLI without Redis.

The envelope and its schema are docs/json-envelope.schema.json; ``cli_json`` checks every envelope read here
against it.  What needs live nodes is in tests/integration/test_cli_surface.py.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cli_json
import pytest
import typer.main

from redisops.cli.main import app
from redisops.lifecycle import Deployment

BIN = Path(sys.executable).parent / "redisops"
#: kinds of the records a stream prints, besides the command paths (docs/json.md)
STREAM_KINDS = {"watch.cycle", "watch.incident", "watch.backup", "logs.scan.finding", "logs.scan.incident"}


def run(*args: str, stdin: Any = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=60, stdin=stdin)


def commands() -> dict[str, Any]:
    """Every command of the CLI by its path (``cluster.rebalance``)."""

    def walk(command: Any, path: list[str]) -> Iterator[tuple[str, Any]]:
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            yield ".".join(path), command
            return
        for name, sub in subcommands.items():
            yield from walk(sub, [*path, name])

    return dict(walk(typer.main.get_command(app), []))


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    done = run("init", "--json", "-f", str(tmp_path / "redisops.yaml"))
    assert done.returncode == 0, done.stderr
    assert set(cli_json.data(done.stdout, "init")["written"]) == {str(tmp_path / "redisops.yaml"),
                                                                   str(tmp_path / "redisops.secrets.yaml")}
    return tmp_path / "redisops.yaml"


# --- the surface -------------------------------------------------------------------------------------


def test_the_schema_names_every_command_and_nothing_else() -> None:
    kinds = set(json.loads(cli_json.SCHEMA_FILE.read_text())["$defs"]["kind"]["enum"])
    assert kinds - STREAM_KINDS - {"redisops"} == set(commands())


def test_every_command_takes_file_json_and_debug() -> None:
    """The README's promise: `-f/--file`, `--json` and `--debug` on every command."""
    missing = {path: flag for path, command in commands().items()
               for flag in ("-f", "--file", "--json", "--debug")
               if not any(flag in param.opts for param in command.params)}
    assert missing == {}


# --- success and error envelopes ----------------------------------------------------------------------


def test_data_goes_to_stdout_and_findings_keep_their_exit_code(spec: Path) -> None:
    done = run("config", "validate", "--json", "-f", str(spec))
    assert done.returncode == 0 and done.stderr == ""
    assert cli_json.data(done.stdout, "config.validate")["valid"] is True

    spec.write_text(spec.read_text().replace("quorum: 2", "quorum: 4"))
    found = run("config", "validate", "--json", "-f", str(spec))
    assert found.returncode == 2  # the command ran: its findings are data, with the exit code they had
    (problem,) = cli_json.data(found.stdout, "config.validate")["problems"]
    assert problem["path"] == "sentinel[0].quorum"


def test_an_error_is_an_envelope_on_stderr_and_stdout_stays_empty(spec: Path) -> None:
    spec.write_text(spec.read_text().replace("quorum: 2", "quorum: 4"))
    done = run("status", "--json", "-f", str(spec))
    assert done.returncode == 2
    error = cli_json.error(done, "status")  # checks that stdout is empty
    assert error["type"] == "SpecError" and error["retryable"] is False
    assert "sentinel[0].quorum: 4 exceeds sentinels (3)" in error["message"]
    assert error["hint"] == "run `redisops config validate` to list them all"
    assert [p["path"] for p in error["problems"]] == ["sentinel[0].quorum"]

    plain = run("status", "-f", str(spec))  # without --json: the one line it always was
    assert plain.stdout == "" and plain.stderr.startswith("error: ") and len(plain.stderr.splitlines()) == 1


def test_a_usage_error_names_its_command(spec: Path) -> None:
    done = run("cluster", "check", "--json", "-f", str(spec), "--password-env", "X")
    assert done.returncode == 2
    error = cli_json.error(done, "cluster.check")
    assert error["type"] == "UsageError"
    assert error["message"] == "--master and --*password-env only go with --sentinel or --cluster"


def test_what_the_option_parser_rejects_is_an_envelope_too() -> None:
    done = run("cluster", "rebalance", "--bogus", "--json")
    assert done.returncode == 2
    error = cli_json.error(done, "cluster.rebalance")
    assert error["type"] == "NoSuchOption" and error["message"].startswith("No such option: --bogus")
    assert error["hint"] == "see `redisops cluster rebalance --help`"
    plain = run("cluster", "rebalance", "--bogus")
    assert plain.returncode == 2 and "No such option: --bogus" in plain.stderr and not plain.stderr.startswith("{")


# --- commands that gained options ---------------------------------------------------------------------


def test_verify_compare_reads_a_bare_name_from_the_f_spec(spec: Path) -> None:
    done = run("verify", "compare", "#nope", "127.0.0.1:1", "-f", str(spec), "--json")
    assert done.returncode == 2
    error = cli_json.error(done, "verify.compare")
    assert error["message"] == f"{spec}#nope: say which data set to read"
    assert error["hint"] == f"use {spec}#NAME with NAME one of mymaster, cluster"


def test_cluster_create_takes_its_password_from_f_or_the_environment_not_both(spec: Path) -> None:
    done = run("cluster", "create", "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "-f", str(spec),
               "--password-env", "X", "--json")
    assert done.returncode == 2
    assert cli_json.error(done, "cluster.create")["message"] == "-f and --password-env both say where the password is"


# --- down --purge asks first --------------------------------------------------------------------------


def state_dir(spec: Path) -> Path:
    """The deployment's state dir, holding a file that stands for its data."""
    where = Deployment.open(spec).runtime.state_dir
    where.mkdir(parents=True)
    (where / "data.rdb").write_text("precious")
    return where


def test_down_purge_refuses_when_nobody_can_answer(spec: Path) -> None:
    where = state_dir(spec)
    done = run("down", "--purge", "-f", str(spec))  # stdin: /dev/null
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: down --purge would delete") and line.endswith("add --yes to confirm")
    assert (where / "data.rdb").read_text() == "precious"
    as_json = run("down", "--purge", "--json", "-f", str(spec))
    assert cli_json.error(as_json, "down")["hint"] == "add --yes to confirm"
    assert (where / "data.rdb").exists()
    confirmed = run("down", "--purge", "--yes", "--json", "-f", str(spec))
    assert confirmed.returncode == 0, confirmed.stderr
    assert cli_json.data(confirmed.stdout, "down")["purged"] is True
    assert not where.exists()


def on_a_terminal(answer: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run with stdin on a pseudo-terminal that has ``answer`` typed in (stdout and stderr are pipes)."""
    parent, child = pty.openpty()
    try:
        os.write(parent, answer.encode() + b"\n")
        return run(*args, stdin=child)
    finally:
        os.close(child)
        os.close(parent)


def test_down_purge_asks_on_a_terminal(spec: Path) -> None:
    where = state_dir(spec)
    declined = on_a_terminal("n", "down", "--purge", "-f", str(spec))
    assert declined.returncode == 2
    assert f"delete its data and config in {where}? [y/N] " in declined.stderr
    assert declined.stderr.endswith("error: down --purge not confirmed: nothing stopped or deleted: "
                                    "answer y, or add --yes\n")
    assert (where / "data.rdb").exists()
    agreed = on_a_terminal("y", "down", "--purge", "-f", str(spec))
    assert agreed.returncode == 0, agreed.stderr
    assert not where.exists()
