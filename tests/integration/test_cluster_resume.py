"""kill -9 of ``redisops cluster rebalance`` mid-move, then a rerun: the plan finishes from the journal.

After each kill the cluster is left as the tool left it (slots MIGRATING /
IMPORTING, keys on both sides); the final run must end with no open slot,
redis-cli's check clean, and every key present once with its value.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import cli_json
from test_cluster_support import (
    REDISOPS,
    checksum,
    cli,
    extra_node,
    join,
    load_keys,
    redis_cli_check,
    remote,
)

from redisops.testing import Topology


def done_slots(journal: Path) -> int:
    if not journal.exists():
        return 0
    return sum(1 for line in journal.read_text().splitlines() if '"state":"done"' in line)


def start_and_kill(topo: Topology, journal: Path, after_done: int) -> int:
    """Run the rebalance as a subprocess; SIGKILL it once ``after_done`` more slots are journalled done."""
    import os

    start = done_slots(journal)
    proc = subprocess.Popen([REDISOPS, "cluster", "rebalance", *remote(topo), "--user", "admin",
                             "--use-empty-masters", "--journal", str(journal), "--batch", "100"],
                            env={**os.environ, "CLUSTER_PW": topo.secrets.admin_password},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while done_slots(journal) < start + after_done and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    return done_slots(journal)


def kill_and_resume(tmp_path: Path, keys: int, kills: list[int]) -> None:
    with Topology.start(tmp_path / "cluster", sentinel=False) as topo:
        load_keys(topo, keys)
        before = checksum(topo)
        pw = topo.secrets.admin
        with extra_node(tmp_path / "extra", topo.secrets) as new:
            join(topo, new)
            journal = tmp_path / "moves.jsonl"
            progress, left_open = [], 0
            for n in kills:
                progress.append(start_and_kill(topo, journal, n))
                findings = cli_json.data(cli("check", *remote(topo), "--json", password=pw).stdout)["findings"]
                left_open += any(" open: " in f for f in findings)
            assert 0 < progress[0] < 4000, progress  # killed mid-plan, after some slots moved
            assert left_open, "no kill left a slot half-migrated: the resume path went untested"
            final = cli("rebalance", *remote(topo), "--use-empty-masters", "--journal", str(journal), "--json",
                        password=pw)
            assert final.returncode == 0, final.stdout + final.stderr
            assert "resuming the unfinished plan" in final.stderr
            report = cli_json.data(final.stdout)
            assert report["resumed"] and not report["stopped"]
            redis_cli_check(topo)
            check = cli("check", *remote(topo), "--json", password=pw)
            assert not [f for f in cli_json.data(check.stdout)["findings"] if "open" in f or "does not own" in f]
            assert checksum(topo) == before


def test_kill_twice_then_resume_keeps_every_key(tmp_path: Path) -> None:
    kill_and_resume(tmp_path, 50_000, kills=[300, 900])



def test_ctrl_c_stops_cleanly_and_a_rerun_finishes(tmp_path: Path) -> None:
    import os

    with Topology.start(tmp_path / "cluster", sentinel=False) as topo:
        load_keys(topo, 20_000)
        before = checksum(topo)
        pw = topo.secrets.admin
        with extra_node(tmp_path / "extra", topo.secrets) as new:
            join(topo, new)
            journal = tmp_path / "moves.jsonl"
            proc = subprocess.Popen([REDISOPS, "cluster", "rebalance", *remote(topo), "--user", "admin",
                                     "--use-empty-masters", "--journal", str(journal), "--max-keys-per-s", "5000"],
                                    env={**os.environ, "CLUSTER_PW": topo.secrets.admin_password},
                                    stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + 30
            while done_slots(journal) < 100 and time.monotonic() < deadline:
                time.sleep(0.01)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
            assert proc.returncode == 1, out + err
            assert "stopped cleanly" in out
            findings = cli_json.data(cli("check", *remote(topo), "--json", password=pw).stdout)["findings"]
            assert not [f for f in findings if " open: " in f], findings  # no slot left half-moved
            final = cli("rebalance", *remote(topo), "--use-empty-masters", "--journal", str(journal), password=pw)
            assert final.returncode == 0, final.stderr
            redis_cli_check(topo)
            assert checksum(topo) == before
