"""`redisops sentinel tune`: drifted live settings are found, --apply fixes and verifies them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import cli_json
import pytest

from redisops.testing import Topology

REDISOPS = [sys.executable, "-m", "redisops"]


def tune(*args: str, spec: Path) -> tuple[int, dict[str, Any]]:
    done = subprocess.run([*REDISOPS, "sentinel", "tune", "--json", *args, "-f", str(spec)], capture_output=True,
                          text=True, timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, cli_json.data(done.stdout)


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with Topology.start(tmp_path_factory.mktemp("tune"), cluster=False) as topology:
        yield topology


def test_a_deployment_as_specified_has_nothing_to_fix(topo: Topology) -> None:
    code, data = tune(spec=topo.spec_file)
    assert code == 0, data
    assert all(f["fix"] is None for f in data["findings"])
    assert [f["setting"] for f in data["findings"]] == ["min-replicas-to-write"]  # advice only
    assert data["summary"] == "0 findings, 1 advice" and data["remaining"] == []
    done = subprocess.run([*REDISOPS, "sentinel", "tune", "-f", str(topo.spec_file)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr  # advice is not a finding: exit 0, and said so
    assert done.stdout.startswith("mymaster: 0 findings, 1 advice (slowest RTT "), done.stdout


def test_drift_is_found_and_applied(topo: Topology) -> None:
    name = "mymaster"
    for sentinel in ("mymaster-sentinel-0", "mymaster-sentinel-1", "mymaster-sentinel-2"):
        topo.client(sentinel).execute_command("SENTINEL", "SET", name, "quorum", "3")
    topo.client("mymaster-sentinel-1").execute_command("SENTINEL", "SET", name, "parallel-syncs", "2")
    topo.client("mymaster-sentinel-2").execute_command("SENTINEL", "SET", name, "down-after-milliseconds", "4000")
    topo.client("mymaster-1").config_set("min-replicas-to-write", 5)
    code, data = tune(spec=topo.spec_file)
    assert code == 1  # warnings and errors are findings: exit 1, as README says
    counted = [f for f in data["findings"] if f["severity"] != "advice"]
    assert data["summary"] == f"{len(counted)} findings, 1 advice" and len(counted) >= 4
    fixes = {(f["setting"], f["fix"]["value"]) for f in data["findings"] if f["fix"]}
    assert ("quorum", 2) in fixes
    assert ("down-after-milliseconds", 5000) in fixes
    assert ("parallel-syncs", 1) in fixes
    assert ("min-replicas-to-write", 0) in fixes
    code, data = tune("--apply", spec=topo.spec_file)
    assert code == 0, data["remaining"]
    assert data["remaining"] == []
    for sentinel in ("mymaster-sentinel-0", "mymaster-sentinel-2"):
        master = topo.client(sentinel).execute_command("SENTINEL", "MASTER", name)
        assert int(master["quorum"]) == 2 and int(master["down-after-milliseconds"]) == 5000
    assert topo.client("mymaster-1").config_get("min-replicas-to-write")["min-replicas-to-write"] == "0"


def test_remote_mode_and_unknown_group(topo: Topology, monkeypatch: pytest.MonkeyPatch) -> None:
    sentinels = ",".join(str(s.address) for s in topo.plan.groups[0].sentinels)
    env = {"SPW": topo.secrets.sentinel_password, "RPW": topo.secrets.admin_password}
    done = subprocess.run([*REDISOPS, "sentinel", "tune", "--json", "--sentinel", sentinels, "--master", "mymaster",
                           "--sentinel-password-env", "SPW", "--user", "admin", "--password-env", "RPW"], capture_output=True, text=True,
                          timeout=60, env={**env, "PATH": "/usr/bin:/bin"})
    assert done.returncode in (0, 1), done.stderr
    assert cli_json.data(done.stdout)["group"] == "mymaster"
    done = subprocess.run([*REDISOPS, "sentinel", "tune", "--group", "nope", "-f", str(topo.spec_file)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "unknown group 'nope'" in done.stderr
