"""The mover: carries out a plan of slot moves with batched MIGRATE, several slots at once, journalled.

Per slot, in the order redis-cli settled on after redirect loops (redis#7116):

1. ``CLUSTER SETSLOT s IMPORTING <source>`` on the target, then ``MIGRATING
   <target>`` on the source.  From here the source answers ``ASK`` for keys it no
   longer has, so clients find moved and new keys on the target.
2. Loop ``CLUSTER GETKEYSINSLOT s <batch>`` on the source, then one
   ``MIGRATE host port "" 0 <timeout> [REPLACE] AUTH <pw> KEYS k1..kN`` until the
   slot is empty.  MIGRATE is atomic per call on the server: the source deletes a
   key only after the target stored it, so killing *this tool* never loses or
   doubles a key.  Batches are pre-scanned with ``MEMORY USAGE`` (one Lua call
   per batch): keys above ``big_key_bytes`` go alone with a longer timeout, and
   no MIGRATE carries more than ``max_migrate_bytes``.
3. ``SETSLOT s NODE <target>`` on the target first (it stops answering ASK-only
   and owns the slot with a bumped epoch), then on the source and every other
   master, so nobody redirects back to the source.

Before the first move the cluster must have converged (see
:mod:`redisops.cluster.live`).  redis-cli runs one slot and one MIGRATE of 10
keys at a time; the round trips, not the bytes, are what make it slow.  Here
slots move in *waves*: up to ``slots_per_wave`` slots of one source/target
pair go through each step together, one pipeline per step (SETSLOT for every
slot, GETKEYSINSLOT for every slot, one MIGRATE of up to ``batch_keys`` keys per
slot, back to back on one connection), and ``waves_in_flight`` waves run at
once (interleaved over sources by the planner).

The journal (:mod:`redisops.cluster.journal`) records the plan and each slot's
start and end; resuming re-runs every unfinished slot, and each step above is
safe to repeat: "already the owner" on the target or "not the owner" on the
source means the keys are already across and only step 3 is left.

Ctrl-C (``stop`` set): no new wave starts, waves in flight finish, the journal
stays open for a resume -- no slot is left MIGRATING.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis import exceptions as rx

from redisops.address import Address
from redisops.clock import Clock, SystemClock
from redisops.cluster.asm import ASM_PROBE, Strategy, choose_strategy
from redisops.cluster.atomic import run_atomic, slot_owners
from redisops.cluster.errors import BusyKeyError, PlanError, SlotMigrationError
from redisops.cluster.journal import Journal, read_journal
from redisops.cluster.live import ClusterView, fetch_view, wait_converged
from redisops.cluster.planner import Move
from redisops.cluster.wire import WirePool
from redisops.topology.probe import ask

__all__ = ["MoveProgress", "MoveReport", "MoverSettings", "check_strategy", "move_slots", "move_slots_sync"]

log = logging.getLogger(__name__)

#: one call per slot lists a batch of keys and their sizes: no second round trip, no key sent back and forth
#: (CLUSTER GETKEYSINSLOT and MEMORY USAGE are both allowed in scripts; the keys are local to the source)
LIST_AND_SIZE = ("local keys = redis.call('CLUSTER', 'GETKEYSINSLOT', ARGV[1], ARGV[2]) local sizes = {} "
                 "for i, k in ipairs(keys) do sizes[i] = redis.call('MEMORY', 'USAGE', k) or 0 end "
                 "return {keys, sizes}")


@dataclass(frozen=True)
class MoverSettings:
    #: keys per GETKEYSINSLOT and per MIGRATE; redis-cli uses 10, which costs a round trip per 10 keys
    batch_keys: int = 1000
    #: slots of one (source, target) pair opened, drained and closed together: each step is one
    #: pipeline for the whole wave, so a wave of 64 costs the round trips redis-cli spends on one slot
    slots_per_wave: int = 64
    #: waves moved at once: enough to keep every source busy while other waves wait on round trips
    #: (8 measured fastest for 3 sources on a 2-core machine, bench/rebalance.py)
    waves_in_flight: int = 8
    #: MIGRATE timeout for ordinary batches (redis-cli: 60 s)
    migrate_timeout_ms: int = 60_000
    #: keys above this (MEMORY USAGE) move alone, with ``big_key_timeout_ms``
    big_key_bytes: int = 8 * 1024 * 1024
    big_key_timeout_ms: int = 600_000
    #: no single MIGRATE above this many bytes (a 300 MB hash still moves, alone)
    max_migrate_bytes: int = 64 * 1024 * 1024
    prescan: bool = True
    #: overwrite keys the target already holds with different values (redis-cli --cluster-replace)
    replace: bool = False
    max_keys_per_s: float | None = None
    max_bytes_per_s: float | None = None
    #: seconds to wait for gossip to settle before the first move
    converge_timeout: float = 30.0
    #: "auto": atomic slot migration when every master has it (Valkey >= 9.0), else MIGRATE batches;
    #: "migrate": always MIGRATE batches; "atomic": atomic or refuse
    strategy: str = "auto"
    #: slots per CLUSTER MIGRATESLOTS job: each job forks the source once to snapshot its slots, so fewer,
    #: larger jobs are faster (1M keys 3 -> 4 on Valkey 9.1: 0.6 s at 2048 or 4096, 1.0 s at 1024, 1.1 s at 256)
    #: while smaller ones report progress and honour Ctrl-C sooner
    atomic_slots_per_job: int = 2048


@dataclass(frozen=True)
class MoveProgress:
    slots_done: int
    slots_total: int
    keys_moved: int
    keys_total: int  # counted before the start; keys written meanwhile make it an estimate
    bytes_moved: int
    elapsed: float

    @property
    def keys_per_s(self) -> float:
        return self.keys_moved / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        rate = self.keys_per_s
        return max(self.keys_total - self.keys_moved, 0) / rate if rate > 0 else None


@dataclass(frozen=True)
class MoveReport:
    slots_moved: int
    slots_planned: int
    keys_moved: int
    bytes_moved: int
    seconds: float
    stopped: bool
    resumed: bool
    strategy: Strategy
    journal: str

    @property
    def keys_per_s(self) -> float:
        return self.keys_moved / self.seconds if self.seconds > 0 else 0.0

    def sentence(self) -> str:
        verb = "stopped after moving" if self.stopped else "moved"
        again = " (resumed from the journal)" if self.resumed else ""
        how = "" if self.strategy is Strategy.MIGRATE else ", by atomic slot migration"
        return (f"{verb} {self.slots_moved} of {self.slots_planned} slots, {self.keys_moved} keys in "
                f"{self.seconds:.1f} s ({self.keys_per_s:,.0f} keys/s){how}{again}")

    def to_dict(self) -> dict[str, Any]:
        return {"slots_moved": self.slots_moved, "slots_planned": self.slots_planned,
                "keys_moved": self.keys_moved, "bytes_moved": self.bytes_moved, "seconds": self.seconds,
                "keys_per_s": self.keys_per_s, "stopped": self.stopped, "resumed": self.resumed,
                "strategy": self.strategy.value, "journal": self.journal}


@dataclass
class _Throttle:
    """Keys/s and bytes/s ceilings: sleep until the average since the start is back under them."""

    clock: Clock
    keys_per_s: float | None
    bytes_per_s: float | None
    started: float = 0.0
    keys: int = 0
    bytes: int = 0

    async def take(self, keys: int, nbytes: int) -> None:
        self.keys += keys
        self.bytes += nbytes
        waits = [self.keys / self.keys_per_s if self.keys_per_s else 0.0,
                 self.bytes / self.bytes_per_s if self.bytes_per_s else 0.0]
        ahead = max(waits) - (self.clock.now() - self.started)
        if ahead > 0:
            await self.clock.asleep(ahead)


@dataclass
class _Run:
    """Everything one execution shares between its slot tasks."""

    view: ClusterView
    clients: Mapping[str, WirePool]
    settings: MoverSettings
    journal: Journal
    throttle: _Throttle
    stop: threading.Event
    progress: Callable[[MoveProgress], None]
    clock: Clock
    password: str | None
    slots_total: int
    keys_total: int = 0
    started: float = 0.0
    slots_done: int = 0
    keys_moved: int = 0
    bytes_moved: int = 0
    keys_in_flight: int = 0  # atomic jobs: keys already on their targets, before the jobs end
    errors: list[BaseException] = field(default_factory=list)

    def report_progress(self) -> None:
        self.progress(MoveProgress(self.slots_done, self.slots_total, self.keys_moved + self.keys_in_flight,
                                   self.keys_total, self.bytes_moved, self.clock.now() - self.started))


def move_slots_sync(seeds: Sequence[Address], password: str | None, moves: Sequence[Move], journal_path: Path,
                    **options: Any) -> MoveReport:
    """:func:`move_slots` for callers without an event loop."""
    return asyncio.run(move_slots(seeds, password, moves, journal_path, **options))


async def move_slots(seeds: Sequence[Address], password: str | None, moves: Sequence[Move], journal_path: Path,
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
    run = _Run(view, clients, settings, journal, _Throttle(clock, settings.max_keys_per_s, settings.max_bytes_per_s),
               stop or threading.Event(), progress, clock, password, planned, slots_done=done_before)
    try:
        run.keys_total = await _count_keys(clients, todo)
        run.started = run.throttle.started = clock.now()
        if strategy is Strategy.VALKEY_ASM:
            await _run_atomic(run, todo)
        else:
            await _run_all(run, await _prime(run, todo))
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


def _clients(view: ClusterView, password: str | None, settings: MoverSettings) -> dict[str, WirePool]:
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


async def check_strategy(seeds: Sequence[Address], password: str | None, settings: MoverSettings) -> Strategy:
    """The strategy a move would use now; raises :class:`PlanError` when ``settings`` demand one it cannot.

    For callers that want the refusal before they plan or print anything
    (``--strategy atomic`` on a cluster without it, ``--dry-run`` included).
    """
    return await _strategy(await fetch_view(seeds, password), password, settings, ())


async def _strategy(view: ClusterView, password: str | None, settings: MoverSettings,
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


async def _run_atomic(run: _Run, moves: Sequence[Move]) -> None:
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


async def _prime(run: _Run, moves: Sequence[Move]) -> list[Move]:
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


async def _run_all(run: _Run, moves: Sequence[Move]) -> None:
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


async def _pipelined(client: WirePool, commands: Sequence[Sequence[Any]]) -> list[Any]:
    """One round trip for many commands; an error reply stays in its place as an exception value."""
    return await client.call(commands) if commands else []


async def _move_wave(run: _Run, wave: Sequence[Move]) -> None:
    """Open every slot of the wave, drain them together, then close them together."""
    source, target = wave[0].source, wave[0].target
    for move in wave:
        run.journal.slot(move.slot, "started")
    opened = await _open(run, wave)
    pending = [m.slot for m in wave if m.slot in opened]
    while pending:  # until GETKEYSINSLOT finds every slot of the wave empty
        batches, sizes = await _list_keys(run, Move(pending[0], source, target), pending)
        await _migrate_batches(run, Move(pending[0], source, target), batches, sizes)
        pending = list(batches)
    await _close(run, wave)
    for move in wave:
        run.journal.slot(move.slot, "done")
    run.slots_done += len(wave)
    run.report_progress()


def _check(reply: Any, slot: int, source: str, target: str) -> bool:
    """A pipelined reply: True when it holds something, raise when it is an error."""
    if isinstance(reply, Exception):
        raise SlotMigrationError(slot, source, target, str(reply)) from reply
    return bool(reply)


async def _open(run: _Run, wave: Sequence[Move]) -> set[int]:
    """SETSLOT IMPORTING on the target, then MIGRATING on the source; returns the slots opened.

    A slot the target already owns, or the source no longer owns, is a resumed
    one whose keys are already across: it only needs closing.
    """
    source, target = wave[0].source, wave[0].target
    importing = await _pipelined(run.clients[target], [("CLUSTER", "SETSLOT", m.slot, "IMPORTING", source)
                                                       for m in wave])
    todo = [m.slot for m, r in zip(wave, importing, strict=True) if not _already(r, "already the owner", m)]
    migrating = await _pipelined(run.clients[source], [("CLUSTER", "SETSLOT", s, "MIGRATING", target)
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


async def _close(run: _Run, wave: Sequence[Move]) -> None:
    """SETSLOT NODE on the target first, then on the source and every other master at once.

    The source refuses while it still holds keys of the slot ("still hold keys"),
    the last guard against handing over a slot that is not empty.  Other masters
    that fail are only logged: the target's bumped epoch reaches them by gossip.
    """
    target = wave[0].target
    commands = [("CLUSTER", "SETSLOT", m.slot, "NODE", target) for m in wave]
    for move, reply in zip(wave, await _pipelined(run.clients[target], commands), strict=True):
        _check(True if not isinstance(reply, Exception) else reply, move.slot, move.source, target)
    others = [(i, c) for i, c in run.clients.items() if i != target]
    replies = await asyncio.gather(*(_pipelined(c, commands) for _, c in others))
    for (node, _), node_replies in zip(others, replies, strict=True):
        for move, reply in zip(wave, node_replies, strict=True):
            if not isinstance(reply, Exception) or "only with masters" in str(reply):
                continue
            if node == move.source:
                raise SlotMigrationError(move.slot, move.source, move.target, str(reply))
            log.warning("slot %d: SETSLOT NODE on %s failed (%s); gossip will tell it", move.slot, node, reply)


async def _migrate_batches(run: _Run, first: Move, batches: Mapping[int, list[bytes]],
                           sizes: Mapping[bytes, int]) -> None:
    """Every slot's MIGRATE groups in one pipeline; big keys alone, after, with their long timeout."""
    plain: list[tuple[int, list[bytes]]] = []
    big: list[tuple[int, list[bytes], int]] = []
    for slot, keys in batches.items():
        for group, timeout in _groups(keys, sizes, run.settings):
            if timeout == run.settings.migrate_timeout_ms:
                plain.append((slot, group))
            else:
                big.append((slot, group, timeout))
    nbytes = sum(sizes.get(k, 0) for keys in batches.values() for k in keys)
    await run.throttle.take(sum(len(k) for k in batches.values()), nbytes)
    commands = [_migrate_command(run, first.target, group, run.settings.migrate_timeout_ms, run.settings.replace)
                for _, group in plain]
    replies = await _pipelined(run.clients[first.source], commands)
    for (slot, group), reply in zip(plain, replies, strict=True):
        if isinstance(reply, Exception):
            await _migrate_failed(run, Move(slot, first.source, first.target), group, reply,
                                  run.settings.migrate_timeout_ms)
    for slot, group, timeout in big:
        await _migrate(run, Move(slot, first.source, first.target), group, timeout, run.settings.replace)
    run.keys_moved += sum(len(k) for k in batches.values())
    run.bytes_moved += nbytes
    run.report_progress()


