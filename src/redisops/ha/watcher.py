"""The watcher: Sentinel events as they happen, a poll every few seconds, incidents to a sink.

::

    watcher = Watcher(groups, clusters, sink, settings=spec.watch)
    await watcher.run_cycle()   # "no action: mymaster 127.0.0.1:6400 master, 2/2 replicas in sync, ..."
    await watcher.run(stop)     # subscribers + polls until ``stop`` is set

Inputs in, incidents out, and one reducer in between.  The watcher only reads
inputs -- every sentinel's Pub/Sub messages, a poll every ``poll_interval_s``
(:func:`~redisops.topology.collect_status`, a frozen snapshot), each group's
failover-timeout -- stamps each with the monotonic clock and feeds it to
:func:`~redisops.ha.incidents.step`, which returns the next
:class:`~redisops.ha.incidents.WatchState` and the incidents to hand out
(:meth:`Watcher.feed`).  A failover reaches the sink the moment the first
``+switch-master`` arrives; :meth:`Watcher.decide` feeds a poll and returns
one sentence saying what it did.  The watcher never sends a notification
itself: the sink (the alert dispatcher) does.

:meth:`Watcher.run` logs each cycle's sentence when it differs from the last
one, and an unchanged one at most once a minute (see
:mod:`~redisops.ha.cycle_log`): a healthy deployment's log grows by one line a
minute, not one every poll.

A dead master gets no incident of its own while the sentinels fail it over:
the failover incident (handed at the first ``+switch-master``, its timeline
starting at the master's ``+sdown`` / ``+odown``) is the one alert, and a
``master_down`` incident follows only if no master answers for
``master_down_after_s``.  Until then the watcher does not stay silent: the
first ``+odown`` of a master is logged at WARNING at once, and the cycle
sentence starts ``waiting:`` (not ``no action:``), logged at WARNING, naming the
master and what the sentinels flag (sdown, odown, failover in progress).

Every sentinel of a group, not only the ones it was given: each poll finds the
group's other sentinels (``SENTINEL SENTINELS``, see
:mod:`~redisops.topology.status`), the watcher adds them to its targets for
good, and a sentinel first seen in a cycle is subscribed to right after it
(each address once, whichever group names it).  So ``--sentinel`` with one
sentinel of three hears all three's events from the first cycle on, and keeps
polling and hearing the other two when that one dies.  A sentinel that
leaves the group on purpose stays in the watcher's list (reported down) until
the watcher restarts: the watcher cannot tell it from a crashed one.

Time: every event and poll is stamped with the injected (monotonic) clock, and
holds, windows and grace periods are measured on those stamps; an incident's
times become unix time only when it is handed to the sink (see
:mod:`~redisops.ha.timebase`), so a wall clock that steps neither holds nor
fires an alert.

Split brain needs the group's failover-timeout (see
:class:`~redisops.ha.correlate.FailoverWindow`); the watcher reads it from the
sentinels (``SENTINEL MASTER``) on its first cycles and feeds it to the reducer
(:class:`~redisops.ha.incidents.FailoverTimeout`), and again every
:data:`TIMEOUT_REREAD_S` (``SENTINEL SET`` changes it at runtime).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace

from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from redisops.address import Address
from redisops.alerts.model import AlertSink, Incident
from redisops.auth import Credential
from redisops.clock import Clock, SystemClock
from redisops.ha.correlate import FailoverWindow
from redisops.ha.cycle_log import CycleLog
from redisops.ha.events import SentinelEvent, parse_event
from redisops.ha.incidents import FailoverTimeout, Poll, WatchInput, WatchState, step
from redisops.ha.metrics import WatchMetrics
from redisops.ha.subscriber import subscribe
from redisops.ha.timebase import Timebase
from redisops.spec.watch import WatchSpec
from redisops.topology.cluster_status import ClusterStatus
from redisops.topology.model import Health, Role
from redisops.topology.parse import parse_sentinel_master
from redisops.topology.probe import ask
from redisops.topology.sentinel_status import GroupStatus
from redisops.topology.status import StatusReport, collect_status
from redisops.topology.targets import ClusterTarget, SentinelTarget

__all__ = ["Watcher", "describe_report"]

log = logging.getLogger("redisops.watch")

#: each group's failover-timeout is read again this often (seconds)
TIMEOUT_REREAD_S = 60.0
#: on stop the sentinel subscriptions get this long to close (each notices within probe_timeout_s)
CLOSE_S = 5.0


class Watcher:
    def __init__(self, groups: Sequence[SentinelTarget], clusters: Sequence[ClusterTarget], sink: AlertSink, *,
                 settings: WatchSpec | None = None, metrics: WatchMetrics | None = None,
                 clock: Clock | None = None, wall: Callable[[], float] = time.time,
                 on_cycle: Callable[[str, StatusReport], None] | None = None) -> None:
        self.groups = tuple(groups)
        self.clusters = tuple(clusters)
        self.sink = sink
        self.settings = settings or WatchSpec()
        self.metrics = metrics or WatchMetrics()
        self.clock = clock or SystemClock()
        self.time = Timebase(self.clock, wall)  # logic on monotonic stamps; unix time for the sink
        self.on_cycle = on_cycle
        self.cycle_log = CycleLog(log, self.clock)  # the daemon's sentence: on change, else once a minute
        self.state = WatchState(settings=self.settings)  # everything the reducer knows; replaced by each input
        self.last_report: StatusReport | None = None
        self._odown: set[tuple[str, str]] = set()  # (group, master) whose +odown was logged
        self.timeout_reread_s = TIMEOUT_REREAD_S
        self._timeouts_read: dict[str, float] = {}  # group -> when its failover-timeout was last read
        self.metrics.groups_seen([g.name for g in self.groups])

    def use_credentials(self, password: Credential, sentinel_password: Credential) -> None:
        """Log in with these from the next poll on (the secrets file changed: a migration to ACL users, a
        rotation); the sentinels' subscriptions keep the login they have until they reconnect."""
        self.groups = tuple(replace(g, password=password, sentinel_password=sentinel_password) for g in self.groups)
        self.clusters = tuple(replace(c, password=password) for c in self.clusters)

    @property
    def open_incidents(self) -> tuple[Incident, ...]:
        """Incidents handed out and not resolved yet, times in unix time."""
        return tuple(map(self.time.incident, self.state.open_incidents))

    def feed(self, item: WatchInput, now: float) -> list[Incident]:
        """The one way in: ``item`` (taken at the stamp ``now``) through the reducer, its incidents to the sink."""
        self.state, handed = step(self.state, item, now)
        self._hand(handed)
        return handed

    # --- the inputs ---------------------------------------------------------------------------------

    def on_message(self, source: Address, channel: str, payload: str, group: str | None = None) -> None:
        """One Pub/Sub message of sentinel ``source`` (subscribed for ``group``), stamped now."""
        self.on_event(parse_event(channel, payload, source, self.time.now(), default_group=group))

    def on_event(self, event: SentinelEvent) -> None:
        """``event.at`` is a stamp of :attr:`time` (or any one time base a test keeps to)."""
        self.metrics.events.labels(str(event.source)).inc()
        log.debug("%s %s %s", event.source, event.name, event.payload)
        self._log_master_down(event)
        self.feed(event, event.at)

    def _log_master_down(self, event: SentinelEvent) -> None:
        """The operator's first signal of a dead master: its first ``+odown``, at once, at WARNING."""
        if event.group is None or event.master is None:
            return
        key = (event.group, str(event.master))
        if event.name == "+odown" and event.about_master and key not in self._odown:
            self._odown.add(key)
            log.warning("master down: %s master %s is objectively down (%s, %s); failover expected, its "
                        "incident opens at +switch-master", event.group, event.master, event.source,
                        event.extra or "+odown")
        elif event.name in ("-odown", "+switch-master"):
            self._odown.discard(key)

    async def run_cycle(self) -> str:
        """Poll once, act on what the snapshot shows, say what was done."""
        await self._read_failover_timeouts()
        report = await collect_status(self.groups, self.clusters, timeout=self.settings.probe_timeout_s)
        self._remember_sentinels(report)
        return self.decide(report)

    def _remember_sentinels(self, report: StatusReport) -> None:
        """Keep every sentinel ``report`` shows in the targets, so later polls ask them even if the listed die."""
        self.groups = tuple(target.with_sentinels(v.address for v in group.sentinels)
                            for target, group in zip(self.groups, report.groups, strict=True))

    async def _read_failover_timeouts(self) -> None:
        """Each group's failover-timeout, from the first sentinel that answers (every ``timeout_reread_s``)."""
        now = self.time.now()
        for group in self.groups:
            read_at = self._timeouts_read.get(group.name)
            if read_at is not None and now - read_at < self.timeout_reread_s:
                continue
            for address in group.sentinels:
                try:
                    (reply,) = await ask(address, group.sentinel_password, [("SENTINEL", "MASTER", group.name)],
                                         self.settings.probe_timeout_s)
                except (RedisError, OSError, asyncio.TimeoutError):  # unreachable: the next sentinel, or cycle
                    continue
                timeout_ms = parse_sentinel_master(group.name, reply).failover_timeout_ms
                if timeout_ms is None:  # an error reply (no such master yet): the next one
                    continue
                self.feed(FailoverTimeout(group.name, timeout_ms / 1000), now)
                self._timeouts_read[group.name] = now
                break

    def decide(self, report: StatusReport, at: float | None = None) -> str:
        """``report`` through the reducer -> incidents opened / resolved -> one sentence (no I/O but the sink).

        ``at``: when the report was taken, a stamp of :attr:`time` (default: now)."""
        at = self.time.now() if at is None else at
        self.last_report = report
        handed = self.feed(Poll(report), at)
        for group in report.groups:
            node = group.master_node
            self.metrics.master(group.name, node.address if node and node.role is Role.MASTER else None)
        self.metrics.cycles.inc()
        return describe_report(report, handed, self.settings, self.state.windows(at),
                               master_down=self.state.master_down)

    def _hand(self, incidents: Sequence[Incident]) -> None:
        for incident in incidents:
            self.metrics.incident(incident)  # durations from monotonic stamps
            log.warning("%s %s: %s", "resolved" if incident.resolved else "incident", incident.key, incident.title)
            try:
                self.sink.notify(self.time.incident(incident))
            except Exception:  # a broken sink must not stop the watching
                log.exception("alert sink failed on %s", incident.key)

    # --- the daemon ---------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Subscribe to every sentinel (also those found later) and poll every ``poll_interval_s`` until ``stop``."""
        tasks: dict[Address, asyncio.Task[None]] = {}
        closing = asyncio.Event()  # ends the subscriptions: cancelling alone is not always heard (subscriber)
        stopped = asyncio.ensure_future(stop.wait())  # asyncio.wait, not wait_for: 3.11's can lose a cancel
        try:
            self._subscribe_new(tasks, closing)  # the sentinels given, before the first poll
            while not stop.is_set():
                began = self.clock.now()
                await self._cycle()
                self._subscribe_new(tasks, closing)  # the ones that poll found
                remaining = self.settings.poll_interval_s - (self.clock.now() - began)
                await asyncio.wait({stopped}, timeout=max(0.0, remaining))
        finally:
            stopped.cancel()
            closing.set()
            for task in tasks.values():
                task.cancel()
            if tasks:
                _, left = await asyncio.wait(tasks.values(), timeout=CLOSE_S)
                if left:
                    log.warning("%d sentinel subscriptions still open %g s after stop; left behind", len(left),
                                CLOSE_S)

    def _subscribe_new(self, tasks: dict[Address, asyncio.Task[None]], closing: asyncio.Event) -> None:
        """A subscription for each sentinel of the targets that has none yet (found by the last poll)."""
        for address, (password, group) in self._sentinels().items():
            if address not in tasks:
                log.debug("subscribing to sentinel %s (%s)", address, group)
                tasks[address] = asyncio.create_task(self._subscription(address, password, group, closing))

    async def _cycle(self) -> None:
        try:
            sentence = await self.run_cycle()
        except Exception as exc:
            self.metrics.cycle_errors.inc()
            self.cycle_log.say(f"poll cycle failed: {type(exc).__name__}: {exc}", logging.ERROR, exc_info=True)
            return
        self.cycle_log.say(sentence, logging.WARNING if sentence.startswith("waiting:") else logging.INFO)
        if self.on_cycle is not None and self.last_report is not None:
            self.on_cycle(sentence, self.last_report)

    def _sentinels(self) -> dict[Address, tuple[Credential, str]]:
        """Each sentinel once (a sentinel may watch several groups): its password and first group."""
        found: dict[Address, tuple[Credential, str]] = {}
        for group in self.groups:
            for address in group.sentinels:
                found.setdefault(address, (group.sentinel_password, group.name))
        return found

    async def _subscription(self, address: Address, password: Credential, group: str,
                            closing: asyncio.Event) -> None:
        gauge = self.metrics.connected.labels(str(address))

        def received(channel: str, payload: str) -> None:
            self.on_message(address, channel, payload, group)

        await subscribe(address, password, received, stop=closing, on_state=lambda up: gauge.set(1 if up else 0),
                        clock=self.clock, timeout=self.settings.probe_timeout_s,
                        health_s=self.settings.poll_interval_s, backoff=_backoff(self.settings.reconnect_max_s))


