"""``redisops scale cluster``: out and in on the local runtime, judged by redis-cli and a content checksum."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cli_json
import pytest
import yaml
from test_cluster_support import checksum, load_keys, redis_cli_check

from redisops.testing import Topology

REDISOPS = str(Path(sys.executable).parent / "redisops")


def scale(topo: Topology, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([REDISOPS, "scale", "cluster", "-f", str(topo.spec_file), "--json", *args],
                          capture_output=True, text=True, timeout=180)


def shape(topo: Topology) -> tuple[int, list[int]]:
    """(masters owning slots, replicas per such master) as the live cluster says."""
    nodes = topo.client("main-0").cluster("NODES")
    owners = {info["node_id"] for info in nodes.values() if "master" in info["flags"] and info["slots"]}
    replicas = [sum(1 for i in nodes.values() if i["master_id"] == owner and "slave" in i["flags"])
                for owner in owners]
    return len(owners), sorted(replicas)


def ranges_per_master(topo: Topology) -> dict[str, int]:
    """Slot ranges per master, counted from CLUSTER SLOTS (one entry per contiguous range of one master)."""
    entries = topo.client("main-0").execute_command("CLUSTER", "SLOTS")
    owners = [str(entry[2][2]) for entry in entries]
    return {owner: owners.count(owner) for owner in set(owners)}


@pytest.mark.slow
def test_scale_out_then_in_keeps_every_key(tmp_path: Path) -> None:
    with Topology.start(tmp_path, sentinel=False) as topo:
        load_keys(topo, 20_000)
        before = checksum(topo)

        out = scale(topo, "--masters", "4")
        assert out.returncode == 0, out.stderr
        report = cli_json.data(out.stdout)
        assert report["started"] == ["main-6", "main-7"] and report["health"] == "ok"
        assert report["moved"]["slots_moved"] > 0
        topo.reopen()
        assert yaml.safe_load(topo.spec_file.read_text())["cluster"]["masters"] == 4
        assert shape(topo) == (4, [1, 1, 1, 1])
        assert max(ranges_per_master(topo).values()) <= 3, ranges_per_master(topo)  # one run from each source
        redis_cli_check(topo)
        assert checksum(topo) == before

        back = scale(topo, "--masters", "3")
        assert back.returncode == 0, back.stderr
        report = cli_json.data(back.stdout)
        assert report["retired"] == ["main-6", "main-7"] and report["removed"]
        topo.reopen()
        assert shape(topo) == (3, [1, 1, 1])
        assert not (topo.deployment.runtime.state_dir / "main-7").exists()
        # the leaving master's slots go back in runs, not dealt out one by one (that left ~1339 ranges each)
        assert max(ranges_per_master(topo).values()) <= 2, ranges_per_master(topo)
        redis_cli_check(topo)
        assert checksum(topo) == before


@pytest.mark.slow
def test_scale_replicas_and_refuse_what_needs_two_steps(tmp_path: Path) -> None:
    with Topology.start(tmp_path, sentinel=False) as topo:
        load_keys(topo, 3_000)
        before = checksum(topo)
        spec_before = topo.spec_file.read_text()

        refused = scale(topo, "--masters", "4", "--replicas-per-master", "0")
        # 3 masters + 3 replicas cannot become 4 masters without promoting a replica: two steps
        assert refused.returncode == 2
        error = cli_json.error(refused)
        assert "two steps" in error["hint"] and "Traceback" not in refused.stderr
        assert topo.spec_file.read_text() == spec_before
        assert shape(topo) == (3, [1, 1, 1])

        grown = scale(topo, "--replicas-per-master", "2")
        assert grown.returncode == 0, grown.stderr
        topo.reopen()
        assert shape(topo) == (3, [2, 2, 2])

        shrunk = scale(topo, "--replicas-per-master", "0")
        assert shrunk.returncode == 0, shrunk.stderr
        topo.reopen()
        assert shape(topo) == (3, [0, 0, 0])
        redis_cli_check(topo)
        assert checksum(topo) == before


@pytest.mark.slow
def test_scale_killed_mid_move_finishes_when_run_again(tmp_path: Path) -> None:
    import signal
    import time

    with Topology.start(tmp_path, sentinel=False) as topo:
        load_keys(topo, 20_000)
        before = checksum(topo)
        journal = topo.deployment.runtime.state_dir / "scale-moves.jsonl"
        proc = subprocess.Popen([REDISOPS, "scale", "cluster", "-f", str(topo.spec_file), "--masters", "4",
                                 "--max-keys-per-s", "2000", "--batch", "50", "--slots-per-wave", "8"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while not (journal.exists() and journal.stat().st_size > 2000) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert proc.poll() is None, "the scale finished before it could be killed"
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
        again = scale(topo, "--masters", "4")
        assert again.returncode == 0, again.stdout + again.stderr
        assert cli_json.data(again.stdout)["moved"]["resumed"] is True
        topo.reopen()
        assert shape(topo) == (4, [1, 1, 1, 1])
        redis_cli_check(topo)
        assert checksum(topo) == before
