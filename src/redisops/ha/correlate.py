"""Sentinel events from every sentinel -> one incident per real-world happening (pure, no I/O).

Three sentinels publish three ``+switch-master`` for one failover, and each
publishes its own ``+sdown`` / ``+odown``; only the elected leader publishes
``+elected-leader``, ``+failover-state-*`` and ``+failover-end`` (7.0: the
leader's own ``+switch-master`` comes *after* its ``+failover-end``, the others'
come about a second earlier, when the leader's new configuration reaches them).
:func:`correlate` folds them into one :class:`~redisops.alerts.Incident`, one
event at a time, on a frozen :class:`Correlation` per group (the part of the
watcher's reducer, :mod:`redisops.ha.incidents`, that events drive):

* events that lead up to a failover (master ``+sdown`` / ``+odown``,
  ``+try-failover``, ``+elected-leader``, ``+failover-state-*``, ...) are kept
  per group until the switch, so the incident starts with them;
* the FIRST ``+switch-master`` hands the incident out (the moment clients can
  find the new master is the moment the on-call needs to know);
* ``+failover-end`` (or a poll that sees the new master healthy, see
  :func:`settle`) resolves it, unless a sentinel already reports the new
  master ``+sdown``: then Sentinel's next failover joins the incident and its end resolves it;
* later ``+switch-master`` naming the same old -> new pair join it silently (whatever epoch a rival
  sentinel's lost election announced meanwhile), and so do, while it is open,
  switches from its old or new master to another one (two leaders of consecutive epochs promoting
  different replicas): one outage, one alert, the newest choice named at resolution.

A failover also opens a :class:`FailoverWindow`: from its first step
(``+try-failover``, ``+elected-leader``, ``+failover-state-*`` or, when those were
missed, ``+switch-master``) until a poll shows the old master as a replica, at
most the group's failover-timeout (never under :data:`MIN_GRACE_S`) after its
last step.  Within it the old master still answering role master is the
failover's own doing: Sentinel promotes the replica first and converts the old
master only about 9 s after ``+switch-master`` (it waits 8 s after a "replica"
reports role master).  The watcher does not call that split brain, and a
``+convert-to-slave`` of the old master of a *planned* failover (one whose
master the sentinels never saw ``+odown``: ``SENTINEL FAILOVER``) joins the
failover's timeline instead of claiming that a restarted master lost writes.

The key is ``failover:<group>:<epoch>`` when the epoch was seen (``+new-epoch``),
else ``failover:<group>:<old>-><new>``.  ``-failover-abort-not-elected`` is an
election round lost (a split vote: Sentinel tries again after twice the
failover-timeout) and goes into the failover's timeline like its other steps.
The other ``-failover-abort-*``, ``+tilt``,
``+reboot``, ``+convert-to-slave`` and ``-slave-reconf-sent-timeout`` open their
own incidents (one per key however many sentinels report them).

Every function here takes a :class:`Correlation` and returns a new one with the
incidents to hand out now; nothing is mutated, nothing reads a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from redisops.alerts.model import Incident, IncidentKind, Severity, TimelineEntry
from redisops.ha.events import InstanceType, SentinelEvent
from redisops.topology.model import Role
from redisops.topology.sentinel_status import GroupStatus

__all__ = ["DEFAULT_GRACE_S", "MIN_GRACE_S", "PENDING_WINDOW_S", "Correlation", "FailoverWindow", "correlate",
           "settle", "timeline_entry"]

#: grace of a group whose failover-timeout is not known: Sentinel's own default failover-timeout
DEFAULT_GRACE_S = 180.0
#: never less: Sentinel converts a promoted-over master 8 s after it reports role master, plus up to
#: one 10 s INFO period (measured on 7.0: 9-10 s after ``+switch-master``), whatever failover-timeout says
MIN_GRACE_S = 20.0
#: lead-up events older than this at the switch belong to something else (a blip long ago)
PENDING_WINDOW_S = 120.0

#: events worth a line in a failover's timeline (the leader's steps, and what every sentinel saw of the master)
_LEAD_UP = frozenset({
    "+try-failover", "+elected-leader", "+selected-slave", "+promoted-slave", "+slave-reconf-sent",
    "+slave-reconf-inprog", "+slave-reconf-done", "+config-update-from",
    # an election round this sentinel lost (a split vote: two sentinels asked for votes at once): Sentinel
    # tries again after twice the failover-timeout, and a master still missing meanwhile is master_down
    # after master_down_after_s; not a failover given up (recorded: tests/recorded/sentinel_chained.json)
    "-failover-abort-not-elected",
})
_ABOUT_MASTER = frozenset({"+sdown", "-sdown", "+odown", "-odown"})
_ENDS = frozenset({"+failover-end", "+failover-end-for-timeout"})
_EPOCHS = frozenset({"+new-epoch", "+vote-for-leader"})
_STARTS = frozenset({"+try-failover", "+elected-leader"})


@dataclass(frozen=True)
class FailoverWindow:
    """A failover whose old master may still answer role master without that being split brain."""

    group: str
    old_master: str
    masters: frozenset[str]  # the old master and every master it went to
    since: float  # its first step (times: the events' stamps, monotonic in the watcher)
    until: float  # last step + grace: past this, two masters are split brain again
    planned: bool  # the sentinels never saw the old master +odown: SENTINEL FAILOVER, not a crash
    demoted: bool = False  # a poll saw the old master as a replica: the window is over


@dataclass(frozen=True)
class Correlation:
    """What one group's events said so far: everything the next event is read against."""

    #: how long after a failover's last step its old master may still answer role master (the
    #: sentinels' failover-timeout, at least MIN_GRACE_S, once the watcher read it)
    grace_s: float = DEFAULT_GRACE_S
    #: (the master it is about, entry): the lead-up of a failover that has not switched yet
    pending: tuple[tuple[str, TimelineEntry], ...] = ()
    epoch: int | None = None
    failover: Incident | None = None  # the current or last failover
    failover_epoch: int | None = None
    #: every master the current failover went from or to (rival leaders can promote several)
    failover_masters: frozenset[str] = frozenset()
    aborted: Incident | None = None
    window: FailoverWindow | None = None
    odown_at: Mapping[str, float] = field(default_factory=dict)  # master -> its last +odown
    #: master -> {sentinel: when it said +sdown}, until that sentinel's -sdown or its +switch-master away
    down_by: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    #: tilt, reboot, convert-to-slave and reconf-timeout incidents still open, by key
    notices: Mapping[str, Incident] = field(default_factory=dict)

    @property
    def open_incidents(self) -> tuple[Incident, ...]:
        """Incidents handed out and not yet resolved (the failover, an abort, notices)."""
        found = [self.failover, self.aborted, *self.notices.values()]
        return tuple(i for i in found if i is not None and not i.resolved)

    def failover_window(self, at: float) -> FailoverWindow | None:
        """The failover still settling at ``at`` (old master not yet seen demoted), if any."""
        window = self.window
        return window if window is not None and not window.demoted and at <= window.until else None


