"""``cluster fix``: close half-migrated slots and assign uncovered ones, never dropping a key unless ``--force``.

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
* keys on several other masters (or on one with no move to or from the owner):
  refused, naming them -- merging them could overwrite one copy with another.
  With ``force`` they are *merged* into the owner (below).

An uncovered slot goes to the one master holding its keys, or when nobody holds
any to the master owning fewest slots.  Keys on several masters: refused; with
``force`` the master holding most of them (tie: fewest slots owned, then id)
gets the slot and the others are merged into it.

Merging the keys of a master M that does not own the slot into its owner O:
M answers keyed commands for the slot with MOVED, so M is first put in
``CLUSTER SETSLOT slot IMPORTING O`` (as redis-cli's fix does).  Then, checked
on redis 7.0: ``CLUSTER GETKEYSINSLOT`` needs nothing (it takes no key);
``MIGRATE`` is served locally on any node holding the slot open, without
``ASKING``; ``DEL`` needs ``ASKING`` (and a multi-key command with a missing key
gets TRYAGAIN, so keys are deleted one per command).  A multi-key MIGRATE
without ``REPLACE`` moves the keys O lacks and answers BUSYKEY for the others,
which stay on M: those clash with O's copy, the one clients read today, so M's
copy is deleted and counted as dropped.  Each pass either empties part of the
slot on M or stops with an error; M's marker is closed (``STABLE``) either way.
A node importing a slot ignores gossip about who owns it, so for an uncovered
slot the new owner is set on each source with ``SETSLOT NODE`` first, and the
merge waits for the source to say ``cluster_state:ok``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redisops.address import Address
from redisops.auth import Credential, migrate_auth
from redisops.cluster.errors import PlanError, SlotMigrationError
from redisops.cluster.live import ClusterView, OpenSlot, fetch_view
from redisops.cluster.mover import move_slots
from redisops.cluster.planner import Move
from redisops.cluster.wire import Arg, WirePool
from redisops.errors import RedisopsError
from redisops.topology.model import SLOTS

__all__ = ["SlotRepair", "fix_cluster", "fix_cluster_sync", "repair_for"]

#: keys per GETKEYSINSLOT / MIGRATE while merging (stray copies are usually few)
MERGE_BATCH = 200
MERGE_MIGRATE_TIMEOUT_MS = 10_000
#: how long a merge source may take to say cluster_state:ok after an uncovered slot got its owner
STATE_OK_WAIT_S = 10.0
#: dropped key names kept in a repair (the count is always complete)
DROPPED_SHOWN = 5

_FORCE_KEEPS = "on a name clash the owner's copy is kept and the other dropped"


@dataclass(frozen=True)
class SlotRepair:
    slot: int
    action: str  # "close" | "finish" | "assign" | "merge"
    node: str | None = None  # finish: the target; assign: the new owner; merge: the owner merged into
    why: str = ""
    sources: tuple[str, ...] = ()  # merge: the masters whose keys go to ``node``
    merged: int = 0  # merge, once done: keys moved to ``node``
    dropped: int = 0  # merge, once done: keys deleted because ``node`` holds the same name
    dropped_keys: tuple[str, ...] = ()  # the first DROPPED_SHOWN of them

    def to_dict(self) -> dict[str, Any]:
        return {"slot": self.slot, "action": self.action, "node": self.node, "why": self.why,
                "sources": list(self.sources), "merged": self.merged, "dropped": self.dropped,
                "dropped_keys": list(self.dropped_keys)}


def _masters(n: int) -> str:
    return f"{n} master{'s' if n != 1 else ''}"


def repair_for(slot: int, owner: str | None, markers: Sequence[OpenSlot], holders: dict[str, int],
               masters: dict[str, int], *, force: bool = False) -> SlotRepair:
    """What to do with one slot (pure). ``holders``: master -> keys in the slot; ``masters``: master -> slots owned.

    Without ``force`` a slot whose keys would have to be merged raises :class:`PlanError` (saying what
    ``force`` would do); with it the repair is a ``merge``.
    """
    others = sorted(m for m, n in holders.items() if n and m != owner)
    if owner is None:
        if len(others) > 1:
            target = min(others, key=lambda m: (-holders[m], masters.get(m, 0), m))
            if not force:
                raise PlanError(f"slot {slot} is uncovered and {len(others)} masters hold its keys; refusing to pick "
                                f"one (--force gives it to {target[:10]}, which holds most, and merges the others "
                                f"into it; {_FORCE_KEEPS})",
                                hint="inspect the keys with CLUSTER GETKEYSINSLOT on each master, or use --force")
            return SlotRepair(slot, "merge", target, f"uncovered, keys on {len(others)} masters; the one holding most",
                              tuple(m for m in others if m != target))
        target = others[0] if others else min(masters, key=lambda m: (masters[m], m))
        return SlotRepair(slot, "assign", target, "the master holding its keys" if others else "fewest slots")
    if not others:
        return SlotRepair(slot, "close", None, "keys only on the owner")
    moving_to = {o.peer for o in markers if o.node == owner and o.state == "migrating"}
    importing = {o.node for o in markers if o.state == "importing" and o.peer == owner}
    if len(others) == 1 and others[0] in moving_to | importing:
        return SlotRepair(slot, "finish", others[0], "keys on both sides of an interrupted move")
    if not force:
        raise PlanError(f"slot {slot}: keys on {_masters(len(others))} besides its owner and no move between them; "
                        f"refusing to merge them (--force merges them into the owner; {_FORCE_KEEPS})",
                        hint="inspect the keys with CLUSTER GETKEYSINSLOT on each master, or use --force")
    return SlotRepair(slot, "merge", owner, f"keys on {_masters(len(others))} besides the owner", tuple(others))


def fix_cluster_sync(seeds: Sequence[Address], password: Credential, journal: Path, *,
                     force: bool = False) -> list[SlotRepair]:
    return asyncio.run(fix_cluster(seeds, password, journal, force=force))


async def fix_cluster(seeds: Sequence[Address], password: Credential, journal: Path, *,
                      force: bool = False) -> list[SlotRepair]:
    """Plan every repair first (so a refusal touches nothing), then carry them out.

    Merges come back with their ``merged`` / ``dropped`` counts filled in.
    """
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
                              owned, force=force) for s in slots]
        for r in repairs:
            if r.action == "merge" and r.node not in pools:
                raise PlanError(f"slot {r.slot}: cannot merge into {r.node}, it does not answer as a master",
                                hint="run `redisops cluster check` and bring that master back first")
        repairs = await _apply(view, pools, password, repairs)
    finally:
        await asyncio.gather(*(p.close() for p in pools.values()))
    finishes = [Move(r.slot, view.slot_map.owner(r.slot) or "", r.node or "") for r in repairs if r.action == "finish"]
    if finishes:
        await move_slots(seeds, password, finishes, journal)
    return repairs


async def _apply(view: ClusterView, pools: dict[str, WirePool], password: Credential,
                 repairs: Sequence[SlotRepair]) -> list[SlotRepair]:
    """Closes and assignments first (an uncovered slot keeps every node in cluster_state:fail), then merges."""
    for repair in repairs:
        markers = [o for o in view.open_slots if o.slot == repair.slot]
        if repair.action == "close":
            for marker in markers:
                await pools[marker.node].call([("CLUSTER", "SETSLOT", repair.slot, "STABLE")])
        elif repair.action == "assign" and repair.node is not None:
            for marker in markers:
                await pools[marker.node].call([("CLUSTER", "SETSLOT", repair.slot, "STABLE")])
            await pools[repair.node].call([("CLUSTER", "ADDSLOTS", repair.slot)])
        elif repair.action == "merge" and repair.node is not None and view.slot_map.owner(repair.slot) is None:
            for marker in markers:
                await _checked(pools[marker.node], repair, [("CLUSTER", "SETSLOT", repair.slot, "STABLE")])
            await _checked(pools[repair.node], repair, [("CLUSTER", "ADDSLOTS", repair.slot)])
            for source in repair.sources:  # now, not by gossip: a node that later imports the slot ignores gossip
                await _checked(pools[source], repair, [("CLUSTER", "SETSLOT", repair.slot, "NODE", repair.node)])
    done: list[SlotRepair] = []
    for repair in repairs:
        if repair.action == "merge" and repair.node is not None:
            repair = await _merge_slot(view, pools, password, repair)
        done.append(repair)
    return done


async def _checked(pool: WirePool, repair: SlotRepair, commands: Sequence[Sequence[Arg]]) -> list[Any]:
    replies = await pool.call(commands)
    for command, reply in zip(commands, replies, strict=True):
        if isinstance(reply, Exception):
            raise SlotMigrationError(repair.slot, str(pool.address), repair.node or "",
                                     f"{' '.join(str(a) for a in command[:4])}: {reply}", retryable=False,
                                     hint="run `redisops cluster check`, then fix again")
    return replies


async def _merge_slot(view: ClusterView, pools: dict[str, WirePool], password: Credential,
                      repair: SlotRepair) -> SlotRepair:
    assert repair.node is not None
    merged, dropped, names = 0, 0, list[str]()
    for source in repair.sources:
        await _wait_state_ok(pools[source], repair)
        moved, gone = await _merge(view, pools, password, repair.slot, source, repair.node)
        merged, dropped = merged + moved, dropped + len(gone)
        names += [k.decode(errors="backslashreplace") for k in gone[:DROPPED_SHOWN - len(names)]]
    if view.slot_map.owner(repair.slot) is not None:  # an uncovered slot's markers were closed before ADDSLOTS
        for marker in (o for o in view.open_slots if o.slot == repair.slot):
            await _checked(pools[marker.node], repair, [("CLUSTER", "SETSLOT", repair.slot, "STABLE")])
    return dataclasses.replace(repair, merged=merged, dropped=dropped, dropped_keys=tuple(names[:DROPPED_SHOWN]))


async def _wait_state_ok(pool: WirePool, repair: SlotRepair) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STATE_OK_WAIT_S
    while True:
        (info,) = await pool.call([("CLUSTER", "INFO")])
        text = info.decode() if isinstance(info, bytes) else str(info)
        if "cluster_state:ok" in text:
            return
        if loop.time() >= deadline:
            raise SlotMigrationError(repair.slot, str(pool.address), repair.node or "",
                                     f"cannot merge: {pool.address} still says cluster_state:fail after "
                                     f"{STATE_OK_WAIT_S:.0f} s", retryable=True)
        await asyncio.sleep(0.1)


async def _merge(view: ClusterView, pools: dict[str, WirePool], password: Credential, slot: int, source: str,
                 owner: str) -> tuple[int, list[bytes]]:
    """Every key of ``slot`` on ``source`` to ``owner``; returns (keys moved, keys dropped as clashes)."""
    src, dst, target = pools[source], pools[owner], view.address(owner)
    migrate: list[Arg] = ["MIGRATE", target.host, target.port, "", 0, MERGE_MIGRATE_TIMEOUT_MS]
    if password:
        migrate += migrate_auth(password)
    repair = SlotRepair(slot, "merge", owner)
    await _checked(src, repair, [("CLUSTER", "SETSLOT", slot, "IMPORTING", owner)])
    moved, dropped = 0, list[bytes]()
    try:
        while True:  # every pass removes at least one key from the source, or raises
            (keys,) = await _checked(src, repair, [("CLUSTER", "GETKEYSINSLOT", slot, MERGE_BATCH)])
            if not keys:
                return moved, dropped
            (reply,) = await src.call([[*migrate, "KEYS", *keys]])
            left = [k for k, n in zip(keys, await _asking(src, "EXISTS", keys), strict=True) if n == 1]
            moved += len(keys) - len(left)
            clashes = [k for k, n in zip(left, await dst.call([("EXISTS", k) for k in left]), strict=True) if n == 1]
            deleted = [k for k, n in zip(clashes, await _asking(src, "DEL", clashes), strict=True) if n == 1]
            dropped += deleted
            if len(keys) - len(left) + len(deleted) == 0:  # no progress: stop rather than spin
                error = f" ({reply})" if isinstance(reply, Exception) else ""
                raise SlotMigrationError(slot, str(src.address), str(dst.address),
                                         f"merge stopped, {len(left)} keys would not move{error}", retryable=False,
                                         hint="they stay on the source, which `cluster check` reports as stray keys; "
                                              "fix the cause, then move them with CLUSTER SETSLOT IMPORTING + MIGRATE")
    finally:
        with suppress(RedisopsError, OSError, asyncio.TimeoutError):
            await _checked(src, repair, [("CLUSTER", "SETSLOT", slot, "STABLE")])


async def _asking(pool: WirePool, command: str, keys: Sequence[bytes]) -> list[Any]:
    """``command key`` per key, each after ASKING (the slot is importing here); the command replies only."""
    replies = await pool.call([c for k in keys for c in (("ASKING",), (command, k))])
    return replies[1::2]
