"""Scale a running cluster to N masters with M replicas each, over a given set of nodes.

The caller names the nodes the cluster should consist of (``nodes``) and the
ones to take out (``retired``); roles are not fixed in advance, because after
failovers the live cluster, not the original layout, says who is a master.
:func:`scale_cluster` converges, and running it again after an interruption
(kill -9, Ctrl-C) picks up where the cluster is:

1. **join** -- nodes of ``nodes`` that are not in the cluster yet (fresh, empty)
   MEET it; a node holding keys or knowing another cluster is refused.
2. **hand over** -- a retired master whose shard has a replica among ``nodes``
   fails over to it (``CLUSTER FAILOVER``): the shard stays, no key moves.
3. **choose masters** -- the N masters are the slot owners among ``nodes``
   (most slots first), topped up with empty masters (the joined nodes).
4. **move slots** -- drain every other owner and level the N (the journalled,
   resumable mover; an unfinished journal is finished first).
5. **replicas** -- every other node of ``nodes`` becomes a replica: existing
   links to a chosen master are kept up to M, the rest go to the master with
   fewest replicas, on another host than the master where possible.
6. **remove** -- every node forgets each retired one (within the 60 s FORGET
   ban) and the retired nodes are reset.

:func:`check_scale` runs the same choice on the live cluster before anything is
touched, so an impossible request (more masters than nodes can become masters
without promoting a replica, an unhealthy cluster) is refused with the cluster
untouched.  No step drops a key: a master leaves only after its shard was handed
to a replica or its slots were moved.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from redisops.address import Address
from redisops.auth import Credential
from redisops.clock import Clock, SystemClock
from redisops.cluster.errors import PlanError
from redisops.cluster.journal import read_journal
from redisops.cluster.live import ClusterView, fetch_view, wait_converged
from redisops.cluster.mover import MoveProgress, MoveReport, MoverSettings, move_slots_sync
from redisops.cluster.nodes import MIN_MASTERS, _client, _refuse_foreign
from redisops.cluster.planner import plan_rebalance
from redisops.errors import ClusterFormationError
from redisops.topology.model import ClusterProbe, Role
from redisops.topology.probe import probe_cluster_node

__all__ = ["ScaleReport", "check_scale", "scale_cluster"]


@dataclass
class ScaleReport:
    joined: list[str] = field(default_factory=list)
    handed_over: list[str] = field(default_factory=list)
    masters: list[str] = field(default_factory=list)
    moved: MoveReport | None = None
    replicas: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    stopped: bool = False

    def sentence(self) -> str:
        parts = [f"{len(self.masters)} masters"]
        if self.joined:
            parts.append(f"joined {', '.join(self.joined)}")
        if self.handed_over:
            parts.append(f"handed over {', '.join(self.handed_over)}")
        if self.moved is not None and self.moved.slots_planned:
            parts.append(self.moved.sentence())
        if self.replicas:
            parts.append(f"re-pointed {len(self.replicas)} replicas")
        if self.removed:
            parts.append(f"removed {', '.join(self.removed)}")
        if self.stopped:
            parts.append("stopped before the end; run the same command again to finish")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"joined": self.joined, "handed_over": self.handed_over, "masters": self.masters,
                "moved": self.moved.to_dict() if self.moved is not None else None, "replicas": self.replicas,
                "removed": self.removed, "stopped": self.stopped}


@dataclass(frozen=True)
class _Members:
    """Which of the given addresses belong to the cluster, and which are loose (a node on its own)."""

    probes: dict[Address, ClusterProbe]

    @property
    def members(self) -> list[Address]:
        return [a for a, p in self.probes.items() if p.reachable and (len(p.nodes) > 1 or _slots(p))]

    @property
    def loose(self) -> list[Address]:
        return [a for a, p in self.probes.items() if p.reachable and len(p.nodes) <= 1 and not _slots(p)]

    @property
    def unreachable(self) -> list[Address]:
        return [a for a, p in self.probes.items() if not p.reachable]


def _slots(probe: ClusterProbe) -> bool:
    me = probe.myself
    return bool(me is not None and me.slots)


def _probe_all(addresses: Sequence[Address], password: Credential) -> _Members:
    async def probe() -> list[ClusterProbe]:
        return await asyncio.gather(*(probe_cluster_node(a, password, 2.0) for a in addresses))

    return _Members(dict(zip(addresses, asyncio.run(probe()), strict=True)))


def check_scale(nodes: Sequence[Address], retired: Sequence[Address], password: Credential, journal: Path, *,
                masters: int, clock: Clock | None = None, timeout: float = 10.0) -> ClusterView:
    """Refuse, before anything changes, a scale that cannot be done; return the live view.

    ``nodes`` that do not answer yet count as fresh empty nodes (the caller
    starts them).  Retired nodes must answer: a node that is down cannot be
    drained or handed over safely.
    """
    if masters < MIN_MASTERS:
        raise PlanError(f"{masters} masters: a cluster needs at least {MIN_MASTERS}")
    clock = clock or SystemClock()
    found = _probe_all([*nodes, *retired], password)
    members = found.members
    if not members:
        raise PlanError("none of the nodes belongs to a formed cluster", hint="form it first with `redisops up`")
    down = [a for a in found.unreachable if a in retired]
    if down:
        raise PlanError(f"{down[0]} is to be removed but does not answer; its data cannot be moved off it",
                        hint="start it (`redisops up`) and run the command again")
    view = asyncio.run(wait_converged(members, password, clock, timeout))
    if view.open_slots and not _unfinished(journal):
        slots = sorted({o.slot for o in view.open_slots})
        raise PlanError(f"slot {slots[0]} is open (migrating/importing) on some node; scaling now could strand keys",
                        hint="run `redisops cluster fix` first")
    ready = _can_be_masters(view, nodes, retired, fresh=[a for a in nodes if a not in members])
    if ready < masters:
        raise PlanError(f"{masters} masters asked, but only {ready} of the nodes can become masters without "
                        "promoting a replica",
                        hint="scale in two steps: first --replicas-per-master, then --masters")
    return view


def _unfinished(journal: Path) -> bool:
    state = read_journal(journal)
    return state is not None and not state.finished


def _can_be_masters(view: ClusterView, nodes: Sequence[Address], retired: Sequence[Address],
                    fresh: Sequence[Address]) -> int:
    keep = set(nodes)
    owners = {i for i in view.slot_map.owners if view.nodes[i].address in keep}
    empty = {i for i, a in view.masters.items() if a in keep and i not in view.slot_map.owners}
    heirs = {i for i in view.slot_map.owners if view.nodes[i].address in set(retired)
             and any(n.master_id == i and n.address in keep for n in view.nodes.values())}
    return len(owners) + len(empty) + len(heirs) + len(fresh)


def scale_cluster(nodes: Sequence[Address], retired: Sequence[Address], password: Credential, journal: Path, *,
                  masters: int, replicas_per_master: int, settings: MoverSettings | None = None,
                  clock: Clock | None = None, progress: Callable[[str], None] = lambda _m: None,
                  move_progress: Callable[[MoveProgress], None] = lambda _p: None,
                  stop: threading.Event | None = None, timeout: float = 30.0) -> ScaleReport:
    """Converge the cluster to ``masters`` x (1 + ``replicas_per_master``) nodes: exactly ``nodes``."""
    clock = clock or SystemClock()
    report = ScaleReport()
    found = _probe_all([*nodes, *retired], password)
    members = found.members
    if not members:
        raise PlanError("none of the nodes belongs to a formed cluster", hint="form it first with `redisops up`")
    loose = [a for a in found.loose if a in nodes]
    if loose:
        progress(f"joining {len(loose)} new nodes")
        report.joined = _join(loose, members[0], password)
        members += loose
    view = asyncio.run(wait_converged(members, password, clock, timeout))
    report.handed_over = _hand_over(view, nodes, retired, password, clock, timeout, progress)
    if report.handed_over:
        view = asyncio.run(wait_converged(members, password, clock, timeout))
    chosen = _choose_masters(view, nodes, masters)
    report.masters = [str(view.address(m)) for m in chosen]
    progress(f"moving slots onto {len(chosen)} masters")
    report.moved = _move(members, password, chosen, journal, settings, clock, move_progress, stop)
    if report.moved is not None and report.moved.stopped:
        report.stopped = True
        return report
    view = asyncio.run(wait_converged(members, password, clock, timeout))
    progress("pointing replicas at their masters")
    report.replicas = _assign_replicas(view, nodes, chosen, replicas_per_master, password)
    if report.replicas:
        view = asyncio.run(wait_converged(members, password, clock, timeout))
    gone = [i for i, n in view.nodes.items() if n.address in set(retired)]
    if gone:
        progress(f"removing {len(gone)} nodes")
        report.removed = [str(view.address(i)) for i in gone]
        _remove(view, gone, password)
    _wait_roles_agree(list(nodes), password, clock, timeout)
    return report


def _wait_roles_agree(nodes: Sequence[Address], password: Credential, clock: Clock, timeout: float) -> None:
    """Converged, and every node names the same master for every replica (REPLICATE travels by gossip)."""
    deadline = clock.now() + timeout
    while True:
        view = asyncio.run(wait_converged(nodes, password, clock, timeout))
        views = {tuple(sorted((n.id, n.master_id or "") for n in p.nodes)) for p in view.reachable}
        if len(views) == 1:
            return
        if clock.now() > deadline:
            raise ClusterFormationError(f"the nodes still disagree on who replicates whom after {timeout:.0f} s",
                                        hint="run `redisops cluster check` and the command again")
        clock.sleep(0.1)


def _join(loose: Sequence[Address], seed: Address, password: Credential) -> list[str]:
    for address in loose:
        with _client(address, password) as client:
            _refuse_foreign(client, address)
            client.execute_command("CLUSTER", "MEET", seed.host, seed.port)
    return [str(a) for a in loose]


def _hand_over(view: ClusterView, nodes: Sequence[Address], retired: Sequence[Address], password: Credential,
               clock: Clock, timeout: float, progress: Callable[[str], None]) -> list[str]:
    """Fail each retired master over to one of its replicas that stays; the shard keeps its data in place."""
    keep, leaving = set(nodes), set(retired)
    done = []
    for master_id in sorted(view.slot_map.owners):
        master = view.nodes[master_id]
        if master.address not in leaving:
            continue
        heirs = sorted((n for n in view.nodes.values() if n.master_id == master_id and n.address in keep
                        and not n.problems and n.address is not None), key=lambda n: _order(n.address))
        if not heirs:
            continue
        heir = heirs[0]
        assert heir.address is not None
        progress(f"handing {master.address}'s shard to its replica {heir.address}")
        with _client(heir.address, password) as client:
            client.execute_command("CLUSTER", "FAILOVER")
            deadline = clock.now() + timeout
            while client.execute_command("ROLE")[0] not in ("master", b"master"):
                if clock.now() > deadline:
                    raise ClusterFormationError(f"{heir.address} did not take over from {master.address} "
                                                f"within {timeout:.0f} s",
                                                hint="check `redisops cluster check`, then run the command again")
                clock.sleep(0.1)
        done.append(f"{master.address}->{heir.address}")
    return done


def _order(address: Address | None) -> tuple[str, int]:
    return (address.host, address.port) if address is not None else ("", 0)


def _choose_masters(view: ClusterView, nodes: Sequence[Address], count: int) -> list[str]:
    """Slot owners among ``nodes`` (most slots first), then empty masters; ``count`` of them."""
    keep = set(nodes)

    def owned(node_id: str) -> int:
        return sum(b - a + 1 for a, b in view.slot_map.ranges_of(node_id))

    owners = sorted((i for i in view.slot_map.owners if view.nodes[i].address in keep),
                    key=lambda i: (-owned(i), _order(view.nodes[i].address)))
    empty = sorted((i for i, a in view.masters.items() if a in keep and i not in view.slot_map.owners),
                   key=lambda i: _order(view.nodes[i].address))
    chosen = (owners + empty)[:count]
    if len(chosen) < count:
        raise PlanError(f"{count} masters asked, but only {len(chosen)} of the nodes can be masters",
                        hint="scale in two steps: first --replicas-per-master, then --masters")
    return chosen


def _move(members: Sequence[Address], password: Credential, chosen: Sequence[str], journal: Path,
          settings: MoverSettings | None, clock: Clock, progress: Callable[[MoveProgress], None],
          stop: threading.Event | None) -> MoveReport | None:
    """Finish an unfinished journal, then drain the owners not chosen and level the chosen ones."""
    report = None
    for _ in range(3):
        unfinished = _unfinished(journal)
        view = asyncio.run(fetch_view(members, password))
        moves = () if unfinished else plan_rebalance(view.slot_map, chosen, threshold_pct=2.0)
        if not moves and not unfinished:
            return report
        report = move_slots_sync(members, password, moves, journal, settings=settings, clock=clock,
                                 progress=progress, stop=stop)
        if report.stopped:
            return report
    return report


def _assign_replicas(view: ClusterView, nodes: Sequence[Address], chosen: Sequence[str], per_master: int,
                     password: Credential) -> list[str]:
    """Every node of ``nodes`` that is not a chosen master replicates one, ``per_master`` each."""
    keep = set(nodes)
    pool = sorted((i for i, n in view.nodes.items() if n.address in keep and i not in chosen),
                  key=lambda i: _order(view.nodes[i].address))
    count = dict.fromkeys(chosen, 0)
    hosts = {m: {view.address(m).host} for m in chosen}
    settled = set()
    for node_id in pool:
        master = view.nodes[node_id].master_id
        if view.nodes[node_id].role is Role.REPLICA and master in count and count[master] < per_master:
            count[master] += 1
            hosts[master].add(view.address(node_id).host)
            settled.add(node_id)
    changed = []
    for node_id in (i for i in pool if i not in settled):
        address = view.address(node_id)
        open_masters = [m for m in chosen if count[m] < per_master]
        if not open_masters:
            raise PlanError(f"{address} has no master to replicate: the node list is larger than "
                            f"masters x (1 + replicas)")
        master = min(open_masters, key=lambda m: (address.host in hosts[m], count[m], _order(view.address(m))))
        with _client(address, password) as client:
            try:
                client.execute_command("CLUSTER", "REPLICATE", master)
            except redis.ResponseError as exc:
                raise ClusterFormationError(f"{address} cannot replicate {view.address(master)}: {exc}",
                                            hint="run `redisops cluster check`; a node with keys must be drained "
                                                 "first") from exc
        count[master] += 1
        hosts[master].add(address.host)
        changed.append(f"{address}->{view.address(master)}")
    return changed


def _remove(view: ClusterView, gone: Sequence[str], password: Credential) -> None:
    """FORGET every retired node on every staying node, then reset the retired ones (within the 60 s ban)."""
    failures = []
    for node_id, node in view.nodes.items():
        if node_id in gone or node.address is None:
            continue
        with _client(node.address, password) as client:
            for target in gone:
                try:
                    client.execute_command("CLUSTER", "FORGET", target)
                except redis.ResponseError as exc:
                    if "Unknown node" not in str(exc):
                        failures.append(f"{node.address}: {exc}")
    if failures:
        raise ClusterFormationError(f"CLUSTER FORGET failed on {failures[0]}",
                                    hint="run the command again within 60 s, before gossip brings the node back")
    for target in gone:
        address = view.address(target)
        with _client(address, password) as client:
            try:
                client.execute_command("CLUSTER", "RESET", "SOFT")
            except redis.ResponseError as exc:
                raise ClusterFormationError(f"{address} could not be reset: {exc}",
                                            hint="check that it holds no keys any more") from exc
