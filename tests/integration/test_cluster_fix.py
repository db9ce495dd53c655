"""``cluster fix`` on the half-migrated states of redis' 20-half-migrated-slot.tcl (and an uncovered slot)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import cli_json
import pytest
import redis
from redis.crc import key_slot
from test_cluster_support import checksum, cli, load_keys, redis_cli_check, remote, seeds

from redisops.auth import Login, login_parts, migrate_auth
from redisops.cluster.live import fetch_view
from redisops.testing import Topology


@pytest.fixture
def topo(tmp_path: Path) -> Iterator[Topology]:
    with Topology.start(tmp_path / "cluster", sentinel=False) as started:
        yield started


class Nodes:
    def __init__(self, topo: Topology) -> None:
        assert isinstance(topo.secrets.admin, Login)
        self.pw = topo.secrets.admin
        self.view = asyncio.run(fetch_view(seeds(topo)[:1], self.pw))
        self.source, self.target = self.view.slot_map.ranges[0][2], self.view.slot_map.ranges[1][2]

    def client(self, node: str) -> redis.Redis:
        a = self.view.address(node)
        user, password = login_parts(self.pw)
        return redis.Redis(a.host, a.port, username=user, password=password)

    def keys(self, slot: int) -> list[bytes]:
        return list(self.client(self.source).execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100))

    def migrate_one(self, slot: int) -> None:
        a = self.view.address(self.target)
        self.client(self.source).execute_command("MIGRATE", a.host, a.port, "", 0, 5000, *migrate_auth(self.pw),
                                                 "KEYS", self.keys(slot)[0])


def fix(topo: Topology, tmp_path: Path) -> dict[int, str]:
    result = cli("fix", *remote(topo), "--json", "--journal", str(tmp_path / "fix.jsonl"),
                 password=topo.secrets.admin)
    assert result.returncode == 0, result.stdout + result.stderr
    return {r["slot"]: r["action"] for r in cli_json.data(result.stdout)["repairs"]}


def test_fix_closes_every_half_migrated_state_without_losing_a_key(topo: Topology, tmp_path: Path) -> None:
    load_keys(topo, 5000)
    before = checksum(topo)
    n = Nodes(topo)
    src, dst = n.client(n.source), n.client(n.target)
    slots = [s for s in range(10, 200) if n.keys(s)][:5]
    migrating_only, importing_only, both_keys_split, both_keys_on_source, half_finished = slots
    src.execute_command("CLUSTER", "SETSLOT", migrating_only, "MIGRATING", n.target)
    dst.execute_command("CLUSTER", "SETSLOT", importing_only, "IMPORTING", n.source)
    for slot in (both_keys_split, both_keys_on_source, half_finished):
        dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", n.source)
        src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", n.target)
    n.migrate_one(both_keys_split)
    for key in n.keys(half_finished):  # every key moved, then only the target was told
        a = n.view.address(n.target)
        src.execute_command("MIGRATE", a.host, a.port, "", 0, 5000, *migrate_auth(n.pw), "KEYS", key)
    dst.execute_command("CLUSTER", "SETSLOT", half_finished, "NODE", n.target)
    check = cli_json.data(cli("check", *remote(topo), "--json", password=n.pw).stdout)
    assert sum(" open: " in f for f in check["findings"]) >= 5, check

    actions = fix(topo, tmp_path)
    assert actions[both_keys_split] == "finish"
    assert actions[migrating_only] == actions[importing_only] == actions[both_keys_on_source] == "close"
    assert actions[half_finished] == "close"
    redis_cli_check(topo)
    assert cli_json.data(cli("check", *remote(topo), "--json", password=n.pw).stdout)["findings"] == []
    assert checksum(topo) == before
    assert fix(topo, tmp_path) == {}  # nothing left


def test_fix_assigns_an_uncovered_slot(topo: Topology, tmp_path: Path) -> None:
    n = Nodes(topo)
    slot = key_slot(b"orphan")
    for node in n.view.nodes:  # every node forgets who owned it: nobody serves it any more
        n.client(node).execute_command("CLUSTER", "DELSLOTS", slot)
    assert cli_json.data(cli("check", *remote(topo), "--json", password=n.pw).stdout)["slots_covered"] == 16383
    assert fix(topo, tmp_path) == {slot: "assign"}
    redis_cli_check(topo)


def test_fix_refuses_keys_on_two_masters_besides_the_owner(topo: Topology, tmp_path: Path) -> None:
    n = Nodes(topo)
    slot = key_slot(b"twice")
    owner = n.view.slot_map.owner(slot)
    for node in [m for m in n.view.masters if m != owner]:
        client = n.client(node)
        client.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", owner)
        client.execute_command("ASKING")
        pipe = client.pipeline(transaction=False)
        pipe.execute_command("ASKING")
        pipe.set("twice", node)
        pipe.execute()
    result = cli("fix", *remote(topo), "--journal", str(tmp_path / "fix.jsonl"), password=n.pw)
    assert result.returncode == 2 and "refusing to merge" in result.stderr, result.stderr
