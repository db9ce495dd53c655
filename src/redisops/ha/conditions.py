"""What a poll can see that Pub/Sub may not say: conditions of a status report (pure, no I/O).

Every condition has a stable ``key``.  :func:`track` turns the conditions of
successive polls into incidents, on a frozen :class:`Held` value (the part of
the watcher's reducer, :mod:`redisops.ha.incidents`, that polls drive): one
when a condition has held for its ``hold_s`` (split brain, a master that stays
down, a replica link that stays down), one "resolved" when a poll no longer
shows it, nothing in between, however many polls see it.

A node that did not answer within the probe timeout must fail to answer a second poll in a row before it is
an incident (``Condition.polls``): a fork, a loaded machine or a stall of the watcher itself makes every probe of
one poll time out at once, which is not an outage.  A refused connection is definite and counts at once.

Holds exist because a normal failover looks bad for a second or two: the
sentinels disagree while the new configuration spreads, the old master is
down, the other replicas' links are down until they resync.  Nothing that a
failover shows for its few seconds should page on its own.

A planned failover (``SENTINEL FAILOVER``) looks bad for longer: the old
master keeps answering role master until Sentinel converts it, about 9 s after
``+switch-master``, longer than ``split_brain_after_s``.  While the group's events
show a :class:`~redisops.ha.correlate.FailoverWindow` and the
masters seen are only that failover's old and new ones, the split-brain
condition still starts its clock but may not open before the window ends
(``Condition.not_before``): if it outlasts the failover it is raised then,
with its real start.  A third master, or no failover under way, is split brain
after ``split_brain_after_s`` as always.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from redisops.alerts.model import Incident, IncidentKind, Severity, TimelineEntry
from redisops.ha.correlate import FailoverWindow
from redisops.spec.watch import WatchSpec
from redisops.topology.cluster_status import FAILING, ClusterRow, ClusterStatus
from redisops.topology.model import SLOTS, Failure, FailureKind, NodeInfo, Role
from redisops.topology.sentinel_status import GroupStatus
from redisops.topology.status import StatusReport

__all__ = ["RECENT_S", "Condition", "Held", "cluster_conditions", "group_conditions", "report_conditions", "track"]


@dataclass(frozen=True)
class Condition:
    key: str  # "replica_down:mymaster:127.0.0.1:6401"
    kind: IncidentKind
    severity: Severity
    group: str
    title: str
    hold_s: float = 0.0  # how long it must hold before it is an incident
    labels: Mapping[str, str] = field(default_factory=dict)
    #: when it may open at the earliest, however long it held (the end of a failover window), on the
    #: time base of the polls' ``at`` (the watcher's monotonic stamps)
    not_before: float = 0.0
    #: how many polls in a row must show it (2 for a timeout: one slow poll is not an outage)
    polls: int = 1


def _polls(*failures: Failure | None) -> int:
    """2 when every failure behind a condition is transient (a timeout, a connection the node closed: Sentinel
    kills a promoted replica's clients) or a refused login (a password rotated a moment ago: the watcher reads
    the secrets file after each poll), else 1."""
    return 2 if failures and all(f is not None and (f.transient or f.kind is FailureKind.AUTH)
                                 for f in failures) else 1


def report_conditions(report: StatusReport, settings: WatchSpec,
                      windows: Mapping[str, FailoverWindow] | None = None) -> list[Condition]:
    """``windows``: per group, the failover still settling (see :mod:`redisops.ha.correlate`)."""
    windows = windows or {}
    found = [c for g in report.groups for c in group_conditions(g, settings, windows.get(g.name))]
    return found + [c for cluster in report.clusters for c in cluster_conditions(cluster, settings.cluster_settle_s)]


# --- Sentinel groups --------------------------------------------------------------------------------


def group_conditions(status: GroupStatus, settings: WatchSpec,
                     window: FailoverWindow | None = None) -> list[Condition]:
    g = status.name
    found = [*_split_brain(status, settings, window), *_sentinel_conditions(status)]
    if status.master_node is None or status.master_node.role is not Role.MASTER:
        found.append(Condition(f"master_down:{g}", IncidentKind.MASTER_DOWN, Severity.CRITICAL, g,
                               f"{g}: no master answers (sentinels name {status.master or 'none'})",
                               settings.master_down_after_s, {"group": g, "master": str(status.master)}))
    return found + _replica_conditions(status, settings)


def _split_brain(status: GroupStatus, settings: WatchSpec, window: FailoverWindow | None) -> list[Condition]:
    g = status.name
    masters = sorted(str(n.address) for n in status.nodes if n.reachable and n.role is Role.MASTER)
    named = sorted({str(v.master) for v in status.sentinels if v.reachable and v.master is not None})
    why = []
    if len(masters) > 1:
        why.append(f"{', '.join(masters)} all answer role master")
    if len(named) > 1:
        why.append(f"sentinels name different masters ({', '.join(named)})")
    if not why:
        return []
    transient = window is not None and {*masters, *named} <= window.masters
    return [Condition(f"split_brain:{g}", IncidentKind.SPLIT_BRAIN, Severity.CRITICAL, g,
                      f"{g}: split brain: {'; '.join(why)} (writes to the wrong one are lost)",
                      settings.split_brain_after_s, {"group": g, "masters": ",".join(masters or named)},
                      not_before=window.until if transient and window is not None else 0.0)]


def _sentinel_conditions(status: GroupStatus) -> list[Condition]:
    g = status.name
    found = [
        Condition(f"sentinel_down:{g}:{v.address}", IncidentKind.SENTINEL_DOWN, Severity.WARNING, g,
                  f"{g}: sentinel {v.address} {v.failure}", labels={"group": g, "sentinel": str(v.address)},
                  polls=_polls(v.failure))
        for v in status.sentinels if v.failure is not None
    ]
    views = [v for v in status.sentinels if v.reachable]
    if not any(v.ckquorum_ok for v in views):
        why = views[0].ckquorum.split(". ")[0] if views else "no sentinel answers"
        found.append(Condition(f"quorum_lost:{g}", IncidentKind.QUORUM_LOST, Severity.CRITICAL, g,
                               f"{g}: quorum lost, no failover possible ({why})", labels={"group": g},
                               polls=1 if views else _polls(*(v.failure for v in status.sentinels))))
    return found


def _replica_conditions(status: GroupStatus, settings: WatchSpec) -> list[Condition]:
    g = status.name
    found: list[Condition] = []
    for node in status.nodes:
        if node.address == status.master or node.role is Role.MASTER:
            continue  # a second master is split brain
        labels = {"group": g, "replica": str(node.address)}
        if node.failure is not None:
            found.append(Condition(f"replica_down:{g}:{node.address}", IncidentKind.REPLICA_DOWN, Severity.WARNING,
                                   g, f"{g}: replica {node.address} {node.failure}", labels=labels,
                                   polls=_polls(node.failure)))
        elif node.role is Role.REPLICA and not node.link_up:
            found.append(Condition(f"replica_link:{g}:{node.address}", IncidentKind.REPLICA_LAG, Severity.WARNING, g,
                                   f"{g}: replica {node.address} link to {node.master} down",
                                   float(settings.lag_seconds), labels))
        else:
            found += _lag(status, node, labels, settings)
    return found


def _lag(status: GroupStatus, node: NodeInfo, labels: dict[str, str], settings: WatchSpec) -> list[Condition]:
    lag_bytes, lag_seconds = status.lag(node)
    over = []
    if lag_bytes is not None and lag_bytes > settings.lag_bytes:
        over.append(f"{lag_bytes} bytes")
    if lag_seconds is not None and lag_seconds > settings.lag_seconds:
        over.append(f"{lag_seconds} s")
    if not over:
        return []
    g = status.name
    return [Condition(f"replica_lag:{g}:{node.address}", IncidentKind.REPLICA_LAG, Severity.WARNING, g,
                      f"{g}: replica {node.address} lags {' and '.join(over)} behind the master", labels=labels)]


# --- clusters ---------------------------------------------------------------------------------------


def cluster_conditions(status: ClusterStatus, settle_s: float = 0.0) -> list[Condition]:
    """``settle_s``: how long cluster_state fail and a master without replicas must hold (see
    :attr:`WatchSpec.cluster_settle_s`); a node down or slots uncovered count at once."""
    c = status.name
    found = [cond for row in status.rows if (cond := _node_down(c, row)) is not None]
    failing = sorted(str(r.address) for r in status.rows if r.reachable and r.cluster_state not in (None, "ok"))
    if failing:
        found.append(Condition(f"cluster_state:{c}", IncidentKind.CLUSTER_STATE, Severity.CRITICAL, c,
                               f"cluster {c}: cluster_state fail on {', '.join(failing)}", hold_s=settle_s,
                               labels={"cluster": c}))
    if status.views and status.slots_covered < SLOTS:
        found.append(Condition(f"cluster_slots:{c}", IncidentKind.CLUSTER_SLOTS, Severity.CRITICAL, c,
                               f"cluster {c}: only {status.slots_covered} of {SLOTS} slots covered",
                               labels={"cluster": c}))
    return found + _masters_without_replicas(status, settle_s)


def _node_down(c: str, row: ClusterRow) -> Condition | None:
    flagged = sorted(row.flags & FAILING)
    if row.failure is None and not flagged:
        return None
    who = str(row.address) if row.address is not None else (row.id or "?")[:8]
    why = ", ".join([*([str(row.failure)] if row.failure else []), *(f"flagged {f}" for f in flagged)])
    severity = Severity.CRITICAL if row.role is Role.MASTER and row.slots else Severity.WARNING
    return Condition(f"cluster_node_down:{c}:{who}", IncidentKind.CLUSTER_NODE_DOWN, severity, c,
                     f"cluster {c}: {row.role.value} {who} down ({why})", labels={"cluster": c, "node": who},
                     polls=1 if flagged else _polls(row.failure))


def _masters_without_replicas(status: ClusterStatus, settle_s: float) -> list[Condition]:
    c = status.name
    found = []
    for master_id in sorted(status.slot_map.owners):
        linked = [r for r in status.rows if r.role is Role.REPLICA and r.master_id == master_id
                  and r.reachable and r.link_up and not r.flags & FAILING]
        if linked:
            continue
        row = status.row(master_id)
        who = str(row.address) if row is not None and row.address is not None else master_id[:8]
        found.append(Condition(f"cluster_no_replica:{c}:{who}", IncidentKind.CLUSTER_NO_REPLICA, Severity.WARNING, c,
                               f"cluster {c}: master {who} has no working replica (losing it loses its slots)",
                               hold_s=settle_s, labels={"cluster": c, "node": who}))
    return found


# --- conditions over time -> incidents -------------------------------------------------------------

#: how long a resolved incident still counts for :meth:`Held.seen_down` (a sentinel reports +reboot
#: when its next INFO shows the new run id: up to 10 s after the restart)
RECENT_S = 60.0


@dataclass(frozen=True)
class Held:
    """Conditions of successive polls: since when each has held, the incidents open, those resolved lately."""

    since: Mapping[str, float] = field(default_factory=dict)  # key -> the first poll of this run that saw it
    count: Mapping[str, int] = field(default_factory=dict)  # key -> how many polls of this run saw it
    open: Mapping[str, Incident] = field(default_factory=dict)
    resolved: Mapping[str, Incident] = field(default_factory=dict)  # within RECENT_S, for seen_down

    @property
    def open_incidents(self) -> tuple[Incident, ...]:
        return tuple(self.open.values())

    def seen_down(self, at: float) -> frozenset[str]:
        """Addresses of replicas a poll saw down now or within :data:`RECENT_S` of ``at``: their
        restart was already reported, so a sentinel's ``+reboot`` for them adds nothing."""
        found = [*self.open.values(), *(i for i in self.resolved.values()
                                        if (i.resolved_at or 0) >= at - RECENT_S)]
        return frozenset(i.labels["replica"] for i in found if i.kind is IncidentKind.REPLICA_DOWN
                         and "replica" in i.labels)


