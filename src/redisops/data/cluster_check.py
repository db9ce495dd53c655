"""``verify cluster``: do all nodes agree on who owns which slot, and do keys sit where they belong?

Agreement is read from every node's ``CLUSTER NODES`` (as
:class:`~redisops.topology.model.SlotMap`, so range splitting does not
matter).  Misplaced keys are counted without scanning: each master is asked
``CLUSTER COUNTKEYSINSLOT`` for every slot it does not own, in one pipeline
(16384 tiny commands, a few milliseconds), and ``GETKEYSINSLOT`` names a few
examples.  Such keys are unreachable for clients (every access is redirected)
and are what an interrupted migration or a bad manual ``SETSLOT`` leaves.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any

from redisops.address import Address
from redisops.auth import Credential
from redisops.data.compare import key_text
from redisops.data.keyspace import connect
from redisops.topology.model import SLOTS, ClusterProbe, Role, SlotMap, format_slots
from redisops.topology.probe import probe_cluster
from redisops.topology.targets import ClusterTarget

__all__ = ["ClusterCheck", "Misplaced", "check_cluster"]

EXAMPLES = 5


@dataclass(frozen=True)
class Misplaced:
    node: Address
    slot: int
    owner: str | None  # the node id that owns the slot, None when nobody does
    count: int
    examples: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"node": str(self.node), "slot": self.slot, "owner": self.owner, "count": self.count,
                "examples": list(self.examples)}


@dataclass(frozen=True)
class ClusterCheck:
    name: str
    nodes: int
    unreachable: tuple[str, ...]  # "addr: reason"
    disagreeing: tuple[str, ...]  # nodes whose slot map differs from the majority's
    uncovered: int  # slots no master owns in the majority's map
    misplaced: tuple[Misplaced, ...]

    @property
    def exit_code(self) -> int:
        if self.unreachable:
            return 3
        return 1 if self.disagreeing or self.uncovered or self.misplaced else 0

    @property
    def summary(self) -> str:
        if self.exit_code == 0:
            return f"{self.nodes} nodes agree on all {SLOTS} slots; no key outside its slot owner"
        parts = [f"{len(self.unreachable)} unreachable" if self.unreachable else "",
                 f"{len(self.disagreeing)} nodes disagree on slot ownership" if self.disagreeing else "",
                 f"{self.uncovered} slots unowned" if self.uncovered else "",
                 f"{sum(m.count for m in self.misplaced)} keys in slots their node does not own"
                 if self.misplaced else ""]
        return "; ".join(p for p in parts if p)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "nodes": self.nodes, "unreachable": list(self.unreachable),
                "disagreeing": list(self.disagreeing), "uncovered": self.uncovered,
                "misplaced": [m.to_dict() for m in self.misplaced], "summary": self.summary,
                "exit_code": self.exit_code}


def check_cluster(target: ClusterTarget, timeout: float = 2.0) -> ClusterCheck:
    probes = asyncio.run(probe_cluster(target, timeout))
    alive = [p for p in probes if p.reachable]
    unreachable = tuple(f"{p.node.address}: {p.node.failure}" for p in probes if not p.reachable)
    majority = _majority_map(alive)
    disagreeing = tuple(f"{p.node.address}: {format_slots((a, b) for a, b, _ in p.slot_map.ranges)}"
                        for p in alive if p.slot_map != majority)
    misplaced: list[Misplaced] = []
    for probe in alive:
        me = probe.myself
        if me is not None and me.role is Role.MASTER:
            misplaced += _misplaced_on(probe.node.address, me.id, majority, target.password, timeout)
    return ClusterCheck(target.name, len(probes), unreachable, disagreeing, SLOTS - majority.covered,
                        tuple(misplaced))


def _majority_map(probes: list[ClusterProbe]) -> SlotMap:
    counted = Counter(p.slot_map for p in probes)
    return counted.most_common(1)[0][0] if counted else SlotMap()


def _misplaced_on(address: Address, node_id: str, slots: SlotMap, password: Credential,
                  timeout: float) -> list[Misplaced]:
    foreign = [s for s in range(SLOTS) if slots.owner(s) != node_id]
    client = connect(address, password, timeout=timeout * 5)
    try:
        pipe = client.pipeline(transaction=False)
        for slot in foreign:
            pipe.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot)
        counts = pipe.execute()
        out = []
        for slot, count in zip(foreign, counts, strict=True):
            if int(count):
                keys = client.execute_command("CLUSTER", "GETKEYSINSLOT", slot, EXAMPLES)
                out.append(Misplaced(address, slot, slots.owner(slot), int(count),
                                     tuple(key_text(k) for k in keys)))
        return out
    finally:
        client.close()
