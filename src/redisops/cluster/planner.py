"""Deciding which slots move where: pure functions over a slot map and per-slot weights.

A plan is a tuple of :class:`Move` (slot, source id, target id).  ``rebalance``
gives each master a share of the total *weight* -- slot count, key count
(``CLUSTER COUNTKEYSINSLOT``) or bytes (sampled ``MEMORY USAGE``) -- and moves
slots from the most loaded masters to the least loaded until every master is
within ``threshold`` percent of its share.  redis-cli balances slot counts
only; by keys or memory, a master whose slots hold big keys gives away fewer
slots.  Slots travel in contiguous runs cut off the ends of the source's
ranges, preferably next to a range of the target, so that every master keeps a
few ranges however often the cluster grows and shrinks.  Moves are interleaved
across sources so that the mover keeps several sources busy at once; the
mover's waves take one (source, target) pair's slots in slot order, so a run
stays whole in its waves.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import zip_longest

from redisops.cluster.errors import PlanError
from redisops.topology.model import SLOTS, SlotMap

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

    Slots move in contiguous runs, never slot by slot: every transfer is cut
    from the end of one of the source's ranges, preferably the end that touches
    a range of the target, so ranges merge instead of splintering (dealing a
    drained master's 4000 slots out one at a time left every master with over
    a thousand ranges: a bloated ``CLUSTER SLOTS`` and harder later moves).
    A slot planned twice (drained onto a master, then levelled away) becomes
    one move from its owner today to its last owner.
    """
    if not masters:
        raise PlanError("no master to balance onto")
    weigh: Callable[[int], float] = (lambda s: 1.0) if weight is None else (lambda s: weight.get(s, 0.0))
    layout = _Layout(slot_map, masters, weigh, uniform=weight is None)
    share = sum(layout.load.values()) / len(masters)
    if share == 0 or not _unbalanced(layout.load, masters, share, threshold_pct):
        return ()
    for owner in [m for m in sorted(layout.load) if m not in masters]:
        _drain(layout, owner, masters)
    _level(layout, masters, share, share * threshold_pct / 100)
    return interleave(layout.moves(slot_map))


def _unbalanced(load: Mapping[str, float], masters: Sequence[str], share: float, threshold_pct: float) -> bool:
    outsiders = [m for m in load if m not in masters and load[m] > 0]
    return bool(outsiders) or any(abs(100 - 100 * load[m] / share) > threshold_pct for m in masters)


class _Layout:
    """The slot map being planned: owner per slot, each master's ranges and load, changed run by run.

    Ranges are kept as sorted start lists per master plus one start -> end map
    (starts are unique over the whole map), so cutting a run off a range end and
    merging it into the target's neighbouring range costs a bisect, not a scan
    of all 16384 slots.
    """

    def __init__(self, slot_map: SlotMap, masters: Sequence[str], weigh: Callable[[int], float],
                 uniform: bool) -> None:
        self.weigh = weigh
        self.uniform = uniform
        self.owner: list[str | None] = [None] * SLOTS
        self.starts: dict[str, list[int]] = {m: [] for m in sorted(slot_map.owners | set(masters))}
        self.end: dict[int, int] = {}
        self.load: dict[str, float] = dict.fromkeys(self.starts, 0.0)
        for first, last, owner in slot_map.ranges:
            self.owner[first:last + 1] = [owner] * (last - first + 1)
            self.load[owner] += sum(weigh(s) for s in range(first, last + 1))
            self.starts[owner].append(first)  # SlotMap ranges are sorted and merged already
            self.end[first] = last

    def start_of(self, slot: int) -> int:
        """The first slot of the range holding ``slot``."""
        starts = self.starts[self.owner[slot] or ""]
        return starts[bisect.bisect_right(starts, slot) - 1]

    def ranges(self, master: str) -> list[tuple[int, int]]:
        return [(a, self.end[a]) for a in self.starts[master]]

    def neighbour(self, slot: int) -> str | None:
        return self.owner[slot] if 0 <= slot < SLOTS else None

    def give(self, first: int, last: int, target: str, weight: float) -> None:
        """Hand ``first..last`` -- inside one range of its owner, usually at an end -- to ``target``."""
        source = self.owner[first]
        assert source is not None
        starts = self.starts[source]
        a = starts[bisect.bisect_right(starts, first) - 1]
        b = self.end.pop(a)
        starts.remove(a)
        if a < first:  # a suffix was cut: the source keeps a..first-1
            self._add(source, a, first - 1)
        if last < b:  # a prefix was cut: the source keeps last+1..b
            self._add(source, last + 1, b)
        self.owner[first:last + 1] = [target] * (last - first + 1)
        self.load[source] -= weight
        self.load[target] += weight
        if self.neighbour(first - 1) == target:  # merge with the target's range on the left
            left = self.starts[target][bisect.bisect_right(self.starts[target], first - 1) - 1]
            self.starts[target].remove(left)
            del self.end[left]
            first = left
        if self.neighbour(last + 1) == target:  # and with the one on the right
            self.starts[target].remove(last + 1)
            last = self.end.pop(last + 1)
        self._add(target, first, last)

    def _add(self, master: str, first: int, last: int) -> None:
        bisect.insort(self.starts[master], first)
        self.end[first] = last

    def moves(self, slot_map: SlotMap) -> list[Move]:
        return [Move(s, owner, self.owner[s] or owner) for a, b, owner in slot_map.ranges for s in range(a, b + 1)
                if self.owner[s] != owner]


