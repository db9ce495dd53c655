"""`redisops tune memory` on real nodes: the advice applied live, into the config files and the spec; kept across
`down` + `up`; and the policy really does what the role says (a cache evicts instead of -OOM, a store refuses)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cli_json
import pytest
import redis
import yaml
from cli_runner import cli_runner

from redisops.cli.main import app
from redisops.spec import load
from redisops.testing import Topology

MIB = 1024 * 1024
#: with 3 data nodes and 2 replicas each may feed: (2304 - 512 reserve) / 3 = 597 MB a node, minus 1 MB backlog,
#: 512 MB replica buffers, 32 MB pubsub, 16 MB clients, / 1.5 for fork headroom: 24 MB, small enough to fill
RAM = "2304mb"
NODES = ("mymaster-0", "mymaster-1", "mymaster-2")


def tune(*args: str, spec: Path) -> tuple[int, dict[str, Any]]:
    result = cli_runner().invoke(app, ["tune", "memory", "--json", "--ram", RAM, *args, "-f", str(spec)])
    assert result.stdout, result.stderr
    return result.exit_code, cli_json.data(result.stdout)


def live(topo: Topology, name: str) -> tuple[int, str]:
    values = topo.client(name).config_get("maxmemory*")
    return int(values["maxmemory"]), values["maxmemory-policy"]


def fill(client: redis.Redis, megabytes: int) -> None:
    value = "x" * (100 * 1024)
    for i in range(megabytes * 10):
        client.set(f"fill:{i}", value)


@pytest.fixture
def topo(tmp_path: Path) -> Any:
    with Topology.start(tmp_path, sentinel=True, cluster=False) as topology:
        yield topology


def test_advice_applied_kept_across_restart_and_the_role_decides_eviction(topo: Topology) -> None:
    code, data = tune(spec=topo.spec_file)
    [section] = data["sections"]
    assert code == 1 and set(data["differing"]) == set(NODES)  # deployed at the spec's 256 MB
    assert section["maxmemory"] == 24 * MIB and section["policy"] == "noeviction" and section["role"] == "store"
    assert section["terms"]["nodes_on_host"] == 3 and section["terms"]["replica_buffers"] == 512 * MIB
    assert any("copy-on-write" in line for line in section["explanation"])

    code, data = tune("--apply", "--role", "cache", spec=topo.spec_file)
    assert code == 0 and data["differing"] == [], data
    assert all(live(topo, name) == (24 * MIB, "allkeys-lfu") for name in NODES)
    for name in NODES:
        conf = topo.deployment.runtime.conf_path(topo.node(name)).read_text().splitlines()
        assert f"maxmemory {24 * MIB}" in conf and "maxmemory-policy allkeys-lfu" in conf
        assert conf[-1].startswith("include ") and not any(line.startswith("requirepass") for line in conf)
    group = yaml.safe_load(topo.spec_file.read_text())["sentinel"][0]
    assert (group["role"], group["maxmemory"], group["maxmemory_policy"]) == ("cache", "24mb", "allkeys-lfu")
    assert load(topo.spec_file).sentinel[0].maxmemory == 24 * MIB

    master = topo.client("mymaster-0")
    fill(master, 60)  # 60 MB into 24 MB: a cache evicts, no write fails
    assert int(master.info("stats")["evicted_keys"]) > 0
    assert master.dbsize() < 600

    topo.stop()
    topo.reopen().up()
    assert all(live(topo, name) == (24 * MIB, "allkeys-lfu") for name in NODES)  # from the config files
    assert tune(spec=topo.spec_file)[0] == 0  # the spec says cache now: nothing differs

    topo.deployment.runtime.stop([topo.node("mymaster-2")])  # a stopped node gets it in its config file
    code, data = tune("--apply", "--role", "store", spec=topo.spec_file)
    assert code == 0 and "mymaster-2: not running; its config file has it for its next start" in data["applied"]
    topo.up()
    assert all(live(topo, name) == (24 * MIB, "noeviction") for name in NODES)
    master = topo.client("mymaster-0")
    master.flushall()
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        fill(master, 60)  # a store refuses writes at the limit instead of losing keys
    master.flushall()
