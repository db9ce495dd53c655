"""`redisops failover`: steered to a chosen replica, timeline printed, bad input refused."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cli_json
import pytest
import redis

from redisops.address import Address
from redisops.auth import Credential, Login
from redisops.clients import connect
from redisops.testing import Topology, assert_eventually

REDISOPS = [sys.executable, "-m", "redisops"]


def cli(*args: str, spec: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REDISOPS, *args, "-f", str(spec)], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with Topology.start(tmp_path_factory.mktemp("failover"), cluster=False, down_after_ms=1000) as topology:
        yield topology


@pytest.mark.slow
def test_failover_to_a_chosen_replica_with_timeline(topo: Topology) -> None:
    target = topo.node("mymaster-2").address
    done = cli("failover", "--to", "mymaster-2", "--json", spec=topo.spec_file)
    assert done.returncode == 0, done.stdout + done.stderr
    result = cli_json.data(done.stdout)
    assert result["old_master"] == str(topo.node("mymaster-0").address)
    assert result["new_master"] == str(target)
    events = [e["event"] for e in result["timeline"]]
    assert "+switch-master" in events and events.index("+try-failover") < events.index("+switch-master")
    status = cli_json.data(cli("status", "--json", spec=topo.spec_file).stdout)
    assert status["health"] == "ok", status["reasons"]
    assert status["groups"][0]["master"] == str(target)
    priorities = [topo.client(n).config_get("replica-priority")["replica-priority"] for n in ("mymaster-0", "mymaster-1")]
    assert priorities == ["100", "100"]  # restored after steering


@pytest.mark.slow
def test_failover_without_target_picks_a_replica(topo: Topology) -> None:
    before = cli_json.data(cli("status", "--json", spec=topo.spec_file).stdout)["groups"][0]["master"]
    done = cli("failover", spec=topo.spec_file)
    assert done.returncode == 0, done.stderr
    assert "failed over from" in done.stdout and "+switch-master" in done.stdout
    after = cli_json.data(cli("status", "--json", spec=topo.spec_file).stdout)["groups"][0]["master"]
    assert after != before


def test_bad_input_is_one_line(topo: Topology) -> None:
    for args, fragment in ((["--group", "nope"], "unknown group 'nope'"), (["--to", "nope-9"], "no such node"),
                           (["--to", "127.0.0.1:1"], "is not a healthy replica")):
        done = cli("failover", *args, spec=topo.spec_file)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert fragment in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_no_healthy_replica(tmp_path: Path) -> None:
    with Topology.start(tmp_path, cluster=False, replicas=1, down_after_ms=5000) as topo:
        topo.kill("mymaster-1")
        assert_eventually(lambda: _assert(topo.pid("mymaster-1") is None), within=5)
        done = cli("failover", spec=topo.spec_file)
        assert done.returncode == 3
        assert "no healthy replica to promote" in done.stderr and "Traceback" not in done.stderr


def _assert(condition: bool) -> None:
    assert condition



PAUSE_HOLDER = """
import os, sys, time
from redisops.address import Address
from redisops.auth import Login
from redisops.clock import SystemClock
from redisops.ha.failover import _writes_paused
from redisops.topology.targets import SentinelTarget
host, port, user = sys.argv[1], int(sys.argv[2]), sys.argv[3]
target = SentinelTarget("mymaster", (), password=Login(user, os.environ["HOLDER_PW"]))  # no secret in argv
with _writes_paused(target, Address(host, port), [], 60_000, SystemClock(), lambda _m: None):
    print("paused", flush=True)
    time.sleep(600)
"""


def _write_blocks(address: Address, password: Credential) -> bool:
    """True when a SET does not answer within 0.5 s: writes are paused."""
    with connect(address, password, 0.5) as client:
        try:
            client.set("pause:probe", "1")
        except redis.TimeoutError:
            return True
        return False


def test_write_pause_is_a_lease_renewed_while_alive_and_gone_soon_after_a_kill(topo: Topology) -> None:
    """The planned failover pauses writes on the old master; a killed redisops must not leave it paused long."""
    master = Address.parse(cli_json.data(cli("status", "--json", spec=topo.spec_file).stdout)["groups"][0]["master"])
    password = topo.secrets.admin
    assert isinstance(password, Login)
    holder = subprocess.Popen([sys.executable, "-c", PAUSE_HOLDER, master.host, str(master.port), password.user],
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "HOLDER_PW": password.password})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "paused"
        assert _write_blocks(master, password)
        time.sleep(6.5)  # longer than one 5 s lease: still paused, because it is renewed
        assert _write_blocks(master, password)
        holder.kill()
        holder.wait(timeout=10)
        # nobody unpauses: the SET waits for the last lease to run out (5 s), far short of the 60 s the
        # holder asked for in all -- without leases this times out
        with connect(master, password, 20.0) as client:
            assert client.set("pause:after", "1")
    finally:
        holder.kill()
        holder.wait(timeout=10)
