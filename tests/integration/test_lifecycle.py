"""`up` / `down` on real processes: healthy, idempotent, restartable, keeps keys."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import cli_json
import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.sentinel import Sentinel

from redisops.testing import Topology, assert_eventually

REDISOPS = [sys.executable, "-m", "redisops"]


def cli(*args: str, spec: Path, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REDISOPS, *args, "-f", str(spec)], capture_output=True, text=True, timeout=timeout,
                          env=env)


def status_json(spec: Path) -> dict[str, Any]:
    done = cli("status", "--json", spec=spec)
    assert done.returncode == 0, done.stdout + done.stderr
    return cli_json.data(done.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with Topology.start(tmp_path_factory.mktemp("lifecycle")) as topology:
        yield topology


def test_default_shape_is_healthy(topo: Topology) -> None:
    data = status_json(topo.spec_file)
    assert data["health"] == "ok"
    group = data["groups"][0]
    roles = sorted(node["role"] for node in group["nodes"])
    assert roles == ["master", "replica", "replica"]
    assert len(group["sentinels"]) == 3
    cluster = data["clusters"][0]
    assert len(cluster["nodes"]) == 6
    assert cluster["slots_covered"] == 16384


def test_second_up_leaves_running_nodes_alone(topo: Topology) -> None:
    pids = {n.name: topo.pid(n.name) for n in topo.plan.nodes}
    done = cli("up", "--json", spec=topo.spec_file)
    assert done.returncode == 0, done.stderr
    result = cli_json.data(done.stdout)
    assert result["started"] == []
    assert "cluster already formed" in " ".join(result["actions"])
    assert {n.name: topo.pid(n.name) for n in topo.plan.nodes} == pids


def test_foreign_clients_work_as_the_app_user(topo: Topology) -> None:
    """redis-cli, redis-py's Sentinel client and its cluster client, logged in as the app user."""
    password = topo.secrets.app_password
    master = topo.node("mymaster-0").address
    cli_out = subprocess.run(["redis-cli", "--user", "app", "-h", master.host, "-p", str(master.port), "set",
                              "foreign", "yes"], capture_output=True, text=True, env={"REDISCLI_AUTH": password},
                             check=True)
    assert cli_out.stdout.strip() == "OK"
    seed = topo.node("main-0").address
    cluster_out = subprocess.run(["redis-cli", "--user", "app", "-c", "-h", seed.host, "-p", str(seed.port), "set",
                                  "{b}x", "1"], capture_output=True, text=True, env={"REDISCLI_AUTH": password},
                                 check=True)
    assert cluster_out.stdout.strip() == "OK"
    sentinels = [(s.address.host, s.address.port) for s in topo.plan.groups[0].sentinels]
    sentinel = Sentinel(sentinels, sentinel_kwargs={"password": topo.secrets.sentinel_password},
                        username="app", password=password, socket_timeout=2)
    assert sentinel.master_for("mymaster").get("foreign") == b"yes"
    rc = RedisCluster(startup_nodes=[ClusterNode(seed.host, seed.port)], username="app", password=password)
    try:
        for i in range(200):
            rc.set(f"k{i}", i)
        assert rc.get("k199") == b"199"
        assert len(rc.get_primaries()) == 3
    finally:
        rc.close()


def test_wrong_password_is_refused(topo: Topology) -> None:
    master = topo.node("mymaster-0").address
    client = redis.Redis(master.host, master.port, username="app", password="wrong")
    with pytest.raises(redis.AuthenticationError):
        client.ping()
    # the default user is off: no password at all, or the one it had before ACL users, lets nobody in
    for anonymous in (redis.Redis(master.host, master.port), redis.Redis(master.host, master.port,
                                                                         password=topo.secrets.app_password)):
        with pytest.raises((redis.AuthenticationError, redis.ResponseError)):
            anonymous.ping()
        anonymous.close()


def test_kill_replica_then_up_restores_it(topo: Topology) -> None:
    old = topo.kill("mymaster-2")
    assert_eventually(lambda: _assert(topo.pid("mymaster-2") is None), within=5)
    result = topo.up()
    assert result.started == ["mymaster-2"]
    assert topo.pid("mymaster-2") not in (None, old)


def test_kill_sentinel_and_cluster_node_then_up_restores_them(topo: Topology) -> None:
    topo.kill("mymaster-sentinel-1")
    topo.kill("main-4")
    assert_eventually(lambda: _assert(topo.pid("main-4") is None and topo.pid("mymaster-sentinel-1") is None),
                      within=5)
    result = topo.up()
    assert sorted(result.started) == ["main-4", "mymaster-sentinel-1"]
    assert result.report.health.name == "OK"