async def _list_keys(run: _Run, first: Move, slots: Sequence[int]) -> tuple[dict[int, list[bytes]],
                                                                              dict[bytes, int]]:
    """Up to ``batch_keys`` keys of each slot that still has some, and their sizes when pre-scanning.

    A slot whose script call fails (scripting disabled by ACL, a key expiring
    in between) is listed again with a plain GETKEYSINSLOT and moves unsized.
    """
    client, batch = run.clients[first.source], run.settings.batch_keys
    sizes: dict[bytes, int] = {}
    batches: dict[int, list[bytes]] = {}
    plain = list(slots)
    if run.settings.prescan:
        replies = await _pipelined(client, [("EVAL", LIST_AND_SIZE, 0, s, batch) for s in slots])
        plain = [s for s, r in zip(slots, replies, strict=True) if isinstance(r, Exception)]
        for slot, reply in zip(slots, replies, strict=True):
            if not isinstance(reply, Exception) and reply[0]:
                batches[slot] = list(reply[0])
                sizes.update(zip(reply[0], (int(n) for n in reply[1]), strict=True))
    listed = await _pipelined(client, [("CLUSTER", "GETKEYSINSLOT", s, batch) for s in plain])
    for slot, keys in zip(plain, listed, strict=True):
        if _check(keys, slot, first.source, first.target):
            batches[slot] = list(keys)
    return batches, sizes


