"""Waves: the SETSLOT protocol for many slots of one (source, target) pair at once.

Per slot, in the order redis-cli settled on after redirect loops (redis#7116):

1. ``CLUSTER SETSLOT s IMPORTING <source>`` on the target, then ``MIGRATING
   <target>`` on the source.  From here the source answers ``ASK`` for keys it no
   longer has, so clients find moved and new keys on the target.
2. drain the slot with batched MIGRATE (:mod:`redisops.cluster.migrate`).
3. ``SETSLOT s NODE <target>`` on the target first (it stops answering ASK-only
   and owns the slot with a bumped epoch), then on the source and every other
   master, so nobody redirects back to the source.

A wave takes up to ``slots_per_wave`` slots of one pair through each step
together, one pipeline per step, and ``waves_in_flight`` waves run at once.
Each step is safe to repeat on a resume: "already the owner" on the target or
"not the owner" on the source means the keys are already across and only
step 3 is left.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from redis import exceptions as rx

from redisops.cluster.atomic import slot_owners
from redisops.cluster.errors import SlotMigrationError
from redisops.cluster.migrate import check_reply, list_keys, migrate_batches, pipelined
from redisops.cluster.move_run import Run
from redisops.cluster.planner import Move

__all__ = ["prime", "run_waves", "waves"]

log = logging.getLogger(__name__)


async def prime(run: Run, moves: Sequence[Move]) -> list[Move]:
    """Give every slot-less target one slot, alone, before the waves; return the moves left.

    A master without slots is missing from ``CLUSTER SLOTS``, so clients do not
    know it, and some (redis-py up to 8.1, redis-py#4015) crash on an ASK
    redirect to an unknown node.  One slot first, the emptiest the plan gives
    it, puts the node on the map: clients that hit that slot get MOVED and learn
    the node before the waves send ASKs its way.
    """
    slotless = {m.target for m in moves} - run.view.slot_map.owners
    primers: list[Move] = []
    for target in sorted(slotless):
        primers.append(next(m for m in moves if m.target == target))
    for move in primers:
        await _move_wave(run, (move,))
    return [m for m in moves if m not in primers]


async def run_waves(run: Run, moves: Sequence[Move]) -> None:
    """``waves_in_flight`` workers take waves in plan order until none is left, a stop is asked or one fails."""
    queue = list(reversed(waves(moves, run.settings.slots_per_wave)))

    async def worker() -> None:
        while queue and not run.stop.is_set() and not run.errors:
            wave = queue.pop()
            try:
                await _move_wave(run, wave)
            except Exception as exc:  # kept for the caller; sibling waves finish theirs
                run.errors.append(_as_slot_error(wave[0], exc))

    await asyncio.gather(*(worker() for _ in range(min(run.settings.waves_in_flight, len(queue)))))


def waves(moves: Sequence[Move], size: int) -> list[tuple[Move, ...]]:
    """Consecutive moves of one (source, target) pair, at most ``size`` a wave, in plan order of first move."""
    pairs: dict[tuple[str, str], list[Move]] = {}
    for move in moves:
        pairs.setdefault((move.source, move.target), []).append(move)
    chunks = [tuple(group[i:i + size]) for group in pairs.values() for i in range(0, len(group), size)]
    order = {m.slot: i for i, m in enumerate(moves)}
    return sorted(chunks, key=lambda wave: order[wave[0].slot])


def _as_slot_error(move: Move, exc: Exception) -> SlotMigrationError:
    if isinstance(exc, SlotMigrationError):
        return exc
    retry = isinstance(exc, (rx.ConnectionError, rx.TimeoutError, OSError, asyncio.TimeoutError)) or getattr(
        exc, "retryable", False)
    error = SlotMigrationError(move.slot, move.source, move.target, f"{type(exc).__name__}: {exc}",
                               retryable=retry)
    error.__cause__ = exc
    return error


async def _move_wave(run: Run, wave: Sequence[Move]) -> None:
    """Open every slot of the wave, drain them together, then close them together."""
    source, target = wave[0].source, wave[0].target
    for move in wave:
        run.journal.slot(move.slot, "started")
    opened = await _open(run, wave)
    pending = [m.slot for m in wave if m.slot in opened]
    while pending:  # until GETKEYSINSLOT finds every slot of the wave empty
        batches, sizes = await list_keys(run, Move(pending[0], source, target), pending)
        await migrate_batches(run, Move(pending[0], source, target), batches, sizes)
        pending = list(batches)
    await _close(run, wave)
    for move in wave:
        run.journal.slot(move.slot, "done")
    run.slots_done += len(wave)
    run.report_progress()


async def _open(run: Run, wave: Sequence[Move]) -> set[int]:
    """SETSLOT IMPORTING on the target, then MIGRATING on the source; returns the slots opened.

    A slot the target already owns, or the source no longer owns, is a resumed
    one whose keys are already across: it only needs closing.
    """
    source, target = wave[0].source, wave[0].target
    importing = await pipelined(run.clients[target], [("CLUSTER", "SETSLOT", m.slot, "IMPORTING", source)
                                                       for m in wave])
    todo = [m.slot for m, r in zip(wave, importing, strict=True) if not _already(r, "already the owner", m)]
    migrating = await pipelined(run.clients[source], [("CLUSTER", "SETSLOT", s, "MIGRATING", target)
                                                       for s in todo])
    opened = set()
    for slot, reply in zip(todo, migrating, strict=True):
        if not _already(reply, "not the owner", Move(slot, source, target)):
            opened.add(slot)
        elif (await slot_owners(run.clients[target], [slot])).get(slot) != target:
            raise SlotMigrationError(slot, source, target, "the source does not own it, nor does the target",
                                     retryable=False, hint="the plan is stale: run `redisops cluster check`")
    return opened


def _already(reply: Any, expected: str, move: Move) -> bool:
    """True for the error reply ``expected`` (a step done before); other errors raise."""
    if not isinstance(reply, Exception):
        return False
    if expected in str(reply):
        return True
    raise SlotMigrationError(move.slot, move.source, move.target, str(reply)) from reply


async def _close(run: Run, wave: Sequence[Move]) -> None:
    """SETSLOT NODE on the target first, then on the source and every other master at once.

    The source refuses while it still holds keys of the slot ("still hold keys"),
    the last guard against handing over a slot that is not empty.  Other masters
    that fail are only logged: the target's bumped epoch reaches them by gossip.
    """
    target = wave[0].target
    commands = [("CLUSTER", "SETSLOT", m.slot, "NODE", target) for m in wave]
    for move, reply in zip(wave, await pipelined(run.clients[target], commands), strict=True):
        check_reply(True if not isinstance(reply, Exception) else reply, move.slot, move.source, target)
    others = [(i, c) for i, c in run.clients.items() if i != target]
    replies = await asyncio.gather(*(pipelined(c, commands) for _, c in others))
    for (node, _), node_replies in zip(others, replies, strict=True):
        for move, reply in zip(wave, node_replies, strict=True):
            if not isinstance(reply, Exception) or "only with masters" in str(reply):
                continue
            if node == move.source:
                raise SlotMigrationError(move.slot, move.source, move.target, str(reply))
            log.warning("slot %d: SETSLOT NODE on %s failed (%s); gossip will tell it", move.slot, node, reply)
