"""``verify replicas``: every master against each of its replicas, Sentinel groups and cluster shards.

Who replicates whom comes from a live probe (:mod:`redisops.topology.probe`),
not from the spec: after a failover the spec's first node is no longer the
master.  A replica that cannot be reached is reported as a pair that could not
be compared (exit 3), never silently skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from redisops.address import Address
from redisops.auth import Credential
from redisops.clock import Clock
from redisops.data.compare import PairReport
from redisops.data.keyspace import Ranges, Single, open_reader
from redisops.data.verify import VerifyOptions, compare_spaces, wait_caught_up
from redisops.topology.model import NodeInfo, Role
from redisops.topology.probe import probe_cluster
from redisops.topology.status import probe_sentinel_group
from redisops.topology.targets import ClusterTarget, SentinelTarget

__all__ = ["ReplicaPair", "agreed_master", "compare_pair", "discover_pairs", "verify_replicas"]


@dataclass(frozen=True)
class ReplicaPair:
    group: str  # sentinel master name or "cluster <name>"
    master: Address
    replica: Address
    password: Credential
    cluster: bool = False
    owned: Ranges | None = None  # the shard's slots (cluster)
    problem: str | None = None  # why it cannot be compared


def verify_replicas(groups: Sequence[SentinelTarget], clusters: Sequence[ClusterTarget],
                    options: VerifyOptions | None = None, *, timeout: float = 2.0,
                    clock: Clock | None = None) -> list[PairReport]:
    options = options or VerifyOptions()
    return [compare_pair(pair, options, clock) for pair in discover_pairs(groups, clusters, timeout)]


def discover_pairs(groups: Sequence[SentinelTarget], clusters: Sequence[ClusterTarget],
                   timeout: float) -> list[ReplicaPair]:
    pairs: list[ReplicaPair] = []
    for group in groups:
        pairs += _group_pairs(group, timeout)
    for cluster in clusters:
        pairs += _cluster_pairs(cluster, timeout)
    return pairs


def compare_pair(pair: ReplicaPair, options: VerifyOptions, clock: Clock | None = None) -> PairReport:
    label = f"{pair.group}: {pair.master}"
    if pair.problem is not None:
        return PairReport(label, str(pair.replica), error=pair.problem)
    try:
        source = Single(pair.master, open_reader(pair.master, pair.password), pair.owned)
        target = Single(pair.replica, open_reader(pair.replica, pair.password, readonly=pair.cluster), pair.owned)
    except Exception as exc:  # noqa: BLE001 - any connection failure is "down" for this pair
        return PairReport(label, str(pair.replica), error=f"cannot connect: {exc}")
    master, replica = source.reader.client, target.reader.client
    try:
        report = compare_spaces(source, target, options, clock=clock,
                                catch_up=lambda: wait_caught_up(master, replica, options.lag_timeout, clock))
    except Exception as exc:  # noqa: BLE001 - a node that died mid-scan makes this pair "down"
        return PairReport(label, str(pair.replica), error=f"{type(exc).__name__}: {exc}")
    finally:
        source.close()
        target.close()
    return PairReport(label, report.target, report.scanned, report.rounds, report.mode, report.differences,
                      notes=report.notes)


def _group_pairs(target: SentinelTarget, timeout: float) -> list[ReplicaPair]:
    views, nodes = asyncio.run(probe_sentinel_group(target, timeout))
    named = [v.master for v in views if v.master is not None]
    masters = [n for n in nodes if n.role is Role.MASTER]
    master = agreed_master(named, masters)
    if master is None:
        first = nodes[0].address if nodes else Address("?", 0)
        return [ReplicaPair(target.name, first, first, None, problem="no master found")]
    pairs = []
    for node in nodes:
        if node.address == master.address:
            continue
        problem = _replica_problem(node, master.address)
        if problem is None or node.failure is not None:
            pairs.append(ReplicaPair(target.name, master.address, node.address, target.password,
                                     problem=problem))
    return pairs


def agreed_master(named: Sequence[Address], masters: Sequence[NodeInfo]) -> NodeInfo | None:
    """The master most sentinels name, if it says it is a master; else the only master there is."""
    by_address = {m.address: m for m in masters}
    for address in sorted(set(named), key=named.count, reverse=True):
        if address in by_address:
            return by_address[address]
    return masters[0] if len(masters) == 1 else None


def _replica_problem(node: NodeInfo, master: Address) -> str | None:
    if node.failure is not None:
        return f"replica down: {node.failure.detail}"
    if node.role is not Role.REPLICA or node.master != master:
        return "not a replica of the master"
    return None


def _cluster_pairs(target: ClusterTarget, timeout: float) -> list[ReplicaPair]:
    probes = asyncio.run(probe_cluster(target, timeout))
    selves = {p.node.address: p.myself for p in probes if p.myself is not None}
    by_id = {me.id: (addr, me) for addr, me in selves.items()}
    label = f"cluster {target.name}"
    pairs = []
    for probe in probes:
        me = probe.myself
        if probe.node.failure is not None:
            pairs.append(ReplicaPair(label, probe.node.address, probe.node.address, None,
                                     problem=f"node down: {probe.node.failure.detail}"))
            continue
        if me is None or me.role is not Role.REPLICA or me.master_id not in by_id:
            continue
        master_address, master = by_id[me.master_id]
        pairs.append(ReplicaPair(label, master_address, probe.node.address, target.password, cluster=True,
                                 owned=master.slots))
    return sorted(pairs, key=lambda p: (p.master, p.replica))
