"""``collect_status``: probe every target in parallel and judge it.

The verdict is what ``redisops status`` exits with and what ``redisops up``
waits for: :class:`Health` OK / DEGRADED / DOWN (exit 0 / 1 / 3), the worst of
all groups and clusters, with one short reason per finding.  The rules are in
:mod:`~redisops.topology.sentinel_status` and
:mod:`~redisops.topology.cluster_status`.

A Sentinel group is judged by all its sentinels, not only the ones listed:
each sentinel is also asked ``SENTINEL SENTINELS`` and ``SENTINEL MYID`` in the
pipeline it is probed with (no extra round trip), and the peers it names that
were not asked yet are probed in the next round, together with the data nodes
the sentinels name (which remote targets probe in a second round anyway).  So
``--sentinel`` with one sentinel of three shows all three, each with its view
of the master, and the spec's deployment costs no extra round at all: its
sentinels name no one it does not list.  A peer is the same sentinel as one
already asked when its address or its run id (``SENTINEL MYID``) matches, so
a sentinel listed by host name is not counted twice.  Peers flagged
``s_down`` are probed like the others: a dead member of the group shows as
unreachable.  A sentinel the spec does not list is probed and shown too: it
votes in failovers and counts toward the majority that authorizes one (often a
leftover of an earlier deployment that was never ``SENTINEL RESET`` away).

Nodes that do not answer are part of the report, not exceptions.  A caller
that pointed at remote seeds (and so cannot show anything useful when none of
them answers) asks :meth:`StatusReport.unreachable_error` for the one error to
raise.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from redisops.address import Address
from redisops.auth import Credential
from redisops.clock import Clock, SystemClock
from redisops.errors import AuthError, NodeError, NodeUnreachableError
from redisops.topology.cluster_status import ClusterStatus, judge_cluster
from redisops.topology.model import (
    ErrorReply,
    Failure,
    FailureKind,
    Health,
    Loading,
    NodeInfo,
    SentinelPeer,
    SentinelView,
)
from redisops.topology.parse import parse_sentinel_peers, sentinel_view
from redisops.topology.probe import (
    DISCOVERY_ROUNDS,
    ask,
    describe_failure,
    probe_cluster,
    probe_data_node,
    sentinel_commands,
)
from redisops.topology.sentinel_status import GroupStatus, judge_group
from redisops.topology.targets import ClusterTarget, SentinelTarget

__all__ = [
    "Health",
    "SentinelPeer",
    "SentinelProbe",
    "StatusReport",
    "collect_status",
    "collect_status_sync",
    "new_peers",
    "parse_sentinel_peers",
    "probe_sentinel_group",
    "unreachable_error",
    "watch_status",
]

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class StatusReport:
    health: Health
    reasons: tuple[str, ...]
    groups: tuple[GroupStatus, ...]
    clusters: tuple[ClusterStatus, ...]

    @classmethod
    def of(cls, groups: Sequence[GroupStatus], clusters: Sequence[ClusterStatus]) -> StatusReport:
        parts: list[GroupStatus | ClusterStatus] = [*groups, *clusters]
        reasons = [r for p in parts for r in p.reasons if p.health is Health.DOWN]
        reasons += [r for p in parts for r in p.reasons if p.health is not Health.DOWN]
        return cls(Health.worst(p.health for p in parts), tuple(reasons), tuple(groups), tuple(clusters))

    @property
    def exit_code(self) -> int:
        return self.health.exit_code

    @property
    def loading(self) -> dict[Address, Loading]:
        """The nodes still loading their dataset, with how far they are."""
        out = {n.address: n.loading for g in self.groups for n in g.nodes if n.loading is not None}
        out.update((r.address, r.loading) for c in self.clusters for r in c.rows
                   if r.loading is not None and r.address is not None)
        return out

    def unreachable_error(self) -> NodeError | None:
        """The error for the first group or cluster of which no node answered at all, if any."""
        for group in self.groups:
            if not group.answered:
                return unreachable_error(group.name, group.failures, "--sentinel-password-env")
        for cluster in self.clusters:
            if not cluster.answered:
                return unreachable_error(cluster.name, cluster.failures, "--password-env")
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "health": self.health.value,
            "exit_code": self.exit_code,
            "reasons": list(self.reasons),
            "groups": [g.to_dict() for g in self.groups],
            "clusters": [c.to_dict() for c in self.clusters],
        }


async def collect_status(sentinels: Sequence[SentinelTarget], clusters: Sequence[ClusterTarget], *,
                         timeout: float = 1.0) -> StatusReport:
    """Probe all targets at once (every node in parallel) and judge what they say."""
    group_probes, cluster_probes = await asyncio.gather(
        asyncio.gather(*(probe_sentinel_group(t, timeout) for t in sentinels)),
        asyncio.gather(*(probe_cluster(t, timeout) for t in clusters)),
    )
    groups = [judge_group(t, views, nodes) for t, (views, nodes) in zip(sentinels, group_probes, strict=True)]
    judged = [judge_cluster(t, probes) for t, probes in zip(clusters, cluster_probes, strict=True)]
    return StatusReport.of(groups, judged)


@dataclass(frozen=True)
class SentinelProbe:
    """One sentinel's view, plus its own run id and the peers it knows (both empty when it did not say)."""

    view: SentinelView
    run_id: str | None = None
    peers: tuple[SentinelPeer, ...] = ()


