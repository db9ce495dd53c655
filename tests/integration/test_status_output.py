"""``status`` and ``verify replicas`` for people, read through a pipe, on a real cluster whose slot map is fragmented
the way a scale-in leaves it (a master owning 1300+ ranges).

Off a terminal the CLI must not squeeze tables to 80 columns nor hard-wrap lines (a grep must find whole lines);
at ``COLUMNS=80`` the cells naming a node stay whole and the slot list is a bounded summary.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cli_json
import pytest
from redis.cluster import RedisCluster

from redisops.testing import Topology, assert_eventually
from redisops.topology import Health, collect_status_sync, targets_from_plan

REDISOPS = str(Path(sys.executable).parent / "redisops")
#: slots of the first master moved to the second one by one: every third of 1..3999, 1333 of them
MOVED = range(1, 4000, 3)
KEYS = 3000


def cli(topo: Topology, *args: str, columns: int | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI with stdout and stderr pipes, as ``redisops … | cat`` would run it."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run([REDISOPS, *args, "-f", str(topo.spec_file)], capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.fixture(scope="module")
def fragmented(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    with Topology.start(tmp_path_factory.mktemp("status-output"), sentinel=False) as topo:
        masters = [n for n in ("main-0", "main-1", "main-2") if topo.client(n).info("replication")["role"] == "master"]
        source, target = masters[0], masters[1]
        target_id = topo.client(target).execute_command("CLUSTER", "MYID")
        for name in (target, source, *masters[2:]):  # the slots are empty: SETSLOT NODE moves them as they are
            pipe = topo.client(name).pipeline(transaction=False)
            for slot in MOVED:
                pipe.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
            pipe.execute()
        topo.client(target).execute_command("CLUSTER", "BUMPEPOCH")  # so that the replicas take the new owner too
        assert_eventually(lambda: _agreed(topo), within=30)
        node = topo.node(source).address
        client = RedisCluster(node.host, node.port, username="admin", password=topo.secrets.admin_password)
        pipe = client.pipeline()
        for i in range(KEYS):
            pipe.set(f"key:{i}", i)
        pipe.execute()
        client.close()
        for name in masters:
            topo.client(name).wait(1, 5000)
        yield topo


def _agreed(topo: Topology) -> None:
    groups, clusters = targets_from_plan(topo.plan, topo.secrets)
    (cluster,) = collect_status_sync(groups, clusters, timeout=1.0).clusters
    assert cluster.health is Health.OK and cluster.views_agreeing == 6, cluster.reasons
    assert max(len(row.slots) for row in cluster.rows) > len(MOVED)


def rows_by_address(stdout: str, topo: Topology) -> dict[str, list[str]]:
    """Each node's table row, split into cells, found by its address at the start of a line."""
    addresses = [str(topo.node(f"main-{i}").address) for i in range(6)]
    rows = {line.split()[0]: line.split() for line in stdout.splitlines() if line.split()[:1] and
            line.split()[0] in addresses}
    assert sorted(rows) == sorted(addresses), stdout
    return rows


def test_piped_status_keeps_every_cell_and_line_whole(fragmented: Topology) -> None:
    done = cli(fragmented, "status")
    assert done.returncode == 0, done.stdout + done.stderr
    rows = rows_by_address(done.stdout, fragmented)
    assert sorted(row[2] for row in rows.values()) == ["master"] * 3 + ["replica"] * 3
    data = cli_json.data(cli(fragmented, "status", "--json").stdout)["clusters"][0]["nodes"]
    for node in data:
        row = rows[node["address"]]
        assert str(node["keys"]) in row, row
        ranges = node["slots"].split(",") if node["slots"] else []
        if len(ranges) > 3:  # the fragmented masters: a bounded summary, the full list only in --json
            total = sum(int(r.split("-")[-1]) - int(r.split("-")[0]) + 1 for r in ranges)
            assert f"+{len(ranges) - 3} ranges ({total} slots)" in " ".join(row)
            assert len(ranges) > len(MOVED)
    title = next(line for line in done.stdout.splitlines() if line.startswith("cluster main:"))
    assert "slots 16384/16384, masters 3, views agreeing 6/6, epoch" in title
    assert max(len(line) for line in done.stdout.splitlines()) < 200  # the slot list is not printed in full


def test_status_at_80_columns_keeps_addresses_ids_and_roles(fragmented: Topology) -> None:
    done = cli(fragmented, "status", columns=80)
    assert done.returncode == 0, done.stdout + done.stderr
    assert all(len(line.rstrip()) <= 80 for line in done.stdout.splitlines()), done.stdout
    rows = rows_by_address(done.stdout, fragmented)
    assert sorted(row[2] for row in rows.values()) == ["master"] * 3 + ["replica"] * 3
    assert all(len(row[1]) == 8 and "…" not in row[1] for row in rows.values())


def test_verify_replicas_counts_each_masters_keys_once(fragmented: Topology) -> None:
    done = cli(fragmented, "verify", "replicas", "--json", "--interval", "0.1")
    assert done.returncode == 0, done.stdout + done.stderr
    pairs = cli_json.data(done.stdout)["pairs"]
    assert len(pairs) == 3 and sum(p["scanned"] for p in pairs) == KEYS
    for pair in pairs:
        master = pair["source"].removeprefix("cluster main: ")
        name = next(f"main-{i}" for i in range(6) if str(fragmented.node(f"main-{i}").address) == master)
        assert pair["scanned"] == fragmented.client(name).dbsize() > 0, pair
    for columns in (None, 80):
        table = cli(fragmented, "verify", "replicas", "--interval", "0.1", columns=columns)
        assert table.returncode == 0, table.stdout + table.stderr
        for pair in pairs:
            row = next(line for line in table.stdout.splitlines() if line.startswith(pair["source"] + " "))
            assert row.split()[3:6] == [pair["target"], str(pair["scanned"]), str(pair["rounds"])], row


def test_piped_sentences_are_single_lines(fragmented: Topology) -> None:
    done = cli(fragmented, "cluster", "check")
    assert done.returncode == 0, done.stdout + done.stderr
    (line,) = done.stdout.splitlines()  # once cut after 80 columns: "… all \nnodes agree"
    assert line.startswith("OK cluster ok: ") and line.endswith("all nodes agree") and len(line) > 80, line
