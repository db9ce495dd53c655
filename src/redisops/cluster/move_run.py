"""One run of the mover: its settings, the state its slot tasks share, progress with an ETA, the report.

Progress is counted in keys because slots are not alike: one slot may hold a
million keys and its neighbour none, so "slots done" says little about time
left.  The key total is counted (``CLUSTER COUNTKEYSINSLOT``) before the first
move; keys written meanwhile make it an estimate.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from redisops.auth import Credential
from redisops.clock import Clock
from redisops.cluster.asm import Strategy
from redisops.cluster.journal import Journal
from redisops.cluster.live import ClusterView
from redisops.cluster.wire import WirePool

__all__ = ["MoveProgress", "MoveReport", "MoverSettings", "Run", "Throttle"]


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
class Throttle:
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
class Run:
    """Everything one execution shares between its slot tasks."""

    view: ClusterView
    clients: Mapping[str, WirePool]
    settings: MoverSettings
    journal: Journal
    throttle: Throttle
    stop: threading.Event
    progress: Callable[[MoveProgress], None]
    clock: Clock
    password: Credential
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
