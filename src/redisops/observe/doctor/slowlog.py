"""``SLOWLOG GET``, grouped by command: how often, how long in total, the worst entries.

An entry is ``[id, unix time, microseconds, [args...], client address, client name]``.
Arguments are cut (:data:`ARG_CHARS`, :data:`ARGS_SHOWN`): the point is which command
with which shape was slow, not the values; Redis itself already hides the arguments
of AUTH, HELLO and ``CONFIG SET requirepass``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redisops.observe.doctor.model import Finding, Severity

__all__ = ["ADVICE", "SlowEntry", "group_slowlog", "parse_slowlog", "slowlog_findings"]

ARG_CHARS = 40
ARGS_SHOWN = 6
#: commands whose first argument is a subcommand: grouped as "CONFIG GET", "CLIENT LIST"
CONTAINERS = frozenset({"ACL", "CLIENT", "CLUSTER", "COMMAND", "CONFIG", "DEBUG", "FUNCTION", "LATENCY",
                        "MEMORY", "MODULE", "OBJECT", "SCRIPT", "SLOWLOG", "XGROUP", "XINFO"})
#: a slow entry this long blocks every other client for that long: a warning
SLOW_US = 10_000
#: commands that walk a whole keyspace or value: a warning whenever they are in the slowlog, with the way out
ADVICE = {
    "KEYS": "KEYS walks every key while the node serves nothing else: iterate with SCAN MATCH ... COUNT 1000",
    "FLUSHALL": "a synchronous flush frees every value in the foreground: FLUSHALL ASYNC "
                "(or lazyfree-lazy-user-flush yes)",
    "FLUSHDB": "a synchronous flush frees every value in the foreground: FLUSHDB ASYNC",
    "DEL": "DEL of a large value frees it in the foreground: UNLINK frees it in a background thread",
    "HGETALL": "HGETALL reads the whole hash: HSCAN it, or keep hashes small",
    "SMEMBERS": "SMEMBERS reads the whole set: SSCAN it",
    "LRANGE": "a long LRANGE copies the whole range: page through it",
    "ZRANGE": "a long ZRANGE copies the whole range: page with LIMIT",
    "SORT": "SORT is O(N+M*log M): sort once, store the result, or sort client-side",
    "SUNION": "set algebra on large sets is O(N): precompute, or keep sets small",
    "SINTER": "set algebra on large sets is O(N*M): precompute, or keep sets small",
    "SDIFF": "set algebra on large sets is O(N): precompute, or keep sets small",
    "EVAL": "a script runs atomically: nothing else runs until it returns; split the work into batches",
    "EVALSHA": "a script runs atomically: nothing else runs until it returns; split the work into batches",
    "FCALL": "a function runs atomically: nothing else runs until it returns; split the work into batches",
}
#: of those, the ones always worth a warning when they show up (whole-keyspace walks)
ALWAYS_WARN = frozenset({"KEYS", "FLUSHALL", "FLUSHDB"})


@dataclass(frozen=True)
class SlowEntry:
    id: int
    time: int  # unix seconds
    micros: int
    args: tuple[str, ...]
    client: str

    @property
    def command(self) -> str:
        if not self.args:
            return "?"
        name = self.args[0].upper()
        if name in CONTAINERS and len(self.args) > 1:
            return f"{name} {self.args[1].upper()}"
        return name

    def shown(self) -> str:
        args = [a if len(a) <= ARG_CHARS else a[:ARG_CHARS] + "..." for a in self.args[:ARGS_SHOWN]]
        more = f" ... (+{len(self.args) - ARGS_SHOWN} args)" if len(self.args) > ARGS_SHOWN else ""
        return " ".join(args) + more

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "time": self.time, "us": self.micros, "command": self.shown(), "client": self.client}


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def parse_slowlog(reply: Sequence[Any]) -> list[SlowEntry]:
    """Raw ``SLOWLOG GET`` reply -> entries (also Redis Enterprise's, which has a complexity field at 3)."""
    out = []
    for item in reply:
        at = 3 if isinstance(item[3], list) else 4
        args = tuple(_text(a) for a in item[at])
        client = _text(item[at + 1]) if len(item) > at + 1 else ""
        out.append(SlowEntry(int(item[0]), int(item[1]), int(item[2]), args, client))
    return out


def group_slowlog(entries: Sequence[SlowEntry], worst: int = 5) -> dict[str, Any]:
    """Per command: count, total and max microseconds, its worst entries; slowest total first."""
    groups: dict[str, list[SlowEntry]] = {}
    for entry in entries:
        groups.setdefault(entry.command, []).append(entry)
    rows: list[dict[str, Any]] = []
    for command, found in groups.items():
        found.sort(key=lambda e: -e.micros)
        rows.append({"command": command, "count": len(found), "total_us": sum(e.micros for e in found),
                     "max_us": found[0].micros, "worst": [e.to_dict() for e in found[:worst]]})
    rows.sort(key=lambda r: (-r["total_us"], r["command"]))
    return {"entries": len(entries), "groups": rows,
            "worst": [e.to_dict() for e in sorted(entries, key=lambda e: -e.micros)[:worst]]}


def slowlog_findings(grouped: dict[str, Any], slower_than_us: int | None) -> list[Finding]:
    """A warning per command group with an entry over :data:`SLOW_US`, or walking the whole keyspace."""
    out = []
    for row in grouped["groups"]:
        command, max_us = row["command"], row["max_us"]
        name = command.split()[0]
        if max_us < SLOW_US and name not in ALWAYS_WARN:
            continue
        advice = ADVICE.get(name, "find what makes it slow: the size of the value it touches (see big keys), "
                                  "or run it less often")
        out.append(Finding(
            f"slowlog.{name.lower()}", Severity.WARNING,
            f"{command}: {row['count']} slow entries, worst {max_us / 1000:.1f} ms",
            "Redis runs commands one at a time: while one is slow, every client waits",
            advice,
            details={"command": command, "count": row["count"], "max_us": max_us, "total_us": row["total_us"],
                     "slowlog_log_slower_than_us": slower_than_us, "worst": row["worst"][:3]}))
    return out