def _backoff(cap: float) -> ExponentialBackoff:
    return ExponentialBackoff(cap=cap, base=min(0.1, cap))


# --- the sentence -----------------------------------------------------------------------------------


def describe_report(report: StatusReport, handed: Sequence[Incident], settings: WatchSpec,
                    windows: Mapping[str, FailoverWindow] | None = None, *,
                    master_down: Collection[str] = ()) -> str:
    """What a cycle did and saw, in one line.

    ``no action: mymaster 127.0.0.1:6400 master, 2/2 replicas in sync, 3/3 sentinels agree; cluster main ok``
    or ``alerted mymaster: replica 127.0.0.1:6401 connection refused; now mymaster ...``, or, while a
    master does not answer and nothing was handed yet, ``waiting: mymaster master 127.0.0.1:6400 not
    answering (sentinels: odown, failover in progress); ...``: a dead master is never "no action".
    ``windows``: failovers still settling; ``master_down``: groups whose master_down incident is open.
    """
    windows = windows or {}
    opened = [i.title for i in handed if not i.resolved]
    resolved = [i.title for i in handed if i.resolved]
    actions = ([f"alerted {' | '.join(opened)}"] if opened else []) + (
        [f"resolved {' | '.join(resolved)}"] if resolved else [])
    state = "; ".join([*(_group(g, settings, windows.get(g.name)) for g in report.groups),
                       *(_cluster(c) for c in report.clusters)])
    state = state or "nothing to watch"
    if actions:
        return f"{'; '.join(actions)}; now {state}"
    masterless = [g.name for g in report.groups if _masterless(g)]
    if masterless and all(name in master_down for name in masterless):
        return f"waiting: {state}; master_down alerted, no master yet"
    if masterless:
        return (f"waiting: {state}; the failover incident opens at +switch-master, a master_down incident "
                f"after {settings.master_down_after_s:g} s without a master")
    return f"no action: {state}"


