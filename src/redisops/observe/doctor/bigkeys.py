"""Big keys by sampled ``MEMORY USAGE``, like ``redis-cli --memkeys``, bounded in keys and time.

``SCAN`` walks the keyspace ``count`` keys per call (the cursor never blocks the node
for long); for each batch one pipeline asks ``MEMORY USAGE key SAMPLES n`` (n elements
of a collection sampled, not all: the estimate is cheap on a million-field hash).  The
replies are read raw, without redis-py's per-command machinery, which halves the
walk's cost; ``TYPE`` and the length are asked for the biggest keys only.  The walk
stops at ``max_keys`` or ``max_seconds``, whichever comes first,
and says whether it saw the whole keyspace.  Each database listed in ``INFO
keyspace`` is walked in turn, from one budget.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redisops.clock import Clock, SystemClock
from redisops.observe.doctor.model import Finding, Severity
from redisops.observe.doctor.rules import MIB, mib

__all__ = ["BigKey", "BigKeyLimits", "bigkey_findings", "sample_bigkeys"]

KEY_CHARS = 120
#: the length command of each type, for the biggest keys only
LENGTH = {"string": "STRLEN", "list": "LLEN", "hash": "HLEN", "set": "SCARD", "zset": "ZCARD", "stream": "XLEN"}


@dataclass(frozen=True)
class BigKeyLimits:
    max_keys: int = 10_000  # keys sized at most
    max_seconds: float = 2.0  # per node
    count: int = 100  # SCAN COUNT: keys per round trip
    samples: int = 5  # MEMORY USAGE SAMPLES: elements of a collection sized
    top: int = 10  # biggest keys reported
    big_bytes: int = 1 * MIB  # a key this large is a finding


@dataclass(frozen=True)
class BigKey:
    key: str
    db: int
    type: str
    size: int
    length: int | None = None
    raw: bytes = b""  # the key as stored (a key need not be UTF-8)

    def to_dict(self) -> dict[str, Any]:
        key = self.key if len(self.key) <= KEY_CHARS else self.key[:KEY_CHARS] + "..."
        return {"key": key, "db": self.db, "type": self.type, "bytes": self.size, "length": self.length}


#: sends commands in one round trip; a reply that is an error comes back as the exception, in its place
Ask = Callable[[Sequence[tuple[Any, ...]]], list[Any]]


def sample_bigkeys(ask: Ask, dbs: Sequence[int], limits: BigKeyLimits = BigKeyLimits(),
                   clock: Clock | None = None) -> dict[str, Any]:
    """Walk ``dbs`` (from INFO keyspace) within ``limits``: the biggest keys, their type and length.

    Only ``MEMORY USAGE`` is asked per key (one reply a key is what the walk's pace
    depends on); ``TYPE`` and the length only for the biggest few.
    """
    clock = clock or SystemClock()
    began = clock.now()
    deadline = began + limits.max_seconds
    heap: list[tuple[int, bytes, int]] = []  # (bytes, key, db): a min-heap of the top N
    sized = 0
    complete = True
    total = 0
    for db in dbs:
        done, sized, total = _walk(ask, db, limits, deadline, clock, heap, sized, total)
        if not done:
            complete = False
            break
    top = _described(ask, sorted(heap, reverse=True))
    return {"sized": sized, "bytes": total, "complete": complete, "seconds": round(clock.now() - began, 3),
            "limits": {"max_keys": limits.max_keys, "max_seconds": limits.max_seconds},
            "top": [k.to_dict() for k in top]}


def _walk(ask: Ask, db: int, limits: BigKeyLimits, deadline: float, clock: Clock,
          heap: list[tuple[int, bytes, int]], sized: int, total: int) -> tuple[bool, int, int]:
    """One database; (walked to its end, keys sized so far, their bytes)."""
    select = [("SELECT", db)] if db else []
    cursor: Any = 0
    while True:
        *_, (cursor, keys) = ask([*select, ("SCAN", cursor, "COUNT", limits.count)])
        keys = keys[:max(0, limits.max_keys - sized)]
        if keys:
            sizes = ask([*select, *(("MEMORY", "USAGE", key, "SAMPLES", limits.samples) for key in keys)])
            for key, size in zip(keys, sizes[len(select):], strict=True):
                if not isinstance(size, int):
                    continue  # expired or deleted between SCAN and MEMORY USAGE
                sized += 1
                total += size
                item = (size, bytes(key), db)
                if len(heap) < limits.top:
                    heapq.heappush(heap, item)
                elif item > heap[0]:
                    heapq.heapreplace(heap, item)
        if int(cursor) == 0:
            return True, sized, total
        if sized >= limits.max_keys or clock.now() >= deadline:
            return False, sized, total


def _described(ask: Ask, found: list[tuple[int, bytes, int]]) -> list[BigKey]:
    out = []
    for size, key, db in found:
        select = [("SELECT", db)] if db else []
        kind = _text(ask([*select, ("TYPE", key)])[-1])
        length = None
        command = LENGTH.get(kind)
        if command is not None:
            reply = ask([*select, (command, key)])[-1]
            length = reply if isinstance(reply, int) else None
        out.append(BigKey(_text(key), db, kind, size, length, key))
    if any(db for _, _, db in found):
        ask([("SELECT", 0)])
    return out


def _text(value: Any) -> str:
    return value.decode(errors="backslashreplace") if isinstance(value, bytes) else str(value)


def bigkey_findings(sample: dict[str, Any], limits: BigKeyLimits = BigKeyLimits()) -> list[Finding]:
    big = [k for k in sample["top"] if k["bytes"] >= limits.big_bytes]
    if not big:
        return []
    worst = big[0]
    length = f", {worst['length']} elements" if worst["length"] is not None and worst["type"] != "string" else ""
    return [Finding(
        "keys.big", Severity.WARNING,
        f"{len(big)} key(s) of {mib(limits.big_bytes)} or more; biggest {worst['key']!r} ({worst['type']}, "
        f"{mib(worst['bytes'])}{length})",
        "one command on a big key (HGETALL, DEL, a migration in a reshard) blocks the node for its whole size, "
        "and the key cannot be spread over shards",
        "split it into smaller keys (buckets by a hash of the field), read it with *SCAN, delete it with UNLINK",
        details={"keys": big, "big_bytes": limits.big_bytes})]