Step = tuple[Correlation, list[Incident]]


def timeline_entry(event: SentinelEvent) -> TimelineEntry:
    if event.new_master is not None:
        detail = f"{event.master} -> {event.new_master}"
    elif event.instance is not None:
        detail = f"{event.instance.type.value} {event.instance.address} {event.extra}".strip()
    else:
        detail = event.payload
    return TimelineEntry(at=event.at, event=event.name, source=str(event.source), detail=detail)


def correlate(state: Correlation, event: SentinelEvent, *, seen_down: frozenset[str] = frozenset()) -> Step:
    """``event`` (of this group) read against ``state``; ``seen_down``: instances a poll already reported
    down (their ``+reboot`` adds nothing)."""
    if event.name in _EPOCHS and event.epoch is not None:
        return replace(state, epoch=max(state.epoch or 0, event.epoch)), []
    if event.name == "+reboot" and event.instance is not None and str(event.instance.address) in seen_down:
        return state, []
    state = _track(state, event)
    handler = _HANDLERS.get(event.name)
    if handler is not None:
        return handler(state, event)
    if event.name.startswith("-failover-abort-") and event.name not in _LEAD_UP:
        return _abort(state, event)
    if event.name in _LEAD_UP or event.name.startswith("+failover-state-") or (
            event.name in _ABOUT_MASTER and event.about_master):
        return _record(state, event), []
    return state, []


