"""The plan: names, ports, slot ranges and replica placement across hosts."""

from __future__ import annotations

import pytest

from redisops.runtime.plan import SLOTS, NodeKind, build_plan, slot_ranges
from redisops.spec import load_text
from redisops.spec.default import DEFAULT_SPEC


@pytest.mark.parametrize("masters", [3, 4, 5, 7, 16])
def test_slot_ranges_cover_every_slot_once_and_balanced(masters: int) -> None:
    ranges = slot_ranges(masters)
    covered = [slot for start, end in ranges for slot in range(start, end + 1)]
    assert covered == list(range(SLOTS))
    sizes = [end - start + 1 for start, end in ranges]
    assert max(sizes) - min(sizes) <= 1


def test_default_plan_names_and_ports() -> None:
    spec, _ = load_text(DEFAULT_SPEC)
    assert spec is not None
    plan = build_plan(spec)
    group = plan.groups[0]
    assert [n.name for n in group.redis] == ["mymaster-0", "mymaster-1", "mymaster-2"]
    assert [n.address.port for n in group.redis] == [6400, 6401, 6402]
    assert [n.address.port for n in group.sentinels] == [26400, 26401, 26402]
    assert all(n.replica_of == group.master.address for n in group.replicas)
    assert len({s.sentinel_id for s in group.sentinels}) == 3
    assert plan.cluster is not None
    assert [n.address.port for n in plan.cluster.nodes] == list(range(7000, 7006))
    assert plan.cluster.replica_of == {"main-3": "main-0", "main-4": "main-1", "main-5": "main-2"}
    assert {n.kind for n in plan.nodes} == {NodeKind.REDIS, NodeKind.SENTINEL, NodeKind.CLUSTER}


@pytest.mark.parametrize(("hosts", "masters", "replicas"), [(3, 3, 1), (3, 3, 2), (2, 3, 1), (4, 5, 2), (3, 4, 1)])
def test_replicas_avoid_their_masters_host(hosts: int, masters: int, replicas: int) -> None:
    host_list = ", ".join(f"127.0.0.{i + 1}" for i in range(hosts))
    spec, problems = load_text(f"cluster: {{hosts: [{host_list}], masters: {masters}, "
                               f"replicas_per_master: {replicas}}}\n")
    assert spec is not None, problems
    plan = build_plan(spec)
    assert plan.cluster is not None
    host_of = {n.name: n.address.host for n in plan.cluster.nodes}
    assert len(plan.cluster.replica_of) == masters * replicas
    for master in plan.cluster.masters:
        shard = [r for r, m in plan.cluster.replica_of.items() if m == master.name]
        assert len(shard) == replicas
        assert all(host_of[r] != host_of[master.name] for r in shard), (master.name, shard, host_of)


def test_sentinel_ids_are_stable_across_builds() -> None:
    spec, _ = load_text(DEFAULT_SPEC)
    assert spec is not None
    first = [s.sentinel_id for s in build_plan(spec).groups[0].sentinels]
    assert first == [s.sentinel_id for s in build_plan(spec).groups[0].sentinels]
