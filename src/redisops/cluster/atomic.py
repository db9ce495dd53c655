"""Valkey's Atomic Slot Migration as the mover's executor: the server moves whole slot ranges.

``CLUSTER MIGRATESLOTS SLOTSRANGE a b [a b ...] NODE <target>`` sent to the
source starts one *job*: the source snapshots those slots (a fork, as for
BGSAVE), streams them and then the writes made meanwhile to the target, pauses
writes to them for a moment and hands ownership over.  Clients never see ASK:
until the hand-over the source serves the slots, afterwards they get MOVED.
``CLUSTER GETSLOTMIGRATIONS`` reports each job's state; ``success``,
``failed`` and ``cancelled`` are final, and a job that did not succeed leaves
the source owning its slots (the target drops what it received).

Jobs here are a (source, target) pair's slots in runs of at most
``slots_per_job``; one job per source at a time (each one forks the source),
every source at once.

Resuming works as with the MIGRATE loop, with the cluster as the record.  The
journal marks a job's slots *started* before MIGRATESLOTS and *done* only once
the source has given them up and the target owns them.  A killed tool leaves
its job running on the server; the next run, per job, loops over:

1. slots the source no longer owns: the target must own them (else the plan
   is stale) -- they are done;
2. slots under an export still active on the source (ours, from before the
   kill): wait for it to end, then 1 again;
3. the rest: MIGRATESLOTS, wait for a final state, then 1 again -- a job that
   failed is started again, up to ``attempts`` times.

Ctrl-C (``stop`` set): no new job starts; jobs in flight run to their end (the
server would finish them anyway, and cancelling could hit jobs someone else
started).  See ``docs/cluster.md`` for when this path is taken.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redisops.clock import Clock
from redisops.cluster.errors import SlotMigrationError
from redisops.cluster.journal import Journal
from redisops.cluster.planner import Move
from redisops.cluster.wire import WirePool
from redisops.topology.parse import parse_cluster_slots, reply_pairs

__all__ = ["FINAL_STATES", "ServerJob", "group_jobs", "parse_server_jobs", "ranges", "run_atomic", "slot_owners"]

FINAL_STATES = frozenset({"success", "failed", "cancelled"})
#: how often a running job's keys on its target are counted for progress
PROGRESS_EVERY_S = 0.5
#: how long a finished job may take to show as ownership on both sides (the target's epoch bump is immediate,
#: the source learns it in the same hand-over; gossip is not needed for these two)
HANDOVER_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ServerJob:
    """One entry of ``CLUSTER GETSLOTMIGRATIONS``."""

    name: str
    operation: str  # EXPORT on the source, IMPORT on the target
    slots: frozenset[int]
    source: str
    target: str
    state: str
    message: str

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


def ranges(slots: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted slots as inclusive runs: ``[0, 1, 2, 7]`` -> ``[(0, 2), (7, 7)]``."""
    runs: list[tuple[int, int]] = []
    for slot in sorted(set(slots)):
        if runs and runs[-1][1] + 1 == slot:
            runs[-1] = (runs[-1][0], slot)
        else:
            runs.append((slot, slot))
    return runs


def _parse_slots(text: str) -> frozenset[int]:
    """``"0-10 20-29"`` (Valkey joins ranges with spaces); a lone slot may come without ``-``."""
    slots: set[int] = set()
    for part in text.split():
        first, _, last = part.partition("-")
        slots.update(range(int(first), int(last or first) + 1))
    return frozenset(slots)


def parse_server_jobs(reply: Any) -> list[ServerJob]:
    """Entries of ``CLUSTER GETSLOTMIGRATIONS``: RESP2 flat ``[field, value, ...]`` lists or RESP3 maps."""
    if not isinstance(reply, (list, tuple)):
        return []
    jobs = []
    for entry in reply:
        if not isinstance(entry, (dict, list, tuple)):
            continue
        fields = reply_pairs(entry)
        jobs.append(ServerJob(
            name=fields.get("name", ""), operation=fields.get("operation", "").upper(),
            slots=_parse_slots(fields.get("slot_ranges", "")), source=fields.get("source_node", ""),
            target=fields.get("target_node", ""), state=fields.get("state", ""),
            message=fields.get("message", "")))
    return jobs


