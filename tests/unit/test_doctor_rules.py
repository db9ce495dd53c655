"""The doctor's rules on real INFO text (tests/recorded/doctor, captured by capture.py there from redis 7.0.15):
a master after a burst of writes and deletes, and its replica once the master was killed; planted variants of them
for the conditions that cannot be caused cheaply (a failed AOF write, a lagging replica, a node near maxmemory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from redisops.address import Address
from redisops.observe.doctor import DoctorReport, NodeReport, Severity, Thresholds
from redisops.observe.doctor.model import Finding
from redisops.observe.doctor.rules import MIB, info_findings, memory_doctor_findings
from redisops.topology.parse import parse_info

RECORDED = Path(__file__).resolve().parents[1] / "recorded" / "doctor"


def info(name: str, **changes: str) -> dict[str, str]:
    parsed = parse_info((RECORDED / f"{name}.txt").read_text())
    assert parsed, name
    return {**parsed, **changes}


def ids(found: list[Finding]) -> dict[str, Severity]:
    return {f.id: f.severity for f in found}


def test_a_recorded_healthy_master_has_no_finding_at_default_thresholds() -> None:
    master = info("info-master-fragmented")
    assert float(master["mem_fragmentation_ratio"]) > 1.4  # a small node after a burst: looks fragmented...
    assert info_findings(master, {"maxclients": "10000"}) == []  # ...but 18 MB of waste is not worth a restart


def test_fragmentation_at_memory_doctors_own_floor() -> None:
    found = info_findings(info("info-master-fragmented"), {}, Thresholds(fragmentation_bytes=10 * MIB))
    [frag] = found
    assert frag.id == "memory.fragmentation" and frag.severity is Severity.WARNING
    assert frag.details["ratio"] == pytest.approx(7.94) and frag.details["bytes"] == 18531680
    assert "activedefrag" in frag.fix


def test_swapped_out_memory_is_an_error() -> None:
    found = ids(info_findings(info("info-master-fragmented", used_memory=str(200 * MIB),
                                   used_memory_rss=str(100 * MIB), mem_fragmentation_ratio="0.5"), {}))
    assert found == {"memory.swapping": Severity.ERROR}


def test_recorded_replica_with_its_master_killed_has_its_link_down() -> None:
    [down] = info_findings(info("info-replica-link-down"), {})
    assert down.id == "replication.link-down" and down.severity is Severity.ERROR
    assert down.details["master"].startswith("127.0.0.1:") and down.details["down_s"] == 0


def test_persistence_failures_are_errors() -> None:
    found = ids(info_findings(info("info-master-fragmented", rdb_last_bgsave_status="err",
                                   aof_last_write_status="err", aof_last_bgrewrite_status="err"), {}))
    assert found == {"persistence.rdb-failed": Severity.ERROR, "persistence.aof-write-failed": Severity.ERROR,
                     "persistence.aof-rewrite-failed": Severity.ERROR}
    # a write status from an AOF that is off means nothing
    assert info_findings(info("info-master-fragmented", aof_enabled="0", aof_last_write_status="err"), {}) == []


def test_a_slow_fork_is_a_warning() -> None:
    assert ids(info_findings(info("info-master-fragmented", latest_fork_usec="750000"), {})) == {
        "persistence.slow-fork": Severity.WARNING}


def test_replicas_syncing_or_lagging() -> None:
    master = info("info-master-fragmented")
    link = master["slave0"]
    lagging = ids(info_findings({**master, "slave0": link.replace("lag=0", "lag=12")}, {}))
    assert lagging == {"replication.lag": Severity.WARNING}
    syncing = ids(info_findings({**master, "slave0": link.replace("state=online", "state=wait_bgsave")}, {}))
    assert syncing == {"replication.replica-syncing": Severity.WARNING}
    assert info_findings({**master, "slave0": link.replace("lag=0", "lag=12")}, {}, Thresholds(replica_lag_s=20)) == []


def test_memory_limits_by_policy() -> None:
    master = info("info-master-fragmented", used_memory=str(95 * MIB), used_memory_rss=str(100 * MIB),
                  mem_fragmentation_ratio="1.05", maxmemory=str(100 * MIB))
    assert ids(info_findings({**master, "maxmemory_policy": "noeviction"}, {})) == {"memory.near-limit": Severity.ERROR}
    assert ids(info_findings({**master, "maxmemory_policy": "allkeys-lfu"}, {})) == {
        "memory.near-limit": Severity.WARNING}
    assert ids(info_findings({**master, "maxmemory": "0"}, {})) == {"memory.no-limit": Severity.WARNING}
    cache = ids(info_findings({**master, "maxmemory_policy": "allkeys-lru", "evicted_keys": "5",
                               "used_memory": str(10 * MIB)}, {}))
    assert cache == {"memory.evictions": Severity.INFO}
    volatile = ids(info_findings({**master, "maxmemory_policy": "volatile-lru", "evicted_keys": "5",
                                  "used_memory": str(10 * MIB)}, {}))
    assert volatile == {"memory.evictions": Severity.WARNING}


def test_clients_rejected_or_near_maxclients() -> None:
    master = info("info-master-fragmented", rejected_connections="3", connected_clients="95")
    assert ids(info_findings(master, {"maxclients": "100"})) == {"clients.rejected": Severity.WARNING,
                                                                 "clients.near-limit": Severity.WARNING}


def test_memory_doctor_text() -> None:
    assert memory_doctor_findings("Hi Sam, I can't find any memory issue in your instance.") == []
    [found] = memory_doctor_findings("Sam, I detected a few issues in this Redis instance memory implants:\n\n"
                                     " * Peak memory: ...")
    assert found.severity is Severity.INFO and "Peak memory" in found.explanation


def _report(*severities: Severity, down: bool = False, fail_on: Severity = Severity.WARNING) -> DoctorReport:
    node = NodeReport("n", Address("127.0.0.1", 1), error="refused" if down else None)
    node.findings = [Finding(f"x.{i}", s, "t", "e", "f", "n") for i, s in enumerate(severities)]
    return DoctorReport([node], [], {}, fail_on)


def test_exit_code_follows_fail_on_and_a_report_with_no_node_examined_is_down() -> None:
    assert _report().exit_code == 0
    assert _report(Severity.INFO).exit_code == 0
    assert _report(Severity.INFO, Severity.WARNING).exit_code == 1
    assert _report(Severity.WARNING, fail_on=Severity.ERROR).exit_code == 0
    assert _report(Severity.ERROR, fail_on=Severity.ERROR).exit_code == 1
    assert _report(Severity.ERROR, down=True).exit_code == 3
    data = _report(Severity.INFO, Severity.ERROR).to_dict()
    assert data["worst"] == "error" and [f["severity"] for f in data["findings"]] == ["error", "info"]
    assert data["counts"] == {"info": 1, "warning": 0, "error": 1, "critical": 0}
