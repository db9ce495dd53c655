"""``cluster fix --force``: keys of one slot on several masters are merged into one owner, the owner's copy winning.

Without ``--force`` both states are refused in one line that says what ``--force`` would do, and nothing changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cli_json
import pytest
import redis
from redis.crc import key_slot
from test_cluster_support import cli, cluster_client, redis_cli_check, remote, seeds

from redisops.auth import login_parts
from redisops.cluster.live import ClusterView, fetch_view
from redisops.testing import Topology


@pytest.fixture
def topo(tmp_path: Path) -> Iterator[Topology]:
    with Topology.start(tmp_path / "cluster", sentinel=False) as started:
        yield started


class Cluster:
    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        self.pw = topo.secrets.admin
        self.view: ClusterView = asyncio.run(fetch_view(seeds(topo)[:1], self.pw))

    def client(self, node: str) -> redis.Redis:
        a = self.view.address(node)
        user, password = login_parts(self.pw)
        return redis.Redis(a.host, a.port, username=user, password=password, decode_responses=True)

    def others(self, owner: str) -> list[str]:
        return sorted(m for m in self.view.masters if m != owner)

    def write_stray(self, node: str, owner: str, slot: int, values: dict[str, str], *, keep_open: bool) -> None:
        """Keys of ``slot`` written straight onto ``node``, which does not own it (IMPORTING + ASKING)."""
        client = self.client(node)
        client.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", owner)
        pipe = client.pipeline(transaction=False)
        for key, value in values.items():
            pipe.execute_command("ASKING")
            pipe.set(key, value)
        pipe.execute()
        if not keep_open:
            client.execute_command("CLUSTER", "SETSLOT", slot, "STABLE")

    def counts(self, slot: int) -> dict[str, int]:
        return {m: int(self.client(m).execute_command("CLUSTER", "COUNTKEYSINSLOT", slot)) for m in self.view.masters}

    def open_markers(self) -> int:
        view = asyncio.run(fetch_view(seeds(self.topo)[:1], self.pw))
        return len(view.open_slots)

    def fix(self, tmp_path: Path, *extra: str) -> Any:
        return cli("fix", *remote(self.topo), "--journal", str(tmp_path / "fix.jsonl"), *extra, password=self.pw)


def test_force_merges_copies_on_two_non_owners_into_the_owner(topo: Topology, tmp_path: Path) -> None:
    c = Cluster(topo)
    slot = key_slot(b"{m}")
    owner = c.view.slot_map.owner(slot)
    assert owner is not None
    first, second = c.others(owner)
    owner_client = c.client(owner)
    owner_client.set("{m}clash", "owner")
    owner_client.set("{m}mine", "owner")
    bulk = {f"{{m}}bulk:{i}": f"first:{i}" for i in range(450)}  # more than one GETKEYSINSLOT batch
    c.write_stray(first, owner, slot, {"{m}clash": "first", "{m}both": "first", "{m}a": "first", **bulk},
                  keep_open=True)  # an importing marker is left behind, as an interrupted tool would
    c.write_stray(second, owner, slot, {"{m}clash": "second", "{m}both": "second", "{m}b": "second"},
                  keep_open=False)  # pure stray keys
    before = c.counts(slot)
    assert before == {owner: 2, first: 453, second: 3}

    refused = c.fix(tmp_path)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    line = refused.stderr.strip()
    assert "\n" not in line, line
    assert line.startswith(f"error: slot {slot}: keys on 2 masters besides its owner"), line
    assert "refusing to merge them (--force merges them into the owner; on a name clash the owner's copy is kept " \
           "and the other dropped)" in line, line
    assert c.counts(slot) == before  # nothing touched
    assert c.open_markers() == 1

    forced = c.fix(tmp_path, "--force", "--json")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    (repair,) = cli_json.data(forced.stdout)["repairs"]
    assert (repair["slot"], repair["action"], repair["node"]) == (slot, "merge", owner)
    assert repair["sources"] == [first, second]
    # first: {m}clash clashes with the owner; second: {m}clash and {m}both (already merged from first) clash
    assert (repair["merged"], repair["dropped"]) == (452 + 1, 3)
    assert sorted(repair["dropped_keys"]) == ["{m}both", "{m}clash", "{m}clash"]

    assert c.counts(slot) == {owner: 2 + 452 + 1, first: 0, second: 0}
    assert owner_client.get("{m}clash") == "owner"
    assert owner_client.get("{m}both") == "first"
    assert (owner_client.get("{m}a"), owner_client.get("{m}b")) == ("first", "second")
    assert all(owner_client.get(k) == v for k, v in bulk.items())
    assert c.open_markers() == 0
    redis_cli_check(topo)
    client = cluster_client(topo)
    try:
        assert client.get("{m}bulk:7") == "first:7"
    finally:
        client.close()
    assert cli_json.data(c.fix(tmp_path, "--force", "--json").stdout) == {"repairs": []}


def test_force_gives_an_uncovered_slot_to_the_master_holding_most_and_merges_the_rest(topo: Topology,
                                                                                     tmp_path: Path) -> None:
    c = Cluster(topo)
    slot = key_slot(b"{u}")
    holder = c.view.slot_map.owner(slot)
    assert holder is not None
    stray, empty = c.others(holder)
    c.client(holder).mset({"{u}1": "holder", "{u}2": "holder", "{u}3": "holder", "{u}clash": "holder"})
    c.write_stray(stray, holder, slot, {"{u}clash": "stray", "{u}s": "stray"}, keep_open=False)
    for node in c.view.nodes:  # every node forgets who owned it, the keys stay where they are
        c.client(node).execute_command("CLUSTER", "DELSLOTS", slot)
    before = c.counts(slot)
    assert before == {holder: 4, stray: 2, empty: 0}

    refused = c.fix(tmp_path)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    line = refused.stderr.strip()
    assert "\n" not in line and f"slot {slot} is uncovered and 2 masters hold its keys; refusing to pick one" in line
    assert f"--force gives it to {holder[:10]}, which holds most" in line, line
    assert c.counts(slot) == before
    assert cli_json.data(cli("check", *remote(topo), "--json", password=c.pw).stdout)["slots_covered"] == 16383

    plain = c.fix(tmp_path, "--force")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert f"slot {slot}: merge -> {holder[:10]}" in plain.stdout, plain.stdout
    assert f"1 keys merged from {stray[:10]}, 1 dropped ({{u}}clash)" in plain.stdout, plain.stdout
    assert c.counts(slot) == {holder: 5, stray: 0, empty: 0}
    assert c.client(holder).get("{u}clash") == "holder"
    assert c.client(holder).get("{u}s") == "stray"
    assert c.open_markers() == 0
    redis_cli_check(topo)
