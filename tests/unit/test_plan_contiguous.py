"""The planner moves slots in contiguous runs: a drain or a scale leaves each master a few ranges, not thousands."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from redisops.cluster.mover import waves
from redisops.cluster.planner import Move, plan_rebalance
from redisops.topology.model import SLOTS, SlotMap

THREE = SlotMap(((0, 5460, "a"), (5461, 10922, "b"), (10923, 16383, "c")))


def apply(slot_map: SlotMap, moves: tuple[Move, ...]) -> SlotMap:
    """The slot map after ``moves``, checking that each move leaves the slot's owner of the moment."""
    owner = {s: o for a, b, o in slot_map.ranges for s in range(a, b + 1)}
    assert len({m.slot for m in moves}) == len(moves), "a slot planned twice"
    for move in moves:
        assert owner[move.slot] == move.source != move.target, move
        owner[move.slot] = move.target
    spans: list[tuple[int, int, str]] = []
    for slot in sorted(owner):
        if spans and spans[-1][2] == owner[slot] and spans[-1][1] + 1 == slot:
            spans[-1] = (spans[-1][0], slot, owner[slot])
        else:
            spans.append((slot, slot, owner[slot]))
    return SlotMap(tuple(spans))


def ranges(slot_map: SlotMap) -> Counter[str]:
    return Counter(owner for _, _, owner in slot_map.ranges)


def load(slot_map: SlotMap, weight: dict[int, float] | None = None) -> Counter[str]:
    counts: Counter[str] = Counter()
    for a, b, owner in slot_map.ranges:
        counts[owner] += sum(1 if weight is None else weight.get(s, 0) for s in range(a, b + 1))
    return counts


def runs(moves: tuple[Move, ...]) -> Counter[tuple[str, str]]:
    """Contiguous runs per (source, target) pair."""
    found: Counter[tuple[str, str]] = Counter()
    by_pair: dict[tuple[str, str], list[int]] = {}
    for move in moves:
        by_pair.setdefault((move.source, move.target), []).append(move.slot)
    for pair, slots in by_pair.items():
        slots.sort()
        found[pair] = 1 + sum(1 for x, y in zip(slots, slots[1:], strict=False) if y != x + 1)
    return found


def within(counts: Counter[str], masters: list[str], pct: float) -> bool:
    share = sum(counts.values()) / len(masters)
    return all(abs(counts[m] - share) <= share * pct / 100 for m in masters)


def test_draining_a_middle_master_gives_each_target_one_or_two_runs() -> None:
    # d owns 5461..9000 between a and b: a takes the run next to its range, b the one next to its own
    four = SlotMap(((0, 5460, "a"), (5461, 9000, "d"), (9001, 12000, "b"), (12001, 16383, "c")))
    moves = plan_rebalance(four, ["a", "b", "c"], threshold_pct=100.0)
    after = apply(four, moves)
    assert load(after)["d"] == 0
    assert all(n <= 2 for n in runs(moves).values()), runs(moves)
    assert len(after.ranges) <= 2 * 3 + 2, after.ranges
    assert after.owner(5461) == "a" and after.owner(9000) == "b"  # the ends next to a and b merged into them


def test_scale_three_to_four_and_back_leaves_a_few_ranges_per_master() -> None:
    # the round-robin drain used to leave each master ~1339 ranges (0-4123,4126,4129,...)
    four = apply(THREE, plan_rebalance(THREE, ["a", "b", "c", "d"], threshold_pct=2.0))
    assert within(load(four), ["a", "b", "c", "d"], 2.0), load(four)
    assert max(ranges(four).values()) <= 3, ranges(four)
    back = apply(four, plan_rebalance(four, ["a", "b", "c"], threshold_pct=2.0))
    assert load(back)["d"] == 0 and within(load(back), ["a", "b", "c"], 2.0), load(back)
    assert max(ranges(back).values()) <= 2, back.ranges


@pytest.mark.parametrize("size", [4, 5, 7])
def test_scale_out_and_in_by_several_masters_stays_contiguous(size: int) -> None:
    grown = [*"abc", *"defg"[:size - 3]]
    out = plan_rebalance(THREE, grown, threshold_pct=2.0)
    wide = apply(THREE, out)
    assert within(load(wide), grown, 2.0), load(wide)
    assert len(wide.ranges) <= 2 * size, wide.ranges
    assert all(n == 1 for n in runs(out).values()), runs(out)  # one run per (source, target) pair
    shrunk = apply(wide, plan_rebalance(wide, ["a", "b", "c"], threshold_pct=2.0))
    assert within(load(shrunk), ["a", "b", "c"], 2.0), load(shrunk)
    assert max(ranges(shrunk).values()) <= 1 + (size - 3), shrunk.ranges  # at most a run per leaving master


def test_remove_node_drain_of_a_fragmented_master_merges_into_its_neighbours() -> None:
    # every slot of d sits between slots of a: handing each to a mends the map instead of splintering it further
    spans = [(0, 999, "a")] + [(s, s, "d" if s % 2 else "a") for s in range(1000, 1400)]
    spans += [(1400, 8000, "a"), (8001, 16383, "b")]
    fragmented = SlotMap(tuple(spans))
    moves = plan_rebalance(fragmented, ["a", "b"], threshold_pct=100.0)
    after = apply(fragmented, moves)
    assert load(after)["d"] == 0
    assert len(after.ranges) < len(fragmented.ranges) and ranges(after)["a"] == 1


def test_rebalance_by_keys_stays_within_threshold_and_contiguous() -> None:
    rnd = random.Random(7)
    weight = {s: float(rnd.choice([0, 1, 1, 2, 3])) for s in range(SLOTS)}
    masters = ["a", "b", "c", "d"]
    after = apply(THREE, plan_rebalance(THREE, masters, weight, threshold_pct=2.0))
    assert within(load(after, weight), masters, 2.0), load(after, weight)
    assert len(after.ranges) <= 2 * len(masters), after.ranges


def test_rebalance_by_keys_still_prefers_a_few_heavy_slots_to_a_long_light_run() -> None:
    weight = {s: (100.0 if s < 100 else 1.0) for s in range(SLOTS)}
    moves = plan_rebalance(THREE, ["a", "b", "c"], weight, threshold_pct=5)
    assert within(load(apply(THREE, moves), weight), ["a", "b", "c"], 5), load(apply(THREE, moves), weight)
    assert len(moves) < 200 and all(n == 1 for n in runs(moves).values())


def test_plan_order_still_interleaves_sources_and_waves_stay_whole_runs() -> None:
    five = apply(THREE, plan_rebalance(THREE, [*"abcde"]))
    moves = plan_rebalance(five, ["a", "b", "c"])
    assert len({m.source for m in moves[:2]}) == 2  # round-robin over the two drained masters
    for wave in waves(moves, 64):
        assert {(m.source, m.target) for m in wave} == {(wave[0].source, wave[0].target)}
        assert [m.slot for m in wave] == list(range(wave[0].slot, wave[0].slot + len(wave)))