@dataclass(frozen=True)
class _Cut:
    """A run ``first..last`` of one source's slots, planned to go to ``target``."""

    target: str
    first: int
    last: int
    weight: float
    adjacent: bool  # it touches a range the target owns: the two merge

    @property
    def slots(self) -> int:
        return self.last - self.first + 1


#: how much longer (in slots per unit of weight) a run may be than the shortest run carrying the same weight
#: and still be preferred for merging with the target's range: by keys, a master with a few heavy slots gives
#: those rather than thousands of light slots next to the target
RUN_LENGTH_FACTOR = 2.0


def _drain(layout: _Layout, owner: str, masters: Sequence[str]) -> None:
    """Empty ``owner`` in runs, each master receiving its part of the even fill of ``owner``'s load.

    The parts come first (:func:`_fill`), the slots then: each round hands one
    range end to the master it touches when that master still has a part to
    receive, so a range that grew out of a neighbour's slots goes back to it
    whole.  What is left once every part is received weighs nothing (empty
    slots when balancing by keys) and goes to a touching master when possible.
    """
    part = _fill({m: layout.load[m] for m in masters}, layout.load[owner])
    while layout.starts[owner]:
        wanted = {m: left for m, left in part.items() if left > _EPSILON * max(1.0, left)}
        cut = _best(layout, owner, wanted or dict.fromkeys(masters, math.inf), math.inf)
        assert cut is not None  # without a ceiling every range end yields at least its first slot
        layout.give(cut.first, cut.last, cut.target, cut.weight)
        if cut.target in part:
            part[cut.target] -= cut.weight


def _fill(load: Mapping[str, float], amount: float) -> dict[str, float]:
    """How much each master receives when ``amount`` is poured onto the lightest ones until they level out."""
    order = sorted(load, key=lambda m: load[m])
    level = 0.0
    for count in range(1, len(order) + 1):
        level = (amount + sum(load[m] for m in order[:count])) / count
        if count == len(order) or level <= load[order[count]]:
            break
    return {m: max(0.0, level - load[m]) for m in order}


def _level(layout: _Layout, masters: Sequence[str], share: float, tolerance: float) -> None:
    """Greedy: the heaviest master gives the lightest one a run of about the gap between them and the share.

    Each run weighs more than nothing and less than the difference between the
    two loads, so the sum of squared loads strictly shrinks and the loop ends.
    """
    load = layout.load
    while True:
        source = max(masters, key=lambda m: load[m])
        target = min(masters, key=lambda m: load[m])
        if load[source] - share <= tolerance and share - load[target] <= tolerance:
            return
        gap = min(load[source] - share, share - load[target])
        spread = load[source] - load[target]
        cut = _best(layout, source, {target: gap}, spread) or _single(layout, source, target, gap, spread)
        if cut is None:
            return
        layout.give(cut.first, cut.last, cut.target, cut.weight)


_EPSILON = 1e-9


