"""``cluster fix`` decisions per slot (pure): close, finish, assign, or refuse."""

from __future__ import annotations

import pytest

from redisops.cluster.errors import PlanError
from redisops.cluster.fix import SlotRepair, repair_for
from redisops.cluster.live import OpenSlot

S, T, U = "s" * 40, "t" * 40, "u" * 40
MASTERS = {S: 5461, T: 5461, U: 5462}
BOTH = [OpenSlot(S, 7, "migrating", T), OpenSlot(T, 7, "importing", S)]


@pytest.mark.parametrize(("markers", "holders", "expected"), [
    ([OpenSlot(S, 7, "migrating", T)], {S: 3}, SlotRepair(7, "close", None, "keys only on the owner")),
    ([OpenSlot(T, 7, "importing", S)], {S: 3, T: 0}, SlotRepair(7, "close", None, "keys only on the owner")),
    (BOTH, {S: 3}, SlotRepair(7, "close", None, "keys only on the owner")),
    (BOTH, {S: 2, T: 1}, SlotRepair(7, "finish", T, "keys on both sides of an interrupted move")),
    ([OpenSlot(T, 7, "importing", S)], {S: 0, T: 4},
     SlotRepair(7, "finish", T, "keys on both sides of an interrupted move")),
])
def test_open_slot_repairs(markers: list[OpenSlot], holders: dict[str, int], expected: SlotRepair) -> None:
    assert repair_for(7, S, markers, holders, MASTERS) == expected


def test_keys_on_two_other_masters_are_refused() -> None:
    with pytest.raises(PlanError, match="refusing to merge"):
        repair_for(7, S, BOTH, {S: 1, T: 1, U: 1}, MASTERS)


def test_keys_on_an_unrelated_master_are_refused() -> None:
    with pytest.raises(PlanError, match="refusing to merge"):
        repair_for(7, S, [OpenSlot(S, 7, "migrating", T)], {U: 2}, MASTERS)


def test_uncovered_slots_go_to_the_keys_or_to_the_emptiest_master() -> None:
    assert repair_for(7, None, [], {U: 5}, MASTERS).node == U
    assert repair_for(7, None, [], {}, MASTERS).node == S
    with pytest.raises(PlanError, match="uncovered"):
        repair_for(7, None, [], {S: 1, U: 1}, MASTERS)


def test_refusals_say_what_force_would_do() -> None:
    with pytest.raises(PlanError, match=r"--force merges them into the owner; on a name clash the owner's copy is kept"):
        repair_for(7, S, [], {S: 1, T: 1, U: 1}, MASTERS)
    with pytest.raises(PlanError, match=r"--force gives it to uuuuuuuuuu, which holds most") as refused:
        repair_for(7, None, [], {S: 1, U: 2}, MASTERS)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(("markers", "holders", "sources"), [
    (BOTH, {S: 1, T: 1, U: 1}, (T, U)),  # a move to T, and stray keys on U
    ([OpenSlot(S, 7, "migrating", T)], {U: 2}, (U,)),  # keys on a master the move has nothing to do with
    ([OpenSlot(T, 7, "importing", S), OpenSlot(U, 7, "importing", S)], {T: 1, U: 3}, (T, U)),
])
def test_force_merges_every_other_copy_into_the_owner(markers: list[OpenSlot], holders: dict[str, int],
                                                     sources: tuple[str, ...]) -> None:
    repair = repair_for(7, S, markers, holders, MASTERS, force=True)
    assert (repair.action, repair.node, repair.sources) == ("merge", S, sources)
    assert (repair.merged, repair.dropped, repair.dropped_keys) == (0, 0, ())


def test_force_leaves_the_safe_repairs_alone() -> None:
    assert repair_for(7, S, BOTH, {S: 2, T: 1}, MASTERS, force=True).action == "finish"
    assert repair_for(7, S, BOTH, {S: 2}, MASTERS, force=True).action == "close"
    assert repair_for(7, None, [], {U: 5}, MASTERS, force=True) == SlotRepair(7, "assign", U,
                                                                              "the master holding its keys")


def test_force_gives_an_uncovered_slot_to_the_master_holding_most_keys() -> None:
    repair = repair_for(7, None, [], {S: 1, T: 4, U: 2}, MASTERS, force=True)
    assert (repair.action, repair.node, repair.sources) == ("merge", T, (S, U))
    # a tie goes to the master owning fewest slots, then to the smallest id
    assert repair_for(7, None, [], {T: 2, U: 2}, {S: 10, T: 9, U: 8}, force=True).node == U
    assert repair_for(7, None, [], {S: 2, T: 2, U: 1}, MASTERS, force=True).node == S
