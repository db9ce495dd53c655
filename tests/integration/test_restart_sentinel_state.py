"""What a planned failover, a safe drill and a killed redisops leave behind must survive a full restart.

One Sentinel group (down-after 1 s) for the module; every test leaves it healthy.  Each test stops and starts
the real nodes (`redisops down` / `up`), and the kill tests kill the real `redisops` process with SIGKILL.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cli_json
import pytest
import redis

from redisops.address import Address
from redisops.clients import connect
from redisops.ha.failover import manual_failover
from redisops.runtime.temporary import Entry, Journal, Owner, temporary_config
from redisops.testing import Topology, assert_eventually
from redisops.topology import targets_from_plan

REDISOPS = [sys.executable, "-m", "redisops"]
DATA_NODES = ("mymaster-0", "mymaster-1", "mymaster-2")


def cli(*args: str, spec: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REDISOPS, *args, "-f", str(spec)], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    with Topology.start(tmp_path_factory.mktemp("restart-state"), cluster=False, down_after_ms=1000) as topology:
        yield topology


def conf(topo: Topology, name: str) -> str:
    return topo.deployment.runtime.conf_path(topo.node(name)).read_text()


def setting(topo: Topology, name: str, param: str) -> str:
    with topo.client(name) as client:
        return str(client.config_get(param)[param])


def master_name(topo: Topology) -> str:
    with topo.client("mymaster-sentinel-0") as sentinel:
        host, port = sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")
    return next(n for n in DATA_NODES if topo.node(n).address == Address(host, int(port)))


def wait_healthy(topo: Topology) -> None:
    def healthy() -> None:
        done = cli("status", "--json", spec=topo.spec_file)
        assert done.returncode == 0, done.stdout[-2000:]

    assert_eventually(healthy, within=60)


class MasterCounter:
    """Polls every data node's role every 200 ms in a thread; remembers the most masters seen at once."""

    def __init__(self, topo: Topology) -> None:
        self.addresses = [topo.node(n).address for n in DATA_NODES]
        self.password = topo.secrets.admin
        self.most: list[Address] = []
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _role(self, address: Address) -> str | None:
        try:
            with connect(address, self.password, 0.5) as client:
                return str(client.execute_command("ROLE")[0])
        except redis.RedisError:
            return None

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            masters = [a for a in self.addresses if self._role(a) == "master"]
            self.polls += 1
            if len(masters) > len(self.most):
                self.most = masters

    def __enter__(self) -> MasterCounter:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def test_failover_to_then_full_restart_leaves_every_replica_promotable_and_one_master(topo: Topology) -> None:
    """Sentinel's CONFIG REWRITE of the other replica saved the temporary replica-priority 0 into its file;
    after a planned failover the old master's REPLICAOF lived in memory only, so a full restart booted two masters."""
    old = master_name(topo)
    chosen, other = [n for n in DATA_NODES if n != old]
    done = cli("failover", "--to", chosen, "--json", spec=topo.spec_file)
    assert done.returncode == 0, done.stderr
    assert master_name(topo) == chosen
    for name in DATA_NODES:
        assert "replica-priority 0" not in conf(topo, name), name
        assert setting(topo, name, "replica-priority") == "100", name
    assert f"replicaof {topo.node(chosen).address.host} {topo.node(chosen).address.port}" in conf(topo, old)

    with MasterCounter(topo) as counter:
        assert cli("down", spec=topo.spec_file).returncode == 0
        done = cli("up", spec=topo.spec_file)
        assert done.returncode == 0, done.stdout + done.stderr
        wait_healthy(topo)
    assert counter.polls > 10
    assert len(counter.most) <= 1, f"two masters at once: {counter.most}"
    assert master_name(topo) == chosen
    for name in DATA_NODES:
        assert setting(topo, name, "replica-priority") == "100", name

    done = cli("failover", "--to", other, spec=topo.spec_file)  # priority 0 would make this impossible
    assert done.returncode == 0, done.stderr
    assert master_name(topo) == other


def test_planned_failover_pauses_writes_below_down_after(topo: Topology) -> None:
    """CLIENT PAUSE WRITE holds Sentinel's hello PUBLISH and the PING queued behind it: a pause longer than
    down-after (1 s here) made the sentinels flag the old master +sdown in the middle of the failover."""
    wait_healthy(topo)
    old = topo.node(master_name(topo)).address
    seen: list[str] = []
    listeners = [_SdownListener(topo, s.name, seen) for s in topo.plan.groups[0].sentinels]
    try:
        groups, _ = targets_from_plan(topo.plan, topo.secrets)
        result = manual_failover(groups[0])
        assert result.old_master == old
        print(f"writes paused {result.paused_s:.3f} s, lapsed before the promotion: {result.pause_lapsed}")
        assert 0 < result.paused_s < 1.0  # capped below down-after whatever the machine's speed (was ~2 s)
        time.sleep(2.5)  # a +sdown needs down-after (1 s) of silence after the pause began; give it time to show
    finally:
        for listener in listeners:
            listener.stop()
    assert not [m for m in seen if f" {old.host} {old.port}" in m], seen  # as master, or as replica after the switch


