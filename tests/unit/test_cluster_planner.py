"""The planner: reshard and rebalance plans from a slot map and per-slot weights (pure)."""

from __future__ import annotations

from collections import Counter

import pytest

from redisops.cluster.errors import PlanError
from redisops.cluster.mover import waves
from redisops.cluster.planner import Move, interleave, plan_rebalance, plan_reshard
from redisops.topology.model import SlotMap

THREE = SlotMap(((0, 5460, "a"), (5461, 10922, "b"), (10923, 16383, "c")))


def load(slot_map: SlotMap, moves: tuple[Move, ...], weight: dict[int, float] | None = None) -> Counter[str]:
    owner = {s: o for a, b, o in slot_map.ranges for s in range(a, b + 1)}
    for move in moves:
        assert owner[move.slot] == move.source, move
        owner[move.slot] = move.target
    counts: Counter[str] = Counter()
    for slot, master in owner.items():
        counts[master] += 1 if weight is None else weight.get(slot, 0)
    return counts


def test_reshard_takes_the_top_slots_of_the_source() -> None:
    moves = plan_reshard(THREE, "a", "c", 3)
    assert moves == (Move(5458, "a", "c"), Move(5459, "a", "c"), Move(5460, "a", "c"))


@pytest.mark.parametrize(("source", "target", "count", "message"), [
    ("a", "a", 1, "same node"), ("a", "c", 0, "owns 5461"), ("a", "c", 5462, "owns 5461")])
def test_reshard_refuses_impossible_plans(source: str, target: str, count: int, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        plan_reshard(THREE, source, target, count)


def test_scale_out_by_slots_gives_the_new_master_a_quarter_within_threshold() -> None:
    moves = plan_rebalance(THREE, ["a", "b", "c", "d"], threshold_pct=2.0)
    counts = load(THREE, moves)
    assert all(abs(n - 4096) <= 4096 * 0.02 for n in counts.values()), counts
    assert {m.target for m in moves} == {"d"}
    assert [m.source for m in moves[:3]] == ["a", "b", "c"]  # interleaved over sources


def test_balanced_cluster_needs_no_moves() -> None:
    assert plan_rebalance(THREE, ["a", "b", "c"]) == ()


def test_rebalance_by_keys_moves_few_heavy_slots_instead_of_many_light_ones() -> None:
    weight = {s: (100.0 if s < 100 else 1.0) for s in range(16384)}
    moves = plan_rebalance(THREE, ["a", "b", "c"], weight, threshold_pct=5)
    counts = load(THREE, moves, weight)
    share = sum(counts.values()) / 3
    assert all(abs(n - share) <= share * 0.05 for n in counts.values()), counts
    assert len(moves) < 200  # slot-count balancing would move none, key balancing a handful of heavy slots


def test_masters_left_out_are_drained() -> None:
    moves = plan_rebalance(THREE, ["a", "b"])
    counts = load(THREE, moves)
    assert counts["c"] == 0 and abs(counts["a"] - counts["b"]) <= 1


def test_empty_cluster_by_keys_has_nothing_to_balance() -> None:
    assert plan_rebalance(THREE, ["a", "b", "c", "d"], weight={}) == ()


def test_interleave_round_robins_sources() -> None:
    moves = [Move(1, "a", "d"), Move(2, "a", "d"), Move(3, "b", "d"), Move(4, "b", "d")]
    assert [m.slot for m in interleave(moves)] == [1, 3, 2, 4]


def test_waves_group_one_pair_in_plan_order() -> None:
    moves = interleave([Move(s, "a", "d") for s in range(5)] + [Move(s, "b", "d") for s in range(10, 13)])
    got = waves(moves, 2)
    assert got == [(Move(0, "a", "d"), Move(1, "a", "d")), (Move(10, "b", "d"), Move(11, "b", "d")),
                   (Move(2, "a", "d"), Move(3, "a", "d")), (Move(12, "b", "d"),), (Move(4, "a", "d"),)]
