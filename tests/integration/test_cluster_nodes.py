"""``cluster create / add-node / health`` on nodes redisops did not start (plain redis-server processes)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import cli_json
import pytest
import redis
from redis.crc import key_slot
from test_cluster_support import cli, extra_node

from redisops.address import Address
from redisops.testing import assert_eventually

PASSWORD = "s3cret-cluster-test"


@pytest.fixture
def loose_nodes(tmp_path: Path) -> Iterator[list[Address]]:
    """Eight empty cluster-enabled redis-servers; six form the cluster, two are added later."""
    with ExitStack() as stack:
        yield [stack.enter_context(extra_node(tmp_path / f"n{i}", PASSWORD)) for i in range(8)]


def redis_cli_clean(seed: Address) -> None:
    import os
    import time

    deadline = time.monotonic() + 10
    while True:
        out = subprocess.run(["redis-cli", "--cluster", "check", str(seed)], capture_output=True, text=True,
                             env={**os.environ, "REDISCLI_AUTH": PASSWORD}, timeout=30).stdout
        if ("[OK] All 16384 slots covered." in out and "[OK] All nodes agree" in out
                and "[WARNING]" not in out and "[ERR]" not in out):
            return
        assert time.monotonic() < deadline, out
        time.sleep(0.2)


def write(node: redis.Redis) -> None:
    try:
        node.set("precious", "1")
    except redis.exceptions.ClusterDownError as exc:
        raise AssertionError(str(exc)) from exc


def remote(seed: Address) -> list[str]:
    return ["--cluster", str(seed), "--password-env", "CLUSTER_PW"]


def healthy(seed: Address) -> subprocess.CompletedProcess[str]:
    result = cli("health", *remote(seed), "--json", password=PASSWORD)
    assert result.returncode == 0, result.stdout
    return result


def test_create_add_and_health(loose_nodes: list[Address]) -> None:
    six, spare = loose_nodes[:6], loose_nodes[6:]
    created = cli("create", *map(str, six), "--replicas", "1", "--password-env", "CLUSTER_PW", password=PASSWORD)
    assert created.returncode == 0, created.stdout + created.stderr
    assert "formed cluster: 3 masters, 3 replicas" in created.stdout
    redis_cli_clean(six[0])

    added = cli("add-node", str(spare[0]), *remote(six[0]), password=PASSWORD)
    assert added.returncode == 0, added.stderr
    assert "master without slots" in added.stdout
    master = six[1]
    replica = cli("add-node", str(spare[1]), "--replica-of", str(master), *remote(six[0]), password=PASSWORD)
    assert replica.returncode == 0, replica.stderr
    redis_cli_clean(six[0])
    role = redis.Redis(spare[1].host, spare[1].port, password=PASSWORD).info("replication")
    assert role["role"] == "slave" and int(role["master_port"]) == master.port
    assert role["master_link_status"] == "up"  # add-node returns after the first sync, not before

    health = assert_eventually(lambda: healthy(six[0]), within=15)  # the new replica's first sync
    data = cli_json.data(health.stdout)
    assert {n["address"] for n in data["nodes"]} == {str(a) for a in loose_nodes}
    assert all(n["latency_ms"] is not None and n["used_memory"] for n in data["nodes"])
    assert health.returncode == 0, health.stdout


def test_bad_input_leaves_nodes_untouched(loose_nodes: list[Address]) -> None:
    six = loose_nodes[:6]
    loaded_node = redis.Redis(six[2].host, six[2].port, password=PASSWORD)
    loaded_node.config_set("cluster-require-full-coverage", "no")  # serve its one slot alone
    loaded_node.execute_command("CLUSTER", "ADDSLOTS", key_slot(b"precious"))
    assert_eventually(lambda: write(loaded_node), within=5)
    loaded = cli("create", *map(str, six), "--password-env", "CLUSTER_PW", password=PASSWORD)
    assert loaded.returncode != 0 and "non-empty" in loaded.stderr, loaded.stderr
    down = cli("create", *map(str, six[:5]), "127.0.0.1:1", "--password-env", "CLUSTER_PW", password=PASSWORD)
    assert down.returncode != 0 and "127.0.0.1:1" in down.stderr
    wrong = cli("create", *map(str, six), "--password-env", "CLUSTER_PW", password="wrong")
    assert wrong.returncode == 2 and "authentication" in wrong.stderr
    for node in six:
        assert len(redis.Redis(node.host, node.port, password=PASSWORD).cluster("NODES")) == 1


def test_add_node_refuses_a_node_of_another_cluster(loose_nodes: list[Address]) -> None:
    six = loose_nodes[:6]
    assert cli("create", *map(str, six), "--replicas", "1", "--password-env", "CLUSTER_PW",
               password=PASSWORD).returncode == 0
    other = loose_nodes[6]
    redis.Redis(other.host, other.port, password=PASSWORD).cluster("MEET", loose_nodes[7].host, loose_nodes[7].port)
    refused = cli("add-node", str(other), *remote(six[0]), password=PASSWORD)
    assert refused.returncode != 0 and "already belongs to a cluster" in refused.stderr, refused.stderr
