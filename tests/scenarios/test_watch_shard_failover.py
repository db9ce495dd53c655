"""Kill -9 a cluster master under a running watcher: one shard failover incident naming the replica that took its
slots (as the cluster itself reports it), then, once ``up`` restarted the old master and it rejoined as a replica,
resolved; its node-down incident opens and resolves beside it.

Times are printed (``-s``), never asserted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from redisops.alerts import Incident, IncidentKind
from redisops.ha import Watcher
from redisops.spec.watch import WatchSpec
from redisops.testing import Topology, assert_eventually
from redisops.testing.watching import IncidentRecorder, WatcherThread
from redisops.topology import collect_status_sync, targets_from_plan
from redisops.topology.cluster_status import ClusterStatus
from redisops.topology.model import Role

SETTINGS = WatchSpec(poll_interval_s=0.5, probe_timeout_s=0.5)


@pytest.fixture
def topo(tmp_path: Path) -> Iterator[Topology]:
    with Topology.start(tmp_path, sentinel=False, node_timeout_ms=1000) as topology:
        yield topology


def cluster(topo: Topology) -> ClusterStatus:
    _, clusters = targets_from_plan(topo.plan, topo.secrets)
    return collect_status_sync([], clusters).clusters[0]


@pytest.mark.slow
def test_killed_cluster_master_is_one_shard_failover_naming_the_new_master(topo: Topology) -> None:
    groups, clusters = targets_from_plan(topo.plan, topo.secrets)
    sink = IncidentRecorder()
    running = WatcherThread(Watcher(groups, clusters, sink, settings=SETTINGS))
    try:
        before = cluster(topo)
        old = next(r for r in before.rows if r.role is Role.MASTER and r.slots)
        first = old.slots[0][0]
        assert_eventually(lambda: polled(running.watcher), within=10)
        killed_at = time.time()
        topo.kill(next(n.name for n in topo.plan.nodes if n.address == old.address))

        opened = assert_eventually(lambda: firing(sink), within=30)
        after = cluster(topo)
        new = after.row(after.slot_map.owner(first))
        assert new is not None and new.id != old.id
        assert opened.labels["old_master"] == str(old.address) and opened.labels["new_master"] == str(new.address)
        assert opened.title.startswith(f"cluster main: shard {first}-") and not opened.resolved
        promoted = next(e for e in opened.timeline if e.event == "promoted")

        topo.up()  # the old master comes back and rejoins as a replica of the new one
        done = assert_eventually(lambda: resolved(sink), within=30)
        assert done.key == opened.key and done.timeline[-1].event == "rejoined"
        assert [e.at for e in done.timeline] == sorted(e.at for e in done.timeline)
        downs = [i for i in sink.of(IncidentKind.CLUSTER_NODE_DOWN) if i.labels["node"] == str(old.address)]
        assert [i.resolved for i in downs] == [False, True]
        print(f"\nkill -> promotion seen {promoted.at - killed_at:.3f} s; -> handed "
              f"{sink.handed[[i for _, i in sink.handed].index(opened)][0] - killed_at:.3f} s")
    finally:
        running.close()
    assert [i.key for i in sink.of(IncidentKind.SHARD_FAILOVER)] == [opened.key] * 2


def polled(watcher: Watcher) -> None:
    assert watcher.last_report is not None


def firing(sink: IncidentRecorder) -> Incident:
    found = sink.of(IncidentKind.SHARD_FAILOVER)
    assert found, sink.incidents
    return found[0]


def resolved(sink: IncidentRecorder) -> Incident:
    found = [i for i in sink.of(IncidentKind.SHARD_FAILOVER) if i.resolved]
    assert found, sink.incidents
    return found[0]
