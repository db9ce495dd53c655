"""``cluster fix``: close half-migrated slots and assign uncovered ones, never dropping a key.

For each open slot (a node prints ``[slot->-peer]`` or ``[slot-<-peer]``) the
fix looks at who owns it (the slot map most nodes hold) and who holds its keys
(``CLUSTER COUNTKEYSINSLOT`` on every master):

* keys only on the owner, or nowhere: the move never got anywhere (or is
  finished) -- ``SETSLOT STABLE`` on every node with a marker.  This closes
  "migrating only", "importing only", "both, keys still on the source" and
  "target already owns it, source still migrating".
* keys also on exactly one other master that the owner migrates to, or that
  imports from the owner: the move was interrupted half way -- finish it with
  the mover (keys only travel forward, by MIGRATE, so none is lost).
* keys on several other masters: refused, naming them -- merging them could
  overwrite one copy with another.

An uncovered slot goes to the one master holding its keys, or when nobody holds
any to the master owning fewest slots; keys on several masters: refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from redisops.address import Address
from redisops.cluster.errors import PlanError
from redisops.cluster.live import ClusterView, OpenSlot, fetch_view
from redisops.cluster.mover import move_slots
from redisops.cluster.planner import Move
from redisops.cluster.wire import WirePool
from redisops.topology.model import SLOTS

__all__ = ["SlotRepair", "fix_cluster", "fix_cluster_sync", "repair_for"]


@dataclass(frozen=True)
class SlotRepair:
    slot: int
    action: str  # "close" | "finish" | "assign"
    node: str | None = None  # finish: the target; assign: the new owner
    why: str = ""


def repair_for(slot: int, owner: str | None, markers: Sequence[OpenSlot], holders: dict[str, int],
               masters: dict[str, int]) -> SlotRepair:
    """What to do with one slot (pure). ``holders``: master -> keys in the slot; ``masters``: master -> slots owned."""
    others = sorted(m for m, n in holders.items() if n and m != owner)
    if owner is None:
        if len(others) > 1:
            raise PlanError(f"slot {slot} is uncovered and {len(others)} masters hold its keys; refusing to pick one",
                            hint="inspect the keys, delete the stale copies, then run fix again")
        target = others[0] if others else min(masters, key=lambda m: (masters[m], m))
        return SlotRepair(slot, "assign", target, "the master holding its keys" if others else "fewest slots")
    if not others:
        return SlotRepair(slot, "close", None, "keys only on the owner")
    moving_to = {o.peer for o in markers if o.node == owner and o.state == "migrating"}
    importing = {o.node for o in markers if o.state == "importing" and o.peer == owner}
    if len(others) == 1 and others[0] in moving_to | importing:
        return SlotRepair(slot, "finish", others[0], "keys on both sides of an interrupted move")
    raise PlanError(f"slot {slot}: keys on {len(others)} masters besides its owner and no move between them; "
                    "refusing to merge them", hint="inspect the keys with CLUSTER GETKEYSINSLOT on each master")


def fix_cluster_sync(seeds: Sequence[Address], password: str | None, journal: Path) -> list[SlotRepair]:
    return asyncio.run(fix_cluster(seeds, password, journal))


async def fix_cluster(seeds: Sequence[Address], password: str | None, journal: Path) -> list[SlotRepair]:
    """Plan every repair first (so a refusal touches nothing), then carry them out."""
    view = await fetch_view(seeds, password)
    uncovered = [s for s in range(SLOTS) if view.slot_map.owner(s) is None] if view.slot_map.covered < SLOTS else []
    slots = sorted({o.slot for o in view.open_slots} | set(uncovered))
    if not slots:
        return []
    pools = {m: WirePool(a, password, 30.0) for m, a in view.masters.items()}
    try:
        counts = await asyncio.gather(*(p.call([("CLUSTER", "COUNTKEYSINSLOT", s) for s in slots])
                                        for p in pools.values()))
        holders = {s: {m: int(c[i]) for m, c in zip(pools, counts, strict=True) if isinstance(c[i], int)}
                   for i, s in enumerate(slots)}
        owned = {m: sum(b - a + 1 for a, b in view.slot_map.ranges_of(m)) for m in view.masters}
        repairs = [repair_for(s, view.slot_map.owner(s), [o for o in view.open_slots if o.slot == s], holders[s],
                              owned) for s in slots]
        await _apply(view, pools, repairs)
    finally:
        await asyncio.gather(*(p.close() for p in pools.values()))
    finishes = [Move(r.slot, view.slot_map.owner(r.slot) or "", r.node or "") for r in repairs if r.action == "finish"]
    if finishes:
        await move_slots(seeds, password, finishes, journal)
    return repairs


async def _apply(view: ClusterView, pools: dict[str, WirePool], repairs: Sequence[SlotRepair]) -> None:
    for repair in repairs:
        if repair.action == "close":
            for marker in (o for o in view.open_slots if o.slot == repair.slot):
                await pools[marker.node].call([("CLUSTER", "SETSLOT", repair.slot, "STABLE")])
        elif repair.action == "assign" and repair.node is not None:
            for marker in (o for o in view.open_slots if o.slot == repair.slot):
                await pools[marker.node].call([("CLUSTER", "SETSLOT", repair.slot, "STABLE")])
            await pools[repair.node].call([("CLUSTER", "ADDSLOTS", repair.slot)])