def track(held: Held, conditions: Sequence[Condition], at: float) -> tuple[Held, list[Incident]]:
    """The poll at ``at`` saw ``conditions``: open each that has held for its ``hold_s`` and its ``polls``
    (one incident, however many polls see it), resolve each open one the poll no longer shows; a blip is
    forgotten."""
    seen = {c.key: c for c in conditions}
    since = {k: t for k, t in held.since.items() if k in seen}
    count = {k: held.count.get(k, 0) + 1 if k in since else 1 for k in seen}
    still = {k: i for k, i in held.open.items() if k in seen}
    cleared = [_resolve(i, at) for k, i in held.open.items() if k not in seen]
    resolved = {k: i for k, i in held.resolved.items() if (i.resolved_at or 0) >= at - RECENT_S}
    resolved.update((i.key, i) for i in cleared)
    opened = []
    for key, cond in seen.items():
        first = since.setdefault(key, at)
        if key not in still and at - first >= cond.hold_s and count[key] >= cond.polls and at >= cond.not_before:
            still[key] = _incident(cond, first, at)
            opened.append(still[key])
    return Held(since, count, still, resolved), [*cleared, *opened]


def _incident(cond: Condition, since: float, at: float) -> Incident:
    detail = f"held {at - since:.1f} s" if cond.hold_s else ""
    return Incident(key=cond.key, kind=cond.kind, severity=cond.severity, group=cond.group, title=cond.title,
                    started_at=since, timeline=(TimelineEntry(at=at, event="poll", source="poll", detail=detail),),
                    labels=dict(cond.labels))


def _resolve(incident: Incident, at: float) -> Incident:
    entry = TimelineEntry(at=at, event="poll", source="poll", detail="cleared")
    return replace(incident, resolved_at=at, timeline=(*incident.timeline, entry))