def _best(layout: _Layout, source: str, wanted: Mapping[str, float], ceiling: float) -> _Cut | None:
    """The best run off an end of one of ``source``'s ranges for one of ``wanted`` (target -> weight to receive).

    Best: among runs no more than :data:`RUN_LENGTH_FACTOR` times longer per
    unit of weight than the densest, one that merges with the target's range,
    then the heaviest (fewer runs in all), then the highest slot.  Below a
    ``ceiling`` only: a run weighing nothing or ``ceiling`` or more is no
    candidate (``inf``: anything goes, as when draining).
    """
    cuts = []
    for a, b in layout.ranges(source):
        for start, step in ((a, 1), (b, -1)) if a < b else ((a, 1),):
            touching = layout.neighbour(start - step)
            if a == b:  # a one-slot range touches on both sides
                touching = touching if touching in wanted else layout.neighbour(a + 1)
            for target, amount in wanted.items():
                run = _run(layout, start, step, amount, ceiling)
                if run is not None:
                    first, last = sorted((start, run[0]))
                    cuts.append(_Cut(target, first, last, run[1], touching == target))
    if ceiling != math.inf:
        cuts = [c for c in cuts if 0 < c.weight < ceiling]
    weighed = [c.slots / c.weight for c in cuts if c.weight > 0]
    if weighed:
        densest = min(weighed)
        cuts = [c for c in cuts if c.weight > 0 and c.slots / c.weight <= RUN_LENGTH_FACTOR * densest]
    return max(cuts, key=lambda c: (c.adjacent, c.weight, c.last), default=None)


def _run(layout: _Layout, start: int, step: int, amount: float, ceiling: float) -> tuple[int, float] | None:
    """From ``start`` inward (``step`` +1 or -1) while the weight stays within ``amount``: (last slot, weight).

    When not even the first weighing slot fits, that slot still ends the run if
    it weighs less than ``ceiling`` -- moving it narrows the spread, as moving
    the lightest slot did when slots moved one at a time.  With a ceiling
    (levelling) the run stops at its last weighing slot: empty slots beyond it
    would move for nothing, while a drain takes them along (they must go anyway,
    and in the same run they need no range of their own).
    """
    owner = layout.owner[start]
    limit = amount + _EPSILON * max(1.0, amount)
    if layout.uniform:  # every slot weighs one: no walk needed (a drain of 1000 one-slot ranges asks often)
        length = layout.end[start] - start + 1 if step > 0 else start - layout.start_of(start) + 1
        count = min(length, math.floor(limit)) or (1 if ceiling > 1 else 0)
        return (start + step * (count - 1), float(count)) if count else None
    slot, total, end, weighing = start, 0.0, None, None
    while 0 <= slot < SLOTS and layout.owner[slot] == owner:
        w = layout.weigh(slot)
        if total + w > limit:
            if total == 0 and w < ceiling:
                total, end, weighing = w, slot, slot
            break
        total, end = total + w, slot
        if w > 0:
            weighing = slot
        slot += step
    if ceiling != math.inf:
        end = weighing
    return None if end is None else (end, total)


def _single(layout: _Layout, source: str, target: str, gap: float, spread: float) -> _Cut | None:
    """No range end fits: the heaviest slot anywhere not above ``gap``, else the lightest that narrows ``spread``.

    This is the slot-by-slot rule, kept as the last resort so that levelling
    by weight never stops earlier than it did before runs; it may split a range.
    """
    slots = [s for a, b in layout.ranges(source) for s in range(a, b + 1) if layout.weigh(s) > 0]
    fitting = [s for s in slots if layout.weigh(s) <= gap]
    lightest = min(slots, key=layout.weigh, default=None)
    slot = max(fitting, key=layout.weigh) if fitting else lightest
    if slot is None or layout.weigh(slot) >= spread:
        return None
    return _Cut(target, slot, slot, layout.weigh(slot), False)
def interleave(moves: Sequence[Move]) -> tuple[Move, ...]:
    """Round-robin over sources, so concurrent slot tasks spread over every source node."""
    by_source: dict[str, list[Move]] = {}
    for move in sorted(moves):
        by_source.setdefault(move.source, []).append(move)
    mixed = zip_longest(*by_source.values())
    return tuple(m for group in mixed for m in group if m is not None)
