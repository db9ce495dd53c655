"""`redisops doctor` and `redisops tune memory` in-process: bad input is one line with exit 2, before any node is
asked anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_runner import cli_runner

from redisops.cli.main import app
from redisops.lifecycle import init_files

SPEC = """name: t
sentinel:
  - name: mymaster
    port: 6400
    sentinel_port: 26400
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    spec_file = tmp_path / "redisops.yaml"
    init_files(spec_file, spec_text=SPEC)
    return spec_file


@pytest.mark.parametrize(("args", "message"), [
    (["doctor", "--node", "nosuch"], "--node nosuch: no such node in "),
    (["doctor", "--node", "mymaster-sentinel-0"], "--node mymaster-sentinel-0 is a sentinel"),
    (["doctor", "--fail-on", "bogus"], "--fail-on: unknown severity 'bogus'"),
    (["doctor", "--seed", "nonsense"], "--seed: 'nonsense' is not host:port"),
    (["doctor", "--seed", "127.0.0.1:1", "--node", "mymaster-0"], "--node and --seed do not go together"),
    (["doctor", "--password-env", "X"], "--password-env goes with --seed"),
    (["doctor", "--seed", "127.0.0.1:1", "--password-env", "REDISOPS_TEST_UNSET_VAR"], "is not set or empty"),
    (["tune", "memory", "--role", "scratch"], "--role 'scratch': use cache or store"),
    (["tune", "memory", "--ram", "lots"], "--ram: 'lots' is not a size"),
])
def test_bad_input_is_one_line_exit_2(spec: Path, args: list[str], message: str) -> None:
    result = cli_runner().invoke(app, [*args, "-f", str(spec)])
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_missing_spec_is_one_line(tmp_path: Path) -> None:
    for args in (["doctor"], ["tune", "memory"]):
        result = cli_runner().invoke(app, [*args, "-f", str(tmp_path / "none.yaml")])
        assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_intrinsic_latency_without_redis_cli_is_one_line(spec: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = cli_runner().invoke(app, ["doctor", "--seed", "127.0.0.1:1", "--intrinsic-latency", "1",
                                      "--latency-window", "0", "-f", str(spec)])
    assert result.exit_code == 2, result.stderr
    assert result.stderr.strip() == ("error: redis-cli not found on PATH: install it with "
                                     "`sudo apt-get install -y redis-tools` (or `make up`)")
