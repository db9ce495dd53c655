"""Cluster shard failovers, read from successive polls (pure, no I/O).

A Redis Cluster fails a master over by itself: its peers flag it ``pfail``
when it has not answered for node-timeout, ``fail`` once a majority of masters
agree, and one of its replicas, elected by the other masters, takes its slots
with a higher config epoch.  Nobody publishes that (there is no Sentinel to
say ``+switch-master``), so the watcher reads it from the ``CLUSTER NODES``
views of its polls (:class:`~redisops.topology.cluster_status.ClusterStatus`):

* the lead-up, per node: the first poll that found it not answering, flagged
  ``pfail``, flagged ``fail``;
* the promotion: slots that the previous poll's slot map gave to master A
  belong to B now, and B was A's replica (with no slots of its own).  That is
  the incident, handed at once -- ``cluster main: shard 10923-16383 failed
  over from A to B`` -- with the lead-up and the promotion as its timeline.
  Slots that move to a master that was not A's replica are a resharding, not
  a failover;
* the end: a poll that finds A answering as a replica (a restarted master
  learns that its slots have a newer owner and rejoins as that owner's
  replica), or, when A stays away, ``grace_s`` after the promotion, saying so.
  A's own ``cluster_node_down`` incident (:mod:`~redisops.ha.conditions`)
  stays open while it is away.

A ``CLUSTER FAILOVER`` asked of a replica is a shard failover too: no lead-up,
and the old master is a replica by the next poll, so the incident opens and
resolves in one step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from redisops.alerts.model import Incident, IncidentKind, Severity, TimelineEntry
from redisops.topology.cluster_status import ClusterRow, ClusterStatus
from redisops.topology.model import Role, format_slots

__all__ = ["SHARD_GRACE_S", "ShardFailover", "Shards", "shard_step"]

#: a restarted master rejoins within seconds of starting (measured on 7.0: one poll after it answers); a
#: minute after the promotion without it, the failover is over and the node's own node-down incident carries on
SHARD_GRACE_S = 60.0

Ranges = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class ShardFailover:
    """A shard failover handed out and not over yet."""

    incident: Incident
    old_id: str
    new_id: str
    promoted_at: float


@dataclass(frozen=True)
class Shards:
    """One cluster as the polls so far showed it: whose slots were whose, who replicated whom."""

    #: master id -> its slots in the last poll that had any view (the majority's slot map)
    owners: Mapping[str, Ranges] = field(default_factory=dict)
    #: node id -> the master it replicated when last seen as a replica (kept once it is promoted)
    replica_of: Mapping[str, str] = field(default_factory=dict)
    #: node id -> when it was first seen down / pfail / fail since it last looked well
    lead_up: Mapping[str, tuple[TimelineEntry, ...]] = field(default_factory=dict)
    failovers: Mapping[str, ShardFailover] = field(default_factory=dict)  # by the old master's id

    @property
    def open_incidents(self) -> tuple[Incident, ...]:
        return tuple(f.incident for f in self.failovers.values())


def shard_step(shards: Shards, status: ClusterStatus, at: float,
               grace_s: float = SHARD_GRACE_S) -> tuple[Shards, list[Incident]]:
    """The poll at ``at`` saw ``status``: promotions since the last poll open incidents, old masters
    back as replicas (or ``grace_s`` after their promotion) resolve them."""
    rows = {r.id: r for r in status.rows if r.id is not None}
    lead_up = _lead_up(shards.lead_up, rows, at)
    failovers = dict(shards.failovers)
    out: list[Incident] = []
    owners = shards.owners
    if status.views:  # no view at all (nothing answered) says nothing about who owns what
        for opened in _promotions(status, shards, rows, lead_up, at):
            failovers[opened.old_id] = opened
            out.append(opened.incident)
        owners = {m: status.slot_map.ranges_of(m) for m in status.slot_map.owners}
    for old_id, failover in list(failovers.items()):
        ended = _ended(failover, rows, at, grace_s)
        if ended is not None:
            del failovers[old_id]
            out.append(ended)
    replicas = {i: r.master_id for i, r in rows.items() if r.role is Role.REPLICA and r.master_id is not None}
    return Shards(owners, {**shards.replica_of, **replicas}, lead_up, failovers), out


def _lead_up(before: Mapping[str, tuple[TimelineEntry, ...]], rows: Mapping[str, ClusterRow],
             at: float) -> dict[str, tuple[TimelineEntry, ...]]:
    """Each troubled node's first down / pfail / fail; a node that looks well starts afresh."""
    out = {}
    for node_id, row in rows.items():
        seen = _trouble(row)
        if not seen:
            continue
        entries = before.get(node_id, ())
        known = {e.event for e in entries}
        out[node_id] = (*entries, *(TimelineEntry(at, what, "poll", detail) for what, detail in seen
                                    if what not in known))
    return out


