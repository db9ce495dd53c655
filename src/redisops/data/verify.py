"""Comparing two key spaces in rounds, the way RedisFullCheck does.

Round 1 scans the source: every source key is read on both (missing, type,
value, TTL); then every target key is checked for existence on the source
(extra), unless equal key counts already prove there is none (see
:func:`_full_round`).  The report's ``scanned`` counts the source's keys only,
so it means the same with or without that reverse scan.
The common case — a batch that is identical — costs one script call per side
returning one 40-byte hash of the batch's states (``batch`` mode), and one
count for the reverse direction; only a batch whose hashes differ is read key
by key.  So the client does almost nothing per key, and the nodes do the work
they are fastest at.
Differences found then may be replication still in flight, so later rounds
(``rounds``, ``interval`` apart) re-read only those keys, and a key is reported
only when it still differs in the last round.  For a replica, each round first
waits until the replica's ``slave_repl_offset`` reaches the master's
``master_repl_offset`` read at the start of that round (``catch_up``): lag is
not a difference.

A rate cap (keys per second, both sides counted once) keeps the scan from
competing with production traffic; the clock is injected so tests need not wait.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import redis

from redisops.clock import Clock, SystemClock
from redisops.data.compare import Difference, DiffKind, PairReport, classify
from redisops.data.digest import KeyState, NodeReader
from redisops.data.keyspace import KeySpace, Single, choose_mode

__all__ = ["RateCap", "VerifyOptions", "compare_spaces", "wait_caught_up"]

#: batches handed from the source's scan to the target's worker before the scan waits
PIPELINE_DEPTH = 8


@dataclass(frozen=True)
class VerifyOptions:
    #: keys per SCAN batch and per script call: the script blocks the node while it runs,
    #: and 256 keys of ordinary size take well under a millisecond
    batch: int = 256
    #: keys per second, None = unlimited
    rate: float | None = None
    #: compare rounds in all (RedisFullCheck's default ``--comparetimes`` is 3)
    rounds: int = 3
    #: seconds between rounds: long enough for in-flight writes to replicate
    interval: float = 1.0
    #: two reads of the same TTL are milliseconds apart; a restore keeps absolute expiries
    ttl_tolerance_ms: int = 2000
    #: how long a replica may take to reach the master's offset before we compare anyway
    lag_timeout: float = 30.0
    #: how many differing keys the report lists
    first: int = 20


class RateCap:
    """Sleeps just enough that ``take`` calls average at most ``rate`` keys per second."""

    def __init__(self, rate: float | None, clock: Clock) -> None:
        self.rate = rate
        self.clock = clock
        self.start = clock.now()
        self.used = 0
        self.lock = threading.Lock()  # both scan directions draw from one budget

    def take(self, keys: int) -> None:
        if not self.rate:
            return
        with self.lock:
            self.used += keys
            ahead = self.used / self.rate - (self.clock.now() - self.start)
        if ahead > 0:
            self.clock.sleep(ahead)


CatchUp = Callable[[], str | None]


def compare_spaces(source: KeySpace, target: KeySpace, options: VerifyOptions | None = None, *,
                   catch_up: CatchUp | None = None, clock: Clock | None = None) -> PairReport:
    """Compare ``target`` against ``source``; differences that persist through every round are reported."""
    options = options or VerifyOptions()
    clock = clock or SystemClock()
    mode = choose_mode(source, target)
    notes = [n for n in [catch_up() if catch_up else None] if n]
    cap = RateCap(options.rate, clock)
    found, scanned = _full_round(source, target, options, cap)
    rounds = 1
    while found and rounds < options.rounds:
        clock.sleep(options.interval)
        notes += [n for n in [catch_up() if catch_up else None] if n]
        found = _recheck([d.key for d in found], source, target, options, cap)
        rounds += 1
    ordered = tuple(sorted(found, key=lambda d: d.key))
    return PairReport(source.label, target.label, scanned, rounds, mode.value, ordered, notes=tuple(notes))


def _full_round(source: KeySpace, target: KeySpace, options: VerifyOptions,
                cap: RateCap) -> tuple[list[Difference], int]:
    """The forward scan, then the reverse scan unless counting proves it needless.

    Within the forward scan, the target's batch hash is computed in a worker
    while the source computes its own, so both nodes digest the same batch at
    the same time.  If every source key was found on the target and both
    nodes hold the same number of keys, before the scan and after it, the
    target cannot hold a key the source lacks: set inclusion plus equal size
    is equality, and the reverse scan (half the work) is skipped.  Keys
    written during the scan change a count, and then the reverse scan runs.

    The count returned is the source's keys checked, whether or not the
    reverse scan ran: a replica of a 5034-key shard reports 5034, not 10068
    (a cluster shard's slot range always takes the reverse scan, which adds
    the target's own keys; counting those too made the same master's keys
    look twice as many as a Sentinel group's).
    """
    before = _counts(source, target)
    with ThreadPoolExecutor(2, thread_name_prefix="verify") as pool:
        found, scanned = _forward(source, target, options, cap, pool)
    if (before is not None and before[0] == before[1] and _counts(source, target) == before
            and not any(d.kind is DiffKind.MISSING for d in found)):
        return found, scanned
    extra = _reverse(source, target, options, cap)
    return _unique(found + extra), scanned


def _counts(source: KeySpace, target: KeySpace) -> tuple[int, int] | None:
    """DBSIZE of both sides when each is one whole node (not a slot range of a shared node)."""
    if not (isinstance(source, Single) and isinstance(target, Single)) or source.owned or target.owned:
        return None
    try:
        return int(source.reader.client.dbsize()), int(target.reader.client.dbsize())
    except redis.RedisError:
        return None


Job = tuple[NodeReader, list[bytes], str | None]


def _forward(source: KeySpace, target: KeySpace, options: VerifyOptions, cap: RateCap,
             pool: ThreadPoolExecutor) -> tuple[list[Difference], int]:
    """A three-stage pipeline, so that no node waits for another batch by batch.

    This thread SCANs the source; a worker digests each batch on the source
    (over a second connection, when the source can open one), another on the
    target.  Bounded queues (``PIPELINE_DEPTH`` batches) link the stages; the
    batches whose hashes differ are read key by key here, after the scan.  On
    a busy machine the waiting this removes is most of the time.
    """
    second = source.fork()
    scanned_q: queue.Queue[Job | None] = queue.Queue(PIPELINE_DEPTH)
    digested_q: queue.Queue[Job | None] = queue.Queue(PIPELINE_DEPTH)
    abort = threading.Event()  # the target's worker failed: the source's must not wait for it forever
    workers: list[Future[Any]] = []
    if second is not None:
        workers.append(pool.submit(_digest_source, second, scanned_q, digested_q, abort))
    workers.append(pool.submit(_digest_target, target, digested_q))
    first = scanned_q if second is not None else digested_q
    scanned = 0
    try:
        for reader, keys in source.scan_batches(options.batch):
            cap.take(len(keys))
            scanned += len(keys)
            job: Job = (reader, keys, None) if second is not None else (reader, keys, reader.batch_digest(keys))
            if not _hand_on(first, job, workers):
                break
    finally:
        _hand_on(first, None, workers)
    try:
        differing: list[tuple[NodeReader, list[bytes]]] = workers[-1].result()
        if second is not None:
            workers[0].result()
    finally:
        abort.set()
        if second is not None:
            second.close()
    found: list[Difference] = []
    for reader, keys in differing:
        found += _differences(keys, reader.states(keys), target.states(keys), options)
    return found, scanned


def _hand_on(out: queue.Queue[Job | None], job: Job | None, workers: Sequence[Future[Any]]) -> bool:
    """Put ``job`` on ``out`` unless a worker has died (its exception surfaces from its result)."""
    while True:
        try:
            out.put(job, timeout=0.5)
            return True
        except queue.Full:
            if any(w.done() for w in workers):
                return False


def _digest_source(source: KeySpace, jobs: queue.Queue[Job | None], out: queue.Queue[Job | None],
                   abort: threading.Event) -> None:
    job: Job | None = None
    try:
        while (job := jobs.get()) is not None:
            reader, keys, _ = job
            if not _put_unless(out, (reader, keys, source.batch_digest(keys)), abort):
                return
    finally:
        _put_unless(out, None, abort)


def _put_unless(out: queue.Queue[Job | None], item: Job | None, abort: threading.Event) -> bool:
    while not abort.is_set():
        try:
            out.put(item, timeout=0.5)
            return True
        except queue.Full:
            continue
    return False


def _digest_target(target: KeySpace, jobs: queue.Queue[Job | None]) -> list[tuple[NodeReader, list[bytes]]]:
    """The target's hash of each batch; the batches whose hashes differ."""
    differing = []
    while (job := jobs.get()) is not None:
        reader, keys, ours = job
        theirs = target.batch_digest(keys)
        if ours is None or theirs is None or theirs != ours:
            differing.append((reader, keys))
    return differing


def _reverse(source: KeySpace, target: KeySpace, options: VerifyOptions, cap: RateCap) -> list[Difference]:
    """Keys only the target has: one multi-key EXISTS per batch, key by key only when counts differ."""
    found: list[Difference] = []
    for reader, keys in target.scan_batches(options.batch):
        cap.take(len(keys))
        if source.count_existing(keys) == len(keys):
            continue
        absent = [k for k, there in zip(keys, source.exists(keys), strict=True) if not there]
        if absent:
            found += _differences(absent, source.states(absent), reader.states(absent), options)
    return found


def _recheck(keys: Sequence[bytes], source: KeySpace, target: KeySpace, options: VerifyOptions,
             cap: RateCap) -> list[Difference]:
    found: list[Difference] = []
    for i in range(0, len(keys), options.batch):
        batch = keys[i:i + options.batch]
        cap.take(len(batch))
        found += _differences(batch, source.states(batch), target.states(batch), options)
    return found


def _differences(keys: Sequence[bytes], source: Sequence[KeyState], target: Sequence[KeyState],
                 options: VerifyOptions) -> list[Difference]:
    out = []
    for key, s, t in zip(keys, source, target, strict=True):
        kind = classify(s, t, options.ttl_tolerance_ms)
        if kind is not None:
            out.append(Difference(key, kind, s, t))
    return out


def _unique(found: list[Difference]) -> list[Difference]:
    """A key differing in both scan directions is one difference."""
    return list({d.key: d for d in found}.values())


def wait_caught_up(master: redis.Redis, replica: redis.Redis, timeout: float,
                   clock: Clock | None = None) -> str | None:
    """Wait until the replica has applied everything the master had sent when we asked.

    Returns None when it did, or a note for the report when it did not within
    ``timeout`` (the comparison still runs; later rounds absorb what arrives).
    """
    clock = clock or SystemClock()
    wanted = int(master.info("replication")["master_repl_offset"])
    deadline = clock.now() + timeout
    while True:
        reached = int(replica.info("replication").get("slave_repl_offset", -1))
        if reached >= wanted:
            return None
        if clock.now() >= deadline:
            return f"replica at offset {reached}, master at {wanted} after {timeout:g} s"
        clock.sleep(0.05)