# --- what every event updates: who saw the master down, the failover window ----------------------------


def _track(state: Correlation, event: SentinelEvent) -> Correlation:
    if event.master is None or event.group is None:
        return state
    old, source = str(event.master), str(event.source)
    if event.name == "+odown" and event.about_master:
        state = replace(state, odown_at={**state.odown_at, old: event.at})
    if event.name == "+sdown" and event.about_master:
        state = replace(state, down_by={**state.down_by, old: {**state.down_by.get(old, {}), source: event.at}})
    elif ((event.name == "-sdown" and event.about_master) or event.name == "+switch-master") and (
            source in state.down_by.get(old, {})):  # a switch resets the sentinel's flags
        rest = {s: at for s, at in state.down_by[old].items() if s != source}
        state = replace(state, down_by={**state.down_by, old: rest})
    starts = event.name in _STARTS or event.name.startswith("+failover-state-")
    if not starts and event.name != "+switch-master":
        return state
    window = state.window
    if window is None or window.old_master != old or event.at > window.until:
        odown = state.odown_at.get(old)
        window = FailoverWindow(event.group, old, frozenset({old}), event.at, event.at + state.grace_s,
                                planned=odown is None or odown < event.at - PENDING_WINDOW_S)
    masters = window.masters | ({str(event.new_master)} if event.new_master is not None else set())
    return replace(state, window=replace(window, masters=masters, until=max(window.until, event.at + state.grace_s)))


def _planned_conversion(state: Correlation, event: SentinelEvent) -> bool:
    """``+convert-to-slave`` of the old master of a planned failover still settling: Sentinel finishing it."""
    window = state.window
    return (event.name == "+convert-to-slave" and event.instance is not None and window is not None
            and window.planned and str(event.instance.address) == window.old_master and event.at <= window.until)


# --- failovers ------------------------------------------------------------------------------------------


def _record(state: Correlation, event: SentinelEvent) -> Correlation:
    """Into the open failover's timeline, else into the lead-up of the next one."""
    entry = timeline_entry(event)
    if state.failover is not None and not state.failover.resolved:
        return replace(state, failover=_append(state.failover, entry))
    recent = tuple((m, e) for m, e in state.pending if e.at >= entry.at - PENDING_WINDOW_S)
    return replace(state, pending=(*recent, (str(event.master), entry)))


def _switch(state: Correlation, event: SentinelEvent) -> Step:
    if event.master is None or event.new_master is None:
        return state, []  # a payload we could not read: the poll will see the new master
    current = state.failover
    entry = timeline_entry(event)
    old, new = str(event.master), str(event.new_master)
    if current is not None and _pair(current) == (old, new) and (
            state.epoch is None or state.epoch == state.failover_epoch
            or event.at <= current.timeline[-1].at + state.grace_s):
        # The same switch seen by a later sentinel.  Its epoch may be newer than the incident's: a rival
        # sentinel that lost the election still bumped the epoch (+new-epoch 2 after a failover in 1).
        # The same pair again long after the failover settled is a new failover (a failback between
        # them was missed); within the group's grace it is this one.
        return (state if current.resolved else replace(state, failover=_append(current, entry))), []
    if current is not None and not current.resolved and old in state.failover_masters:
        # Two leaders of consecutive epochs each promoted a replica (old -> X, old -> Y), or a sentinel
        # adopts the later epoch's choice (X -> Y): one outage still under way, so no second alert;
        # the newest choice is the master the resolution will name.
        return replace(state, failover=_retarget(_append(current, entry), new, state.epoch),
                       failover_epoch=state.epoch, failover_masters=state.failover_masters | {new}), []
    return _new_failover(state, event, entry)


