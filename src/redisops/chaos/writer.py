"""A bounded writer that follows failovers and keeps the books on every write.

Each write is one transaction on the master: ``SET drill:<run>:<seq>`` plus
``INCR drill:<run>:counter:<seq % counters>``.  A write is *acknowledged* when
the master answered it (and, in safe mode, ``WAIT 1`` confirmed a replica has
it).  After the drill, every acknowledged key must still exist and every
counter must be at least its acknowledged increments; keys that exist without
an acknowledgement are "unacked but applied" (the client gave up, the server
did not).

Following the master: the writer listens to every sentinel.  The leader
publishes ``+selected-slave`` when it sends ``SLAVEOF NO ONE`` to the replica
it promotes; Sentinel itself names that replica (``GET-MASTER-ADDR-BY-NAME``)
only after its next INFO poll of it, up to a second later.  So on an error the
writer first tries the selected replica, then asks the sentinels, and writes
only to a node that answers ``ROLE`` master.  It never waits for a socket
timeout longer than ``op_timeout``.  (A failover aborted after the promotion
would later demote that node; in safe mode ``WAIT 1`` still guards every
acknowledged write, since a freshly promoted node has no replica yet.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import redis

from redisops.address import Address
from redisops.auth import Credential
from redisops.clients import make_client
from redisops.topology.parse import parse_master_addr

__all__ = ["WriteBook", "Writer", "write_paced"]


@dataclass
class WriteBook:
    """What the writer did: ``acked[seq]`` = time of the acknowledgement, ``failed`` = seqs not acked."""

    acked: dict[int, float] = field(default_factory=dict)
    failed: set[int] = field(default_factory=set)
    masters: list[tuple[float, Address]] = field(default_factory=list)  # (since, address) the writer used

    def longest_stall(self, since: float, until: float) -> float:
        """Longest time between consecutive acknowledgements inside [since, until]."""
        times = sorted(t for t in self.acked.values() if since <= t <= until)
        if not times:
            return until - since
        edges = [since, *times, until]
        return max(b - a for a, b in zip(edges, edges[1:], strict=False))

    def first_ack_after(self, moment: float) -> float | None:
        return min((t for t in self.acked.values() if t > moment), default=None)


def write_paced(write: Callable[[int], bool], book: WriteBook, interval: float, max_writes: int,
                stop: threading.Event) -> None:
    """Call ``write(seq)`` every ``interval`` s until ``stop`` or ``max_writes``; book each write acked or failed.

    One write at a time, each sent once; after a stall (a write that blocked on a dead master) at most 1 s of
    missed writes is caught up, so a failover is not followed by a burst.  Benchmarks drive other clients
    through the same loop, so both sides of a comparison write alike.
    """
    seq = 0
    next_at = time.monotonic()
    while not stop.is_set() and seq < max_writes:
        now = time.monotonic()
        if now < next_at:
            stop.wait(next_at - now)
            continue
        next_at = max(next_at + interval, now - 1.0)
        if write(seq):
            book.acked[seq] = time.time()
        else:
            book.failed.add(seq)
        seq += 1


class Writer:
    """Writes at ``rate`` per second in a thread until stopped or ``max_writes`` is reached."""

    def __init__(self, name: str, sentinels: Sequence[Address], *, password: Credential,
                 sentinel_password: Credential, run_id: str, rate: float = 200.0, counters: int = 100,
                 safe: bool = False, op_timeout: float = 0.25, max_writes: int = 200_000) -> None:
        self.name = name
        self.sentinels = list(sentinels)
        self.password = password
        self.sentinel_password = sentinel_password
        self.run_id = run_id
        self.interval = 1.0 / rate
        self.counters = counters
        self.safe = safe
        self.op_timeout = op_timeout
        self.max_writes = max_writes
        self.book = WriteBook()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: redis.Redis | None = None
        self._selected: Address | None = None  # replica the leader sentinel is promoting

    def key(self, seq: int) -> str:
        return f"drill:{self.run_id}:{seq}"

    def counter(self, index: int) -> str:
        return f"drill:{self.run_id}:counter:{index}"

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="drill-writer", daemon=True)
        self._thread.start()

    def on_event(self, _at: float, channel: str, data: str) -> None:
        """Feed sentinel events here (see :func:`~redisops.ha.listen.sentinel_events`)."""
        parts = data.split()
        if channel == "+selected-slave" and len(parts) >= 8 and parts[5] == self.name:
            self._selected = Address(parts[2], int(parts[3]))
        elif channel == "+switch-master" and len(parts) >= 5 and parts[0] == self.name:
            self._selected = Address(parts[3], int(parts[4]))

    def stop(self) -> WriteBook:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._client is not None:
            self._client.close()
        return self.book

    def acked_count(self) -> int:
        return len(self.book.acked)

    # --- the loop ----------------------------------------------------------------------------------
    def _run(self) -> None:
        write_paced(self._write, self.book, self.interval, self.max_writes, self._stop)

    def _write(self, seq: int) -> bool:
        client = self._client or self._discover()
        if client is None:
            return False
        try:
            pipe = client.pipeline(transaction=True)
            pipe.set(self.key(seq), seq)
            pipe.incr(self.counter(seq % self.counters))
            pipe.execute()
            if self.safe and int(client.execute_command("WAIT", 1, int(self.op_timeout * 1000))) < 1:
                return False
            return True
        except redis.RedisError:
            client.close()
            self._client = None
            return False

    def _discover(self) -> redis.Redis | None:
        """The selected replica first, then what each sentinel names; the first that answers ROLE master."""
        tried: set[Address] = set()
        for address in self._candidates():
            if address is None or address in tried:
                continue
            tried.add(address)
            client = make_client(address, self.password, timeout=self.op_timeout, decode=False)
            try:
                if client.execute_command("ROLE")[0] in (b"master", "master"):
                    self._client = client
                    if not self.book.masters or self.book.masters[-1][1] != address:
                        self.book.masters.append((time.time(), address))
                    return client
            except redis.RedisError:
                pass
            client.close()
        return None

    def _candidates(self) -> Iterator[Address | None]:
        """Lazily: the selected replica, then each sentinel's answer (asked only when needed)."""
        yield self._selected
        for sentinel in self.sentinels:
            yield self._ask(sentinel)

    def _ask(self, sentinel: Address) -> Address | None:
        client = make_client(sentinel, self.sentinel_password, timeout=self.op_timeout)
        try:
            reply = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.name)
        except redis.RedisError:
            return None
        finally:
            client.close()
        return parse_master_addr(reply)
