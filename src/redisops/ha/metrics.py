"""The watcher's Prometheus metrics, on one registry the alert dispatcher shares.

One :class:`~prometheus_client.CollectorRegistry` per watcher (not the global
one), so tests can run several watchers and ``/metrics`` shows exactly the
watcher's series plus the dispatcher's delivery counters.  The HTTP server
binds 127.0.0.1 only: the numbers say where the master is.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from redisops.address import Address
from redisops.alerts.model import Incident, IncidentKind

__all__ = ["MetricsServer", "WatchMetrics"]


class WatchMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.failovers = Counter("redisops_failovers", "Failovers seen, per Sentinel group.", ["group"], registry=r)
        self.failover_duration = Gauge("redisops_last_failover_duration_seconds",
                                       "Last failover, first +sdown of the master to its end.", ["group"], registry=r)
        self.incidents = Counter("redisops_incidents", "Incidents opened, per kind.", ["kind"], registry=r)
        self.split_brain = Gauge("redisops_split_brain", "1 while a group shows two masters.", ["group"], registry=r)
        self.master_info = Gauge("redisops_master_info", "1 for the address of each group's current master.",
                                 ["group", "address"], registry=r)
        self.cycles = Counter("redisops_watch_cycles", "Poll cycles run.", registry=r)
        self.cycle_errors = Counter("redisops_watch_cycle_errors", "Poll cycles that failed.", registry=r)
        self.events = Counter("redisops_watch_events", "Sentinel Pub/Sub messages received.", ["sentinel"],
                              registry=r)
        self.connected = Gauge("redisops_watch_sentinel_connected", "1 while subscribed to the sentinel.",
                               ["sentinel"], registry=r)
        self._masters: dict[str, str] = {}
        for kind in IncidentKind:
            self.incidents.labels(kind.value)  # every kind exported from the start, at 0

    def incident(self, incident: Incident) -> None:
        """Count a newly opened incident; a failover's resolution sets the duration."""
        if incident.kind is IncidentKind.SPLIT_BRAIN and incident.labels.get("masters"):
            self.split_brain.labels(incident.group).set(0 if incident.resolved else 1)
        if not incident.resolved:
            self.incidents.labels(incident.kind.value).inc()
            if incident.kind is IncidentKind.FAILOVER:
                self.failovers.labels(incident.group).inc()
            return
        if incident.kind is IncidentKind.FAILOVER and incident.resolved_at is not None:
            start = next((e.at for e in incident.timeline if e.event == "+sdown"), incident.started_at)
            self.failover_duration.labels(incident.group).set(max(0.0, incident.resolved_at - start))

    def master(self, group: str, address: Address | None) -> None:
        """``redisops_master_info{group,address} 1`` for the current master only."""
        new = "" if address is None else str(address)
        old = self._masters.get(group)
        if old == new:
            return
        if old:
            self.master_info.remove(group, old)
        if new:
            self.master_info.labels(group, new).set(1)
        self._masters[group] = new

    def groups_seen(self, groups: Sequence[str]) -> None:
        for group in groups:
            self.split_brain.labels(group)


class MetricsServer:
    """``/metrics`` on 127.0.0.1:port in a daemon thread; :meth:`stop` closes it."""

    def __init__(self, registry: CollectorRegistry, port: int, host: str = "127.0.0.1") -> None:
        self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        self.port = self._server.server_port

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=2)