def _new_failover(state: Correlation, event: SentinelEvent, entry: TimelineEntry) -> Step:
    group, old, new = event.group or "", str(event.master), str(event.new_master)
    fresh = state.epoch is not None and state.epoch != state.failover_epoch
    epoch = state.epoch if fresh else None
    lead_up = [e for m, e in state.pending if m == old and e.at >= event.at - PENDING_WINDOW_S]
    ended = [e for e in lead_up if e.event in _ENDS]
    timeline = tuple(sorted([*lead_up, entry], key=lambda e: e.at))
    labels = {"group": group, "old_master": old, "new_master": new}
    if epoch is not None:
        labels["epoch"] = str(epoch)
    incident = Incident(
        key=f"failover:{group}:{epoch}" if epoch is not None else f"failover:{group}:{old}->{new}",
        kind=IncidentKind.FAILOVER, severity=Severity.WARNING, group=group,
        title=f"{group} failed over from {old} to {new}", started_at=timeline[0].at,
        summary=f"clients that ask the sentinels now reach {new}", timeline=timeline, labels=labels,
    )
    out = [incident]
    if ended:  # the leader's +failover-end came before any +switch-master reached us
        incident = replace(incident, resolved_at=ended[-1].at)
        out.append(incident)
    state = replace(state, pending=(), failover=incident, failover_epoch=epoch, failover_masters=frozenset({old, new}))
    if state.aborted is not None and not state.aborted.resolved:
        aborted = _resolve(state.aborted, entry)
        state = replace(state, aborted=aborted)
        out.append(aborted)
    return state, out


def _end(state: Correlation, event: SentinelEvent) -> Step:
    current = state.failover
    new = None if current is None else current.labels.get("new_master")
    if current is None or str(event.master) not in state.failover_masters or str(event.master) == new:
        return _record(state, event), []  # the switch has not reached us yet
    if current.resolved:  # a poll saw the new master serve first
        return state, []
    if any(at >= current.started_at for at in state.down_by.get(new or "", {}).values()):
        # A sentinel already finds the new master down: Sentinel is about to fail over again (seen on
        # 7.0 with down-after 1 s: the switch clears the sentinel's failover delay, and its peers' stale
        # "master down" replies make the quorum at once).  The outage goes on: that failover joins this
        # incident, and its +failover-end (or a poll that finds the group settled) resolves it.
        return replace(state, failover=_append(current, timeline_entry(event))), []
    resolved = _resolve(current, timeline_entry(event))
    return replace(state, failover=resolved), [resolved]


def _abort(state: Correlation, event: SentinelEvent) -> Step:
    entry = timeline_entry(event)
    if state.aborted is not None and not state.aborted.resolved:
        return replace(state, aborted=_append(state.aborted, entry)), []
    group = event.group or ""
    reason = event.name.removeprefix("-failover-abort-").replace("-", " ")
    timeline = tuple([*(e for m, e in state.pending if m == str(event.master)), entry])
    aborted = Incident(
        key=f"failover_aborted:{group}:{state.epoch if state.epoch is not None else event.master}",
        kind=IncidentKind.FAILOVER_ABORTED, severity=Severity.CRITICAL, group=group,
        title=f"{group}: failover of {event.master} aborted ({reason})", started_at=timeline[0].at,
        summary="no master may be reachable; run `redisops status`", timeline=timeline,
        labels={"group": group, "old_master": str(event.master), "reason": reason},
    )
    return replace(state, pending=(), aborted=aborted), [aborted]


# --- sentinel and instance notices ---------------------------------------------------------------------


def _tilt(state: Correlation, event: SentinelEvent) -> Step:
    key = f"tilt:{event.group}:{event.source}"
    if key in state.notices:
        return state, []
    incident = Incident(
        key=key, kind=IncidentKind.TILT, severity=Severity.WARNING, group=event.group or "",
        title=f"sentinel {event.source} entered TILT mode (its clock jumped; it acts on nothing for 30 s)",
        started_at=event.at, timeline=(timeline_entry(event),),
        labels={"group": event.group or "", "sentinel": str(event.source)},
    )
    return replace(state, notices={**state.notices, key: incident}), [incident]