def _trouble(row: ClusterRow) -> list[tuple[str, str]]:
    who = _who(row, row.id or "?")
    found = [("down", f"{who} {row.failure}")] if row.failure is not None else []
    if "pfail" in row.flags:
        found.append(("pfail", f"{who} flagged pfail by a peer (no reply within node-timeout)"))
    if "fail" in row.flags:
        found.append(("fail", f"{who} flagged fail (a majority of masters agree)"))
    return found


def _promotions(status: ClusterStatus, shards: Shards, rows: Mapping[str, ClusterRow],
                lead_up: Mapping[str, tuple[TimelineEntry, ...]], at: float) -> list[ShardFailover]:
    """Slots of a master of the last poll that one of its replicas owns now."""
    moved: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for old_id, ranges in shards.owners.items():
        for first, last in ranges:
            new_id = status.slot_map.owner(first)
            if (new_id is not None and new_id != old_id and new_id not in shards.owners
                    and shards.replica_of.get(new_id) == old_id):
                moved.setdefault((old_id, new_id), []).append((first, last))
    return [_opened(status.name, old_id, new_id, tuple(ranges), rows, lead_up.get(old_id, ()), at)
            for (old_id, new_id), ranges in moved.items()]


def _opened(cluster: str, old_id: str, new_id: str, ranges: Ranges, rows: Mapping[str, ClusterRow],
            lead_up: Iterable[TimelineEntry], at: float) -> ShardFailover:
    old, new = _who(rows.get(old_id), old_id), _who(rows.get(new_id), new_id)
    new_row = rows.get(new_id)
    epoch = None if new_row is None else new_row.config_epoch
    slots = format_slots(ranges)
    promoted = TimelineEntry(at, "promoted", "poll", f"{new} took over slots {slots}"
                             + (f" (config epoch {epoch})" if epoch is not None else ""))
    timeline = (*lead_up, promoted)
    labels = {"cluster": cluster, "old_master": old, "new_master": new, "slots": slots}
    if epoch is not None:
        labels["epoch"] = str(epoch)
    incident = Incident(
        key=f"shard_failover:{cluster}:{old}->{new}" + (f":{epoch}" if epoch is not None else ""),
        kind=IncidentKind.SHARD_FAILOVER, severity=Severity.WARNING, group=cluster,
        title=f"cluster {cluster}: shard {slots} failed over from {old} to {new}", started_at=timeline[0].at,
        summary=f"the cluster sends clients for slots {slots} to {new} now; {old} rejoins as a replica "
                f"when it is back", timeline=timeline, labels=labels,
    )
    return ShardFailover(incident, old_id, new_id, at)


def _ended(failover: ShardFailover, rows: Mapping[str, ClusterRow], at: float, grace_s: float) -> Incident | None:
    row = rows.get(failover.old_id)
    old = failover.incident.labels.get("old_master", failover.old_id[:8])
    if row is not None and row.reachable and row.role is Role.REPLICA:
        master = rows.get(row.master_id or "")
        detail = f"{old} is back as a replica of {_who(master, row.master_id or '?')}"
        return _resolve(failover.incident, TimelineEntry(at, "rejoined", "poll", detail))
    if at - failover.promoted_at < grace_s:
        return None
    detail = f"{old} not back as a replica {grace_s:g} s after the promotion: the shard runs without it"
    gone = replace(failover.incident, summary=f"{failover.incident.labels.get('new_master')} serves the shard; "
                   f"{old} is still away (its cluster_node_down incident stays open until it is back)")
    return _resolve(gone, TimelineEntry(at, "gone", "poll", detail))


def _who(row: ClusterRow | None, node_id: str) -> str:
    return str(row.address) if row is not None and row.address is not None else node_id[:8]


def _resolve(incident: Incident, entry: TimelineEntry) -> Incident:
    return replace(incident, timeline=(*incident.timeline, entry), resolved_at=entry.at)
