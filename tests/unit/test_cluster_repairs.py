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