class _SdownListener:
    def __init__(self, topo: Topology, sentinel: str, seen: list[str]) -> None:
        self.client = topo.client(sentinel)
        self.pubsub = self.client.pubsub()
        self.pubsub.subscribe("+sdown")
        self.seen = seen
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self.pubsub.get_message(timeout=0.1)
            if message and message["type"] == "message":
                self.seen.append(str(message["data"]))

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        self.pubsub.close()
        self.client.close()


def _start(args: list[str], spec: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*REDISOPS, *args, "-f", str(spec)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def _kill(proc: subprocess.Popen[str]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def _journal(topo: Topology) -> list[Any]:
    path = topo.deployment.runtime.state_dir / "temporary.json"
    return json.loads(path.read_text()) if path.exists() else []


def test_killed_failover_to_leaves_nothing_after_up(topo: Topology) -> None:
    """kill -9 while the other replica holds replica-priority 0; Sentinel's rewrite has put it in the file
    (done here by hand) and that node is stopped: `up` mends the file before starting it."""
    wait_healthy(topo)
    master = master_name(topo)
    chosen, other = [n for n in DATA_NODES if n != master]
    proc = _start(["failover", "--to", chosen], topo.spec_file)
    try:
        assert_eventually(lambda: _is(setting(topo, other, "replica-priority"), "0"), within=30)
    finally:
        _kill(proc)
    assert [e["param"] for e in _journal(topo)] == ["replica-priority"]
    with topo.client(other) as client:
        client.execute_command("CONFIG", "REWRITE")  # what Sentinel does when it reconfigures a replica
    assert "replica-priority 0" in conf(topo, other)
    topo.deployment.runtime.stop([topo.node(other)])

    done = cli("up", "--json", spec=topo.spec_file)
    assert done.returncode == 0, done.stdout + done.stderr
    assert any("undid replica-priority 0" in a for a in cli_json.data(done.stdout)["actions"])
    for name in DATA_NODES:
        assert "replica-priority 0" not in conf(topo, name), name
        assert setting(topo, name, "replica-priority") == "100", name
    assert _journal(topo) == []
    wait_healthy(topo)


def test_killed_safe_drill_leaves_nothing_after_up(topo: Topology) -> None:
    wait_healthy(topo)
    proc = _start(["drill", "failover", "--safe", "--rounds", "1"], topo.spec_file)
    try:
        for name in DATA_NODES:
            assert_eventually(lambda n=name: _is(setting(topo, n, "min-replicas-to-write"), "1"), within=30)
    finally:
        _kill(proc)
    victim = DATA_NODES[1]
    with topo.client(victim) as client:
        client.execute_command("CONFIG", "REWRITE")
    assert "min-replicas-to-write 1" in conf(topo, victim)

    done = cli("up", spec=topo.spec_file)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in DATA_NODES:
        assert setting(topo, name, "min-replicas-to-write") == "0", name
        assert "min-replicas-to-write 1" not in conf(topo, name), name
    assert _journal(topo) == []
    wait_healthy(topo)


def test_a_rerun_takes_the_original_over_from_a_dead_owner(topo: Topology, tmp_path: Path) -> None:
    """A killed operation left replica-priority 0; the next one must restore 100, not the leftover 0."""
    node = topo.node(DATA_NODES[1]).address
    password = topo.secrets.admin
    journal = Journal(tmp_path / "temporary.json")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    journal.add(Entry(node, "replica-priority", "100", "0", Owner(dead.pid, 1), "a killed failover --to"))
    with connect(node, password) as client:
        client.config_set("replica-priority", 0)
    try:
        with temporary_config(journal, password, "the rerun") as temp:
            assert temp.set(node, "replica-priority", 0) == "100"
            assert [e.reason for e in journal.entries()] == ["the rerun"]
        assert setting(topo, DATA_NODES[1], "replica-priority") == "100"
        assert journal.entries() == []
    finally:
        with connect(node, password) as client:
            client.config_set("replica-priority", 100)


def _is(value: str, wanted: str) -> None:
    assert value == wanted, value


def test_an_elected_master_that_lost_its_data_waits_for_a_replicas_copy(topo: Topology) -> None:
    """Started empty, it would be a master every replica copies (all data gone): `up` refuses with the command that
    gives it a replica's copy, and after that command the group comes back with its keys."""
    wait_healthy(topo)
    master = master_name(topo)
    with topo.client(master) as client:
        client.set("survives", "yes")
        assert client.wait(2, 5000) == 2
    assert cli("down", spec=topo.spec_file).returncode == 0
    shutil.rmtree(topo.deployment.runtime.node_dir(topo.node(master)))

    done = cli("up", spec=topo.spec_file)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "has lost its data" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert all(topo.pid(n.name) is None for n in topo.plan.nodes)  # refused before starting anything
    command = done.stderr.split("`")[1]
    subprocess.run(["bash", "-c", command], check=True)

    done = cli("up", spec=topo.spec_file)
    assert done.returncode == 0, done.stdout + done.stderr
    wait_healthy(topo)
    assert master_name(topo) == master
    with topo.client(master) as client:
        assert client.get("survives") == "yes"
