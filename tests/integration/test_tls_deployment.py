"""`tls.enabled: true`: `up` makes the CA and the certificates, every node listens on TLS only (no plaintext port,
the cluster bus over TLS too), a plaintext client is refused, a Sentinel group and a cluster shard fail over after
kill -9, and everything comes back after `down` + `up` with its data; the live audit finds nothing at medium or
above on the nodes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import cli_json
import pytest
import redis
import yaml

from redisops.address import Address
from redisops.clients import connect
from redisops.lifecycle import Deployment
from redisops.runtime.plan import NodeKind
from redisops.runtime.processes import listening_ports
from redisops.testing import Topology, wait_until
from redisops.topology import collect_status_sync, targets_from_plan

pytestmark = pytest.mark.slow

REDISOPS = [sys.executable, "-m", "redisops"]


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    spec_file = Topology.write_spec(tmp_path_factory.mktemp("tls"), down_after_ms=1000, node_timeout_ms=2000)
    data = yaml.safe_load(spec_file.read_text())
    data["tls"] = {"enabled": True}
    spec_file.write_text(yaml.safe_dump(data, sort_keys=False))
    topology = Topology(Deployment.open(spec_file))
    with topology:
        topology.up()
        yield topology


def test_only_tls_ports_listen_and_a_plaintext_client_is_refused(topo: Topology) -> None:
    assert topo.secrets.tls is not None
    for node in topo.plan.nodes:
        pid = topo.pid(node.name)
        assert pid is not None, node.name
        bus = {node.address.port + 10000} if node.kind is NodeKind.CLUSTER else set()
        assert listening_ports(pid) == {node.address.port, *bus}, node.name
        conf = topo.deployment.runtime.conf_path(node).read_text()
        assert "\nport 0\n" in conf and f"\ntls-port {node.address.port}\n" in conf, node.name
    plain = redis.Redis("127.0.0.1", topo.node("mymaster-0").address.port, username="admin",
                        password=topo.secrets.admin_password, socket_timeout=2, socket_connect_timeout=2)
    with pytest.raises(redis.ConnectionError):
        plain.ping()
    plain.close()
    audit = subprocess.run([*REDISOPS, "audit", "--live", "--json", "-f", str(topo.spec_file)], capture_output=True,
                           text=True, timeout=60)
    found = [f for f in cli_json.data(audit.stdout, "audit")["findings"]
             if f["severity"] in ("medium", "high", "critical") and not f["target"].startswith("host ")]
    assert not found, found


def _master(topo: Topology) -> str | None:
    """The group's master as the sentinels say it (over TLS)."""
    groups, _ = targets_from_plan(topo.plan, topo.secrets)
    (group,) = collect_status_sync(groups, [], timeout=2.0).groups
    return str(group.master) if group.master else None


def test_failover_and_restart_under_tls(topo: Topology) -> None:
    old_master = str(topo.node("mymaster-0").address)
    with connect(topo.node("mymaster-0").address, topo.secrets.app) as client:
        client.mset({f"k{i}": i for i in range(200)})
        client.execute_command("WAIT", 2, 5000)
    topo.kill("mymaster-0")
    wait_until(lambda: _master(topo) not in (None, old_master), 30, "the sentinels elect a new master over TLS")
    shard_master = topo.node("main-0")
    topo.kill("main-0")

    def shard_failed_over() -> bool:
        groups, clusters = targets_from_plan(topo.plan, topo.secrets)
        (cluster,) = collect_status_sync(groups, clusters, timeout=2.0).clusters
        return (cluster.slots_covered == 16384 and str(shard_master.address) not in
                {str(r.address) for r in cluster.rows if r.reachable and r.role.value == "master"})

    wait_until(shard_failed_over, 30, "a replica takes main-0's slots over the TLS bus")

    down = subprocess.run([*REDISOPS, "down", "-f", str(topo.spec_file)], capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    up = subprocess.run([*REDISOPS, "up", "--json", "-f", str(topo.spec_file)], capture_output=True, text=True,
                        timeout=180)
    assert up.returncode == 0, up.stderr
    assert cli_json.data(up.stdout, "up")["status"]["health"] == "ok"
    new_master = _master(topo)
    assert new_master is not None and new_master != old_master
    with connect(Address.parse(new_master), topo.secrets.app) as client:
        assert client.get("k199") == "199"


def test_slots_move_with_their_keys_over_tls(topo: Topology) -> None:
    """The slot mover's MIGRATE goes node to node over TLS (there is no plaintext port to fall back on)."""
    tls = topo.secrets.tls
    assert tls is not None
    seed = topo.node("main-1").address
    cluster = redis.RedisCluster(seed.host, seed.port, username="app", password=topo.secrets.app_password,
                                 ssl=True, **tls.redis_kwargs())
    try:
        for i in range(300):
            cluster.set(f"moved{i}", i)
        masters = sorted(str(n.address) for n in topo.plan.cluster.nodes
                         if cluster.get_node(n.address.host, n.address.port) is not None
                         and cluster.get_node(n.address.host, n.address.port).server_type == "primary")
        source, target = masters[0], masters[1]
        done = subprocess.run([*REDISOPS, "cluster", "reshard", "--from", source, "--to", target, "--slots", "3000",
                               "--json", "-f", str(topo.spec_file)], capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr
        moved = cli_json.data(done.stdout, "cluster.reshard")
        assert moved["keys_moved"] > 0, moved
        assert [cluster.get(f"moved{i}") for i in range(300)] == [str(i).encode() for i in range(300)]
    finally:
        cluster.close()


def test_a_new_ca_is_rolled_in_while_it_serves(topo: Topology) -> None:
    """`tls rotate --new-ca`: trust the new CA, issue from it, drop the old one, every node loading each step
    (data nodes reload, sentinels restart one by one); then new links -- a failover's resync, a redisops client
    -- work with the new CA alone."""
    old_ca = (topo.deployment.runtime.state_dir / "tls" / "ca.crt").read_bytes()
    done = subprocess.run([*REDISOPS, "tls", "rotate", "--new-ca", "--json", "-f", str(topo.spec_file)],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    report = cli_json.data(done.stdout, "tls.rotate")
    assert report["steps"] == ["trusted", "issued", "finished"] and not report["failed"]
    assert len(report["restarted"]) == 3 and len(report["reloaded"]) == 9
    tls_dir = topo.deployment.runtime.state_dir / "tls"
    assert (tls_dir / "ca.crt").read_bytes() != old_ca
    assert (tls_dir / "ca-bundle.crt").read_bytes().count(b"BEGIN CERTIFICATE") == 1  # the old CA is gone
    status = subprocess.run([*REDISOPS, "tls", "status", "--json", "-f", str(topo.spec_file)], capture_output=True,
                            text=True, timeout=60)
    assert status.returncode == 0 and cli_json.data(status.stdout, "tls.status")["ok"], status.stdout

    master = Address.parse(str(_master(topo)))
    name = next(n.name for n in topo.plan.nodes if n.address == master)
    topo.kill(name)
    wait_until(lambda: _master(topo) not in (None, str(master)), 30, "a failover after the rotation")

    def resynced() -> bool:
        new = Address.parse(str(_master(topo)))
        with connect(new, topo.secrets.admin) as client:
            return int(client.info("replication")["connected_slaves"]) >= 1

    wait_until(resynced, 30, "the remaining replica resyncs with the new certificates")
    up = subprocess.run([*REDISOPS, "up", "-f", str(topo.spec_file)], capture_output=True, text=True, timeout=180)
    assert up.returncode == 0, up.stderr
