"""The mover: carries out a plan of slot moves, several slots at once, journalled; a killed run resumes.

Two ways to move a slot, chosen per run (:func:`check_strategy`):

* MIGRATE batches, the protocol redis-cli uses, in *waves* of many slots per
  step (:mod:`redisops.cluster.waves` for the SETSLOT steps,
  :mod:`redisops.cluster.migrate` for draining the keys).  redis-cli runs one
  slot and one MIGRATE of 10 keys at a time; the round trips, not the bytes,
  are what make it slow;
* atomic slot migration where every node has it (Valkey >= 9.0,
  :mod:`redisops.cluster.atomic`): the server moves whole ranges itself.

Before the first move the cluster must have converged (see
:mod:`redisops.cluster.live`), and again after the last, so that "done" means
every node agrees.  The journal (:mod:`redisops.cluster.journal`) records the
plan and each slot's start and end; running again with the same journal
finishes the unfinished plan (it wins over the moves passed), and every step
of either way is safe to repeat.  Progress and the report are
:mod:`redisops.cluster.move_run`'s.

Ctrl-C (``stop`` set): no new wave starts, waves in flight finish, the journal
stays open for a resume -- no slot is left MIGRATING.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from redis import exceptions as rx

from redisops.address import Address
from redisops.auth import Credential
from redisops.clock import Clock, SystemClock
from redisops.cluster.asm import ASM_PROBE, Strategy, choose_strategy
from redisops.cluster.atomic import run_atomic
from redisops.cluster.errors import PlanError
from redisops.cluster.journal import Journal, read_journal
from redisops.cluster.live import ClusterView, fetch_view, wait_converged
from redisops.cluster.move_run import MoveProgress, MoveReport, MoverSettings, Run, Throttle
from redisops.cluster.planner import Move
from redisops.cluster.waves import prime, run_waves, waves
from redisops.cluster.wire import WirePool
from redisops.topology.probe import ask

__all__ = ["MoveProgress", "MoveReport", "MoverSettings", "check_strategy", "move_slots", "move_slots_sync",
           "waves"]

log = logging.getLogger(__name__)


def move_slots_sync(seeds: Sequence[Address], password: Credential, moves: Sequence[Move], journal_path: Path,
                    **options: Any) -> MoveReport:
    """:func:`move_slots` for callers without an event loop."""
    return asyncio.run(move_slots(seeds, password, moves, journal_path, **options))


async def move_slots(seeds: Sequence[Address], password: Credential, moves: Sequence[Move], journal_path: Path,
                     *, settings: MoverSettings | None = None, clock: Clock | None = None,
                     progress: Callable[[MoveProgress], None] = lambda _p: None,
                     stop: threading.Event | None = None) -> MoveReport:
    """Carry out ``moves`` (or finish the unfinished plan in ``journal_path``, which wins).

    Returns what was done; raises :class:`SlotMigrationError` for a slot that
    could not move (the others in flight finish first, the journal keeps the rest).
    """
    settings = settings or MoverSettings()
    clock = clock or SystemClock()
    view = await wait_converged(seeds, password, clock, settings.converge_timeout)
    previous = read_journal(journal_path)
    resumed = previous is not None and not previous.finished
    journal = Journal(journal_path)
    if previous is not None and resumed:
        previous.check_cluster(journal_path, view.node_ids)
        todo = previous.remaining
        planned = len(previous.moves)
        done_before = len(previous.moves) - len(todo)
    else:
        _check_plan(view, moves)
        todo, planned, done_before = tuple(moves), len(moves), 0
    strategy = await _strategy(view, password, settings, todo)  # may refuse: before the journal is written
    if not resumed:
        journal.start(view.node_ids, todo)
    clients = _clients(view, password, settings)
    run = Run(view, clients, settings, journal, Throttle(clock, settings.max_keys_per_s, settings.max_bytes_per_s),
              stop or threading.Event(), progress, clock, password, planned, slots_done=done_before)
    try:
        run.keys_total = await _count_keys(clients, todo)
        run.started = run.throttle.started = clock.now()
        if strategy is Strategy.VALKEY_ASM:
            await _run_atomic(run, todo)
        else:
            await run_waves(run, await prime(run, todo))
    finally:
        journal.close()
        await asyncio.gather(*(c.close() for c in clients.values()), return_exceptions=True)
    if run.errors:
        raise run.errors[0]
    stopped = run.slots_done < planned
    if not stopped:
        journal.end()
    # SETSLOT NODE reached every master, but replicas learn by gossip: done means everyone agrees
    await wait_converged(seeds, password, clock, settings.converge_timeout)
    return MoveReport(run.slots_done - done_before, planned, run.keys_moved, run.bytes_moved,
                      clock.now() - run.started, stopped, resumed, strategy, str(journal_path))


def _clients(view: ClusterView, password: Credential, settings: MoverSettings) -> dict[str, WirePool]:
    """One pool per master; a read waits as long as the longest MIGRATE may take."""
    return {node: WirePool(a, password, settings.big_key_timeout_ms / 1000 + 30)
            for node, a in view.masters.items()}


def _check_plan(view: ClusterView, moves: Sequence[Move]) -> None:
    masters = view.masters
    for move in moves:
        for role, node in (("source", move.source), ("target", move.target)):
            if node not in masters:
                raise PlanError(f"slot {move.slot}: {role} {node[:12]} is not a reachable master of this cluster")
    planned = {m.slot for m in moves}
    stray = sorted({o.slot for o in view.open_slots} - planned)
    if stray:
        raise PlanError(f"slot {stray[0]} is open (migrating/importing) and not part of this plan",
                        hint="run `redisops cluster check` and close it first")


async def check_strategy(seeds: Sequence[Address], password: Credential, settings: MoverSettings) -> Strategy:
    """The strategy a move would use now; raises :class:`PlanError` when ``settings`` demand one it cannot.

    For callers that want the refusal before they plan or print anything
    (``--strategy atomic`` on a cluster without it, ``--dry-run`` included).
    """
    return await _strategy(await fetch_view(seeds, password), password, settings, ())


async def _strategy(view: ClusterView, password: Credential, settings: MoverSettings,
                    moves: Sequence[Move]) -> Strategy:
    """How to move: atomic slot migration where every master has it and nothing asks for MIGRATE batches.

    MIGRATE batches are kept when ``settings.strategy`` says so, when a
    throttle is set (the server paces an atomic job itself), when a slot of the
    plan is still open from a MIGRATE run (a resume finishes it the same way),
    and on Redis >= 8.4 (``CLUSTER MIGRATION``): its executor is not written
    yet, as no such server could be tested here.
    """
    if settings.strategy == "migrate":
        return Strategy.MIGRATE
    # every node that answers, replicas too: a replica left on an older version mid-upgrade could not follow
    nodes = {p.myself.id: p.node.address for p in view.reachable if p.myself is not None}
    replies: dict[str, Any] = {}
    for node, address in nodes.items():
        try:
            (replies[node],) = await ask(address, password, [ASM_PROBE], 5.0)
        except (rx.RedisError, OSError):
            replies[node] = None
    detected = choose_strategy(replies)
    planned = {m.slot for m in moves}
    reason = None
    if detected is Strategy.MIGRATE:
        reason = "not every node supports atomic slot migration (Valkey >= 9.0 CLUSTER MIGRATESLOTS)"
    elif detected is Strategy.REDIS_ASM:
        reason = "Redis' CLUSTER MIGRATION (8.4) is detected but redisops drives only Valkey's MIGRATESLOTS so far"
    elif settings.max_keys_per_s or settings.max_bytes_per_s:
        reason = "a throttle is set, and an atomic job is paced by the server, not by redisops"
    elif any(o.slot in planned for o in view.open_slots):
        reason = "slots of this plan are still open from a MIGRATE run; it is finished the same way"
    if reason is None:
        return detected
    if settings.strategy == "atomic":
        raise PlanError(f"cannot use atomic slot migration: {reason}", hint="use --strategy auto or migrate")
    if detected is not Strategy.MIGRATE:
        log.info("moving with MIGRATE batches: %s", reason)
    return Strategy.MIGRATE


async def _run_atomic(run: Run, moves: Sequence[Move]) -> None:
    """Server-side jobs (:mod:`redisops.cluster.atomic`); progress after each job."""
    def done(slots: Sequence[int], keys: int, in_flight: int) -> None:
        run.slots_done += len(slots)
        run.keys_moved += keys
        run.keys_in_flight = in_flight
        run.report_progress()

    def partial(keys: int) -> None:
        run.keys_in_flight = keys
        run.report_progress()

    try:
        await run_atomic(moves, run.clients, run.journal, stop=run.stop, clock=run.clock, on_done=done,
                         on_partial=partial, slots_per_job=run.settings.atomic_slots_per_job)
    finally:
        run.keys_in_flight = 0


async def _count_keys(clients: Mapping[str, WirePool], moves: Sequence[Move]) -> int:
    by_source: dict[str, list[int]] = {}
    for move in moves:
        by_source.setdefault(move.source, []).append(move.slot)
    total = 0
    for source, slots in by_source.items():
        replies = await clients[source].call([("CLUSTER", "COUNTKEYSINSLOT", s) for s in slots])
        total += sum(n for n in replies if isinstance(n, int))
    return total
