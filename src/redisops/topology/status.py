"""``collect_status``: probe every target in parallel and judge it.

The verdict is what ``redisops status`` exits with and what ``redisops up``
waits for: :class:`Health` OK / DEGRADED / DOWN (exit 0 / 1 / 3), the worst of
all groups and clusters, with one short reason per finding.  The rules are in
:mod:`~redisops.topology.sentinel_status` and
:mod:`~redisops.topology.cluster_status`.

Nodes that do not answer are part of the report, not exceptions.  A caller
that pointed at remote seeds (and so cannot show anything useful when none of
them answers) asks :meth:`StatusReport.unreachable_error` for the one error to
raise.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from redisops.address import Address
from redisops.clock import Clock, SystemClock
from redisops.errors import AuthError, NodeError, NodeUnreachableError
from redisops.topology.cluster_status import ClusterStatus, judge_cluster
from redisops.topology.model import Failure, FailureKind, Health
from redisops.topology.probe import probe_cluster, probe_group
from redisops.topology.sentinel_status import GroupStatus, judge_group
from redisops.topology.targets import ClusterTarget, SentinelTarget

__all__ = [
    "Health",
    "StatusReport",
    "collect_status",
    "collect_status_sync",
    "unreachable_error",
    "watch_status",
]


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
        asyncio.gather(*(probe_group(t, timeout) for t in sentinels)),
        asyncio.gather(*(probe_cluster(t, timeout) for t in clusters)),
    )
    groups = [judge_group(t, views, nodes) for t, (views, nodes) in zip(sentinels, group_probes, strict=True)]
    judged = [judge_cluster(t, probes) for t, probes in zip(clusters, cluster_probes, strict=True)]
    return StatusReport.of(groups, judged)


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
