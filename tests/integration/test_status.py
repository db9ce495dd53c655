"""``redisops status`` against real redis-server / redis-sentinel processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cli_json
import pytest

from redisops.runtime.plan import slot_ranges
from redisops.runtime.processes import port_is_free
from redisops.testing import Topology, assert_eventually
from redisops.topology import Health, StatusReport, collect_status_sync, targets_from_plan

REDISOPS = str(Path(sys.executable).parent / "redisops")


def status_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([REDISOPS, "status", *args], capture_output=True, text=True, timeout=30,
                          env={**os.environ, **(env or {})})


def report_of(topo: Topology) -> StatusReport:
    groups, clusters = targets_from_plan(topo.plan, topo.secrets)
    return collect_status_sync(groups, clusters, timeout=1.0)


def address(topo: Topology, name: str) -> str:
    return str(topo.node(name).address)


def free_port() -> int:
    return next(p for p in range(21000, 21100) if port_is_free("127.0.0.1", p))


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """Shared by the read-only tests below; nothing here changes it."""
    with Topology.start(tmp_path_factory.mktemp("status"), sentinel=True, cluster=True) as topo:
        yield topo


def test_healthy_deployment_is_ok_with_expected_counts_in_json(healthy: Topology) -> None:
    result = status_cli("--json", "-f", str(healthy.spec_file))
    assert result.returncode == 0, result.stdout + result.stderr
    data: dict[str, Any] = cli_json.data(result.stdout)
    assert (data["health"], data["exit_code"], data["reasons"]) == ("ok", 0, [])
    (group,) = data["groups"]
    assert group["master"] == address(healthy, "mymaster-0") and group["quorum"] == 2
    assert [n["role"] for n in group["nodes"]] == ["master", "replica", "replica"]
    assert all(n["link"] == "up" and n["lag_bytes"] is not None for n in group["nodes"][1:])
    assert [(s["num_slaves"], s["num_other_sentinels"], s["ckquorum_ok"]) for s in group["sentinels"]] == [
        (2, 2, True)] * 3
    (cluster,) = data["clusters"]
    assert (cluster["slots_covered"], cluster["masters"], cluster["views_agreeing"]) == (16384, 3, 6)
    assert [n["role"] for n in cluster["nodes"]] == ["master", "replica"] * 3
    assert [n["slots"] for n in cluster["nodes"][::2]] == [f"{a}-{b}" for a, b in slot_ranges(3)]
    assert len(healthy.secrets.passwords) >= 6  # every ACL user's, the sentinels'
    assert not [p for p in healthy.secrets.passwords if p in result.stdout + result.stderr]


def test_table_ends_with_the_verdict(healthy: Topology) -> None:
    result = status_cli("-f", str(healthy.spec_file))
    assert result.returncode == 0
    assert "verdict: OK" in result.stdout and address(healthy, "main-0") in result.stdout


def test_remote_cluster_seed_discovers_every_node(healthy: Topology) -> None:
    env = {"STATUS_TEST_PW": healthy.secrets.admin_password}
    result = status_cli("--json", "--cluster", address(healthy, "main-3"), "--user", "admin", "--password-env",
                        "STATUS_TEST_PW",
                        env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    (cluster,) = cli_json.data(result.stdout)["clusters"]
    assert len(cluster["nodes"]) == 6 and cluster["health"] == "ok"
    table = status_cli("--cluster", address(healthy, "main-3"), "--user", "admin", "--password-env", "STATUS_TEST_PW",
                       env=env)
    assert table.stdout.startswith("cluster: slots 16384/16384"), table.stdout[:80]  # not "cluster cluster:"


def test_remote_sentinels_discover_the_data_nodes(healthy: Topology) -> None:
    sentinels = ",".join(address(healthy, f"mymaster-sentinel-{i}") for i in range(3))
    env = {"STATUS_TEST_PW": healthy.secrets.admin_password, "STATUS_TEST_SPW": healthy.secrets.sentinel_password}
    result = status_cli("--json", "--sentinel", sentinels, "--master", "mymaster", "--user", "admin", "--password-env",
                        "STATUS_TEST_PW", "--sentinel-password-env", "STATUS_TEST_SPW", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    (group,) = cli_json.data(result.stdout)["groups"]
    assert sorted(n["address"] for n in group["nodes"]) == sorted(address(healthy, f"mymaster-{i}")
                                                                  for i in range(3))


def test_wrong_password_is_one_line_and_exit_2(healthy: Topology) -> None:
    result = status_cli("--cluster", address(healthy, "main-0"), "--password-env", "STATUS_TEST_PW",
                        env={"STATUS_TEST_PW": "not-the-password"})
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: {address(healthy, 'main-0')}: wrong password: "
                                     "check the password (--password-env)")
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_unreachable_seed_is_one_line_and_exit_3() -> None:
    seed = f"127.0.0.1:{free_port()}"
    result = status_cli("--cluster", seed)
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {seed}: connection refused")


def test_killed_nodes_are_named(tmp_path: Path) -> None:
    with Topology.start(tmp_path, sentinel=True, cluster=True) as topo:
        replica, cluster_replica = address(topo, "mymaster-2"), address(topo, "main-5")
        topo.kill("mymaster-2")
        topo.kill("main-5")

        def degraded() -> StatusReport:
            report = report_of(topo)
            assert report.health is Health.DEGRADED, report.reasons
            assert f"mymaster: replica {replica} unreachable (connection refused)" in report.reasons
            assert any(r.startswith(f"main: node {cluster_replica} unreachable (connection refused)")
                       for r in report.reasons), report.reasons
            return report

        assert_eventually(degraded, within=10)
        result = status_cli("-f", str(topo.spec_file))
        assert result.returncode == 1 and "verdict: DEGRADED" in result.stdout
        assert f"replica {replica} unreachable" in result.stdout


def test_paused_node_times_out_without_stalling_status(tmp_path: Path) -> None:
    with Topology.start(tmp_path, sentinel=False, cluster=True) as topo:
        topo.pause("main-4")
        try:
            # no timing assertion (none in the suite): the probes run concurrently (asyncio.gather), and the
            # paused node must come back as "timed out" rather than hang the report or look refused
            report = report_of(topo)
        finally:
            topo.resume("main-4")
        assert report.health is Health.DEGRADED
        assert any(r.startswith(f"main: node {address(topo, 'main-4')} unreachable (timed out)")
                   for r in report.reasons), report.reasons
