"""docs/runbooks/sentinel.md, scenarios 2-4, run with the runbook's own commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import cli_json
import pytest

from redisops.auth import Credential, login_parts
from redisops.testing import Topology, assert_eventually

REDISOPS = [sys.executable, "-m", "redisops"]


def redisops(*args: str, spec: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REDISOPS, *args, "-f", str(spec)], capture_output=True, text=True, timeout=120)


def redis_cli(port: int, *args: str, password: Credential) -> str:
    """redis-cli as the runbook runs it: the password in REDISCLI_AUTH, an ACL login's user in ``--user``."""
    user, secret = login_parts(password)
    user_args = ["--user", user] if user else []
    done = subprocess.run(["redis-cli", *user_args, "-p", str(port), *args], capture_output=True, text=True,
                          timeout=30, env={**os.environ, "REDISCLI_AUTH": secret or ""}, check=True)
    return done.stdout.strip()


def status(spec: Path) -> tuple[int, dict[str, Any]]:
    done = redisops("status", "--json", spec=spec)
    return done.returncode, cli_json.data(done.stdout)


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with Topology.start(tmp_path_factory.mktemp("runbook"), cluster=False, down_after_ms=2000) as topology:
        yield topology


def test_2_sentinel_majority_lost(topo: Topology) -> None:
    topo.kill("mymaster-sentinel-1")
    topo.kill("mymaster-sentinel-2")
    code, data = assert_eventually(lambda: _down(topo.spec_file), within=10)
    assert code == 3 and any("sentinel" in r for r in data["reasons"])
    assert redisops("up", spec=topo.spec_file).returncode == 0
    port = topo.node("mymaster-sentinel-0").address.port
    reply = redis_cli(port, "sentinel", "ckquorum", "mymaster", password=topo.secrets.sentinel_password)
    assert reply.startswith("OK 3 usable Sentinels")


def test_3_split_brain_is_found_and_fixed(topo: Topology) -> None:
    rogue = topo.node("mymaster-2").address
    redis_cli(rogue.port, "replicaof", "no", "one", password=topo.secrets.admin)
    code, data = status(topo.spec_file)
    assert code == 3 and any("split brain" in r for r in data["reasons"]), data["reasons"]
    elected = data["groups"][0]["master"]
    host, port = elected.split(":")
    redis_cli(rogue.port, "replicaof", host, port, password=topo.secrets.admin)
    redis_cli(rogue.port, "config", "rewrite", password=topo.secrets.admin)
    assert_eventually(lambda: _ok(topo.spec_file), within=20)


def test_4_replica_output_buffer_loop_and_fix(topo: Topology) -> None:
    password = topo.secrets.admin
    _, data = status(topo.spec_file)
    master = topo.deployment.plan.groups[0].redis[[str(n.address) for n in topo.plan.groups[0].redis]
                                                   .index(data["groups"][0]["master"])]
    log = topo.deployment.runtime.log_path(master)
    data_ports = [n.address.port for n in topo.plan.groups[0].redis]
    for port in data_ports:
        redis_cli(port, "config", "set", "client-output-buffer-limit", "replica 64kb 32kb 1", password=password)
    slow = next(n.name for n in topo.plan.groups[0].redis if n.name != master.name)
    _burst_while_paused(topo, master.name, slow)
    assert_eventually(lambda: _assert("output buffer limits" in log.read_text()), within=10)
    before = log.read_text().count("output buffer limits")
    for port in data_ports:  # the runbook's fix, on every data node
        redis_cli(port, "config", "set", "client-output-buffer-limit", "replica 512mb 128mb 120", password=password)
        redis_cli(port, "config", "rewrite", password=password)
    assert_eventually(lambda: _ok(topo.spec_file), within=30)
    _burst_while_paused(topo, master.name, slow)
    assert_eventually(lambda: _ok(topo.spec_file), within=30)
    assert log.read_text().count("output buffer limits") == before


def _burst_while_paused(topo: Topology, master: str, replica: str) -> None:
    """A replica that cannot keep up: paused while 40 MB are written, so the socket buffers fill and the
    master's output buffer for it grows."""
    topo.pause(replica)
    try:
        client = topo.client(master)
        for i in range(40):
            client.set(f"burst:{i}", "x" * 1024 * 1024)
    finally:
        topo.resume(replica)


def _down(spec: Path) -> tuple[int, dict[str, Any]]:
    code, data = status(spec)
    assert code == 3, data["reasons"]
    return code, data


def _ok(spec: Path) -> None:
    code, data = status(spec)
    assert code == 0, data["reasons"]


def _assert(condition: bool) -> None:
    assert condition
