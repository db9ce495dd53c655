"""Sentinel events from every sentinel -> one incident per real-world happening (pure, no I/O).

Three sentinels publish three ``+switch-master`` for one failover, and each
publishes its own ``+sdown`` / ``+odown``; only the elected leader publishes
``+elected-leader``, ``+failover-state-*`` and ``+failover-end`` (7.0: the
leader's own ``+switch-master`` comes *after* its ``+failover-end``, the others'
come about a second earlier, when the leader's new configuration reaches them).
:class:`EventCorrelator` folds them into one :class:`~redisops.alerts.Incident`:

* events that lead up to a failover (master ``+sdown`` / ``+odown``,
  ``+try-failover``, ``+elected-leader``, ``+failover-state-*``, ...) are kept
  per group until the switch, so the incident starts with them;
* the FIRST ``+switch-master`` hands the incident out (the moment clients can
  find the new master is the moment the on-call needs to know);
* ``+failover-end`` (or a poll that sees the new master healthy, see
  :meth:`EventCorrelator.on_group_status`) resolves it;
* later ``+switch-master`` naming the same old -> new pair join it silently, and so do, while it is open,
  switches from its old or new master to another one (two leaders of consecutive epochs promoting
  different replicas): one outage, one alert, the newest choice named at resolution.

The key is ``failover:<group>:<epoch>`` when the epoch was seen (``+new-epoch``),
else ``failover:<group>:<old>-><new>``.  ``-failover-abort-*``, ``+tilt``,
``+reboot``, ``+convert-to-slave`` and ``-slave-reconf-sent-timeout`` open their
own incidents (one per key however many sentinels report them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from redisops.alerts.model import Incident, IncidentKind, Severity, TimelineEntry
from redisops.ha.events import InstanceType, SentinelEvent
from redisops.topology.model import Role
from redisops.topology.sentinel_status import GroupStatus

__all__ = ["EventCorrelator", "timeline_entry"]

#: events worth a line in a failover's timeline (the leader's steps, and what every sentinel saw of the master)
_LEAD_UP = frozenset({
    "+try-failover", "+elected-leader", "+selected-slave", "+promoted-slave", "+slave-reconf-sent",
    "+slave-reconf-inprog", "+slave-reconf-done", "+config-update-from",
})
_ABOUT_MASTER = frozenset({"+sdown", "-sdown", "+odown", "-odown"})
_ENDS = frozenset({"+failover-end", "+failover-end-for-timeout"})
_EPOCHS = frozenset({"+new-epoch", "+vote-for-leader"})


@dataclass
class _GroupState:
    #: (the master it is about, entry): the lead-up of a failover that has not switched yet
    pending: list[tuple[str, TimelineEntry]] = field(default_factory=list)
    epoch: int | None = None
    failover: Incident | None = None  # the current or last failover
    failover_epoch: int | None = None
    #: every master the current failover went from or to (rival leaders can promote several)
    failover_masters: set[str] = field(default_factory=set)
    aborted: Incident | None = None


def timeline_entry(event: SentinelEvent) -> TimelineEntry:
    if event.new_master is not None:
        detail = f"{event.master} -> {event.new_master}"
    elif event.instance is not None:
        detail = f"{event.instance.type.value} {event.instance.address} {event.extra}".strip()
    else:
        detail = event.payload
    return TimelineEntry(at=event.at, event=event.name, source=str(event.source), detail=detail)


class EventCorrelator:
    """Feed events in arrival order; each call returns the incidents to hand to the sink now."""

    def __init__(self, *, pending_window_s: float = 120.0) -> None:
        #: lead-up events older than this at the switch belong to something else (a blip long ago)
        self.pending_window_s = pending_window_s
        self._groups: dict[str, _GroupState] = {}
        self._open: dict[str, Incident] = {}  # tilt, reboot, convert-to-slave, reconf timeout
        self._handlers: dict[str, Callable[[_GroupState, SentinelEvent], list[Incident]]] = {
            "+switch-master": self._switch,
            "+failover-end": self._end,
            "+failover-end-for-timeout": self._end,
            "+tilt": self._tilt,
            "-tilt": self._untilt,
            "+reboot": self._one_shot,
            "+convert-to-slave": self._one_shot,
            "-slave-reconf-sent-timeout": self._one_shot,
        }

    @property
    def open_incidents(self) -> tuple[Incident, ...]:
        """Incidents handed out and not yet resolved (failovers, aborts and the rest)."""
        states = self._groups.values()
        found = [s.failover for s in states] + [s.aborted for s in states] + list(self._open.values())
        return tuple(i for i in found if i is not None and not i.resolved)

    def feed(self, event: SentinelEvent, *, seen_down: frozenset[str] = frozenset()) -> list[Incident]:
        """``seen_down``: instances a poll already reported down (their ``+reboot`` adds nothing)."""
        if event.group is None:
            return []
        state = self._groups.setdefault(event.group, _GroupState())
        if event.name in _EPOCHS and event.epoch is not None:
            state.epoch = max(state.epoch or 0, event.epoch)
            return []
        if event.name == "+reboot" and event.instance is not None and str(event.instance.address) in seen_down:
            return []
        handler = self._handlers.get(event.name)
        if handler is not None:
            return handler(state, event)
        if event.name.startswith("-failover-abort-"):
            return self._abort(state, event)
        if event.name in _LEAD_UP or event.name.startswith("+failover-state-") or (
                event.name in _ABOUT_MASTER and event.about_master):
            self._record(state, event)
        return []

    # --- failovers --------------------------------------------------------------------------------

    def _record(self, state: _GroupState, event: SentinelEvent) -> None:
        """Into the open failover's timeline, else into the lead-up of the next one."""
        entry = timeline_entry(event)
        if state.failover is not None and not state.failover.resolved:
            state.failover = _append(state.failover, entry)
            return
        state.pending = [(m, e) for m, e in state.pending if e.at >= entry.at - self.pending_window_s]
        state.pending.append((str(event.master), entry))

    def _switch(self, state: _GroupState, event: SentinelEvent) -> list[Incident]:
        if event.master is None or event.new_master is None:
            return []  # a payload we could not read: the poll will see the new master
        current = state.failover
        entry = timeline_entry(event)
        if current is not None and _pair(current) == (str(event.master), str(event.new_master)) and (
                state.epoch is None or state.epoch == state.failover_epoch):
            state.failover = current if current.resolved else _append(current, entry)
            return []
        if current is not None and not current.resolved and str(event.master) in state.failover_masters:
            # Two leaders of consecutive epochs each promoted a replica (old -> X, old -> Y), or a sentinel
            # adopts the later epoch's choice (X -> Y): one outage still under way, so no second alert;
            # the newest choice is the master the resolution will name.
            state.failover = _retarget(_append(current, entry), str(event.new_master), state.epoch)
            state.failover_epoch = state.epoch
            state.failover_masters.add(str(event.new_master))
            return []
        return self._new_failover(state, event, entry)

    def _new_failover(self, state: _GroupState, event: SentinelEvent, entry: TimelineEntry) -> list[Incident]:
        group, old, new = event.group or "", event.master, event.new_master
        fresh = state.epoch is not None and state.epoch != state.failover_epoch
        epoch = state.epoch if fresh else None
        lead_up = [e for m, e in state.pending if m == str(old) and e.at >= event.at - self.pending_window_s]
        ended = [e for e in lead_up if e.event in _ENDS]
        timeline = tuple(sorted([*lead_up, entry], key=lambda e: e.at))
        labels = {"group": group, "old_master": str(old), "new_master": str(new)}
        if epoch is not None:
            labels["epoch"] = str(epoch)
        incident = Incident(
            key=f"failover:{group}:{epoch}" if epoch is not None else f"failover:{group}:{old}->{new}",
            kind=IncidentKind.FAILOVER, severity=Severity.WARNING, group=group,
            title=f"{group} failed over from {old} to {new}", started_at=timeline[0].at,
            summary=f"clients that ask the sentinels now reach {new}", timeline=timeline, labels=labels,
        )
        state.pending.clear()
        state.failover, state.failover_epoch = incident, epoch
        state.failover_masters = {str(old), str(new)}
        out = [incident]
        if ended:  # the leader's +failover-end came before any +switch-master reached us
            state.failover = replace(incident, resolved_at=ended[-1].at)
            out.append(state.failover)
        if state.aborted is not None and not state.aborted.resolved:
            state.aborted = _resolve(state.aborted, entry)
            out.append(state.aborted)
        return out

    def _end(self, state: _GroupState, event: SentinelEvent) -> list[Incident]:
        current = state.failover
        if current is None or current.labels.get("old_master") != str(event.master):
            self._record(state, event)  # the switch has not reached us yet
            return []
        if current.resolved:  # a poll saw the new master serve first
            return []
        state.failover = _resolve(current, timeline_entry(event))
        return [state.failover]

    def _abort(self, state: _GroupState, event: SentinelEvent) -> list[Incident]:
        entry = timeline_entry(event)
        if state.aborted is not None and not state.aborted.resolved:
            state.aborted = _append(state.aborted, entry)
            return []
        group = event.group or ""
        reason = event.name.removeprefix("-failover-abort-").replace("-", " ")
        timeline = tuple([*(e for m, e in state.pending if m == str(event.master)), entry])
        state.pending.clear()
        state.aborted = Incident(
            key=f"failover_aborted:{group}:{state.epoch if state.epoch is not None else event.master}",
            kind=IncidentKind.FAILOVER_ABORTED, severity=Severity.CRITICAL, group=group,
            title=f"{group}: failover of {event.master} aborted ({reason})", started_at=timeline[0].at,
            summary="no master may be reachable; run `redisops status`", timeline=timeline,
            labels={"group": group, "old_master": str(event.master), "reason": reason},
        )
        return [state.aborted]

    # --- sentinel and instance notices -------------------------------------------------------------

    def _tilt(self, state: _GroupState, event: SentinelEvent) -> list[Incident]:
        key = f"tilt:{event.group}:{event.source}"
        if key in self._open:
            return []
        self._open[key] = Incident(
            key=key, kind=IncidentKind.TILT, severity=Severity.WARNING, group=event.group or "",
            title=f"sentinel {event.source} entered TILT mode (its clock jumped; it acts on nothing for 30 s)",
            started_at=event.at, timeline=(timeline_entry(event),),
            labels={"group": event.group or "", "sentinel": str(event.source)},
        )
        return [self._open[key]]

    def _untilt(self, state: _GroupState, event: SentinelEvent) -> list[Incident]:
        incident = self._open.pop(f"tilt:{event.group}:{event.source}", None)
        return [] if incident is None else [_resolve(incident, timeline_entry(event))]

    def _one_shot(self, state: _GroupState, event: SentinelEvent) -> list[Incident]:
        """An instance restarted / was demoted / did not reconfigure: in the open failover, or its own incident."""
        entry = timeline_entry(event)
        if state.failover is not None and not state.failover.resolved:
            state.failover = _append(state.failover, entry)
            return []
        if event.instance is None or event.instance.type is InstanceType.SENTINEL:
            return []
        kind, severity, what = _NOTICES[event.name]
        if event.name == "+reboot" and event.about_master:
            kind = IncidentKind.MASTER_DOWN
        key = f"{kind.value}:{event.group}:{event.instance.address}:{event.name.strip('+-')}"
        if key in self._open:
            self._open[key] = _append(self._open[key], entry)
            return []
        self._open[key] = Incident(
            key=key, kind=kind, severity=severity, group=event.group or "",
            title=f"{event.group}: {event.instance.type.value} {event.instance.address} {what}",
            started_at=event.at, timeline=(entry,),
            labels={"group": event.group or "", "instance": str(event.instance.address)},
        )
        return [self._open[key]]

    # --- what a poll settles -----------------------------------------------------------------------

    def on_group_status(self, status: GroupStatus, at: float) -> list[Incident]:
        """Resolve what the poll shows is over: a failover whose new master serves with its replicas,
        an abort once a master answers, notices about instances that answer again."""
        state = self._groups.get(status.name)
        out: list[Incident] = []
        poll = TimelineEntry(at=at, event="poll", source="poll")
        if state is not None and state.failover is not None and not state.failover.resolved and _settled(
                status, state.failover.labels.get("new_master")):
            state.failover = _resolve(state.failover, replace(poll, detail="new master serves, replicas follow"))
            out.append(state.failover)
        if state is not None and state.aborted is not None and not state.aborted.resolved and _settled(
                status, None if status.master is None else str(status.master)):
            state.aborted = _resolve(state.aborted, replace(poll, detail=f"master {status.master} serves"))
            out.append(state.aborted)
        answering = {str(n.address) for n in status.nodes if n.reachable}
        for key, incident in list(self._open.items()):
            if incident.group == status.name and incident.labels.get("instance") in answering:
                out.append(_resolve(self._open.pop(key), replace(poll, detail="instance answers")))
        return out


