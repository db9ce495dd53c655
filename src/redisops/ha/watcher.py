"""The watcher: Sentinel events as they happen, a poll every few seconds, incidents to a sink.

::

    watcher = Watcher(groups, clusters, sink, settings=spec.watch)
    await watcher.run_cycle()   # "no action: mymaster 127.0.0.1:6400 master, 2/2 replicas in sync, ..."
    await watcher.run(stop)     # subscribers + polls until ``stop`` is set

Two inputs, one output.  Every sentinel's Pub/Sub feeds the
:class:`~redisops.ha.correlate.EventCorrelator`, which hands a failover to the
sink the moment the first ``+switch-master`` arrives.  Every
``poll_interval_s`` :func:`~redisops.topology.collect_status` takes a frozen
snapshot; :meth:`Watcher.decide` turns it into conditions (see
:mod:`~redisops.ha.conditions`), lets the poll settle what events left open,
and returns one sentence saying what it did.  The watcher never sends a
notification itself: the sink (the alert dispatcher) does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from redis.backoff import ExponentialBackoff

from redisops.address import Address
from redisops.alerts.model import AlertSink, Incident
from redisops.clock import Clock, SystemClock
from redisops.ha.conditions import ConditionTracker, report_conditions
from redisops.ha.correlate import EventCorrelator
from redisops.ha.events import SentinelEvent, parse_event
from redisops.ha.metrics import WatchMetrics
from redisops.ha.subscriber import subscribe
from redisops.spec.watch import WatchSpec
from redisops.topology.cluster_status import ClusterStatus
from redisops.topology.model import Health, Role
from redisops.topology.sentinel_status import GroupStatus
from redisops.topology.status import StatusReport, collect_status
from redisops.topology.targets import ClusterTarget, SentinelTarget

__all__ = ["Watcher", "describe_report"]

log = logging.getLogger("redisops.watch")


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
        self.wall = wall  # timestamps of events and incidents are unix time
        self.on_cycle = on_cycle
        self.correlator = EventCorrelator()
        self.tracker = ConditionTracker()
        self.last_report: StatusReport | None = None
        self.metrics.groups_seen([g.name for g in self.groups])

    @property
    def open_incidents(self) -> tuple[Incident, ...]:
        return self.correlator.open_incidents + self.tracker.open_incidents

    # --- the two inputs -----------------------------------------------------------------------------

    def on_event(self, event: SentinelEvent) -> None:
        self.metrics.events.labels(str(event.source)).inc()
        log.debug("%s %s %s", event.source, event.name, event.payload)
        self._hand(self.correlator.feed(event, seen_down=self.tracker.seen_down(event.at)))

    async def run_cycle(self) -> str:
        """Poll once, act on what the snapshot shows, say what was done."""
        report = await collect_status(self.groups, self.clusters, timeout=self.settings.probe_timeout_s)
        return self.decide(report, self.wall())

    def decide(self, report: StatusReport, at: float) -> str:
        """Conditions of ``report`` -> incidents opened / resolved -> one sentence (no I/O but the sink)."""
        self.last_report = report
        handed = self.tracker.update(report_conditions(report, self.settings), at)
        for group in report.groups:
            handed += self.correlator.on_group_status(group, at)
            node = group.master_node
            self.metrics.master(group.name, node.address if node and node.role is Role.MASTER else None)
        self._hand(handed)
        self.metrics.cycles.inc()
        return describe_report(report, handed, self.settings)

    def _hand(self, incidents: Sequence[Incident]) -> None:
        for incident in incidents:
            self.metrics.incident(incident)
            log.warning("%s %s: %s", "resolved" if incident.resolved else "incident", incident.key, incident.title)
            try:
                self.sink.notify(incident)
            except Exception:  # a broken sink must not stop the watching
                log.exception("alert sink failed on %s", incident.key)

    # --- the daemon ---------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Subscribe to every sentinel and poll every ``poll_interval_s`` until ``stop`` is set."""
        tasks = [asyncio.create_task(self._subscription(address, password, group))
                 for address, (password, group) in self._sentinels().items()]
        try:
            while not stop.is_set():
                began = self.clock.now()
                await self._cycle()
                remaining = self.settings.poll_interval_s - (self.clock.now() - began)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=max(0.0, remaining))
                except asyncio.TimeoutError:
                    pass
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _cycle(self) -> None:
        try:
            sentence = await self.run_cycle()
        except Exception:
            self.metrics.cycle_errors.inc()
            log.exception("poll cycle failed")
            return
        log.info(sentence)
        if self.on_cycle is not None and self.last_report is not None:
            self.on_cycle(sentence, self.last_report)

    def _sentinels(self) -> dict[Address, tuple[str | None, str]]:
        """Each sentinel once (a sentinel may watch several groups): its password and first group."""
        found: dict[Address, tuple[str | None, str]] = {}
        for group in self.groups:
            for address in group.sentinels:
                found.setdefault(address, (group.sentinel_password, group.name))
        return found

    async def _subscription(self, address: Address, password: str | None, group: str) -> None:
        gauge = self.metrics.connected.labels(str(address))

        def received(channel: str, payload: str) -> None:
            self.on_event(parse_event(channel, payload, address, self.wall(), default_group=group))

        await subscribe(address, password, received, on_state=lambda up: gauge.set(1 if up else 0),
                        clock=self.clock, timeout=self.settings.probe_timeout_s,
                        backoff=_backoff(self.settings.reconnect_max_s))


def _backoff(cap: float) -> ExponentialBackoff:
    return ExponentialBackoff(cap=cap, base=min(0.1, cap))


# --- the sentence -----------------------------------------------------------------------------------


def describe_report(report: StatusReport, handed: Sequence[Incident], settings: WatchSpec) -> str:
    """What a cycle did and saw, in one line.

    ``no action: mymaster 127.0.0.1:6400 master, 2/2 replicas in sync, 3/3 sentinels agree; cluster main ok``
    or ``alerted mymaster: replica 127.0.0.1:6401 connection refused; now mymaster ...``.
    """
    opened = [i.title for i in handed if not i.resolved]
    resolved = [i.title for i in handed if i.resolved]
    actions = ([f"alerted {' | '.join(opened)}"] if opened else []) + (
        [f"resolved {' | '.join(resolved)}"] if resolved else [])
    state = "; ".join([*(_group(g, settings) for g in report.groups), *(_cluster(c) for c in report.clusters)])
    state = state or "nothing to watch"
    return f"{'; '.join(actions)}; now {state}" if actions else f"no action: {state}"


def _group(group: GroupStatus, settings: WatchSpec) -> str:
    master = group.master_node
    if master is None or master.role is not Role.MASTER:
        return f"{group.name} has no master answering (sentinels name {group.master or 'none'})"
    in_sync = 0
    for node in group.nodes:
        lag_bytes, lag_seconds = group.lag(node)
        if node is not master and node.link_up and node.master == master.address and (
                (lag_bytes or 0) <= settings.lag_bytes and (lag_seconds or 0) <= settings.lag_seconds):
            in_sync += 1
    agree = sum(1 for v in group.sentinels if v.reachable and v.master == master.address)
    return (f"{group.name} {master.address} master, {in_sync}/{group.expected_replicas} replicas in sync, "
            f"{agree}/{group.expected_sentinels} sentinels agree")


def _cluster(cluster: ClusterStatus) -> str:
    if cluster.health is Health.OK:
        return f"cluster {cluster.name} ok"
    first = cluster.reasons[0] if cluster.reasons else cluster.health.value
    return f"cluster {cluster.name} {cluster.health.value} ({first})"
