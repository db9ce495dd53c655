"""`up` after `down` with data that takes seconds to load, and after a formation killed half way.

Loading is slowed down on purpose with Redis's own ``key-load-delay`` (microseconds per key while loading), so a
few thousand keys take seconds, as hundreds of thousands do without it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from redisops.address import Address
from redisops.clients import connect
from redisops.errors import StartupError
from redisops.lifecycle import Deployment, down, up
from redisops.testing import Topology, assert_eventually
from redisops.testing.data import fill_cluster, fill_node, node_fingerprint

REDISOPS = [sys.executable, "-m", "redisops"]


def slow_loading(topo: Topology, delay_us: int) -> None:
    """Every data node loads ``delay_us`` per key from now on (a hidden Redis setting, read at start)."""
    for node in topo.plan.nodes:
        if node.kind.value != "sentinel":
            path = topo.deployment.runtime.conf_path(node)
            path.write_text(path.read_text() + f"key-load-delay {delay_us}\n")


def fingerprints(topo: Topology, names: list[str]) -> dict[str, tuple[int, str]]:
    return {n: node_fingerprint(topo.node(n).address, topo.secrets.admin) for n in names}


def masters(topo: Topology) -> list[str]:
    out = []
    for node in topo.plan.cluster.nodes:
        with topo.client(node.name) as client:
            if client.info("replication")["role"] == "master":
                out.append(node.name)
    return out


def test_up_waits_while_nodes_load_their_data(tmp_path: Path) -> None:
    """The nodes listen before they have loaded their data and answer -LOADING meanwhile: `up` used to take them
    for unreachable and fail the cluster formation (exit 3)."""
    with Topology.start(tmp_path) as topo:
        password = topo.secrets.admin
        assert fill_cluster(topo.node("main-0").address, password, 30_000) == 30_000
        assert fill_node(topo.node("mymaster-0").address, password, (f"g:{i}".encode() for i in range(10_000))) == 10_000
        cluster_masters = masters(topo)
        before = fingerprints(topo, [*cluster_masters, "mymaster-0"])
        down(topo.deployment)
        slow_loading(topo, 150)

        said: list[str] = []
        result = up(topo.deployment, progress=said.append)

        assert any(m.startswith("loading data: ") and "%" in m for m in said), said
        assert any(a.startswith("waited ") and "loaded their data" in a for a in result.actions), result.actions
        assert result.report.health.name == "OK"
        assert masters(topo) == cluster_masters
        assert fingerprints(topo, [*cluster_masters, "mymaster-0"]) == before


def test_a_node_that_dies_while_loading_is_named_with_its_log_line(tmp_path: Path) -> None:
    with Topology.start(tmp_path, sentinel=False) as topo:
        assert fill_cluster(topo.node("main-0").address, topo.secrets.admin, 3000) == 3000
        down(topo.deployment)
        aof = next((topo.deployment.runtime.node_dir(topo.node("main-1")) / "appendonlydir").glob("*.incr.aof"))
        data = aof.read_bytes()
        aof.write_bytes(data[: len(data) // 2] + b"\r\nthis is not the redis protocol\r\n" + data[len(data) // 2:])
        with pytest.raises(StartupError) as caught:
            up(topo.deployment)
        assert caught.value.node == "main-1"
        assert "exited while" in str(caught.value) and "(log: " in str(caught.value)


def _cluster_node_timeouts(addresses: list[Address], password: str) -> dict[Address, str]:
    out = {}
    for address in addresses:
        try:
            with connect(address, password, 0.5) as client:
                out[address] = str(client.config_get("cluster-node-timeout")["cluster-node-timeout"])
        except redis.RedisError:
            continue
    return out


def test_formation_killed_half_way_leaves_no_fast_gossip_after_up(tmp_path: Path) -> None:
    """`up` shortens cluster-node-timeout to 1000 ms while the cluster forms; killed then, the next `up` restores
    the spec's 5000 ms in every node's memory and file."""
    spec = Topology.write_spec(tmp_path, sentinel=False)
    dep = Deployment.open(spec)
    addresses = [n.address for n in dep.plan.cluster.nodes]
    password = dep.secrets.admin
    proc = subprocess.Popen([*REDISOPS, "up", "-f", str(spec)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        try:
            assert_eventually(lambda: _assert("1000" in _cluster_node_timeouts(addresses, password).values()),
                              within=60, interval=0.01)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        left = _cluster_node_timeouts(addresses, password)
        assert "1000" in left.values(), left  # the kill came before formation put them back
        journal = dep.runtime.state_dir / "temporary.json"
        assert json.loads(journal.read_text())

        done = subprocess.run([*REDISOPS, "up", "-f", str(spec)], capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
        assert set(_cluster_node_timeouts(addresses, password).values()) == {"5000"}
        for node in dep.plan.cluster.nodes:
            assert "cluster-node-timeout 1000" not in dep.runtime.conf_path(node).read_text()
        assert json.loads(journal.read_text()) == []
    finally:
        down(Deployment.open(spec))


def _assert(condition: bool) -> None:
    assert condition
