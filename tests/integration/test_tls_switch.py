"""Turning TLS on (and off again) for a deployment that exists, with data in it: `up` refuses while plaintext nodes
run (a half switch would leave peers talking two languages), `down` + `up` switches every node at once, keeping
roles, data and the cluster; afterwards only TLS ports listen."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cli_json
import pytest
import redis
import yaml

from redisops.clients import connect
from redisops.lifecycle import Deployment
from redisops.runtime.plan import NodeKind
from redisops.runtime.processes import listening_ports
from redisops.testing import Topology

pytestmark = pytest.mark.slow

REDISOPS = [sys.executable, "-m", "redisops"]


@pytest.fixture
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    spec_file = Topology.write_spec(tmp_path_factory.mktemp("switch"), replicas=1, masters=3, replicas_per_master=0)
    _set_tls(spec_file, False)
    topology = Topology(Deployment.open(spec_file))
    with topology:
        topology.up()
        yield topology


def _set_tls(spec_file: Path, enabled: bool) -> None:
    data = yaml.safe_load(spec_file.read_text())
    data["tls"] = {"enabled": enabled}
    spec_file.write_text(yaml.safe_dump(data, sort_keys=False))


def _cli(topo: Topology, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REDISOPS, *args, "-f", str(topo.spec_file)], capture_output=True, text=True, timeout=180)


def _values(dep: Deployment) -> tuple[str | None, list[str | None]]:
    """The group's key (from its master) and the cluster's keys, as redisops' own client reads them now."""
    master = dep.plan.node("mymaster-0").address
    with connect(master, dep.secrets.app) as client:
        group = client.get("group-key")
    seed = dep.plan.cluster.nodes[0].address  # type: ignore[union-attr]
    kwargs = dep.secrets.tls.redis_kwargs() if dep.secrets.tls else {}
    cluster = redis.RedisCluster(seed.host, seed.port, username="app", password=dep.secrets.app_password,
                                 decode_responses=True, ssl=dep.secrets.tls is not None, **kwargs)
    try:
        return group, [cluster.get(f"c{i}") for i in range(50)]
    finally:
        cluster.close()


def test_tls_on_then_off_for_a_running_deployment_keeps_its_data(topo: Topology) -> None:
    dep = topo.deployment
    with connect(dep.plan.node("mymaster-0").address, dep.secrets.app) as client:
        client.set("group-key", "kept")
        client.execute_command("WAIT", 1, 5000)
    seed = dep.plan.cluster.nodes[0].address  # type: ignore[union-attr]
    cluster = redis.RedisCluster(seed.host, seed.port, username="app", password=dep.secrets.app_password)
    for i in range(50):
        cluster.set(f"c{i}", i)
    cluster.close()

    _set_tls(topo.spec_file, True)
    refused = _cli(topo, "up")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "the spec now asks for TLS, but" in refused.stderr and "still run plaintext" in refused.stderr
    assert "`redisops down`, then `redisops up`" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    assert _cli(topo, "down").returncode == 0
    up = _cli(topo, "up", "--json")
    assert up.returncode == 0, up.stdout + up.stderr
    assert cli_json.data(up.stdout, "up")["status"]["health"] == "ok"
    on = Deployment.open(topo.spec_file)
    assert on.secrets.tls is not None
    for node in on.plan.nodes:
        pid = on.runtime.pid(node)
        assert pid is not None, node.name
        bus = {node.address.port + 10000} if node.kind is NodeKind.CLUSTER else set()
        assert listening_ports(pid) == {node.address.port, *bus}, node.name
        assert "tls-port" in on.runtime.conf_path(node).read_text(), node.name
    plain = redis.Redis("127.0.0.1", on.plan.node("mymaster-0").address.port, username="app",
                        password=on.secrets.app_password, socket_timeout=2, socket_connect_timeout=2)
    with pytest.raises(redis.ConnectionError):
        plain.ping()
    plain.close()
    assert _values(on) == ("kept", [str(i) for i in range(50)])

    _set_tls(topo.spec_file, False)
    assert _cli(topo, "down").returncode == 0
    back = _cli(topo, "up", "--json")
    assert back.returncode == 0, back.stdout + back.stderr
    off = Deployment.open(topo.spec_file)
    assert off.secrets.tls is None
    assert not any("tls-port" in off.runtime.conf_path(n).read_text() for n in off.plan.nodes)
    assert _values(off) == ("kept", [str(i) for i in range(50)])