_NOTICES: dict[str, tuple[IncidentKind, Severity, str]] = {
    "+reboot": (IncidentKind.REPLICA_DOWN, Severity.WARNING, "restarted (+reboot): unsaved writes may be lost"),
    "+convert-to-slave": (IncidentKind.SPLIT_BRAIN, Severity.WARNING,
                          "came back as a master and was demoted: writes it took meanwhile are lost"),
    "-slave-reconf-sent-timeout": (IncidentKind.REPLICA_LAG, Severity.WARNING,
                                   "did not switch to the new master within failover-timeout"),
}


def _settled(status: GroupStatus, master: str | None) -> bool:
    """``master`` answers role master, every sentinel that answers names it, every live replica follows it."""
    node = status.master_node
    if master is None or node is None or str(node.address) != master or node.role is not Role.MASTER:
        return False
    views = [v for v in status.sentinels if v.reachable]
    if not views or any(str(v.master) != master for v in views):
        return False
    replicas = [n for n in status.nodes if n.reachable and n.address != node.address]
    return all(n.role is Role.REPLICA and n.master == node.address and n.link_up for n in replicas)


def _pair(incident: Incident) -> tuple[str | None, str | None]:
    return incident.labels.get("old_master"), incident.labels.get("new_master")


def _retarget(incident: Incident, new_master: str, epoch: int | None) -> Incident:
    labels = {**incident.labels, "new_master": new_master}
    if epoch is not None:
        labels["epoch"] = str(epoch)
    old = labels.get("old_master")
    return replace(incident, labels=labels, title=f"{incident.group} failed over from {old} to {new_master}",
                   summary=f"clients that ask the sentinels now reach {new_master}")


def _append(incident: Incident, entry: TimelineEntry) -> Incident:
    return replace(incident, timeline=(*incident.timeline, entry))


def _resolve(incident: Incident, entry: TimelineEntry) -> Incident:
    return replace(incident, timeline=(*incident.timeline, entry), resolved_at=entry.at)

