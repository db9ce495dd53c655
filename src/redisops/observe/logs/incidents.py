"""Correlation: the findings of many logs, in time order, folded into incidents.

One failover writes some twenty lines across the sentinels' logs: every sentinel that
sees the master down logs ``+sdown``, those that reach the quorum ``+odown``, the
leader ``+try-failover`` … ``+failover-end``, and every sentinel ``+switch-master
<name> <old ip> <old port> <new ip> <new port>``.  They all name the group and the old
master, so an incident is keyed by ``(group, old master)``: it opens with the first
``+sdown`` / ``+odown`` / ``+try-failover`` about that master and takes every later
event about it until :data:`SETTLE_S` after its first ``+switch-master`` (a sentinel
that was partitioned learns of the switch later, through ``+config-update-from``).
Then the old master is a replica, and the next failover (new master → another) has
another key, so two failovers are two incidents.

A Redis Cluster failover is keyed by the failed node's id: ``Marking node <id> as
failing`` and ``FAIL message received from <peer> about <id>`` on the other nodes,
``Failover election won`` on the replica that took over (its line names no node, so it
joins the cluster incident that is open), ``Clear FAIL state for node <id>`` when the
node is back.

:class:`Correlator` is a reducer (``step(finding) -> None``, ``incidents()``), fed
findings sorted by time, so ``--follow`` feeds it line by line and the tests replay
corpora.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from redisops.observe.logs.findings import Finding
from redisops.observe.logs.signatures import Severity

__all__ = ["SETTLE_S", "Correlator", "Incident", "correlate"]

#: how long after the first +switch-master other sentinels' reports still join the same failover
SETTLE_S = 60.0
#: how long after a cluster node's FAIL an election won on another node belongs to it
CLUSTER_ELECTION_S = 60.0

_OPENS = {"sentinel.sdown-master", "sentinel.odown", "sentinel.try-failover"}
_JOINS = _OPENS | {"sentinel.elected-leader", "sentinel.selected-replica", "sentinel.promoted-replica",
                   "sentinel.failover-end", "sentinel.failover-timeout", "sentinel.failover-abort",
                   "sentinel.odown-cleared", "sentinel.sdown-cleared"}


@dataclass
class Incident:
    kind: str  # failover, failover-failed, master-down, master-sdown, cluster-failover, cluster-node-failed
    group: str  # the Sentinel group's name, or "cluster"
    subject: str  # the old master's address, or the failed cluster node's id
    started: datetime
    ended: datetime
    new_master: str | None = None
    leader: str | None = None  # the source that logged +elected-leader (or won the cluster election)
    reporters: set[str] = field(default_factory=set)
    events: list[Finding] = field(default_factory=list)
    switched_at: datetime | None = None
    cleared: bool = False
    aborted: bool = False
    odown: bool = False

    @property
    def severity(self) -> Severity:
        if self.kind in ("failover-failed", "master-down", "cluster-node-failed"):
            return Severity.ERROR
        return Severity.WARNING

    def summary(self) -> str:
        took = f"{(self.ended - self.started).total_seconds():.1f} s"
        seen = f"seen by {len(self.reporters)} {'log' if len(self.reporters) == 1 else 'logs'}"
        if self.kind == "failover":
            return f"{self.group}: failover {self.subject} -> {self.new_master} in {took}, {seen}"
        if self.kind == "cluster-failover":
            return f"cluster: node {self.subject[:12]} failed, {self.leader} took over in {took}, {seen}"
        if self.kind == "cluster-node-failed":
            return f"cluster: node {self.subject[:12]} failed, no takeover logged, {seen}"
        what = {"failover-failed": "failover failed", "master-down": "master down, no failover",
                "master-sdown": "master briefly unreachable"}[self.kind]
        return f"{self.group}: {what} ({self.subject}), {seen}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "severity": str(self.severity), "group": self.group, "subject": self.subject,
                "new_master": self.new_master, "leader": self.leader,
                "started": self.started.isoformat(timespec="milliseconds"),
                "ended": self.ended.isoformat(timespec="milliseconds"),
                "duration_s": round((self.ended - self.started).total_seconds(), 3),
                "reporters": sorted(self.reporters), "summary": self.summary(),
                "timeline": [{"time": e.time.isoformat(timespec="milliseconds"), "source": e.source,
                              "event": e.signature.id, "message": e.message} for e in self.events]}


def _sentinel_key(message: str) -> tuple[str, str] | None:
    """``(group, master address)`` of a sentinel event line, or None."""
    tokens = message.split()
    if len(tokens) >= 5 and tokens[1] == "master":
        return tokens[2], f"{tokens[3]}:{tokens[4]}"
    if "@" in tokens:
        at = tokens.index("@")
        if len(tokens) >= at + 4:
            return tokens[at + 1], f"{tokens[at + 2]}:{tokens[at + 3]}"
    return None


class Correlator:
    """Fold findings (in time order) into incidents."""

    def __init__(self) -> None:
        self._sentinel: dict[tuple[str, str], Incident] = {}
        self._cluster: dict[str, Incident] = {}
        self._done: list[Incident] = []

    def step(self, finding: Finding) -> None:
        sig = finding.signature.id
        if sig.startswith("sentinel."):
            self._sentinel_step(sig, finding)
        elif sig in ("cluster.node-failing", "cluster.fail-received", "cluster.fail-cleared",
                     "cluster.failover-won"):
            self._cluster_step(sig, finding)

    def incidents(self) -> list[Incident]:
        out = [*self._done, *self._sentinel.values(), *self._cluster.values()]
        for incident in out:
            incident.kind = _kind(incident)
        return sorted((i for i in out if i.kind), key=lambda i: i.started)

    # --- Sentinel -----------------------------------------------------------------------
    def _sentinel_step(self, sig: str, finding: Finding) -> None:
        if sig == "sentinel.switch-master":
            self._switch(finding)
            return
        if sig == "sentinel.convert-to-replica":
            key = _sentinel_key(finding.message)
            rejoined = finding.message.split()[2] if len(finding.message.split()) > 2 else ""
            for open_incident in self._sentinel.values():
                if key and open_incident.group == key[0] and open_incident.subject == rejoined:
                    self._add(open_incident, finding)
            return
        if sig not in _JOINS:
            return
        key = _sentinel_key(finding.message)
        if key is None:
            return
        if sig == "sentinel.sdown-cleared" and " master " not in f" {finding.message} ":
            return
        incident: Incident | None = self._open_sentinel(key, finding.time)
        if incident is None:
            if sig not in _OPENS:
                return
            incident = self._sentinel[key] = Incident("", key[0], key[1], finding.time, finding.time)
        self._add(incident, finding)
        incident.odown |= sig == "sentinel.odown"
        incident.aborted |= sig in ("sentinel.failover-abort", "sentinel.failover-timeout")
        if sig == "sentinel.elected-leader":
            incident.leader = finding.source
        if sig in ("sentinel.sdown-cleared", "sentinel.odown-cleared") and incident.switched_at is None:
            incident.cleared = True

    def _open_sentinel(self, key: tuple[str, str], now: datetime) -> Incident | None:
        incident = self._sentinel.get(key)
        if incident is None:
            return None
        settled = incident.switched_at is not None and now - incident.switched_at > timedelta(seconds=SETTLE_S)
        done_without_switch = incident.cleared and incident.switched_at is None and not incident.odown
        if settled or done_without_switch:
            self._done.append(self._sentinel.pop(key))
            return None
        return incident

    def _switch(self, finding: Finding) -> None:
        tokens = finding.message.split()
        if len(tokens) < 6:
            return
        key, new = (tokens[1], f"{tokens[2]}:{tokens[3]}"), f"{tokens[4]}:{tokens[5]}"
        incident = self._open_sentinel(key, finding.time)
        if incident is None or (incident.new_master not in (None, new)):
            incident = self._sentinel[key] = Incident("", key[0], key[1], finding.time, finding.time)
        incident.new_master = new
        if incident.switched_at is None:
            incident.switched_at = finding.time
        self._add(incident, finding)

    # --- Cluster ------------------------------------------------------------------------
    def _cluster_step(self, sig: str, finding: Finding) -> None:
        tokens = finding.message.split()
        if sig == "cluster.failover-won":
            recent = [i for i in self._cluster.values()
                      if finding.time - i.started <= timedelta(seconds=CLUSTER_ELECTION_S) and i.leader is None]
            if recent:
                latest = max(recent, key=lambda i: i.started)
                latest.leader = finding.source
                self._add(latest, finding)
            return
        node = {"cluster.node-failing": 2, "cluster.fail-received": 6, "cluster.fail-cleared": 5}[sig]
        if len(tokens) <= node:
            return
        node_id = tokens[node].rstrip(":.")
        incident: Incident | None = self._cluster.get(node_id)
        if incident is not None and incident.cleared:
            self._done.append(self._cluster.pop(node_id))
            incident = None
        if incident is None:
            if sig == "cluster.fail-cleared":
                return
            incident = self._cluster[node_id] = Incident("", "cluster", node_id, finding.time, finding.time)
        self._add(incident, finding)
        incident.cleared |= sig == "cluster.fail-cleared"

    @staticmethod
    def _add(incident: Incident, finding: Finding) -> None:
        incident.events.append(finding)
        incident.reporters.add(finding.source)
        when = finding.time
        if when < incident.started:
            incident.started = when
        if when > incident.ended:
            incident.ended = when


def _kind(incident: Incident) -> str:
    if incident.group == "cluster":
        return "cluster-failover" if incident.leader else "cluster-node-failed"
    if incident.new_master:
        return "failover"
    if incident.aborted:
        return "failover-failed"
    if incident.odown:
        return "master-down"
    return "master-sdown"


def correlate(findings: Iterable[Finding]) -> list[Incident]:
    """Incidents from findings of any number of logs (sorted here by time)."""
    correlator = Correlator()
    for finding in sorted(findings, key=lambda f: f.sort_key):
        correlator.step(finding)
    return correlator.incidents()
