"""Ten kill -9 of a rebalance over 200k keys, then a resume: nothing lost, nothing doubled, nothing open.

Judged by redis-cli's check and a checksum of every value (as ``kill_and_resume`` does), and by the data
layer's own checks (what ``redisops verify`` runs): ``verify cluster`` clean, every key's type, value digest
and TTL unchanged from before the first kill, and ``verify replicas`` finding each replica equal to its master.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))

import cli_json
from test_cluster_ops import assert_verified, changes, snapshot  # noqa: E402
from test_cluster_resume import start_and_kill  # noqa: E402
from test_cluster_support import checksum, cli, extra_node, join, load_keys, redis_cli_check, remote  # noqa: E402

from redisops.testing import Topology  # noqa: E402

KILLS = [50, 200, 200, 400, 1, 300, 600, 100, 5, 500]


@pytest.mark.slow
def test_kill_ten_times_then_resume_keeps_every_key(tmp_path: Path) -> None:
    with Topology.start(tmp_path / "cluster", sentinel=False) as topo:
        load_keys(topo, 200_000)
        before, states = checksum(topo), snapshot(topo)
        pw = topo.secrets.admin
        with extra_node(tmp_path / "extra", topo.secrets) as new:
            join(topo, new)
            journal = tmp_path / "moves.jsonl"
            progress, left_open = [], 0
            for n in KILLS:
                progress.append(start_and_kill(topo, journal, n))
                checked = cli("check", *remote(topo), "--json", password=pw)
                assert checked.stdout, checked.stderr  # findings, not an error
                findings = cli_json.data(checked.stdout)["findings"]
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
            assert checksum(topo) == before
            assert changes(states, snapshot(topo)) == []  # no key lost, doubled, retyped or re-timed
            assert_verified(topo)  # verify cluster: agreed, covered, no stray key; verify replicas: equal
