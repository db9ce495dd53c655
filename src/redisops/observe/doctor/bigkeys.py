"""Big keys by sampled ``MEMORY USAGE``, like ``redis-cli --memkeys``, bounded in keys and time.

``SCAN`` walks the keyspace ``count`` keys per call (the cursor never blocks the node
for long); for each batch one pipeline asks ``TYPE`` and ``MEMORY USAGE key SAMPLES n``
(n elements of a collection sampled, not all: the estimate is cheap on a million-field
hash).  The walk stops at ``max_keys`` or ``max_seconds``, whichever comes first,
and says whether it saw the whole keyspace.  Each database listed in ``INFO
keyspace`` is walked in turn, from one budget.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

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


def sample_bigkeys(client: redis.Redis, dbs: Sequence[int], limits: BigKeyLimits = BigKeyLimits(),
                   clock: Clock | None = None) -> dict[str, Any]:
    """Walk ``dbs`` (from INFO keyspace) within ``limits``: the biggest keys and per-type totals.

    ``client`` must not decode replies (keys are bytes; they need not be UTF-8).
    """
    clock = clock or SystemClock()
    began = clock.now()
    deadline = began + limits.max_seconds
    heap: list[tuple[int, bytes, int, str]] = []  # (bytes, key, db, type): a min-heap of the top N
    by_type: dict[str, dict[str, int]] = {}
    sized = 0
    complete = True
    for db in dbs:
        done, sized = _walk(client, db, limits, deadline, clock, heap, by_type, sized)
        if not done:
            complete = False
            break
    top = [BigKey(_text(key), db, kind, size, raw=key) for size, key, db, kind in sorted(heap, reverse=True)]
    top = _with_lengths(client, top)
    return {"sized": sized, "complete": complete, "seconds": round(clock.now() - began, 3),
            "limits": {"max_keys": limits.max_keys, "max_seconds": limits.max_seconds},
            "top": [k.to_dict() for k in top], "by_type": by_type}


def _walk(client: redis.Redis, db: int, limits: BigKeyLimits, deadline: float, clock: Clock,
          heap: list[tuple[int, bytes, int, str]], by_type: dict[str, dict[str, int]], sized: int) -> tuple[bool, int]:
    """One database; (walked to its end, keys sized so far)."""
    if db:
        client.execute_command("SELECT", db)
    try:
        cursor = 0
        while True:
            cursor, keys = client.scan(cursor, count=limits.count)
            keys = keys[:max(0, limits.max_keys - sized)]
            if keys:
                pipe = client.pipeline(transaction=False)
                for key in keys:
                    pipe.type(key)
                    pipe.execute_command("MEMORY", "USAGE", key, "SAMPLES", limits.samples)
                replies = pipe.execute(raise_on_error=False)
                for i, key in enumerate(keys):
                    kind, size = replies[2 * i], replies[2 * i + 1]
                    if not isinstance(size, int):
                        continue  # expired or deleted between SCAN and MEMORY USAGE
                    sized += 1
                    kind = _text(kind)
                    row = by_type.setdefault(kind, {"keys": 0, "bytes": 0, "biggest": 0})
                    row["keys"] += 1
                    row["bytes"] += size
                    row["biggest"] = max(row["biggest"], size)
                    item = (size, key if isinstance(key, bytes) else key.encode(), db, kind)
                    if len(heap) < limits.top:
                        heapq.heappush(heap, item)
                    elif item > heap[0]:
                        heapq.heapreplace(heap, item)
            if int(cursor) == 0:
                return True, sized
            if sized >= limits.max_keys or clock.now() >= deadline:
                return False, sized
    finally:
        if db:
            client.execute_command("SELECT", 0)


def _with_lengths(client: redis.Redis, keys: list[BigKey]) -> list[BigKey]:
    out = []
    for key in keys:
        length = None
        command = LENGTH.get(key.type)
        if command is not None:
            if key.db:
                client.execute_command("SELECT", key.db)
            try:
                length = int(client.execute_command(command, key.raw))
            except (redis.ResponseError, ValueError, TypeError):
                length = None
            finally:
                if key.db:
                    client.execute_command("SELECT", 0)
        out.append(BigKey(key.key, key.db, key.type, key.size, length, key.raw))
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
