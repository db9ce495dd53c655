"""``verify replicas`` / ``verify cluster`` against real Sentinel groups and a real cluster."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cli_json
import pytest
import redis

from redisops.data.compare import PairReport
from redisops.data.replicas import verify_replicas
from redisops.data.verify import VerifyOptions
from redisops.testing import Topology
from redisops.topology import targets_from_plan

REDISOPS = str(Path(sys.executable).parent / "redisops")
FAST = VerifyOptions(rounds=3, interval=0.2, lag_timeout=10)


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    with Topology.start(tmp_path_factory.mktemp("verify-group"), cluster=False) as topo:
        fill(topo.client("mymaster-0"), "k", 500)
        yield topo


def fill(client: redis.Redis, prefix: str, n: int) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        kind = i % 5
        key = f"{prefix}{i}"
        if kind == 0:
            pipe.set(key, f"v{i}", ex=3600)
        elif kind == 1:
            pipe.hset(key, mapping={"a": str(i), "b": "x"})
        elif kind == 2:
            pipe.rpush(key, "1", "2", str(i))
        elif kind == 3:
            pipe.sadd(key, "m1", "m2", str(i))
        else:
            pipe.zadd(key, {"a": 1.5, str(i): i})
    pipe.execute()


def reports(topo: Topology, options: VerifyOptions = FAST) -> dict[str, PairReport]:
    groups, clusters = targets_from_plan(topo.plan, topo.secrets)
    return {r.target: r for r in verify_replicas(groups, clusters, options)}


def addr(topo: Topology, name: str) -> str:
    return str(topo.node(name).address)


def test_in_sync_group_reports_no_difference(group: Topology) -> None:
    result = reports(group)
    assert set(result) == {addr(group, "mymaster-1"), addr(group, "mymaster-2")}
    for report in result.values():
        assert report.error is None and report.differences == () and report.mode == "lua"
        # every key found and equal DBSIZE before and after: the reverse scan is provably needless
        assert report.scanned == 500


def test_paused_replica_that_caught_up_is_not_different(group: Topology) -> None:
    group.pause("mymaster-2")
    try:
        fill(group.client("mymaster-0"), "lag", 3000)
    finally:
        group.resume("mymaster-2")
    report = reports(group)[addr(group, "mymaster-2")]
    assert report.error is None and report.differences == (), report.to_dict(10)


def test_diverged_replica_reports_exactly_the_touched_keys(group: Topology) -> None:
    replica = group.client("mymaster-1")
    master = group.client("mymaster-0")
    replica.config_set("replica-read-only", "no")
    try:
        replica.set("only-on-replica", "x")
        replica.delete("k1")
        replica.rpush("k2", "extra")
        replica.set("k3", "now-a-string")
        replica.pexpire("k4", 10_000_000)
        replica.expire("k5", 5000)  # k5 is a string with 3600 s: differs by far more than the tolerance
        touched = {"only-on-replica": "extra_on_target", "k1": "missing_on_target", "k2": "value",
                   "k3": "type", "k4": "ttl", "k5": "ttl"}
        result = reports(group)
        diverged = result[addr(group, "mymaster-1")]
        assert {d.key.decode(): d.kind.value for d in diverged.differences} == touched
        assert diverged.counts == {"missing_on_target": 1, "extra_on_target": 1, "type": 1, "value": 1, "ttl": 2}
        assert result[addr(group, "mymaster-2")].differences == ()
        cli = subprocess.run([REDISOPS, "verify", "replicas", "-f", str(group.spec_file), "--json",
                              "--interval", "0.1"], capture_output=True, text=True, timeout=60)
        assert cli.returncode == 1, cli.stderr
        pairs = {p["target"]: p for p in cli_json.data(cli.stdout)["pairs"]}
        assert pairs[addr(group, "mymaster-1")]["counts"]["ttl"] == 2
        assert {d["key"] for d in pairs[addr(group, "mymaster-1")]["first"]} == set(touched)
    finally:
        replica.config_set("replica-read-only", "yes")
        master.delete(*touched)
        fill(master, "k", 6)  # rewrite the touched keys through replication
    assert reports(group)[addr(group, "mymaster-1")].differences == ()


def test_encoding_is_not_a_difference(group: Topology) -> None:
    """The master's hash grew past listpack and shrank (hashtable); the replica's never grew (listpack)."""
    master = group.client("mymaster-0")
    replica = group.client("mymaster-1")
    master.hset("grown", mapping={"a": "1", "b": "2"})
    master.hset("grown", mapping={f"f{i}": "v" for i in range(1000)})
    master.hdel("grown", *[f"f{i}" for i in range(1000)])
    master.sadd("grownset", *range(1000))
    master.srem("grownset", *range(3, 1000))
    master.wait(2, 2000)
    replica.config_set("replica-read-only", "no")
    try:
        replica.delete("grown", "grownset")
        replica.hset("grown", mapping={"b": "2", "a": "1"})
        replica.sadd("grownset", 2, 1, 0)
        assert master.object("encoding", "grown") == "hashtable"
        assert replica.object("encoding", "grown") == "listpack"
        assert master.object("encoding", "grownset") != replica.object("encoding", "grownset")
        assert reports(group)[addr(group, "mymaster-1")].differences == ()
    finally:
        replica.config_set("replica-read-only", "yes")


def test_ttl_tolerance(group: Topology) -> None:
    master = group.client("mymaster-0")
    replica = group.client("mymaster-1")
    master.set("ttl-key", "v", px=600_000)
    master.wait(2, 2000)
    replica.config_set("replica-read-only", "no")
    try:
        replica.pexpire("ttl-key", 603_000)  # 3 s apart
        loose = reports(group, VerifyOptions(rounds=1, ttl_tolerance_ms=5000))[addr(group, "mymaster-1")]
        strict = reports(group, VerifyOptions(rounds=1, ttl_tolerance_ms=1000))[addr(group, "mymaster-1")]
        assert loose.differences == ()
        assert [(d.key, d.kind.value) for d in strict.differences] == [(b"ttl-key", "ttl")]
    finally:
        replica.config_set("replica-read-only", "yes")
        master.set("ttl-key", "v", px=600_000)


def test_down_replica_exits_3(group: Topology) -> None:
    group.pause("mymaster-2")
    try:
        groups, clusters = targets_from_plan(group.plan, group.secrets)
        result = {r.target: r for r in verify_replicas(groups, clusters, FAST, timeout=0.5)}
        assert result[addr(group, "mymaster-2")].exit_code == 3
    finally:
        group.resume("mymaster-2")


def test_client_side_fallback_agrees_with_the_script(group: Topology) -> None:
    from redisops.data.digest import DigestMode, NodeReader
    from redisops.data.keyspace import Single, connect
    from redisops.data.verify import compare_spaces

    master, replica = group.node("mymaster-0").address, group.node("mymaster-1").address
    password = group.secrets.admin
    writer = group.client("mymaster-1")
    writer.config_set("replica-read-only", "no")
    try:
        writer.hset("k6", "a", "changed")  # k6 is a hash
        writer.set("fallback-extra", "1")
        found = {}
        for mode in (DigestMode.LUA, DigestMode.CLIENT):
            source = Single(master, NodeReader(connect(master, password), mode))
            target = Single(replica, NodeReader(connect(replica, password), mode))
            report = compare_spaces(source, target, VerifyOptions(rounds=1))
            assert report.mode == mode.value
            found[mode] = {(d.key, d.kind.value) for d in report.differences}
            source.close()
            target.close()
        assert found[DigestMode.LUA] == found[DigestMode.CLIENT] == {(b"k6", "value"),
                                                                     (b"fallback-extra", "extra_on_target")}
    finally:
        writer.config_set("replica-read-only", "yes")
        master_client = group.client("mymaster-0")
        master_client.delete("k6", "fallback-extra")
        fill(master_client, "k", 7)


def test_a_ttl_only_the_replica_has_is_found_when_the_master_has_no_volatile_key(tmp_path: Path) -> None:
    """The digest skips PEXPIRETIME on a node without any key with an expiry; the replica's own TTL still shows."""
    with Topology.start(tmp_path, cluster=False, replicas=1) as topo:
        master, replica = topo.client("mymaster-0"), topo.client("mymaster-1")
        master.mset({f"plain{i}": str(i) for i in range(300)})
        master.wait(1, 2000)
        assert reports(topo)[addr(topo, "mymaster-1")].differences == ()
        replica.config_set("replica-read-only", "no")
        replica.pexpire("plain7", 3_600_000)
        report = reports(topo, VerifyOptions(rounds=1))[addr(topo, "mymaster-1")]
        assert [(d.key, d.kind.value) for d in report.differences] == [(b"plain7", "ttl")]


