"""The latency monitor: ``LATENCY LATEST`` events and ``LATENCY DOCTOR``'s advice.

Redis records a latency event (a slow command, a fork, an AOF fsync...) only while
``latency-monitor-threshold`` is above 0, and 0 is its default.  When a node has it
off, the doctor turns it on for a short sampling window (:func:`sample_latency`) as
a *temporary setting* (:mod:`redisops.runtime.temporary`): the original value is
journaled on disk before ``CONFIG SET``, put back when the window ends however the
doctor ends, and -- if the doctor is killed in the window -- put back by the next
``redisops doctor`` or ``redisops up``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redisops.observe.doctor.model import Finding, Severity

__all__ = ["EVENT_ADVICE", "LatencyEvent", "latency_findings", "parse_latest"]

PARAM = "latency-monitor-threshold"
#: ms; an event's worst spike at or above these is a warning / an error
WARN_MS, ERROR_MS = 100, 500

EVENT_ADVICE = {
    "command": "slow commands: see the slowlog groups of this node for which, and the big keys they touch",
    "fast-command": "O(1) commands were slow: the host stalls (CPU steal, swapping: see host checks)",
    "fork": "forking for BGSAVE / AOF rewrite / full sync is slow: smaller datasets per node, THP off",
    "aof-write": "writes to the AOF are slow: a busy or slow disk; appendfsync everysec, a faster disk",
    "aof-write-pending-fsync": "AOF writes wait for fsync: a busy disk; no-appendfsync-on-rewrite yes",
    "aof-write-active-child": "AOF writes are slow while a child writes: no-appendfsync-on-rewrite yes",
    "aof-write-alone": "writes to the AOF are slow: a busy or slow disk",
    "aof-fsync-always": "appendfsync always waits for the disk on every write: use everysec",
    "aof-fstat": "fstat on the AOF is slow: a busy disk",
    "aof-rename": "renaming the rewritten AOF is slow: a busy disk or filesystem",
    "rdb-unlink-temp-file": "removing a temporary RDB is slow: a busy disk",
    "expire-cycle": "many keys expire at the same moment: add jitter to TTLs",
    "eviction-cycle": "evictions take long: memory at maxmemory under writes; raise maxmemory or write less",
    "eviction-del": "evicted values are large: lazyfree-lazy-eviction yes",
    "active-defrag-cycle": "active defragmentation takes long: lower active-defrag-cycle-max",
    "while-blocked-cron": "the node was blocked (a long script, a load): see the slowlog",
}


@dataclass(frozen=True)
class LatencyEvent:
    event: str
    time: int  # unix seconds of the latest spike
    latest_ms: int
    max_ms: int

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.event, "time": self.time, "latest_ms": self.latest_ms, "max_ms": self.max_ms}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_latest(reply: Sequence[Any]) -> list[LatencyEvent]:
    """``LATENCY LATEST``: ``[event, time, latest ms, all-time max ms, ...]`` per event."""
    return [LatencyEvent(_text(row[0]), int(row[1]), int(row[2]), int(row[3])) for row in reply]


def latency_findings(events: Sequence[LatencyEvent], threshold_ms: int | None, sampled: bool) -> list[Finding]:
    """One finding per event; and an info that spikes go unrecorded while the monitor is off."""
    out = []
    if threshold_ms == 0 and not sampled:
        out.append(Finding(
            "latency.monitor-off", Severity.INFO, "the latency monitor is off (latency-monitor-threshold 0)",
            "latency spikes (slow commands, forks, disk stalls) leave no trace to diagnose later",
            "`CONFIG SET latency-monitor-threshold 100` and CONFIG REWRITE (redisops' own nodes have it at 100); "
            "or run the doctor with --latency-window to sample for a while"))
    for event in events:
        severity = (Severity.ERROR if event.max_ms >= ERROR_MS else
                    Severity.WARNING if event.max_ms >= WARN_MS else Severity.INFO)
        out.append(Finding(
            f"latency.{event.event}", severity,
            f"latency spikes '{event.event}': latest {event.latest_ms} ms, worst {event.max_ms} ms",
            "every client of the node waited that long",
            EVENT_ADVICE.get(event.event, "see LATENCY DOCTOR's text in this node's report")
            + "; `LATENCY RESET` once fixed, to see whether it comes back",
            details=event.to_dict()))
    return out

