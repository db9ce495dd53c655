"""What to look at: a Sentinel group or a cluster, from the spec or from remote seeds.

A target from the spec lists every node and the counts the spec expects, so a
node that never started is still reported.  A remote target (``--sentinel`` /
``--cluster``) knows only seeds: the rest is discovered from the sentinels
(``SENTINEL REPLICAS``, and ``SENTINEL SENTINELS`` for their peers) or from
``CLUSTER NODES``, and the expected counts are what was discovered.  Discovery
happens on every status collection and does not change the target; a
long-lived caller (the watcher) keeps what it found with
:meth:`SentinelTarget.with_sentinels`, so the death of the one sentinel it was
given does not cut it off from the others.  Passwords are kept out of
``repr`` so a target can be logged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from redisops.address import Address
from redisops.auth import Credential

if TYPE_CHECKING:  # only annotations: remote targets must not pay for loading the spec models
    from redisops.runtime.plan import Plan
    from redisops.spec.secrets import Secrets

__all__ = ["ClusterTarget", "SentinelTarget", "targets_from_plan"]


@dataclass(frozen=True)
class SentinelTarget:
    name: str  # the master name the sentinels monitor, e.g. "mymaster"
    sentinels: tuple[Address, ...]
    #: data nodes; empty: discover them from the sentinels (master address + SENTINEL REPLICAS)
    nodes: tuple[Address, ...] = ()
    password: Credential = field(default=None, repr=False)  # data nodes (requirepass)
    sentinel_password: Credential = field(default=None, repr=False)
    expected_replicas: int | None = None  # from the spec; None when remote
    expected_sentinels: int | None = None

    def with_sentinels(self, addresses: Iterable[Address]) -> SentinelTarget:
        """This target with those of ``addresses`` it does not list yet appended, in their order.

        The expected counts stay as they are: a sentinel found beside the
        spec's is shown, not expected (see
        :func:`~redisops.topology.sentinel_status.judge_group`).
        """
        merged = tuple(dict.fromkeys((*self.sentinels, *addresses)))
        return self if merged == self.sentinels else replace(self, sentinels=merged)


@dataclass(frozen=True)
class ClusterTarget:
    name: str
    #: every node of the spec, or a seed or two (the rest is discovered through CLUSTER NODES)
    seeds: tuple[Address, ...]
    password: Credential = field(default=None, repr=False)
    expected_masters: int | None = None
    expected_replicas_per_master: int | None = None


def targets_from_plan(plan: Plan, secrets: Secrets) -> tuple[list[SentinelTarget], list[ClusterTarget]]:
    """Every group and the cluster of a plan, with the spec's counts and passwords."""
    groups = [
        SentinelTarget(
            name=layout.spec.name,
            sentinels=tuple(n.address for n in layout.sentinels),
            nodes=tuple(n.address for n in layout.redis),
            password=secrets.admin,
            sentinel_password=secrets.sentinel,
            expected_replicas=layout.spec.replicas,
            expected_sentinels=layout.spec.sentinels,
        )
        for layout in plan.groups
    ]
    clusters = []
    if plan.cluster is not None:
        clusters.append(ClusterTarget(
            name=plan.cluster.spec.name,
            seeds=tuple(n.address for n in plan.cluster.nodes),
            password=secrets.admin,
            expected_masters=plan.cluster.spec.masters,
            expected_replicas_per_master=plan.cluster.spec.replicas_per_master,
        ))
    return groups, clusters
