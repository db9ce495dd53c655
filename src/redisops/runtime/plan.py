"""From a spec to concrete nodes: names, addresses, roles and cluster layout.

The plan is pure arithmetic on the spec, shared by every runtime (local
processes, Compose, Kubernetes), so all of them run the same topology.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from redisops.address import Address
from redisops.spec.models import ClusterSpec, SentinelGroup, Spec

__all__ = ["ClusterLayout", "GroupLayout", "NodeKind", "NodePlan", "Plan", "build_plan", "cluster_node", "slot_ranges",
           "state_dir"]

#: Redis Cluster's hash slots (a key's slot is CRC16(key) mod 16384).  Defined once, here at the bottom layer;
#: ``redisops.topology.model`` re-exports it for the layers above.
SLOTS = 16384


class NodeKind(Enum):
    REDIS = "redis"  # data node of a sentinel group
    SENTINEL = "sentinel"
    CLUSTER = "cluster"


@dataclass(frozen=True)
class NodePlan:
    name: str
    kind: NodeKind
    group: str
    index: int
    address: Address
    spec_path: str  # the field to change when this node's port is a problem
    #: data node of a sentinel group: the master it replicates at first creation
    replica_of: Address | None = None
    #: sentinel: its fixed run id, so peers can be pre-seeded with `known-sentinel`
    sentinel_id: str | None = None


@dataclass(frozen=True)
class GroupLayout:
    spec: SentinelGroup
    redis: tuple[NodePlan, ...]  # redis[0] is the initial master
    sentinels: tuple[NodePlan, ...]

    @property
    def master(self) -> NodePlan:
        return self.redis[0]

    @property
    def replicas(self) -> tuple[NodePlan, ...]:
        return self.redis[1:]


@dataclass(frozen=True)
class ClusterLayout:
    spec: ClusterSpec
    nodes: tuple[NodePlan, ...]
    masters: tuple[NodePlan, ...]
    #: replica name -> master name, placed on another host than the master where hosts differ
    replica_of: dict[str, str]

    def slots_of(self, master: NodePlan) -> tuple[int, int]:
        return slot_ranges(len(self.masters))[self.masters.index(master)]


@dataclass(frozen=True)
class Plan:
    spec: Spec
    groups: tuple[GroupLayout, ...]
    cluster: ClusterLayout | None

    @property
    def nodes(self) -> tuple[NodePlan, ...]:
        out: list[NodePlan] = []
        for group in self.groups:
            out += [*group.redis, *group.sentinels]
        if self.cluster is not None:
            out += self.cluster.nodes
        return tuple(out)

    def node(self, name: str) -> NodePlan:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)


def state_dir(spec: Spec, spec_file: Path) -> Path:
    """Where the local runtime keeps a deployment: ``.redisops/<name>`` beside its spec (nodes, TLS, monitoring,
    the UI, bench history)."""
    return spec_file.parent.resolve() / ".redisops" / spec.name


def build_plan(spec: Spec) -> Plan:
    groups = tuple(_group_layout(spec.name, i, g) for i, g in enumerate(spec.sentinel))
    cluster = _cluster_layout(spec.cluster) if spec.cluster is not None else None
    return Plan(spec, groups, cluster)


def slot_ranges(masters: int) -> list[tuple[int, int]]:
    """Balanced contiguous ranges: master k owns [k*S/M, (k+1)*S/M - 1]."""
    return [(k * SLOTS // masters, (k + 1) * SLOTS // masters - 1) for k in range(masters)]


def _group_layout(deployment: str, index: int, group: SentinelGroup) -> GroupLayout:
    path = f"sentinel[{index}]"
    hosts = group.hosts
    master = Address(hosts[0], group.port)
    redis = tuple(
        NodePlan(
            name=f"{group.name}-{i}",
            kind=NodeKind.REDIS,
            group=group.name,
            index=i,
            address=Address(hosts[i % len(hosts)], group.port + i),
            spec_path=f"{path}.port",
            replica_of=None if i == 0 else master,
        )
        for i in range(group.replicas + 1)
    )
    sentinels = tuple(
        NodePlan(
            name=f"{group.name}-sentinel-{i}",
            kind=NodeKind.SENTINEL,
            group=group.name,
            index=i,
            address=Address(hosts[i % len(hosts)], group.sentinel_port + i),
            spec_path=f"{path}.sentinel_port",
            sentinel_id=_sentinel_id(deployment, group.name, i),
        )
        for i in range(group.sentinels)
    )
    return GroupLayout(group, redis, sentinels)


def _sentinel_id(deployment: str, group: str, index: int) -> str:
    """Stable 40-hex run id per sentinel; peers list each other with it."""
    return hashlib.sha1(f"redisops/{deployment}/{group}/sentinel/{index}".encode()).hexdigest()


def cluster_node(cluster: ClusterSpec, index: int) -> NodePlan:
    """Cluster node ``index`` of ``cluster`` (also past ``size``: the nodes a scale-in retires)."""
    hosts = cluster.hosts
    return NodePlan(
        name=f"{cluster.name}-{index}",
        kind=NodeKind.CLUSTER,
        group=cluster.name,
        index=index,
        address=Address(hosts[index % len(hosts)], cluster.port + index),
        spec_path="cluster.port",
    )


def _cluster_layout(cluster: ClusterSpec) -> ClusterLayout:
    nodes = tuple(cluster_node(cluster, i) for i in range(cluster.size))
    masters = nodes[: cluster.masters]
    return ClusterLayout(cluster, nodes, masters, _place_replicas(masters, nodes[cluster.masters:],
                                                                  cluster.replicas_per_master))


def _place_replicas(masters: tuple[NodePlan, ...], spare: tuple[NodePlan, ...],
                    per_master: int) -> dict[str, str]:
    """Give each master ``per_master`` replicas on hosts its shard does not use yet, where possible.

    Round by round (one replica per master per round), each round a maximum
    bipartite matching between masters and free nodes over "different host"
    edges, so no early choice strands a later master on its own host.
    Masters left unmatched take the first free nodes.  Deterministic: the
    same spec always gives the same plan.
    """
    free = list(spare)
    shard_hosts = {m.name: {m.address.host} for m in masters}
    out: dict[str, str] = {}
    for _ in range(per_master):
        chosen = _match(masters, free, shard_hosts)
        for node in chosen.values():
            free.remove(node)
        for master in masters:
            node = chosen.get(master.name) or free.pop(0)
            shard_hosts[master.name].add(node.address.host)
            out[node.name] = master.name
    return out


def _match(masters: tuple[NodePlan, ...], free: list[NodePlan],
           shard_hosts: dict[str, set[str]]) -> dict[str, NodePlan]:
    """Kuhn's augmenting paths: master name -> a free node on a host new to its shard."""
    owner: dict[str, NodePlan] = {}  # node name -> master

    def assign(master: NodePlan, seen: set[str]) -> bool:
        for node in free:
            if node.address.host in shard_hosts[master.name] or node.name in seen:
                continue
            seen.add(node.name)
            if node.name not in owner or assign(owner[node.name], seen):
                owner[node.name] = master
                return True
        return False

    for master in masters:
        assign(master, set())
    by_name = {n.name: n for n in free}
    return {m.name: by_name[n] for n, m in owner.items()}
