"""The verdict on one Redis Cluster.

Every reachable node's ``CLUSTER NODES`` is a view of the whole cluster.  The
rows shown merge them per node id: what a node says of itself (role, slots,
epoch) where it answered, what its peers say otherwise, and the failure flags
(``fail``, ``pfail``) only peers can set.

OK: every node answers, every node says ``cluster_state:ok``, all views hold
the same slot map covering all 16384 slots, nobody flags a node fail / pfail,
each master owning slots has at least the expected number of replicas whose
replication link is up, and as many masters own slots as the spec says.
DOWN: no node answers, or every node that does says ``cluster_state:fail``
(then the cluster refuses queries).  Anything else is DEGRADED.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redisops.address import Address
from redisops.topology.findings import Findings, describe
from redisops.topology.model import (
    SLOTS,
    ClusterNode,
    ClusterProbe,
    Failure,
    FailureKind,
    Health,
    Loading,
    Role,
    SlotMap,
    format_slots,
)
from redisops.topology.targets import ClusterTarget

__all__ = ["FAILING", "ClusterRow", "ClusterStatus", "judge_cluster"]

#: the flags by which peers say a node is failing (``fail?`` is read as pfail)
FAILING = frozenset({"fail", "pfail"})


@dataclass(frozen=True)
class ClusterRow:
    """One node as the cluster sees it."""

    address: Address | None
    id: str | None  # None: the node never answered and no peer lists it
    role: Role
    master_id: str | None
    slots: tuple[tuple[int, int], ...]
    keys: int | None
    flags: frozenset[str]  # fail / pfail / handshake / noaddr, as any peer sees it
    link_state: str | None  # "disconnected" when any peer's link to it is down
    config_epoch: int | None
    cluster_state: str | None  # its own CLUSTER INFO, when it answered
    link_up: bool | None  # replica: master_link_status:up
    failure: Failure | None
    loading: Loading | None = None  # set while it loads its dataset (``failure`` says so too)

    @property
    def reachable(self) -> bool:
        return self.failure is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "address": None if self.address is None else str(self.address),
            "reachable": self.reachable,
            "failure": None if self.failure is None else self.failure.to_dict(),
            "role": self.role.value,
            "master_id": self.master_id,
            "slots": format_slots(self.slots),
            "keys": self.keys,
            "flags": sorted(self.flags),
            "link_state": self.link_state,
            "config_epoch": self.config_epoch,
            "cluster_state": self.cluster_state,
            "link": None if self.link_up is None else ("up" if self.link_up else "down"),
        }


@dataclass(frozen=True)
class ClusterStatus:
    name: str
    health: Health
    reasons: tuple[str, ...]
    rows: tuple[ClusterRow, ...]  # each master followed by its replicas
    slot_map: SlotMap  # the map most reachable nodes hold
    views: int  # reachable nodes that gave a view
    views_agreeing: int  # of those, how many hold ``slot_map``
    current_epoch: int | None

    @property
    def answered(self) -> bool:
        return any(r.failure is None or r.failure.kind is FailureKind.ERROR for r in self.rows)

    @property
    def failures(self) -> tuple[tuple[Address, Failure], ...]:
        return tuple((r.address, r.failure) for r in self.rows
                     if r.failure is not None and r.address is not None)

    @property
    def slots_covered(self) -> int:
        return self.slot_map.covered

    def row(self, node_id: str | None) -> ClusterRow | None:
        return next((r for r in self.rows if node_id is not None and r.id == node_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "health": self.health.value,
            "reasons": list(self.reasons),
            "slots_covered": self.slots_covered,
            "masters": len(self.slot_map.owners),
            "views": self.views,
            "views_agreeing": self.views_agreeing,
            "current_epoch": self.current_epoch,
            "nodes": [r.to_dict() for r in self.rows],
        }


def judge_cluster(target: ClusterTarget, probes: Sequence[ClusterProbe]) -> ClusterStatus:
    """The verdict on what the probes saw (pure: no I/O)."""
    out = Findings(target.name)
    reachable = [p for p in probes if p.reachable]
    maps = Counter(p.slot_map for p in reachable)
    slot_map, agreeing = maps.most_common(1)[0] if maps else (SlotMap(), 0)
    rows = _order(_rows(probes), slot_map)
    _check_nodes(rows, reachable, out)
    if len(maps) > 1:
        out.degraded(f"nodes disagree on the slot map ({agreeing} of {len(reachable)} hold the same)")
    if reachable and slot_map.covered < SLOTS:
        out.degraded(f"{slot_map.covered} of {SLOTS} slots assigned")
    _check_masters(target, rows, slot_map, out)
    epochs = [p.current_epoch for p in reachable if p.current_epoch is not None]
    return ClusterStatus(target.name, out.health, out.reasons, tuple(rows), slot_map, len(reachable),
                         agreeing, max(epochs, default=None))


def _check_nodes(rows: Sequence[ClusterRow], reachable: Sequence[ClusterProbe], out: Findings) -> None:
    if not reachable:
        out.down("no node reachable")
    failing_state = [p.node.address for p in reachable if p.state != "ok"]
    if reachable and len(failing_state) == len(reachable):
        out.down("cluster_state fail on every reachable node")
    elif failing_state:
        out.degraded(f"cluster_state fail on {', '.join(map(str, failing_state))}")
    for row in rows:
        label = f"node {row.address or row.id}"
        flagged = ",".join(sorted(row.flags & FAILING))
        if row.failure is not None:
            out.degraded(describe(label, row.failure) + (f"; flagged {flagged}" if flagged else ""))
        elif flagged:
            out.degraded(f"{label} flagged {flagged}")


def _check_masters(target: ClusterTarget, rows: Sequence[ClusterRow], slot_map: SlotMap,
                   out: Findings) -> None:
    owners = slot_map.owners
    if target.expected_masters is not None and owners and len(owners) != target.expected_masters:
        out.degraded(f"{len(owners)} masters own slots, expected {target.expected_masters}")
    for master_id in sorted(owners, key=lambda m: slot_map.ranges_of(m)):
        replicas = [r for r in rows if r.role is Role.REPLICA and r.master_id == master_id]
        linked = [r for r in replicas if r.reachable and r.link_up and not r.flags & FAILING]
        needed = target.expected_replicas_per_master
        needed = len(replicas) if needed is None else needed
        if len(linked) < needed:
            master = next((r for r in rows if r.id == master_id), None)
            label = master.address if master and master.address else master_id[:8]
            slots = format_slots(slot_map.ranges_of(master_id))
            out.degraded(f"master {label} ({slots}) has {len(linked)} of {needed} replicas linked")


def _rows(probes: Sequence[ClusterProbe]) -> list[ClusterRow]:
    """Merge every view into one row per node id; probes nobody lists get a row of their own."""
    own = {p.myself.id: p for p in probes if p.reachable and p.myself is not None}
    by_address = {p.node.address: p for p in probes}
    seen: dict[str, list[ClusterNode]] = {}
    for probe in probes:
        for node in probe.nodes:
            seen.setdefault(node.id, []).append(node)
    rows = [_row(node_id, lines, own.get(node_id), by_address) for node_id, lines in seen.items()]
    listed = {r.address for r in rows} | {p.node.address for p in own.values()}
    rows += [_lone_row(p) for p in probes if p.node.address not in listed]
    return rows


def _row(node_id: str, lines: list[ClusterNode], probe: ClusterProbe | None,
         by_address: dict[Address, ClusterProbe]) -> ClusterRow:
    peers = [n for n in lines if not n.myself]
    line = probe.myself if probe is not None and probe.myself is not None else lines[0]
    if probe is None and line.address is not None:
        probe = by_address.get(line.address)
    flags = frozenset().union(*(n.problems for n in peers), line.problems - FAILING)
    link = None if not peers else ("connected" if all(n.link_state == "connected" for n in peers)
                                   else "disconnected")
    answered = probe is not None and probe.myself is not None and probe.myself.id == node_id
    failure = None if answered else _failure_of(probe)
    return ClusterRow(
        address=line.address, id=node_id, role=line.role, master_id=line.master_id, slots=line.slots,
        keys=probe.node.keys if answered and probe else None, flags=flags, link_state=link,
        config_epoch=line.config_epoch, cluster_state=probe.state if answered and probe else None,
        link_up=probe.node.link_up if answered and probe else None, failure=failure,
        loading=probe.node.loading if probe is not None else None,
    )


def _failure_of(probe: ClusterProbe | None) -> Failure:
    if probe is None:
        return Failure(FailureKind.UNREACHABLE, "no address to ask")
    if probe.node.failure is not None:
        return probe.node.failure
    return Failure(FailureKind.ERROR, "another node answers at its address")


def _lone_row(probe: ClusterProbe) -> ClusterRow:
    return ClusterRow(address=probe.node.address, id=None, role=probe.node.role, master_id=None, slots=(),
                      keys=probe.node.keys, flags=frozenset(), link_state=None, config_epoch=None,
                      cluster_state=probe.state, link_up=probe.node.link_up, failure=probe.node.failure,
                      loading=probe.node.loading)


def _order(rows: list[ClusterRow], slot_map: SlotMap) -> list[ClusterRow]:
    """Masters by their first slot (slotless masters after), each followed by its replicas."""
    masters = sorted((r for r in rows if r.role is Role.MASTER and r.id is not None),
                     key=lambda r: (slot_map.ranges_of(r.id or "") or ((SLOTS, SLOTS),), str(r.address)))
    out: list[ClusterRow] = []
    for master in masters:
        out.append(master)
        replicas = (r for r in rows if r.role is Role.REPLICA and r.master_id == master.id)
        out += sorted(replicas, key=lambda r: str(r.address))
    return out + sorted((r for r in rows if r not in out), key=lambda r: str(r.address))