def test_configs_and_auth_files_are_private(topo: Topology) -> None:
    node_dir = topo.deployment.runtime.node_dir(topo.node("main-0"))
    for name in ("redis.conf", "auth.conf"):
        assert (node_dir / name).stat().st_mode & 0o077 == 0
    conf = (node_dir / "redis.conf").read_text()
    assert topo.secrets.admin_password not in conf
    assert "bind 127.0.0.1" in conf and "protected-mode yes" in conf


def test_a_rewritten_conf_keeps_no_password_after_a_restart(topo: Topology) -> None:
    """CONFIG REWRITE (Sentinel runs it on failover) copies the passwords into redis.conf / sentinel.conf and
    leaves them at 0644; the next start drops those copies (auth.conf holds them) and makes the file 0600."""
    for name in ("mymaster-2", "mymaster-sentinel-2"):
        with topo.client(name) as client:
            if "sentinel" in name:
                assert client.execute_command("SENTINEL", "FLUSHCONFIG")
            else:
                assert client.execute_command("CONFIG", "REWRITE")
        conf = topo.deployment.runtime.conf_path(topo.node(name))
        copied = conf.read_text().split("include ")[-1]  # the copies this test is about
        if "sentinel" in name:
            assert "requirepass" in copied and topo.secrets.sentinel_password in copied, name
        else:  # ACL users: their lines, and the replication user's password in clear as masterauth
            assert "user admin " in copied and topo.secrets.replication_password in copied, name
        topo.kill(name)
    # `up` starts only what is down: a SIGKILLed process may take a moment to go
    assert_eventually(lambda: _assert(topo.pid("mymaster-2") is None and topo.pid("mymaster-sentinel-2") is None),
                      within=5)
    topo.up()
    for name in ("mymaster-2", "mymaster-sentinel-2"):
        conf = topo.deployment.runtime.conf_path(topo.node(name))
        text = conf.read_text()
        assert not [p for p in topo.secrets.passwords if p in text], name
        # auth.conf's directives are not copied (a sentinel's default user, which requirepass sets, stays a digest)
        owned = ("requirepass ", "masterauth ", "masteruser ", "sentinel auth-pass ", "sentinel auth-user ",
                 *(() if "sentinel" in name else ("user ",)))
        assert not [line for line in text.splitlines() if line.startswith(owned)], name
        assert text.rstrip().splitlines()[-1].startswith("include "), name
        assert conf.stat().st_mode & 0o077 == 0, name
        with topo.client(name) as client:  # auth.conf still sets the passwords
            assert client.ping()


@pytest.mark.slow
def test_down_then_up_keeps_keys_and_cluster(tmp_path: Path) -> None:
    spec = Topology.write_spec(tmp_path)
    assert cli("up", spec=spec).returncode == 0
    topo = Topology.__new__(Topology)
    from redisops.lifecycle import Deployment

    topo.deployment = Deployment.open(spec)
    try:
        seed = topo.node("main-0").address
        rc = RedisCluster(host=seed.host, port=seed.port, username="admin", password=topo.secrets.admin_password)
        for i in range(1000):
            rc.set(f"key:{i}", i)
        rc.close()
        topo.client("mymaster-0").set("group-key", "kept")
        ids_before = {n.name: topo.client(n.name).execute_command("CLUSTER", "MYID") for n in topo.plan.cluster.nodes}
        done = cli("down", spec=spec)
        assert done.returncode == 0, done.stderr
        assert all(topo.pid(n.name) is None for n in topo.plan.nodes)
        done = cli("up", "--json", spec=spec)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "cluster already formed" in " ".join(cli_json.data(done.stdout)["actions"])
        rc = RedisCluster(host=seed.host, port=seed.port, username="admin", password=topo.secrets.admin_password)
        assert rc.dbsize(target_nodes=RedisCluster.PRIMARIES) == 1000
        assert rc.get("key:999") == b"999"
        rc.close()
        assert topo.client("mymaster-0").get("group-key") == "kept"
        assert {n.name: topo.client(n.name).execute_command("CLUSTER", "MYID")
                for n in topo.plan.cluster.nodes} == ids_before
        done = cli("down", "--purge", "--yes", spec=spec)
        assert done.returncode == 0
        assert not topo.deployment.runtime.state_dir.exists()
    finally:
        topo.stop()


