"""Deciding which slots move where: pure functions over a slot map and per-slot weights.

A plan is a tuple of :class:`Move` (slot, source id, target id).  ``rebalance``
gives each master a share of the total *weight* -- slot count, key count
(``CLUSTER COUNTKEYSINSLOT``) or bytes (sampled ``MEMORY USAGE``) -- and moves
slots from the most loaded masters to the least loaded until every master is
within ``threshold`` percent of its share.  redis-cli balances slot counts
only; by keys or memory, a master whose slots hold big keys gives away fewer
slots.  Moves are interleaved across sources so that the mover keeps several
sources busy at once.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import zip_longest

from redisops.cluster.errors import PlanError
from redisops.topology.model import SlotMap

__all__ = ["Balance", "Move", "interleave", "plan_rebalance", "plan_reshard", "slots_of"]


class Balance(Enum):
    SLOTS = "slots"
    KEYS = "keys"
    MEMORY = "memory"


@dataclass(frozen=True, order=True)
class Move:
    slot: int
    source: str
    target: str

    def to_dict(self) -> dict[str, object]:
        return {"slot": self.slot, "source": self.source, "target": self.target}


def slots_of(slot_map: SlotMap, master: str) -> list[int]:
    return [s for a, b in slot_map.ranges_of(master) for s in range(a, b + 1)]


def plan_reshard(slot_map: SlotMap, source: str, target: str, count: int) -> tuple[Move, ...]:
    """``count`` slots from ``source`` to ``target``, taken from the top of the source's ranges."""
    if source == target:
        raise PlanError("--from and --to are the same node")
    owned = slots_of(slot_map, source)
    if count < 1 or count > len(owned):
        raise PlanError(f"--slots {count}: the source owns {len(owned)} slots",
                        hint=f"choose 1..{len(owned)}")
    return tuple(Move(s, source, target) for s in owned[len(owned) - count:])


def plan_rebalance(slot_map: SlotMap, masters: Sequence[str], weight: Mapping[int, float] | None = None,
                   threshold_pct: float = 2.0) -> tuple[Move, ...]:
    """Moves that bring every master of ``masters`` within ``threshold_pct`` of an equal share.

    ``weight`` maps slot -> weight (absent: 0); ``None`` means one per slot.
    Slots owned by nodes outside ``masters`` are drained entirely (that is how
    a master is emptied before removal).
    """
    if not masters:
        raise PlanError("no master to balance onto")
    weigh: Callable[[int], float] = (lambda s: 1.0) if weight is None else (lambda s: weight.get(s, 0.0))
    held = {m: sorted(slots_of(slot_map, m), key=weigh) for m in sorted(slot_map.owners | set(masters))}
    load = {m: sum(weigh(s) for s in slots) for m, slots in held.items()}
    share = sum(load.values()) / len(masters)
    if share == 0 or not _unbalanced(load, masters, share, threshold_pct):
        return ()
    moves = _drain_outsiders(held, load, masters, weigh)
    moves += _level(held, load, masters, share, share * threshold_pct / 100, weigh)
    return interleave(moves)


def _unbalanced(load: Mapping[str, float], masters: Sequence[str], share: float, threshold_pct: float) -> bool:
    outsiders = [m for m in load if m not in masters and load[m] > 0]
    return bool(outsiders) or any(abs(100 - 100 * load[m] / share) > threshold_pct for m in masters)


def _drain_outsiders(held: dict[str, list[int]], load: dict[str, float], masters: Sequence[str],
                     weigh: Callable[[int], float]) -> list[Move]:
    moves: list[Move] = []
    for owner in [m for m in held if m not in masters]:
        while held[owner]:
            slot = held[owner][-1]
            target = min(masters, key=lambda m: load[m])
            moves.append(_shift(slot, owner, target, held, load, weigh))
    return moves


def _level(held: dict[str, list[int]], load: dict[str, float], masters: Sequence[str], share: float,
           tolerance: float, weigh: Callable[[int], float]) -> list[Move]:
    """Greedy: the heaviest master gives the lightest master the biggest slot that fits the gap.

    Each move is smaller than the difference between the two loads, so the
    spread strictly shrinks and the loop ends.
    """
    moves: list[Move] = []
    while True:
        source = max(masters, key=lambda m: load[m])
        target = min(masters, key=lambda m: load[m])
        if load[source] - share <= tolerance and share - load[target] <= tolerance:
            return moves
        gap = min(load[source] - share, share - load[target])
        slot = _pick(held[source], weigh, gap, load[source] - load[target])
        if slot is None:
            return moves
        moves.append(_shift(slot, source, target, held, load, weigh))


def _pick(slots: list[int], weigh: Callable[[int], float], gap: float, spread: float) -> int | None:
    """The heaviest slot not above ``gap``, else the lightest non-empty one if it still narrows ``spread``."""
    # ``slots`` is kept sorted by weight, heaviest last: the first fit from the end is the answer
    index = bisect.bisect_right(slots, gap, key=weigh) - 1
    if index >= 0 and weigh(slots[index]) > 0:
        return slots[index]
    lightest = next((s for s in slots if weigh(s) > 0), None)
    return lightest if lightest is not None and weigh(lightest) < spread else None


def _shift(slot: int, source: str, target: str, held: dict[str, list[int]], load: dict[str, float],
           weigh: Callable[[int], float]) -> Move:
    w = weigh(slot)
    held[source].remove(slot)
    bisect.insort(held[target], slot, key=weigh)
    load[source] -= w
    load[target] += w
    return Move(slot, source, target)


def interleave(moves: Sequence[Move]) -> tuple[Move, ...]:
    """Round-robin over sources, so concurrent slot tasks spread over every source node."""
    by_source: dict[str, list[Move]] = {}
    for move in sorted(moves):
        by_source.setdefault(move.source, []).append(move)
    mixed = zip_longest(*by_source.values())
    return tuple(m for group in mixed for m in group if m is not None)
