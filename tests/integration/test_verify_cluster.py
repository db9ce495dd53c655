"""``verify replicas`` on cluster shards, ``verify cluster`` and ``verify compare`` across shapes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cli_json
import pytest
import redis
from redis.cluster import RedisCluster

from redisops.data.cluster_check import check_cluster
from redisops.data.replicas import verify_replicas
from redisops.data.spaces import open_space, resolve_target
from redisops.data.verify import VerifyOptions, compare_spaces
from redisops.testing import Topology
from redisops.topology import targets_from_plan

REDISOPS = str(Path(sys.executable).parent / "redisops")
FAST = VerifyOptions(rounds=2, interval=0.2, lag_timeout=10)


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    with Topology.start(tmp_path_factory.mktemp("verify-cluster"), replicas=1) as topo:
        yield topo


def cluster_client(topo: Topology) -> RedisCluster:
    node = topo.node("main-0").address
    return RedisCluster(node.host, node.port, username="admin", password=topo.secrets.admin_password, decode_responses=True)


def fill(client: redis.Redis | RedisCluster, n: int) -> None:
    for i in range(n):
        client.set(f"c{i}", i, ex=3600 if i % 2 else None)
        client.hset(f"h{i}", mapping={"a": i})


def test_cluster_replicas_compare_per_shard(topo: Topology) -> None:
    fill(cluster_client(topo), 300)
    _, clusters = targets_from_plan(topo.plan, topo.secrets)
    result = verify_replicas([], clusters, FAST)
    assert len(result) == 3
    assert all(r.error is None and r.differences == () and r.mode == "lua" for r in result)
    assert sum(r.scanned for r in result) == 600  # each master's keys once, though every shard scans both ways


def test_verify_cluster_finds_a_key_in_a_slot_its_node_does_not_own(topo: Topology) -> None:
    _, clusters = targets_from_plan(topo.plan, topo.secrets)
    assert check_cluster(clusters[0]).exit_code == 0
    slot = 16000  # owned by the last master; main-0 is told it imports it, then a key is written with ASKING
    owner = next(n for n in (f"main-{i}" for i in range(6))
                 if slot in range(*_range(topo.client(n))) and topo.client(n).info("replication")["role"] == "master")
    importer = topo.client("main-0")
    key = _key_in_slot(slot)
    importer.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", topo.client(owner).execute_command("CLUSTER",
                                                                                                          "MYID"))
    pipe = importer.pipeline(transaction=False)
    pipe.execute_command("ASKING")
    pipe.set(key, "stray")
    pipe.execute()
    try:
        check = check_cluster(clusters[0])
        assert check.exit_code == 1 and not check.disagreeing and check.uncovered == 0
        assert [(str(m.node), m.slot, m.count, m.examples) for m in check.misplaced] == [
            (str(topo.node("main-0").address), slot, 1, (key,))]
        cli = subprocess.run([REDISOPS, "verify", "cluster", "-f", str(topo.spec_file), "--json"],
                             capture_output=True, text=True, timeout=60)
        assert cli.returncode == 1 and cli_json.data(cli.stdout)["misplaced"][0]["slot"] == slot
    finally:
        pipe = importer.pipeline(transaction=False)
        pipe.execute_command("ASKING")
        pipe.delete(key)
        pipe.execute()
        importer.execute_command("CLUSTER", "SETSLOT", slot, "STABLE")
    assert check_cluster(clusters[0]).exit_code == 0


def test_compare_group_against_cluster(topo: Topology) -> None:
    """Two shapes, same data: keys are routed by slot on the cluster side."""
    master = topo.client("mymaster-0")
    master.flushall()
    cluster = cluster_client(topo)
    cluster.flushall()
    fill(master, 200)
    fill(cluster, 200)
    source = open_space(*resolve_target(f"{topo.spec_file}#mymaster"))
    target = open_space(*resolve_target(f"{topo.spec_file}#cluster"))
    try:
        assert compare_spaces(source, target, FAST).differences == ()
        cluster.set("c7", "changed")
        cluster.set("only-in-cluster", "1")
        diff = compare_spaces(source, target, FAST)
        assert {(d.key, d.kind.value) for d in diff.differences} == {(b"c7", "value"),
                                                                    (b"only-in-cluster", "extra_on_target")}
    finally:
        source.close()
        target.close()
    cli = subprocess.run([REDISOPS, "verify", "compare", f"{topo.spec_file}#mymaster", f"{topo.spec_file}#cluster",
                          "--json", "--rounds", "1"], capture_output=True, text=True, timeout=60)
    assert cli.returncode == 1, cli.stderr
    assert cli_json.data(cli.stdout)["pairs"][0]["counts"]["value"] == 1


def _range(client: redis.Redis) -> tuple[int, int]:
    for first, last, *_ in client.execute_command("CLUSTER", "SLOTS"):
        if first <= 16000 <= last:
            return first, last + 1
    return 0, 0


def _key_in_slot(slot: int) -> str:
    from redis.crc import key_slot

    return next(f"stray{i}" for i in range(100_000) if key_slot(f"stray{i}".encode()) == slot)
