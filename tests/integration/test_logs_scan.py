"""`redisops logs scan` on logs that real nodes wrote while the condition was really caused."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cli_json
import pytest

from redisops.testing import Topology, assert_eventually

REDISOPS = [sys.executable, "-m", "redisops"]


def cli(*args: str, spec: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REDISOPS, "logs", "scan", *args, "-f", str(spec)], capture_output=True, text=True,
                          timeout=60)


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    with Topology.start(tmp_path_factory.mktemp("logs"), cluster=False, down_after_ms=1000) as topology:
        yield topology


def _master(topo: Topology) -> str:
    host, port = topo.client("mymaster-sentinel-0").sentinel_get_master_addr_by_name("mymaster")
    return f"{host}:{port}"


def _scan(topo: Topology, *args: str) -> dict[str, Any]:
    done = cli("--json", *args, spec=topo.spec_file)
    assert done.returncode in (0, 1), done.stderr
    data: dict[str, Any] = cli_json.data(done.stdout)
    return data


@pytest.mark.slow
def test_killed_master_is_exactly_one_failover_incident_then_a_cut_replica(topo: Topology) -> None:
    old = _master(topo)
    topo.kill("mymaster-0")

    def switched_everywhere() -> dict[str, Any]:
        data = _scan(topo)
        failovers = [i for i in data["incidents"] if i["kind"] == "failover"]
        assert failovers and len(failovers[0]["reporters"]) == 3, failovers
        return data

    data = assert_eventually(switched_everywhere, within=30, interval=0.5)
    new = _master(topo)
    failovers = [i for i in data["incidents"] if i["kind"] == "failover"]
    assert len(failovers) == 1, failovers
    assert (failovers[0]["subject"], failovers[0]["new_master"]) == (old, new)
    assert {e["event"] for e in failovers[0]["timeline"]} >= {"sentinel.odown", "sentinel.switch-master"}
    assert data["exit_code"] == 1

    # a replica cut off by a tiny replica output buffer while the master takes big writes
    name = next(n.name for n in topo.plan.nodes if str(n.address) == new)
    master = topo.client(name)
    master.config_set("client-output-buffer-limit", "replica 64kb 32kb 1")
    try:
        for i in range(3):
            master.set(f"big{i}", b"x" * 1_000_000)

        def cut() -> None:
            ids = {s["id"] for s in _scan(topo, "--since", "5m")["signatures"]}
            assert {"clients.output-buffer", "repl.master-link-lost"} <= ids, ids

        assert_eventually(cut, within=20, interval=0.5)
    finally:
        master.config_set("client-output-buffer-limit", "replica 256mb 64mb 60")
    assert len([i for i in _scan(topo)["incidents"] if i["kind"] == "failover"]) == 1


def test_bad_input_is_one_line(topo: Topology, tmp_path: Path) -> None:
    not_a_log = tmp_path / "notes.txt"
    not_a_log.write_text("hello\n")
    for args, fragment in (([str(not_a_log)], "is not a Redis log"), ([str(tmp_path / "nope.log")], "no such log"),
                           (["--since", "yesterday"], "is not a duration"), (["--fail-on", "loud"], "severity")):
        done = cli(*args, spec=topo.spec_file)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert fragment in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_follow_streams_findings_and_the_failover(tmp_path: Path) -> None:
    """`--follow --since` first reports what a file holds (the corpus: a sentinel's log of two failovers)."""
    corpus = Path(__file__).resolve().parents[1] / "logs_corpus" / "run1" / "mymaster-sentinel-0.log"
    log = tmp_path / "sentinel.log"
    log.write_bytes(corpus.read_bytes())
    proc = subprocess.Popen([*REDISOPS, "logs", "scan", str(log), "--follow", "--since", "100000d", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or ()], daemon=True).start()
    try:
        kinds: list[str] = []
        incidents: list[dict[str, Any]] = []
        for _ in range(200):  # the file holds fewer findings than that
            kind, data = cli_json.record(lines.get(timeout=30))
            kinds.append(kind)
            if kind == "logs.scan.incident":
                incidents.append(data)
            if len(incidents) == 2:
                break
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert kinds[0] == "logs.scan.finding"
    assert [i["new_master"] for i in incidents] == ["127.0.0.1:11851", "127.0.0.1:11852"]


@pytest.mark.slow
def test_killed_cluster_master_is_one_cluster_failover(tmp_path: Path) -> None:
    """The other nodes' FAIL lines and the replica's election are one incident about the dead node's id."""
    with Topology.start(tmp_path, sentinel=False, node_timeout_ms=1000) as topo:
        dead_id = topo.client("main-0").execute_command("CLUSTER MYID")
        dead_id = dead_id.decode() if isinstance(dead_id, bytes) else dead_id
        topo.kill("main-0")

        def taken_over() -> dict[str, Any]:
            incidents = [i for i in _scan(topo)["incidents"] if i["group"] == "cluster"]
            assert incidents and incidents[0]["kind"] == "cluster-failover", incidents
            return incidents[0]

        incident = assert_eventually(taken_over, within=30, interval=0.5)
        assert incident["subject"] == dead_id
        assert len([i for i in _scan(topo)["incidents"] if i["group"] == "cluster"]) == 1
        promoted = incident["leader"]
        assert topo.client(promoted).info("replication")["role"] == "master"
        assert len(incident["reporters"]) >= 3  # the leader and at least the other masters that saw it fail
