"""Live, read-only view of what runs: probe nodes in parallel, judge the result.

::

    from redisops.topology import collect_status_sync, targets_from_plan

    groups, clusters = targets_from_plan(plan, secrets)
    report = collect_status_sync(groups, clusters, timeout=1.0)
    report.health, report.reasons     # Health.DEGRADED, ("mymaster: replica 127.0.0.1:6402 link down",)

Modules: ``model`` (frozen values), ``parse`` (reply text -> values),
``probe`` (asyncio I/O), ``sentinel_status`` / ``cluster_status`` (verdicts),
``status`` (the report), ``targets`` (what to probe).  Nothing here writes to
a node.
"""

from redisops.topology.cluster_status import ClusterRow, ClusterStatus
from redisops.topology.model import (
    ClusterNode,
    ClusterProbe,
    Failure,
    FailureKind,
    Health,
    NodeInfo,
    ReplicaLink,
    Role,
    SentinelView,
    SlotMap,
)
from redisops.topology.sentinel_status import GroupStatus
from redisops.topology.status import StatusReport, collect_status, collect_status_sync, watch_status
from redisops.topology.targets import ClusterTarget, SentinelTarget, targets_from_plan

__all__ = [
    "ClusterNode",
    "ClusterProbe",
    "ClusterRow",
    "ClusterStatus",
    "ClusterTarget",
    "Failure",
    "FailureKind",
    "GroupStatus",
    "Health",
    "NodeInfo",
    "ReplicaLink",
    "Role",
    "SentinelTarget",
    "SentinelView",
    "SlotMap",
    "StatusReport",
    "collect_status",
    "collect_status_sync",
    "targets_from_plan",
    "watch_status",
]