@dataclass(frozen=True)
class _Job:
    source: str
    target: str
    slots: tuple[int, ...]


def group_jobs(moves: Sequence[Move], slots_per_job: int) -> dict[str, list[_Job]]:
    """Per source, its jobs in plan order: a (source, target) pair's slots, ``slots_per_job`` at most each."""
    pairs: dict[tuple[str, str], list[int]] = {}
    for move in moves:
        pairs.setdefault((move.source, move.target), []).append(move.slot)
    out: dict[str, list[_Job]] = {}
    for (source, target), slots in pairs.items():
        for i in range(0, len(slots), slots_per_job):
            out.setdefault(source, []).append(_Job(source, target, tuple(slots[i:i + slots_per_job])))
    return out


@dataclass
class _Context:
    clients: Mapping[str, WirePool]
    journal: Journal
    stop: threading.Event
    clock: Clock
    on_done: Callable[[Sequence[int], int, int], None]
    attempts: int
    on_partial: Callable[[int], None] = lambda _keys: None
    failed: bool = False
    #: keys each running job has landed on its target so far (progress between job ends)
    partial: dict[tuple[str, int], int] = field(default_factory=dict)


async def run_atomic(moves: Sequence[Move], clients: Mapping[str, WirePool], journal: Journal, *,
                     stop: threading.Event, clock: Clock, on_done: Callable[[Sequence[int], int, int], None],
                     on_partial: Callable[[int], None] = lambda _keys: None,
                     slots_per_job: int = 2048, attempts: int = 3) -> None:
    """Move every slot of ``moves`` with MIGRATESLOTS jobs; ``on_done(slots, keys, in_flight)`` after each
    job (``in_flight``: what the other running jobs have landed so far, as ``on_partial`` gives it).

    ``on_partial(keys)``: while jobs run, about every :data:`PROGRESS_EVERY_S`,
    the keys they have landed on their targets so far (the target counts a
    slot's keys during the import already; its DBSIZE does not).

    Raises :class:`SlotMigrationError` for a job that kept failing (other
    sources finish the job they are in first; the journal keeps the rest).
    """
    context = _Context(clients, journal, stop, clock, on_done, attempts, on_partial)
    per_source = group_jobs(moves, slots_per_job)
    results = await asyncio.gather(*(_source_loop(context, jobs) for jobs in per_source.values()),
                                   return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def _source_loop(context: _Context, jobs: Sequence[_Job]) -> None:
    for job in jobs:
        if context.stop.is_set() or context.failed:
            return
        try:
            await _run_job(context, job)
        except BaseException:
            context.failed = True
            raise


async def _run_job(context: _Context, job: _Job) -> None:
    for slot in job.slots:
        context.journal.slot(slot, "started")
    left = set(job.slots)
    # counted before the move, for progress (keys written meanwhile make it an estimate, as in the MIGRATE loop)
    counts = dict(zip(job.slots, await context.clients[job.source].call(
        [("CLUSTER", "COUNTKEYSINSLOT", s) for s in job.slots]), strict=True))
    tries = 0
    last_error = ""
    while True:
        left = await _settle(context, job, left, counts)
        if not left:
            return
        active = [j for j in await _server_jobs(context.clients[job.source])
                  if j.operation == "EXPORT" and not j.final and j.slots & left]
        if active:  # a job from before a restart of this tool: the server is still on it
            await _wait_final(context, job, {j.name for j in active})
            continue
        if tries >= context.attempts:
            raise SlotMigrationError(min(left), job.source, job.target,
                                     f"atomic slot migration did not succeed in {tries} attempts ({last_error})",
                                     retryable=True)
        tries += 1
        last_error = await _start_and_wait(context, job, left)


async def _start_and_wait(context: _Context, job: _Job, slots: set[int]) -> str:
    """MIGRATESLOTS for ``slots``; waits for its final state and returns its message when it did not succeed."""
    client = context.clients[job.source]
    before = {j.name for j in await _server_jobs(client)}
    command: list[Any] = ["CLUSTER", "MIGRATESLOTS", "SLOTSRANGE"]
    for first, last in ranges(slots):
        command += [first, last]
    (reply,) = await client.call([(*command, "NODE", job.target)])
    if isinstance(reply, Exception):
        text = str(reply)
        if "already migrating" in text or "not served" in text:
            return text  # another job holds some of them, or they moved meanwhile: _settle sorts it out
        raise SlotMigrationError(min(slots), job.source, job.target, text, retryable=False,
                                 hint="run `redisops cluster check`")
    ours: set[str] = set()
    deadline = context.clock.now() + 5.0
    while not ours and context.clock.now() < deadline:
        ours = {j.name for j in await _server_jobs(client)
                if j.operation == "EXPORT" and j.name not in before and j.target == job.target and j.slots & slots}
        if not ours:
            await context.clock.asleep(0.02)
    return await _wait_final(context, job, ours)


async def _wait_final(context: _Context, job: _Job, names: set[str]) -> str:
    """Poll the source until every job in ``names`` is final (or gone from its log); their failure messages."""
    client = context.clients[job.source]
    pause = 0.02
    counted = context.clock.now()
    while True:
        jobs = {j.name: j for j in await _server_jobs(client) if j.name in names}
        if all(j.final for j in jobs.values()):
            return "; ".join(f"{j.state}: {j.message}" if j.message else j.state
                             for j in jobs.values() if j.state != "success")
        if context.clock.now() - counted >= PROGRESS_EVERY_S:
            counted = context.clock.now()
            await _count_landed(context, job)
        await context.clock.asleep(pause)
        pause = min(pause * 1.5, 0.5)


async def _count_landed(context: _Context, job: _Job) -> None:
    replies = await context.clients[job.target].call([("CLUSTER", "COUNTKEYSINSLOT", s) for s in job.slots])
    context.partial[_key(job)] = sum(n for n in replies if isinstance(n, int))
    context.on_partial(sum(context.partial.values()))


def _key(job: _Job) -> tuple[str, int]:
    return job.source, job.slots[0]


async def _settle(context: _Context, job: _Job, left: set[int], counts: Mapping[int, Any]) -> set[int]:
    """Slots of ``left`` the source has handed to the target are journalled done; returns those still to move."""
    deadline = context.clock.now() + HANDOVER_TIMEOUT_S
    while True:
        on_source = await slot_owners(context.clients[job.source], left)
        gone = {s for s in left if on_source.get(s) != job.source}
        if not gone:
            return left
        on_target = await slot_owners(context.clients[job.target], gone)
        moved = sorted(s for s in gone if on_target.get(s) == job.target)
        if moved:
            for slot in moved:
                context.journal.slot(slot, "done")
            if len(moved) == len(left):  # the whole job is across: its keys are moved, no longer in flight
                context.partial.pop(_key(job), None)
            context.on_done(moved, sum(n for s in moved if isinstance(n := counts.get(s), int)),
                            sum(context.partial.values()))
            left = left - set(moved)
        if len(moved) == len(gone):
            return left
        if context.clock.now() > deadline:
            stray = min(gone - set(moved))
            raise SlotMigrationError(stray, job.source, job.target, "neither the source nor the target owns it",
                                     retryable=False, hint="the plan is stale: run `redisops cluster check`")
        await context.clock.asleep(0.1)


async def slot_owners(client: WirePool, slots: Iterable[int]) -> dict[int, str]:
    """Who ``client``'s node says owns each of ``slots`` (CLUSTER SLOTS)."""
    wanted = set(slots)
    (reply,) = await client.call([("CLUSTER", "SLOTS")])
    if isinstance(reply, Exception):
        raise reply
    slot_map = parse_cluster_slots(reply)
    return {s: owner for s in wanted if (owner := slot_map.owner(s)) is not None}


async def _server_jobs(client: WirePool) -> list[ServerJob]:
    (reply,) = await client.call([("CLUSTER", "GETSLOTMIGRATIONS")])
    if isinstance(reply, Exception):
        raise reply
    return parse_server_jobs(reply)
