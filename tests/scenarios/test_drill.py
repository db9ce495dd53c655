"""`redisops drill failover` against real sentinels: safe rounds lose nothing, the old master rejoins, and the
drill's own `verify replicas` finds every replica (the rejoined old master too) equal to the master."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import cli_json
import pytest

from redisops.testing import Topology

REDISOPS = [sys.executable, "-m", "redisops"]
pytestmark = pytest.mark.slow


def drill(spec: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REDISOPS, "drill", "failover", "--json", *args, "-f", str(spec)], capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with Topology.start(tmp_path_factory.mktemp("drill"), cluster=False, down_after_ms=1000) as topology:
        yield topology


def test_safe_kill_rounds_lose_no_acknowledged_write(topo: Topology) -> None:
    done = drill(topo.spec_file, "--rounds", "2", "--safe")
    assert done.returncode == 0, done.stdout + done.stderr
    report = cli_json.data(done.stdout)
    assert report["overall"]["lost_acked"] == 0 and report["overall"]["rejoined"]
    assert report["overall"]["alerted"]  # the watcher raised a failover incident in every round
    assert_replicas_consistent(report)
    for r in report["rounds"]:
        assert r["acked"] > 100 and r["lost_acked"] == 0 and r["lost_increments"] == 0
        assert r["new_master"] != r["old_master"]
        assert 0 < r["detection_s"] <= r["promotion_s"] <= r["alert_s"]
        # from the restart on: process start, data load, resync, link up (a clock started after `up` had
        # already waited for all that read 0.004 s)
        print(f"\nround {r['round']}: rejoined {r['rejoined_s']} s after the restart began")
        assert r["rejoined_s"] >= 0.2, r
    assert report["rounds"][1]["old_master"] == report["rounds"][0]["new_master"]
    mins = [topo.client(n).config_get("min-replicas-to-write")["min-replicas-to-write"]
            for n in ("mymaster-0", "mymaster-1", "mymaster-2")]
    assert mins == ["0", "0", "0"]  # safe mode restored the spec's value
    for name in ("mymaster-0", "mymaster-1", "mymaster-2"):  # ... in the config files too, so restarts keep it
        conf = topo.deployment.runtime.conf_path(topo.node(name)).read_text()
        assert "min-replicas-to-write 1" not in conf, name


def test_pause_round_detects_and_rejoins(topo: Topology) -> None:
    done = drill(topo.spec_file, "--fault", "pause")
    assert done.returncode in (0, 1), done.stderr
    report = cli_json.data(done.stdout)
    round_ = report["rounds"][0]
    assert round_["rejoined_s"] is not None
    assert round_["outage_s"] >= round_["detection_s"]
    assert_replicas_consistent(report)


def assert_replicas_consistent(report: dict[str, Any]) -> None:
    """The drill ran `verify replicas` at the end: both replicas compared, zero differences."""
    assert report["overall"]["replicas_consistent"] is True, report["replicas"]
    assert report["overall"]["replica_differences"] == 0
    pairs = report["replicas"]["pairs"]
    assert len(pairs) == 2 and all(p["error"] is None and p["different"] == 0 for p in pairs), pairs
    assert report["rounds"][-1]["old_master"] in {p["target"] for p in pairs}  # the rejoined node was compared


def test_sleep_fault_needs_the_debug_command(topo: Topology) -> None:
    done = drill(topo.spec_file, "--fault", "sleep")
    assert done.returncode == 2
    assert "refuses DEBUG" in cli_json.error(done, "drill.failover")["message"]  # --json: the error envelope
    assert "Traceback" not in done.stderr


def test_bad_fault_is_a_usage_error(topo: Topology) -> None:
    done = subprocess.run([*REDISOPS, "drill", "failover", "--fault", "melt", "-f", str(topo.spec_file)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--fault 'melt'" in done.stderr