@pytest.mark.slow
def test_killed_master_rejoins_as_replica_of_the_elected_one(tmp_path: Path) -> None:
    with Topology.start(tmp_path, cluster=False, down_after_ms=1000) as topo:
        topo.kill("mymaster-0")
        sentinel = topo.client("mymaster-sentinel-0")
        old = topo.node("mymaster-0").address

        def failed_over() -> str:
            host, port = sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")
            assert (host, int(port)) != (old.host, old.port)
            return f"{host}:{port}"

        assert_eventually(failed_over, within=30)
        result = topo.up()
        assert result.started == ["mymaster-0"]
        assert any("as a replica of" in a for a in result.actions)
        # Two sentinels can lead consecutive epochs and promote different
        # replicas; the master to follow is the one they all settle on.
        views = {tuple(topo.client(f"mymaster-sentinel-{i}").execute_command(
            "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")) for i in range(3)}
        assert len(views) == 1
        new_master = failed_over()
        info = topo.client("mymaster-0").info("replication")
        assert info["role"] == "slave" and f"{info['master_host']}:{info['master_port']}" == new_master
        conf = (topo.deployment.runtime.node_dir(topo.node("mymaster-0")) / "redis.conf").read_text()
        assert f"replicaof {new_master.replace(':', ' ')}" in conf


@pytest.mark.slow
def test_killed_cluster_master_fails_over_and_rejoins(tmp_path: Path) -> None:
    with Topology.start(tmp_path, sentinel=False, node_timeout_ms=1000) as topo:
        topo.kill("main-0")
        replica = topo.client("main-3")
        assert_eventually(lambda: _assert(replica.info("replication")["role"] == "master"), within=30)
        result = topo.up()
        assert result.started == ["main-0"]
        assert topo.client("main-0").info("replication")["role"] == "slave"
        # main-0 just did a full sync and writes its initial AOF: Redis drops a SIGTERM meanwhile,
        # so `down` must repeat it rather than fall back to SIGKILL after the grace period
        from redisops.lifecycle import down

        assert down(topo.deployment).killed == []


@pytest.mark.slow
def test_cluster_master_that_lost_its_disk_comes_back_as_its_shards_replica(tmp_path: Path) -> None:
    """kill -9, its nodes.conf and data gone (a replaced disk), the replica took over: `up` starts it empty,
    and it must rejoin as that shard's replica -- not stay out ("belongs to another cluster") nor sit there
    as a slot-less master -- with the stale id of its old self forgotten everywhere."""
    import shutil

    with Topology.start(tmp_path, sentinel=False, node_timeout_ms=1000) as topo:
        seed = topo.node("main-1").address
        cluster = RedisCluster(host=seed.host, port=seed.port, username="admin", password=topo.secrets.admin_password)
        for i in range(300):
            cluster.set(f"disk:{i}", i)
        cluster.close()
        old_id = topo.client("main-0").execute_command("CLUSTER", "MYID")
        topo.kill("main-0")
        node_dir = topo.deployment.runtime.node_dir(topo.node("main-0"))
        (node_dir / "nodes.conf").unlink()
        (node_dir / "dump.rdb").unlink(missing_ok=True)
        shutil.rmtree(node_dir / "appendonlydir", ignore_errors=True)
        promoted = topo.client("main-3")
        assert_eventually(lambda: _assert(promoted.info("replication")["role"] == "master"), within=30)
        result = topo.up()
        assert result.started == ["main-0"] and result.report.health.value == "ok", result.report.reasons
        rejoined = topo.client("main-0")
        assert rejoined.execute_command("CLUSTER", "MYID") != old_id
        assert_eventually(lambda: _assert(rejoined.info("replication").get("master_link_status") == "up"),
                          within=30)
        assert rejoined.info("replication")["master_port"] == topo.node("main-3").address.port
        assert rejoined.dbsize() == promoted.dbsize() > 0
        for name in ("main-1", "main-2", "main-3", "main-4", "main-5"):
            assert old_id not in topo.client(name).execute_command("CLUSTER", "NODES"), name


def _assert(condition: bool) -> None:
    assert condition


@pytest.mark.slow
def test_several_loopback_hosts_keep_replicas_off_their_masters_host(tmp_path: Path) -> None:
    hosts = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
    with Topology.start(tmp_path, hosts=hosts) as topo:
        nodes = topo.client("main-0").cluster("NODES")
        by_id = {entry["node_id"]: address.split(":")[0] for address, entry in nodes.items()}
        replicas = [(address.split(":")[0], entry["master_id"]) for address, entry in nodes.items()
                    if "slave" in entry["flags"]]
        assert len(replicas) == 3
        assert all(host != by_id[master] for host, master in replicas)
        assert {s.address.host for s in topo.plan.groups[0].sentinels} == set(hosts)
        assert topo.client("mymaster-sentinel-2").ping()