def test_stream_consumer_groups_are_compared_in_both_modes(group: Topology) -> None:
    """Entries equal but a group only the replica has, or a group further on: a value difference; a group
    that reached the replica through replication (XREADGROUP, XACK) is equal, idle times notwithstanding."""
    from redisops.data.digest import DigestMode, NodeReader
    from redisops.data.keyspace import Single, connect
    from redisops.data.verify import compare_spaces

    master_client = group.client("mymaster-0")
    for key in ("st:plain", "st:grouped", "st:diverged"):
        master_client.xadd(key, {"n": "1"}, id="1-1")
        master_client.xadd(key, {"n": "2"}, id="2-1")
    master_client.xgroup_create("st:grouped", "workers", id="0")
    master_client.xreadgroup("workers", "alice", {"st:grouped": ">"}, count=2)
    master_client.xack("st:grouped", "workers", "1-1")  # one pending, last delivered 2-1
    master_client.xgroup_create("st:diverged", "workers", id="0")
    assert reports(group)[addr(group, "mymaster-1")].differences == ()
    master, replica = group.node("mymaster-0").address, group.node("mymaster-1").address
    writer = group.client("mymaster-1")
    writer.config_set("replica-read-only", "no")
    try:
        writer.xgroup_create("st:plain", "only-here", id="0")  # a group the master's copy lacks
        writer.xgroup_setid("st:diverged", "workers", id="2-1")  # the group moved on, entries unchanged
        for mode in (DigestMode.LUA, DigestMode.CLIENT):
            source = Single(master, NodeReader(connect(master, group.secrets.admin), mode))
            target = Single(replica, NodeReader(connect(replica, group.secrets.admin), mode))
            try:
                found = compare_spaces(source, target, VerifyOptions(rounds=1)).differences
            finally:
                source.close()
                target.close()
            assert {(d.key, d.kind.value) for d in found} == {(b"st:plain", "value"), (b"st:diverged", "value")}, mode
    finally:
        writer.config_set("replica-read-only", "yes")
        master_client.delete("st:plain", "st:grouped", "st:diverged")
    assert reports(group)[addr(group, "mymaster-1")].differences == ()
