"""The watcher's incident logic as one reducer: ``step(state, input, now) -> (state, incidents)`` (pure).

The watcher has three inputs: a Sentinel Pub/Sub message (a
:class:`~redisops.ha.events.SentinelEvent`), a poll (:class:`Poll`, a frozen
:class:`~redisops.topology.StatusReport`) and a group's failover-timeout read
from the sentinels (:class:`FailoverTimeout`).  :func:`step` takes the
:class:`WatchState` so far, one input and the monotonic stamp it was taken at,
and returns the next state and the incidents to hand to the alert sink now.
It does no I/O and reads no clock, so a sequence of inputs recorded from a
real failover (``tests/recorded/``) replays to the same incidents every time
(:func:`replay`).

The state is one value per Sentinel group and one per cluster, each made of
the parts that used to feed each other through the watcher:

* a group: what its events said (:class:`~redisops.ha.correlate.Correlation`:
  failovers, aborts, TILT and restart notices, the failover window) and which
  poll conditions have held how long (:class:`~redisops.ha.conditions.Held`).
  An event is read against both (a ``+reboot`` of a replica a poll already saw
  down adds nothing); a poll is too (split brain waits while the group's failover
  window is open; a poll that finds the new master serving resolves the
  failover);
* a cluster: its conditions, and its shards (:class:`~redisops.ha.shards.Shards`):
  a replica that took a failed master's slots is a shard failover incident.

Times: every stamp (an event's ``at``, a poll's ``now``) is on one monotonic
time base; incidents carry those stamps, and the watcher turns them into wall
time only when it hands them out (:mod:`redisops.ha.timebase`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias

from redisops.alerts.model import Incident, IncidentKind
from redisops.ha.conditions import Held, cluster_conditions, group_conditions, track
from redisops.ha.correlate import MIN_GRACE_S, Correlation, FailoverWindow, correlate, settle
from redisops.ha.events import SentinelEvent
from redisops.ha.shards import SHARD_GRACE_S, Shards, shard_step
from redisops.spec.watch import WatchSpec
from redisops.topology.cluster_status import ClusterStatus
from redisops.topology.sentinel_status import GroupStatus
from redisops.topology.status import StatusReport

__all__ = ["ClusterState", "FailoverTimeout", "GroupState", "Poll", "WatchInput", "WatchState", "replay", "step"]


@dataclass(frozen=True)
class Poll:
    """A status report the watcher collected (the stamp is the ``now`` it is stepped with)."""

    report: StatusReport


@dataclass(frozen=True)
class FailoverTimeout:
    """The group's failover-timeout as its sentinels have it (``SENTINEL MASTER``): how long the old master
    of a failover may still answer role master (at least :data:`~redisops.ha.correlate.MIN_GRACE_S`)."""

    group: str
    seconds: float


WatchInput: TypeAlias = SentinelEvent | Poll | FailoverTimeout


@dataclass(frozen=True)
class GroupState:
    """One Sentinel group: its events so far and its poll conditions."""

    events: Correlation = field(default_factory=Correlation)
    held: Held = field(default_factory=Held)

    @property
    def open_incidents(self) -> tuple[Incident, ...]:
        return self.events.open_incidents + self.held.open_incidents


@dataclass(frozen=True)
class ClusterState:
    """One cluster: its poll conditions and its shards."""

    held: Held = field(default_factory=Held)
    shards: Shards = field(default_factory=Shards)

    @property
    def open_incidents(self) -> tuple[Incident, ...]:
        return self.shards.open_incidents + self.held.open_incidents


@dataclass(frozen=True)
class WatchState:
    """Everything the watcher knows between two inputs; ``settings`` and ``shard_grace_s`` never change."""

    settings: WatchSpec = field(default_factory=WatchSpec)
    #: how long after a shard failover its old master may take to rejoin before the incident ends without it
    shard_grace_s: float = SHARD_GRACE_S
    groups: Mapping[str, GroupState] = field(default_factory=dict)
    clusters: Mapping[str, ClusterState] = field(default_factory=dict)

    def group(self, name: str) -> GroupState:
        return self.groups.get(name) or GroupState()

    def cluster(self, name: str) -> ClusterState:
        return self.clusters.get(name) or ClusterState()

    @property
    def open_incidents(self) -> tuple[Incident, ...]:
        """Incidents handed out and not resolved yet."""
        parts: list[GroupState | ClusterState] = [*self.groups.values(), *self.clusters.values()]
        return tuple(i for part in parts for i in part.open_incidents)

    def windows(self, at: float) -> dict[str, FailoverWindow]:
        """Per group, the failover still settling at ``at``."""
        return {name: w for name, g in self.groups.items() if (w := g.events.failover_window(at)) is not None}

    @property
    def master_down(self) -> frozenset[str]:
        """Groups whose ``master_down`` incident is open."""
        return frozenset(name for name, g in self.groups.items()
                         if any(i.kind is IncidentKind.MASTER_DOWN for i in g.held.open_incidents))


Step = tuple[WatchState, list[Incident]]


def step(state: WatchState, item: WatchInput, now: float) -> Step:
    """``item``, taken at the monotonic stamp ``now``, read against ``state``: the next state and the
    incidents (new, updated or resolved) to hand out now."""
    return _STEPS[type(item)](state, item, now)


def replay(inputs: Iterable[tuple[float, WatchInput]],
           state: WatchState | None = None) -> tuple[WatchState, list[tuple[float, Incident]]]:
    """Step through ``(now, input)`` pairs in order: the final state and every incident handed, with its ``now``."""
    state = state or WatchState()
    handed: list[tuple[float, Incident]] = []
    for now, item in inputs:
        state, out = step(state, item, now)
        handed += [(now, incident) for incident in out]
    return state, handed


def _event(state: WatchState, event: SentinelEvent, now: float) -> Step:
    """The event's own ``at`` is its time (the watcher stamps it on arrival: the same as ``now``)."""
    if event.group is None:
        return state, []
    group = state.group(event.group)
    events, out = correlate(group.events, event, seen_down=group.held.seen_down(event.at))
    return _with_group(state, event.group, replace(group, events=events)), out


