"""What the watcher reports and the channels deliver: incidents with a timeline.

An :class:`Incident` is one real-world problem (a failover, a replica down, a
split brain), however many sentinels reported it.  ``key`` identifies it: the
dispatcher sends one "firing" message per key, later updates only when the
severity rises, and one "resolved" message when ``resolved_at`` is set.
This module knows nothing about Redis; :mod:`redisops.ha` builds incidents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

__all__ = ["AlertSink", "Incident", "IncidentKind", "Severity", "TimelineEntry"]


class Severity(Enum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class IncidentKind(Enum):
    FAILOVER = "failover"
    FAILOVER_ABORTED = "failover_aborted"
    MASTER_DOWN = "master_down"
    REPLICA_DOWN = "replica_down"
    REPLICA_LAG = "replica_lag"
    SENTINEL_DOWN = "sentinel_down"
    QUORUM_LOST = "quorum_lost"
    TILT = "tilt"
    SPLIT_BRAIN = "split_brain"
    CLUSTER_NODE_DOWN = "cluster_node_down"
    CLUSTER_STATE = "cluster_state"
    CLUSTER_SLOTS = "cluster_slots"
    CLUSTER_NO_REPLICA = "cluster_no_replica"
    BACKUP_FAILED = "backup_failed"
    TEST = "test"


@dataclass(frozen=True)
class TimelineEntry:
    at: float  # unix time, seconds
    event: str  # e.g. "+sdown", "+odown", "+elected-leader", "+switch-master", "poll"
    source: str  # who saw it: "127.0.0.1:26400" or "poll"
    detail: str = ""


@dataclass(frozen=True)
class Incident:
    key: str  # e.g. "failover:mymaster:7" (config epoch), "replica_down:mymaster:127.0.0.1:6401"
    kind: IncidentKind
    severity: Severity
    group: str  # sentinel group or cluster name
    title: str  # one line: "mymaster failed over from 127.0.0.1:6400 to 127.0.0.1:6401"
    started_at: float
    summary: str = ""
    resolved_at: float | None = None
    timeline: tuple[TimelineEntry, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)  # e.g. old_master, new_master (Alertmanager labels)

    @property
    def resolved(self) -> bool:
        return self.resolved_at is not None


class AlertSink(Protocol):
    """Where the watcher hands incidents: new, updated or resolved (``incident.resolved``)."""

    def notify(self, incident: Incident) -> None: ...
