"""Cluster conditions from real CLUSTER NODES text (redis 7.0.15: masters 32000-32002, replicas
32005->32000, 32003->32001, 32004->32002), and the cycle sentence for a cluster (pure)."""

from __future__ import annotations

from captured_cluster import CLUSTER, HEALTHY, MASTER_FAILED, cluster_node, dead

from redisops.alerts import IncidentKind, Severity
from redisops.ha import cluster_conditions, describe_report
from redisops.ha.conditions import Held, report_conditions, track
from redisops.spec.watch import WatchSpec
from redisops.topology import StatusReport
from redisops.topology.cluster_status import judge_cluster


def test_healthy_cluster_has_no_conditions_and_says_ok() -> None:
    status = judge_cluster(CLUSTER, [cluster_node(p, HEALTHY) for p in range(32000, 32006)])
    assert cluster_conditions(status) == []
    assert describe_report(StatusReport.of([], [status]), [], WatchSpec()) == "no action: cluster main ok"


def test_killed_master_before_its_replica_took_over() -> None:
    probes = [cluster_node(p, MASTER_FAILED, state="fail", link="down" if p == 32004 else "up")
              for p in (32000, 32001, 32003, 32004, 32005)]
    status = judge_cluster(CLUSTER, [*probes, dead(32002)])
    found = {c.key: c for c in cluster_conditions(status)}
    assert sorted(found) == ["cluster_no_replica:main:127.0.0.1:32002", "cluster_node_down:main:127.0.0.1:32002",
                             "cluster_state:main"]
    down = found["cluster_node_down:main:127.0.0.1:32002"]
    assert down.kind is IncidentKind.CLUSTER_NODE_DOWN and down.severity is Severity.CRITICAL  # owned slots
    assert "flagged fail" in down.title
    assert found["cluster_state:main"].severity is Severity.CRITICAL


def test_pfail_replica_and_uncovered_slots() -> None:
    text = HEALTHY.replace("127.0.0.1:32003@33003 slave", "127.0.0.1:32003@33003 slave,fail?")
    text = text.replace("connected 10923-16383", "connected 10923-16000")
    probes = [cluster_node(p, text if p != 32003 else HEALTHY.replace("10923-16383", "10923-16000"))
              for p in range(32000, 32006)]
    found = {c.key: c for c in cluster_conditions(judge_cluster(CLUSTER, probes))}
    assert found["cluster_node_down:main:127.0.0.1:32003"].severity is Severity.WARNING
    assert found["cluster_slots:main"].title == "cluster main: only 16001 of 16384 slots covered"
    assert "cluster_no_replica:main:127.0.0.1:32001" in found


def test_cluster_state_and_missing_replica_must_settle_but_a_dead_node_counts_at_once() -> None:
    """A node joining says cluster_state fail for a few seconds and a new master has no replica yet (scale out):
    those wait ``cluster_settle_s``; a node down does not."""
    probes = [cluster_node(p, MASTER_FAILED, state="fail", link="down" if p == 32004 else "up")
              for p in (32000, 32001, 32003, 32004, 32005)]
    status = judge_cluster(CLUSTER, [*probes, dead(32002)])
    conditions = report_conditions(StatusReport.of([], [status]), WatchSpec(cluster_settle_s=10))
    held, opened = track(Held(), conditions, 100.0)
    assert [i.key for i in opened] == ["cluster_node_down:main:127.0.0.1:32002"]
    held, opened = track(held, conditions, 105.0)
    assert opened == []
    held, opened = track(held, conditions, 110.0)
    assert sorted(i.key for i in opened) == ["cluster_no_replica:main:127.0.0.1:32002", "cluster_state:main"]
    assert [i.key for i in track(held, [], 111.0)[1] if i.resolved] != []
