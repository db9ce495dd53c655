"""Bad input: one clear line, a non-zero exit, no traceback, nothing half-done."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from redisops.testing import Topology

REDISOPS = [sys.executable, "-m", "redisops"]


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REDISOPS, *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd)


def one_line_error(done: subprocess.CompletedProcess[str], code: int, *fragments: str) -> str:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_malformed_yaml(tmp_path: Path) -> None:
    spec = tmp_path / "redisops.yaml"
    spec.write_text("name: demo\nsentinel:\n  - name: [unclosed\n")
    line = one_line_error(run("up", "-f", str(spec)), 2, "malformed YAML", f"{spec}:")
    assert ":4:" in line or ":3:" in line


def test_validate_lists_all_problems(tmp_path: Path) -> None:
    spec = tmp_path / "redisops.yaml"
    spec.write_text("sentinel:\n  - name: g\n    quorum: 4\n    colour: red\ncluster: {masters: 1}\n")
    done = run("config", "validate", "-f", str(spec))
    assert done.returncode == 2
    assert "sentinel[0].quorum: 4 exceeds sentinels (3)" in done.stdout
    assert "sentinel[0].colour: unknown key" in done.stdout
    assert "cluster.masters" in done.stdout
    assert "3 errors" in done.stdout


def test_missing_spec_and_missing_secrets(tmp_path: Path) -> None:
    one_line_error(run("up", "-f", str(tmp_path / "nope.yaml")), 2, "no such file", "redisops init")
    assert run("init", "-f", str(tmp_path / "redisops.yaml")).returncode == 0
    (tmp_path / "redisops.secrets.yaml").unlink()
    one_line_error(run("up", "-f", str(tmp_path / "redisops.yaml")), 2, "secrets file", "not found")


def test_init_writes_private_secrets_and_never_prints_them(tmp_path: Path) -> None:
    done = run("init", "-f", str(tmp_path / "redisops.yaml"))
    assert done.returncode == 0
    secrets = (tmp_path / "redisops.secrets.yaml").read_text()
    passwords = [line.split(": ")[1] for line in secrets.splitlines() if "_password: " in line]
    assert len(passwords) == 6
    assert not any(p in done.stdout + done.stderr for p in passwords)
    assert (tmp_path / "redisops.secrets.yaml").stat().st_mode & 0o077 == 0
    again = run("init", "-f", str(tmp_path / "redisops.yaml"))
    assert again.returncode == 0 and (tmp_path / "redisops.secrets.yaml").read_text() == secrets


def test_port_taken_by_a_foreign_process(tmp_path: Path) -> None:
    spec = Topology.write_spec(tmp_path, cluster=False)
    from redisops.spec import load

    port = load(spec).sentinel[0].port + 1
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        one_line_error(run("up", "-f", str(spec)), 2, f"127.0.0.1:{port}", "already in use by ",
                       "sentinel[0].port")
    assert not (tmp_path / ".redisops" / "test" / "mymaster-0" / "node.pid").exists()


def test_missing_redis_binaries(tmp_path: Path) -> None:
    spec = Topology.write_spec(tmp_path, cluster=False)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(sys.executable, bindir / "python3")
    env = {**os.environ, "PATH": str(bindir)}
    one_line_error(run("up", "-f", str(spec), env=env), 2, "redis-server not found", "apt-get install")


def test_state_dir_not_usable(tmp_path: Path) -> None:
    spec = Topology.write_spec(tmp_path, cluster=False)
    (tmp_path / ".redisops").write_text("a file where the state directory should be")
    one_line_error(run("up", "-f", str(spec)), 2, "state directory", "not usable")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    done = run("up", "--debug", "-f", str(tmp_path / "nope.yaml"))
    assert done.returncode != 0 and "Traceback" in done.stderr


def test_json_errors_are_json(tmp_path: Path) -> None:
    import cli_json

    done = run("config", "validate", "--json", "-f", str(tmp_path / "nope.yaml"))
    assert done.returncode == 2
    assert "no such file" in cli_json.error(done, "config.validate")["message"]


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_only_rejects_unknown_part(tmp_path: Path) -> None:
    spec = Topology.write_spec(tmp_path, cluster=False)
    one_line_error(run("up", "--only", "cluster", "-f", str(spec)), 2, "no cluster")
    one_line_error(run("up", "--only", "bogus", "-f", str(spec)), 2, "--only 'bogus'")