def new_peers(probes: Iterable[SentinelProbe]) -> list[Address]:
    """The peers ``probes`` name that are none of the sentinels asked, by address or run id; sorted."""
    probes = list(probes)
    asked = {p.view.address for p in probes}
    run_ids = {p.run_id for p in probes if p.run_id}
    found: dict[str, Address] = {}  # run id (or address, when a peer has none) -> address
    for peer in (peer for p in probes for peer in p.peers):
        if peer.address not in asked and peer.run_id not in run_ids:
            found.setdefault(peer.run_id or str(peer.address), peer.address)
    return sorted(set(found.values()))


async def probe_sentinel_with_peers(address: Address, name: str, password: Credential,
                                    timeout: float) -> SentinelProbe:
    """:func:`~redisops.topology.probe.probe_sentinel` plus SENTINEL SENTINELS and MYID, in the same pipeline."""
    commands = (*sentinel_commands(name), ("SENTINEL", "SENTINELS", name), ("SENTINEL", "MYID"))
    try:
        *replies, peers, run_id = await ask(address, password, commands, timeout)
    except Exception as exc:
        failure = describe_failure(exc, password)
        log.debug("probe of %s failed: %s (%s: %s)", address, failure.detail, type(exc).__name__, exc)
        return SentinelProbe(SentinelView(address, failure))
    own = None if isinstance(run_id, ErrorReply) else str(run_id)  # MYID is Redis >= 6.2
    return SentinelProbe(sentinel_view(address, name, replies), own, parse_sentinel_peers(peers))


async def probe_sentinel_group(target: SentinelTarget,
                               timeout: float) -> tuple[tuple[SentinelView, ...], tuple[NodeInfo, ...]]:
    """The group's sentinels (listed, then discovered) and data nodes, in rounds of parallel probes.

    Round 1 asks the listed sentinels and nodes.  Each next round asks the
    peers found but not yet asked (up to :data:`DISCOVERY_ROUNDS` rounds of
    sentinels) and the data nodes named but not yet asked: the master any
    sentinel names, and without a node list (remote) the replicas of
    ``SENTINEL REPLICAS`` too.  It ends when a round turns up nobody new.
    """
    sentinels: dict[Address, SentinelProbe] = {}
    nodes: dict[Address, NodeInfo] = {}
    ask_sentinels, ask_nodes = list(dict.fromkeys(target.sentinels)), list(dict.fromkeys(target.nodes))
    rounds = 0
    while ask_sentinels or ask_nodes:
        rounds += 1
        found, probed = await asyncio.gather(
            asyncio.gather(*(probe_sentinel_with_peers(a, target.name, target.sentinel_password, timeout)
                             for a in ask_sentinels)),
            asyncio.gather(*(probe_data_node(a, target.password, timeout) for a in ask_nodes)),
        )
        sentinels.update(zip(ask_sentinels, found, strict=True))
        nodes.update(zip(ask_nodes, probed, strict=True))
        ask_sentinels = new_peers(sentinels.values()) if rounds < DISCOVERY_ROUNDS else []
        ask_nodes = _named_nodes(target, [p.view for p in sentinels.values()], nodes)
    return tuple(p.view for p in sentinels.values()), tuple(nodes.values())


def _named_nodes(target: SentinelTarget, views: Sequence[SentinelView],
                 asked: Collection[Address]) -> list[Address]:
    named = [v.master for v in views if v.master is not None]
    if not target.nodes:
        named += [r for v in views for r in v.replicas]
    return sorted(set(named) - set(asked))


def collect_status_sync(sentinels: Sequence[SentinelTarget], clusters: Sequence[ClusterTarget], *,
                        timeout: float = 1.0) -> StatusReport:
    """:func:`collect_status` for synchronous callers (runs its own event loop)."""
    return asyncio.run(collect_status(sentinels, clusters, timeout=timeout))


async def watch_status(sentinels: Sequence[SentinelTarget], clusters: Sequence[ClusterTarget], *,
                       interval: float, timeout: float = 1.0, clock: Clock | None = None,
                       ) -> AsyncIterator[StatusReport]:
    """A report every ``interval`` seconds (measured start to start), forever."""
    clock = clock or SystemClock()
    while True:
        began = clock.now()
        yield await collect_status(sentinels, clusters, timeout=timeout)
        await clock.asleep(max(0.0, interval - (clock.now() - began)))


def unreachable_error(name: str, failures: Sequence[tuple[Address, Failure]],
                      password_flag: str = "--password-env") -> NodeError:
    """One error for a target none of whose nodes answered, naming every node's failure.

    :class:`AuthError` (exit 2) when any node refused the password, since
    fixing the password is then the next step; else
    :class:`NodeUnreachableError` (exit 3).
    """
    addresses = ", ".join(str(a) for a, _ in failures) or name
    details = list(dict.fromkeys(f.detail for _, f in failures))
    what = details[0] if len(details) == 1 else "; ".join(f"{a} {f.detail}" for a, f in failures)
    if any(f.kind is FailureKind.AUTH for _, f in failures):
        return AuthError(addresses, what, hint=f"check the password ({password_flag})")
    hint = f"no node of {name} answered; check the addresses and that the nodes run"
    return NodeUnreachableError(addresses, what or "nothing to ask", hint=hint)
