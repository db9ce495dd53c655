"""The verdict on one Sentinel group.

OK means clients that ask the sentinels reach a master that takes writes and
every copy of the data is current:

* every sentinel answers and all name the same master, which answers role
  master, and no other data node does;
* every expected replica answers as a replica of that master with its link up;
* every sentinel counts the expected replicas (``num-slaves``) and the other
  sentinels (``num-other-sentinels``), passes CKQUORUM, and does not flag the
  master ``s_down`` / ``o_down``.

DOWN means writes fail or may be lost: the master the sentinels name does not
answer as a master (dead, demoted, or the sentinels name no live one), no
sentinel answers, no sentinel passes CKQUORUM (no failover possible), or two
nodes answer role master (split brain: writes to the wrong one are lost when
Sentinel demotes it).  Anything else is DEGRADED.

The views include the sentinels found through ``SENTINEL SENTINELS`` (see
:mod:`~redisops.topology.status`), not only the ones listed: a group is judged
by all of its sentinels.  The expected sentinel count is the spec's; remote,
where there is no spec, it is what the group itself says (see
:func:`expected_sentinels`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redisops.address import Address
from redisops.topology.findings import Findings, describe, who
from redisops.topology.model import Failure, FailureKind, Health, NodeInfo, Role, SentinelView
from redisops.topology.targets import SentinelTarget

__all__ = ["GroupStatus", "expected_sentinels", "judge_group"]

_BAD_FLAGS = frozenset({"s_down", "o_down"})


@dataclass(frozen=True)
class GroupStatus:
    name: str
    health: Health
    reasons: tuple[str, ...]
    master: Address | None  # the master the sentinels name (most votes)
    sentinels: tuple[SentinelView, ...]
    nodes: tuple[NodeInfo, ...]  # data nodes, master first
    expected_replicas: int
    expected_sentinels: int

    @property
    def answered(self) -> bool:
        """Did any node of the group answer at all (even with an error reply)?"""
        failures = [s.failure for s in self.sentinels] + [n.failure for n in self.nodes]
        return any(f is None or f.kind is FailureKind.ERROR for f in failures)

    @property
    def failures(self) -> tuple[tuple[Address, Failure], ...]:
        nodes: list[SentinelView | NodeInfo] = [*self.sentinels, *self.nodes]
        return tuple((n.address, n.failure) for n in nodes if n.failure is not None)

    @property
    def quorum(self) -> int | None:
        return next((s.quorum for s in self.sentinels if s.quorum is not None), None)

    @property
    def master_node(self) -> NodeInfo | None:
        return next((n for n in self.nodes if n.address == self.master and n.reachable), None)

    def lag(self, node: NodeInfo) -> tuple[int | None, int | None]:
        """(bytes, seconds) ``node`` trails the master by; None where unknown.

        Bytes: the master's ``master_repl_offset`` minus the replica's own
        ``slave_repl_offset`` (fresher than the offset the master has from the
        replica's once-a-second ACK, which it falls back to).  Seconds: the
        master's ``lag=`` (time since that ACK), else the replica's
        ``master_last_io_seconds_ago``.
        """
        master = self.master_node
        if master is None or node.role is not Role.REPLICA or node.master != master.address:
            return None, None
        link = master.link_to(node.address)
        offset = node.offset if node.offset is not None else (link.offset if link else None)
        lag_bytes = None
        if master.offset is not None and offset is not None:
            lag_bytes = max(0, master.offset - offset)
        seconds = link.lag_seconds if link else node.last_io_seconds
        return lag_bytes, seconds

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "health": self.health.value,
            "reasons": list(self.reasons),
            "master": _str(self.master),
            "quorum": self.quorum,
            "expected_replicas": self.expected_replicas,
            "expected_sentinels": self.expected_sentinels,
            "sentinels": [_sentinel_dict(s) for s in self.sentinels],
            "nodes": [self._node_dict(n) for n in self.nodes],
        }

    def _node_dict(self, node: NodeInfo) -> dict[str, Any]:
        lag_bytes, lag_seconds = self.lag(node)
        return {
            "address": str(node.address),
            "reachable": node.reachable,
            "failure": _failure_dict(node.failure),
            "role": node.role.value,
            "master": _str(node.master),
            "link": None if node.link_up is None else ("up" if node.link_up else "down"),
            "keys": node.keys,
            "offset": node.offset,
            "lag_bytes": lag_bytes,
            "lag_seconds": lag_seconds,
        }


def judge_group(target: SentinelTarget, views: Sequence[SentinelView],
                nodes: Sequence[NodeInfo]) -> GroupStatus:
    """The verdict on what the probes saw (pure: no I/O)."""
    out = Findings(target.name)
    replicas_expected = _expected_replicas(target, views, nodes)
    sentinels_expected = expected_sentinels(target, views)
    master = _elect(target.name, views, nodes, out)
    if master is not None:
        _check_replicas(master, nodes, replicas_expected, out)
    _check_sentinels(views, replicas_expected, sentinels_expected, out)
    ordered = sorted(nodes, key=lambda n: (n.address != master, n.address))
    return GroupStatus(target.name, out.health, out.reasons, master, tuple(views), tuple(ordered),
                       replicas_expected, sentinels_expected)


def _expected_replicas(target: SentinelTarget, views: Sequence[SentinelView],
                       nodes: Sequence[NodeInfo]) -> int:
    if target.expected_replicas is not None:
        return target.expected_replicas
    if target.nodes:
        return len(target.nodes) - 1
    masters = {v.master for v in views if v.master is not None}
    return len([n for n in nodes if n.address not in masters])


def expected_sentinels(target: SentinelTarget, views: Sequence[SentinelView]) -> int:
    """The spec's count; without a spec, the most sentinels the group shows.

    That is the larger of the sentinels seen (listed plus discovered, dead ones
    included: a peer flagged ``s_down`` is still a member whose vote a failover
    lacks) and the largest ``num-other-sentinels`` + 1 a sentinel reports (it
    may count a peer that did not answer ``SENTINEL SENTINELS``).  Sentinels
    never forget a peer on their own, so neither count shrinks when one dies:
    a dead sentinel shows as missing, not as a smaller group.
    """
    if target.expected_sentinels is not None:
        return target.expected_sentinels
    counted = [v.num_other_sentinels + 1 for v in views if v.num_other_sentinels is not None]
    return max([len(views), *counted])


def _elect(name: str, views: Sequence[SentinelView], nodes: Sequence[NodeInfo],
           out: Findings) -> Address | None:
    """The master the sentinels name (most votes; a tie goes to a live master), with DOWN findings."""
    live = [n.address for n in nodes if n.reachable and n.role is Role.MASTER]
    if len(live) > 1:
        out.down(f"split brain: {', '.join(map(str, live))} all answer role master")
    votes = Counter(v.master for v in views if v.reachable and v.master is not None)
    if not views:
        out.down("no sentinel to ask")
    if not any(v.reachable for v in views):
        return live[0] if len(live) == 1 else None  # the sentinels' failures are the DOWN reason
    if not votes:
        out.down(f"no sentinel knows the address of {name}")
        return None
    ranked = votes.most_common()
    if len(ranked) > 1:
        out.degraded("sentinels disagree on the master (" + ", ".join(f"{a} by {n}" for a, n in ranked) + ")")
    top = [a for a, n in ranked if n == ranked[0][1]]
    master = next((a for a in top if a in live), top[0])
    node = next((n for n in nodes if n.address == master), None)
    if node is None:
        out.down(f"master {master} was not asked")
    elif node.failure is not None:
        out.down(describe(f"master {master}", node.failure))
    elif node.role is not Role.MASTER:
        out.down(f"master {master} answers role {node.role.value}, not master")
    return master


def _check_replicas(master: Address, nodes: Sequence[NodeInfo], expected: int, out: Findings) -> None:
    replicas = [n for n in nodes if n.address != master]
    if len(replicas) < expected:
        out.degraded(f"{len(replicas)} replicas known, expected {expected}")
    for node in replicas:
        problem = _replica_problem(master, node)
        if problem:
            out.degraded(problem)


def _replica_problem(master: Address, node: NodeInfo) -> str | None:
    label = f"replica {node.address}"
    if node.failure is not None:
        return describe(label, node.failure)
    if node.role is Role.MASTER:
        return None  # reported as split brain
    if node.role is not Role.REPLICA:
        return f"{label} answers role {node.role.value}"
    if node.master != master:
        return f"{label} replicates {node.master}, not the master {master}"
    if not node.link_up:
        return f"{label} link down (syncing)" if node.syncing else f"{label} link down"
    return None


def _check_sentinels(views: Sequence[SentinelView], replicas: int, sentinels: int, out: Findings) -> None:
    """Per-sentinel findings, grouped so three sentinels saying one thing make one reason."""
    answered = [v for v in views if v.reachable]
    failed: dict[Failure, list[Address]] = defaultdict(list)
    for view in views:
        if view.failure is not None:
            failed[view.failure].append(view.address)
    for failure, addresses in failed.items():
        finding = describe(who("sentinel", addresses, len(views)), failure)
        (out.degraded if answered else out.down)(finding)
    grouped: dict[str, list[Address]] = defaultdict(list)
    for view in answered:
        for text in _sentinel_problems(view, replicas, sentinels):
            grouped[text].append(view.address)
    for text, addresses in grouped.items():
        out.degraded(text.format(who=who("sentinel", addresses, len(views))))
    if answered and not any(v.ckquorum_ok for v in answered):
        out.down("no sentinel passes CKQUORUM: a failover could not be authorized")


def _sentinel_problems(view: SentinelView, replicas: int, sentinels: int) -> list[str]:
    problems = []
    bad = sorted(view.flags & _BAD_FLAGS)
    if bad:
        problems.append(f"master {view.master} flagged {','.join(bad)} by {{who}}")
    if view.num_slaves != replicas:
        problems.append(f"replicas counted by {{who}}: {view.num_slaves}, expected {replicas}")
    if view.num_other_sentinels != sentinels - 1:
        known = view.num_other_sentinels
        problems.append(f"other sentinels known to {{who}}: {known}, expected {sentinels - 1}")
    if not view.ckquorum_ok:
        problems.append(f"CKQUORUM fails on {{who}}: {view.ckquorum.split('. ')[0]}")
    return problems


def _sentinel_dict(view: SentinelView) -> dict[str, Any]:
    return {
        "address": str(view.address),
        "reachable": view.reachable,
        "failure": _failure_dict(view.failure),
        "master": _str(view.master),
        "flags": sorted(view.flags),
        "num_slaves": view.num_slaves,
        "num_other_sentinels": view.num_other_sentinels,
        "quorum": view.quorum,
        "ckquorum_ok": view.ckquorum_ok,
        "ckquorum": view.ckquorum,
    }


def _failure_dict(failure: Failure | None) -> dict[str, str] | None:
    return None if failure is None else failure.to_dict()


def _str(address: Address | None) -> str | None:
    return None if address is None else str(address)