def _untilt(state: Correlation, event: SentinelEvent) -> Step:
    key = f"tilt:{event.group}:{event.source}"
    incident = state.notices.get(key)
    if incident is None:
        return state, []
    rest = {k: i for k, i in state.notices.items() if k != key}
    return replace(state, notices=rest), [_resolve(incident, timeline_entry(event))]


def _one_shot(state: Correlation, event: SentinelEvent) -> Step:
    """An instance restarted / was demoted / did not reconfigure: in the open failover, or its own incident."""
    entry = timeline_entry(event)
    planned = _planned_conversion(state, event)
    if state.failover is not None and (not state.failover.resolved or planned):
        # a resolved one is not handed again: no message
        return replace(state, failover=_append(state.failover, entry)), []
    if planned or event.instance is None or event.instance.type is InstanceType.SENTINEL:
        return state, []
    kind, severity, what = _NOTICES[event.name]
    if event.name == "+reboot" and event.about_master:
        kind = IncidentKind.MASTER_DOWN
    key = f"{kind.value}:{event.group}:{event.instance.address}:{event.name.strip('+-')}"
    if key in state.notices:
        return replace(state, notices={**state.notices, key: _append(state.notices[key], entry)}), []
    incident = Incident(
        key=key, kind=kind, severity=severity, group=event.group or "",
        title=f"{event.group}: {event.instance.type.value} {event.instance.address} {what}",
        started_at=event.at, timeline=(entry,),
        labels={"group": event.group or "", "instance": str(event.instance.address)},
    )
    return replace(state, notices={**state.notices, key: incident}), [incident]


_NOTICES: dict[str, tuple[IncidentKind, Severity, str]] = {
    "+reboot": (IncidentKind.REPLICA_DOWN, Severity.WARNING, "restarted (+reboot): unsaved writes may be lost"),
    "+convert-to-slave": (IncidentKind.SPLIT_BRAIN, Severity.WARNING,
                          "came back as a master and was demoted: writes it took meanwhile are lost"),
    "-slave-reconf-sent-timeout": (IncidentKind.REPLICA_LAG, Severity.WARNING,
                                   "did not switch to the new master within failover-timeout"),
}

_HANDLERS: dict[str, Callable[[Correlation, SentinelEvent], Step]] = {
    "+switch-master": _switch,
    "+failover-end": _end,
    "+failover-end-for-timeout": _end,
    "+tilt": _tilt,
    "-tilt": _untilt,
    "+reboot": _one_shot,
    "+convert-to-slave": _one_shot,
    "-slave-reconf-sent-timeout": _one_shot,
}


# --- what a poll settles -------------------------------------------------------------------------------


def settle(state: Correlation, status: GroupStatus, at: float) -> Step:
    """What the poll at ``at`` shows is over: a failover whose new master serves with its replicas, an
    abort once a master answers, notices about instances that answer again; and whether the failover
    window's old master is a replica now."""
    out: list[Incident] = []
    poll = TimelineEntry(at=at, event="poll", source="poll")
    if state.failover is not None and not state.failover.resolved and _settled(
            status, state.failover.labels.get("new_master")):
        failover = _resolve(state.failover, replace(poll, detail="new master serves, replicas follow"))
        state = replace(state, failover=failover)
        out.append(failover)
    if state.aborted is not None and not state.aborted.resolved and _settled(
            status, None if status.master is None else str(status.master)):
        aborted = _resolve(state.aborted, replace(poll, detail=f"master {status.master} serves"))
        state = replace(state, aborted=aborted)
        out.append(aborted)
    window = state.window
    if window is not None and any(str(n.address) == window.old_master and n.reachable and n.role is Role.REPLICA
                                  for n in status.nodes):
        state = replace(state, window=replace(window, demoted=True))
    answering = {str(n.address) for n in status.nodes if n.reachable}
    back = {k: i for k, i in state.notices.items() if i.labels.get("instance") in answering}
    if back:
        state = replace(state, notices={k: i for k, i in state.notices.items() if k not in back})
        out += [_resolve(i, replace(poll, detail="instance answers")) for i in back.values()]
    return state, out


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
