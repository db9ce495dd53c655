"""A writable handle on a live cluster: who the nodes are, who owns what, what is open.

:class:`ClusterView` is a frozen snapshot built from every reachable node's
``CLUSTER NODES`` (discovered from seeds, through
:func:`redisops.topology.probe.probe_cluster`).  It gathers each node's *open
slots*: the ``[slot->-id]`` (migrating) and ``[slot-<-id]`` (importing) markers
that only the node itself prints on its own line
(:attr:`~redisops.topology.model.ClusterNode.open_slots`).

:func:`converged` is the precondition of every move.  ``CLUSTER SETSLOT`` and
``MIGRATE`` act on one node's belief of who owns a slot; if the nodes still
disagree (right after ``CLUSTER MEET`` the new node has not yet learnt every
master's slots), a ``SETSLOT MIGRATING`` on a node that is not yet seen as owner
fails with "I'm not the owner", and redirects bounce between nodes with
different maps -- this is how ``redis-cli --cluster rebalance`` right after
``add-node`` ends in CLUSTERDOWN with slot 5461 left open.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from redisops.address import Address
from redisops.auth import Credential
from redisops.clock import Clock
from redisops.cluster.errors import NotConvergedError
from redisops.errors import NodeUnreachableError
from redisops.topology.model import ClusterNode, ClusterProbe, FailureKind, OpenSlot, Role, SlotMap
from redisops.topology.parse import parse_open_slots
from redisops.topology.probe import probe_cluster
from redisops.topology.targets import ClusterTarget

__all__ = ["ClusterView", "OpenSlot", "converged", "fetch_view", "parse_open_slots", "wait_converged"]


@dataclass(frozen=True)
class ClusterView:
    """Derived maps are cached: the mover asks for addresses per MIGRATE."""

    probes: tuple[ClusterProbe, ...]
    open_slots: tuple[OpenSlot, ...] = ()
    password: Credential = field(default=None, repr=False)

    @cached_property
    def reachable(self) -> tuple[ClusterProbe, ...]:
        return tuple(p for p in self.probes if p.reachable and p.myself is not None)

    @cached_property
    def slot_map(self) -> SlotMap:
        maps = Counter(p.slot_map for p in self.reachable)
        return maps.most_common(1)[0][0] if maps else SlotMap()

    @cached_property
    def nodes(self) -> dict[str, ClusterNode]:
        """Every node id any reachable node lists, as that node describes itself where it answered."""
        out: dict[str, ClusterNode] = {}
        for probe in self.reachable:
            for node in probe.nodes:
                out.setdefault(node.id, node)
        for probe in self.reachable:
            me = probe.myself
            if me is not None:
                out[me.id] = me
        return out

    @cached_property
    def masters(self) -> dict[str, Address]:
        return {i: n.address for i, n in self.nodes.items() if n.role is Role.MASTER and n.address is not None
                and not n.problems & {"fail", "handshake", "noaddr"}}

    @cached_property
    def node_ids(self) -> frozenset[str]:
        return frozenset(self.nodes)

    def address(self, node_id: str) -> Address:
        node = self.nodes.get(node_id)
        if node is None or node.address is None:
            raise KeyError(node_id)
        return node.address

    def resolve(self, text: str) -> str:
        """A node id (or unique prefix, or host:port) -> the full id; KeyError when none or several match."""
        matches = [i for i, n in self.nodes.items() if i.startswith(text) or str(n.address) == text]
        if len(matches) != 1:
            raise KeyError(text)
        return matches[0]


async def fetch_view(seeds: Sequence[Address], password: Credential, timeout: float = 2.0) -> ClusterView:
    """Discover the cluster from ``seeds`` and read every node's open slots."""
    probes = await probe_cluster(ClusterTarget("cluster", tuple(seeds), password=password), timeout)
    if not any(p.reachable for p in probes):
        _raise_unreachable(probes)
    open_slots = tuple(o for p in probes if p.reachable and p.myself is not None for o in p.myself.open_slots)
    return ClusterView(tuple(probes), open_slots, password)


def _raise_unreachable(probes: Sequence[ClusterProbe]) -> None:
    from redisops.errors import AuthError

    details = "; ".join(f"{p.node.address} {p.node.failure}" for p in probes)
    first = probes[0].node
    if first.failure is not None and first.failure.kind is FailureKind.AUTH:
        raise AuthError(str(first.address), str(first.failure), hint="check --password-env or the secrets file")
    raise NodeUnreachableError(str(first.address), f"no cluster node answered: {details}",
                               hint="check the seed address and that the nodes run")


def converged(view: ClusterView) -> list[str]:
    """Why the cluster is not ready for a move (empty when it is).

    Ready means: every node answers and says ``cluster_state:ok``, all hold one
    slot map, and every node knows every other node (no handshake, no fail flag).
    The state matters for a node that just joined: a master keeps reporting
    ``fail`` for a rejoin delay (node timeout, 0.5-5 s) after it starts, and a
    MIGRATE into it meanwhile fails with CLUSTERDOWN, leaving the slot open.
    """
    reasons: list[str] = []
    unreachable = [str(p.node.address) for p in view.probes if not p.reachable]
    if unreachable:
        reasons.append(f"unreachable: {', '.join(unreachable)}")
    maps = Counter(p.slot_map for p in view.reachable)
    if len(maps) > 1:
        reasons.append(f"{len(maps)} different slot maps among {len(view.reachable)} nodes")
    everyone = view.node_ids
    for probe in view.reachable:
        if probe.state != "ok":
            reasons.append(f"{probe.node.address} says cluster_state:{probe.state}")
        known = {n.id for n in probe.nodes}
        flagged = [n.id[:8] for n in probe.nodes if n.problems]
        if known != everyone:
            reasons.append(f"{probe.node.address} knows {len(known)} of {len(everyone)} nodes")
        if flagged:
            reasons.append(f"{probe.node.address} flags {', '.join(flagged)}")
    return reasons


async def wait_converged(seeds: Sequence[Address], password: Credential, clock: Clock,
                         timeout: float = 30.0) -> ClusterView:
    """Poll until :func:`converged` has nothing to say, or raise :class:`NotConvergedError`."""
    deadline = clock.now() + timeout
    while True:
        view = await fetch_view(seeds, password)
        reasons = converged(view)
        if not reasons:
            return view
        if clock.now() >= deadline:
            raise NotConvergedError(reasons, timeout)
        await clock.asleep(0.1)