def _groups(keys: list[bytes], sizes: Mapping[bytes, int],
            settings: MoverSettings) -> list[tuple[list[bytes], int]]:
    """Big keys alone (long timeout); the rest in runs under ``max_migrate_bytes``."""
    groups: list[tuple[list[bytes], int]] = []
    current: list[bytes] = []
    current_bytes = 0
    for key in keys:
        size = sizes.get(key, 0)
        if size > settings.big_key_bytes:
            groups.append(([key], settings.big_key_timeout_ms))
            continue
        if current and current_bytes + size > settings.max_migrate_bytes:
            groups.append((current, settings.migrate_timeout_ms))
            current, current_bytes = [], 0
        current.append(key)
        current_bytes += size
    if current:
        groups.append((current, settings.migrate_timeout_ms))
    return groups


def _migrate_command(run: _Run, target_id: str, keys: list[bytes], timeout_ms: int, replace: bool) -> list[Any]:
    target = run.view.address(target_id)
    args: list[Any] = ["MIGRATE", target.host, target.port, "", 0, timeout_ms]
    if replace:
        args.append("REPLACE")
    if run.password:
        args += ["AUTH", run.password]
    return [*args, "KEYS", *keys]


async def _migrate(run: _Run, move: Move, keys: list[bytes], timeout_ms: int, replace: bool) -> None:
    (reply,) = await run.clients[move.source].call([_migrate_command(run, move.target, keys, timeout_ms, replace)])
    if isinstance(reply, Exception):
        await _migrate_failed(run, move, keys, reply, timeout_ms, replace)


async def _migrate_failed(run: _Run, move: Move, keys: list[bytes], exc: Exception, timeout_ms: int,
                          replace: bool = False) -> None:
    """BUSYKEY is handled as redis-cli does; anything else fails the slot."""
    if not str(exc).startswith("BUSYKEY") or replace:
        raise SlotMigrationError(move.slot, move.source, move.target, str(exc),
                                 retryable="IOERR" in str(exc)) from exc
    if run.settings.replace or await _same_values(run, move, keys):
        await _migrate(run, move, keys, timeout_ms, replace=True)
        return
    raise BusyKeyError(move.slot, str(run.view.address(move.source)), str(run.view.address(move.target)), keys)


async def _same_values(run: _Run, move: Move, keys: list[bytes]) -> bool:
    """Digests on both sides; False when DEBUG is disabled (the default since 7.0), so we cannot tell."""
    (source,) = await run.clients[move.source].call([("DEBUG", "DIGEST-VALUE", *keys)])
    _, target = await run.clients[move.target].call([("ASKING",), ("DEBUG", "DIGEST-VALUE", *keys)])
    if isinstance(source, Exception) or isinstance(target, Exception):
        return False
    missing = b"0" * 40
    return all(s == t or t == missing for s, t in zip(source, target, strict=True))
