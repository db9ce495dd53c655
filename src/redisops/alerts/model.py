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
from typing import Any, Protocol

__all__ = ["AlertSink", "Incident", "IncidentKind", "Severity", "TimelineEntry"]


class Severity(Enum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Order for escalation: a later notify re-sends only when the rank rises."""
        return _RANKS[self]


_RANKS = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


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
    SHARD_FAILOVER = "shard_failover"  # a cluster replica took its failed master's slots
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

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: what the outbox stores and the generic webhook sends."""
        return {
            "key": self.key, "kind": self.kind.value, "severity": self.severity.value, "group": self.group,
            "title": self.title, "summary": self.summary, "started_at": self.started_at,
            "resolved_at": self.resolved_at, "labels": dict(self.labels),
            "timeline": [{"at": e.at, "event": e.event, "source": e.source, "detail": e.detail}
                         for e in self.timeline],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Incident:
        """The inverse of :meth:`to_dict`; raises ``KeyError`` / ``ValueError`` on malformed data."""
        return cls(
            key=str(data["key"]), kind=IncidentKind(data["kind"]), severity=Severity(data["severity"]),
            group=str(data["group"]), title=str(data["title"]), started_at=float(data["started_at"]),
            summary=str(data.get("summary", "")),
            resolved_at=None if data.get("resolved_at") is None else float(data["resolved_at"]),
            timeline=tuple(TimelineEntry(float(e["at"]), str(e["event"]), str(e["source"]), str(e.get("detail", "")))
                           for e in data.get("timeline", ())),
            labels={str(k): str(v) for k, v in dict(data.get("labels", {})).items()},
        )


class AlertSink(Protocol):
    """Where the watcher hands incidents: new, updated or resolved (``incident.resolved``)."""

    def notify(self, incident: Incident) -> None: ...