def _masterless(group: GroupStatus) -> bool:
    return group.master_node is None or group.master_node.role is not Role.MASTER


#: SENTINEL MASTER flags worth naming while the master does not answer
_FLAGS = {"s_down": "sdown", "o_down": "odown", "failover_in_progress": "failover in progress"}


def _group(group: GroupStatus, settings: WatchSpec, window: FailoverWindow | None = None) -> str:
    master = group.master_node
    if master is None or master.role is not Role.MASTER:
        flags = {f for v in group.sentinels if v.reachable for f in v.flags}
        seen = [word for flag, word in _FLAGS.items() if flag in flags]
        return (f"{group.name} master {group.master or 'none'} not answering "
                f"(sentinels: {', '.join(seen) or 'not flagged down yet'})")
    in_sync = 0
    for node in group.nodes:
        lag_bytes, lag_seconds = group.lag(node)
        if node is not master and node.link_up and node.master == master.address and (
                (lag_bytes or 0) <= settings.lag_bytes and (lag_seconds or 0) <= settings.lag_seconds):
            in_sync += 1
    agree = sum(1 for v in group.sentinels if v.reachable and v.master == master.address)
    settling = f", failover from {window.old_master} settling" if window is not None else ""
    return (f"{group.name} {master.address} master, {in_sync}/{group.expected_replicas} replicas in sync, "
            f"{agree}/{group.expected_sentinels} sentinels agree{settling}")


def _cluster(cluster: ClusterStatus) -> str:
    if cluster.health is Health.OK:
        return f"cluster {cluster.name} ok"
    first = cluster.reasons[0] if cluster.reasons else cluster.health.value
    return f"cluster {cluster.name} {cluster.health.value} ({first})"
