"""The README's promise at the issue's size: `make down` then `make up` brings back the same nodes, keys and cluster,
with 400k keys of 100 bytes in the cluster and 200k in the Sentinel group (each node loads for about a second).

Times are printed (``-s`` shows them), never asserted.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import cli_json
import pytest

from redisops.testing import Topology
from redisops.testing.data import fill_cluster, fill_node, node_fingerprint

REDISOPS = [sys.executable, "-m", "redisops"]


def cli(*args: str, spec: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REDISOPS, *args, "-f", str(spec)], capture_output=True, text=True, timeout=600)


def roles(topo: Topology) -> dict[str, str]:
    out = {}
    for node in topo.plan.nodes:
        if node.kind.value != "sentinel":
            with topo.client(node.name) as client:
                out[node.name] = client.info("replication")["role"]
    return out


@pytest.mark.slow
def test_down_then_up_brings_back_600k_keys(tmp_path: Path) -> None:
    with Topology.start(tmp_path) as topo:
        password = topo.secrets.admin
        assert fill_cluster(topo.node("main-0").address, password, 400_000) == 400_000
        assert fill_node(topo.node("mymaster-0").address, password, (f"g:{i}".encode() for i in range(200_000))) \
            == 200_000
        before_roles = roles(topo)
        masters = [n for n, r in before_roles.items() if r == "master"]
        before = {n: node_fingerprint(topo.node(n).address, password) for n in masters}
        assert sum(size for name, (size, _) in before.items() if name.startswith("main-")) == 400_000

        assert cli("down", spec=topo.spec_file).returncode == 0
        began = time.monotonic()
        done = cli("up", "--json", spec=topo.spec_file)
        seconds = time.monotonic() - began
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr
        print(f"\nup after down with 600k keys: {seconds:.2f} s; actions: {cli_json.data(done.stdout)['actions']}")

        assert roles(topo) == before_roles
        assert {n: node_fingerprint(topo.node(n).address, password) for n in masters} == before