def _poll(state: WatchState, poll: Poll, now: float) -> Step:
    out: list[Incident] = []
    for status in poll.report.groups:
        group, handed = _poll_group(state.group(status.name), status, state.settings, now)
        state = _with_group(state, status.name, group)
        out += handed
    for cluster_status in poll.report.clusters:
        cluster, handed = _poll_cluster(state.cluster(cluster_status.name), cluster_status, state, now)
        state = replace(state, clusters={**state.clusters, cluster_status.name: cluster})
        out += handed
    return state, out


def _poll_group(group: GroupState, status: GroupStatus, settings: WatchSpec,
                now: float) -> tuple[GroupState, list[Incident]]:
    """Conditions first (split brain held back while the failover window is open), then what the poll
    shows is over among the events' incidents."""
    held, opened = track(group.held, group_conditions(status, settings, group.events.failover_window(now)), now)
    events, settled = settle(group.events, status, now)
    return GroupState(events, held), opened + settled


def _poll_cluster(cluster: ClusterState, status: ClusterStatus, state: WatchState,
                  now: float) -> tuple[ClusterState, list[Incident]]:
    held, opened = track(cluster.held, cluster_conditions(status, state.settings.cluster_settle_s), now)
    shards, failovers = shard_step(cluster.shards, status, now, state.shard_grace_s)
    return ClusterState(held, shards), opened + failovers


def _timeout(state: WatchState, timeout: FailoverTimeout, now: float) -> Step:
    group = state.group(timeout.group)
    events = replace(group.events, grace_s=max(timeout.seconds, MIN_GRACE_S))
    return _with_group(state, timeout.group, replace(group, events=events)), []


def _with_group(state: WatchState, name: str, group: GroupState) -> WatchState:
    return replace(state, groups={**state.groups, name: group})


_STEPS: dict[type, Callable[[WatchState, Any, float], Step]] = {
    SentinelEvent: _event,
    Poll: _poll,
    FailoverTimeout: _timeout,
}
