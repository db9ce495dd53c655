"""The signatures of trouble in Redis 7.0 / Sentinel logs, and the one regex that finds them all.

Each :class:`Signature` is a pattern matched at the start of a message of the given
log level(s).  The wording and the level of each were read from the lines that
redis-server 7.0.15 really writes (``tests/logs_corpus/``: logs of nodes on which the
condition was caused) or, for conditions a test cannot cause on purpose (a failed
fork, a crash, a slow disk), from the format strings in the 7.0.15 binary.

Patterns use the subset of regular expressions that Python's :mod:`re` and POSIX ERE
(``grep -E``) read alike: literals, ``\\+ \\. \\( \\)``, ``.*``, ``[...]`` and ``(a|b)``
groups.  :func:`grep_pattern` writes the table as one ``grep -E`` expression; the
benchmark and a test check that both find the same lines.

Speed: the scanner does not run 60 regexes over each line, nor one regex per line.
:data:`MATCHER` is one compiled pattern searched over whole buffers: the engine stops at
each colon, checks that a role character, a timestamp's width and a level follow, and
tries that level's alternatives, grouped by their first literal character so that a
message is compared with a handful of them.  Only the lines it matches are parsed.
(Measured against other shapes: one search per level, or one pattern starting at the
space before the level, ran 1.5-3x slower; named groups per signature cost 30 %;
spelling out the timestamp's digits instead of ``.{24}`` doubled the time, so the
finder checks them on matched lines.)
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from enum import IntEnum

__all__ = ["LEVEL_AT", "MATCHER", "MESSAGE_AT", "SIGNATURES", "Severity", "Signature", "by_id", "grep_pattern",
           "signature_of"]


class Severity(IntEnum):
    INFO = 0  # a step of something larger (a failover's leader election), or a recovery
    WARNING = 1  # worth reading: a replica link lost, a partial resync refused, a risky kernel setting
    ERROR = 2  # service degraded: a master down, a sync or a save failing, clients cut off
    CRITICAL = 3  # data or process at risk: a crash, a failed fork, a corrupt load, an attack

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r} (use {', '.join(s.name.lower() for s in cls)})") from None

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Signature:
    id: str
    severity: Severity
    levels: str  # level characters the line is written at: "#" warning, "*" notice, "-" verbose, or several
    pattern: str  # matched at the start of the message
    title: str


_W, _N, _B = "#", "*", "#*"
S = Severity
SIGNATURES: tuple[Signature, ...] = (
    # --- Sentinel (sentinelEvent: "<type> <master|slave|sentinel> <name> <ip> <port>[ @ <master> <ip> <port>]")
    Signature("sentinel.sdown-master", S.WARNING, _W, r"\+sdown master ", "a sentinel sees the master down"),
    Signature("sentinel.odown", S.ERROR, _W, r"\+odown master ", "master objectively down: quorum agrees"),
    Signature("sentinel.sdown-replica", S.WARNING, _W, r"\+sdown slave ", "a sentinel sees a replica down"),
    Signature("sentinel.sdown-sentinel", S.WARNING, _W, r"\+sdown sentinel ", "a sentinel sees another sentinel down"),
    Signature("sentinel.sdown-cleared", S.INFO, _W, r"-sdown ", "a node is reachable again"),
    Signature("sentinel.odown-cleared", S.INFO, _W, r"-odown master ", "master no longer objectively down"),
    Signature("sentinel.new-epoch", S.INFO, _W, r"\+new-epoch ", "a new configuration epoch (an election)"),
    Signature("sentinel.try-failover", S.WARNING, _W, r"\+try-failover master ", "a sentinel starts a failover"),
    Signature("sentinel.elected-leader", S.INFO, _W, r"\+elected-leader master ", "failover leader elected"),
    Signature("sentinel.selected-replica", S.INFO, _W, r"\+selected-slave slave ", "replica chosen for promotion"),
    Signature("sentinel.promoted-replica", S.INFO, _W, r"\+promoted-slave slave ", "replica promoted to master"),
    Signature("sentinel.failover-end", S.INFO, _W, r"\+failover-end master ", "failover finished"),
    Signature("sentinel.switch-master", S.WARNING, _W, r"\+switch-master ", "the master changed (failover)"),
    Signature("sentinel.failover-timeout", S.ERROR, _W, r"\+failover-end-for-timeout ",
              "failover ended by its timeout: replicas may not follow the new master"),
    Signature("sentinel.failover-abort", S.ERROR, _W, r"-failover-abort-", "failover aborted"),
    Signature("sentinel.tilt", S.ERROR, _W, r"\+tilt ", "sentinel in TILT mode (clock jump or blocked process)"),
    Signature("sentinel.script-error", S.WARNING, _W, r"-script-(error|timeout) ",
              "notification / reconfig script failed"),
    Signature("sentinel.convert-to-replica", S.INFO, _N, r"\+convert-to-slave slave ",
              "old master reconfigured as a replica"),
    # --- replication
    Signature("repl.master-link-lost", S.WARNING, _W, r"Connection with master lost\.",
              "replica lost its link to the master"),
    Signature("repl.replica-link-lost", S.WARNING, _W, r"Connection with replica .* lost\.",
              "master lost a replica's link"),
    Signature("repl.psync-refused", S.WARNING, _N, r"Partial resynchronization not accepted",
              "partial resync refused: a full resync follows"),
    Signature("repl.psync-no-backlog", S.WARNING, _N, r"Unable to partial resync with replica .* for lack of backlog",
              "partial resync impossible (backlog too small): a full resync follows"),
    Signature("repl.master-timeout", S.ERROR, _W, r"MASTER timeout: no data nor PING received",
              "replica timed out waiting for its master"),
    Signature("repl.connect-timeout", S.ERROR, _W, r"Timeout connecting to the MASTER", "replica cannot connect"),
    Signature("repl.bulk-timeout", S.ERROR, _W, r"Timeout receiving bulk data from MASTER",
              "full sync timed out (repl-timeout)"),
    Signature("repl.sync-io-error", S.ERROR, _W,
              r"I/O error (trying to sync with|reading bulk count from|writing to) MASTER",
              "full sync broken by an I/O error"),
    Signature("repl.sync-socket-error", S.ERROR, _W, r"Error condition on socket for SYNC",
              "replica cannot reach its master"),
    Signature("persist.misconf", S.ERROR, _W, r"Error reply to PING from master: '-MISCONF ",
              "the master refuses writes (MISCONF): it cannot persist"),
    Signature("repl.master-error-reply", S.ERROR, _W, r"Error reply to PING from master",
              "master refused the replica's handshake"),
    Signature("repl.auth-failed", S.ERROR, _W, r"Unable to AUTH to MASTER", "replica cannot authenticate"),
    Signature("repl.replica-timeout", S.ERROR, _W, r"Disconnecting timedout replica", "master dropped a slow replica"),
    Signature("repl.sync-bgsave-failed", S.ERROR, _W, r"SYNC failed\. BGSAVE child returned an error",
              "full sync failed: the master could not produce its RDB"),
    # --- persistence
    Signature("persist.bgsave-error", S.ERROR, _W, r"Background saving error",
              "BGSAVE failed: writes are refused (MISCONF) while stop-writes-on-bgsave-error is on"),
    Signature("persist.fork-failed", S.CRITICAL, _W, r"Can't (save|rewrite append only file) in background: fork",
              "fork failed (memory, overcommit)"),
    Signature("persist.rdb-open-failed", S.ERROR, _W, r"Failed opening the temp RDB file",
              "cannot create the RDB file"),
    Signature("persist.rdb-write-error", S.ERROR, _W, r"Write error saving DB on disk",
              "RDB write failed (disk full?)"),
    Signature("persist.rdb-rename-error", S.ERROR, _W, r"Error moving temp (DB|append only) file",
              "cannot move the new RDB / AOF into place"),
    Signature("persist.load-oom", S.CRITICAL, _W, r"Short read or OOM loading DB", "RDB truncated or memory exhausted"),
    Signature("persist.load-fatal", S.CRITICAL, _W, r"Fatal error loading the DB", "RDB cannot be loaded"),
    Signature("persist.aof-write-error", S.ERROR, _W, r"Error writing to the AOF file", "AOF write failed"),
    Signature("persist.aof-fsync-slow", S.WARNING, _B, r"Asynchronous AOF fsync is taking too long",
              "disk too slow for appendfsync everysec"),
    Signature("persist.aof-rewrite-error", S.ERROR, _W, r"Background AOF rewrite terminated (with error|by signal)",
              "AOF rewrite failed"),
    Signature("persist.replica-disk-error", S.ERROR, _W,
              r"Replica is applying a command even though it is unable to write",
              "replica cannot persist what its master sends"),
    # --- memory, clients, system
    Signature("clients.output-buffer", S.ERROR, _W, r"Client .* for overcoming of output buffer limits",
              "client or replica disconnected: output buffer limit exceeded"),
    Signature("memory.oom", S.CRITICAL, _W, r"Out Of Memory allocating",
              "out of memory: the process aborts"),
    Signature("system.overcommit", S.WARNING, _W,
              r"WARNING (Memory overcommit must be enabled|overcommit_memory is set to 0)",
              "vm.overcommit_memory is 0: BGSAVE / replication may fail (7.x and 6.x wording)"),
    Signature("system.thp", S.WARNING, _W, r"WARNING [Yy]ou have Transparent Huge Pages",
              "THP enabled: latency, memory"),
    Signature("system.somaxconn", S.WARNING, _W, r"WARNING: The TCP backlog setting", "somaxconn below tcp-backlog"),
    Signature("security.attack", S.CRITICAL, _W, r"Possible SECURITY ATTACK detected",
              "HTTP sent to Redis: cross-protocol scripting attempt"),
    # --- cluster
    Signature("cluster.state-fail", S.ERROR, _W, r"Cluster state changed: fail", "cluster refuses queries"),
    Signature("cluster.state-ok", S.INFO, _W, r"Cluster state changed: ok", "cluster serves queries again"),
    Signature("cluster.node-failing", S.ERROR, _N, r"Marking node [0-9a-f]+ as failing",
              "a cluster node is failing (quorum reached)"),
    Signature("cluster.fail-received", S.WARNING, _N, r"FAIL message received from [0-9a-f]+ about",
              "a peer reports a node as failing"),
    Signature("cluster.fail-cleared", S.INFO, _N, r"Clear FAIL state for node", "a failed node is reachable again"),
    Signature("cluster.failover-won", S.WARNING, _W, r"Failover election won", "a replica became master (failover)"),
    Signature("cluster.failover-denied", S.WARNING, _B, r"Failover auth denied to", "a vote for a failover refused"),
    # --- crashes
    Signature("crash.signal", S.CRITICAL, _W, r"Redis [0-9.]+ crashed by signal", "the process crashed"),
    Signature("crash.assertion", S.CRITICAL, _W, r"=== ASSERTION FAILED", "an assertion failed: the process aborts"),
    Signature("crash.guru", S.CRITICAL, _W, r"Guru Meditation", "a panic: the process aborts"),
)

_BY_ID = {s.id: s for s in SIGNATURES}
assert len(_BY_ID) == len(SIGNATURES), "duplicate signature id"


def by_id(sig_id: str) -> Signature:
    return _BY_ID[sig_id]


#: a level character as a regex, the same in Python and in POSIX ERE
_LEVEL_RE = {"#": "#", "*": r"\*"}


def _first_literal(pattern: str) -> str:
    """The pattern's first character when it is a literal (``\\+`` counts), else ``""``."""
    if pattern[:1] == "\\":
        return pattern[:2]
    return "" if pattern[:1] in ".[(" else pattern[:1]


def _alternatives(patterns: list[str]) -> str:
    """``a(?:bc|d)|...``: alternatives grouped by first literal, so the engine compares a message with few.

    No named groups: they cost the engine a bookkeeping step on every attempt, and
    which signature matched is found afterwards (:func:`signature_of`), for the few
    lines that matched.
    """
    groups: dict[str, list[str]] = defaultdict(list)
    for pattern in patterns:
        first = _first_literal(pattern)
        groups[first].append(pattern[len(first):])
    parts = []
    for first, rests in sorted(groups.items(), key=lambda item: item[0] != ""):  # the catch-alls first
        parts.append(f"{first}(?:{'|'.join(rests)})" if first else "|".join(rests))
    return "|".join(parts)


def _per_level() -> dict[str, list[Signature]]:
    return {level: [s for s in SIGNATURES if level in s.levels] for level in _LEVEL_RE}


#: every signature in one pattern, anchored on the line's prefix: ``:<role> <24-char timestamp> <level> ``
#: then that level's alternatives.  The engine's search skips to each ``:`` (three or four a line), checks
#: the role and the level, and only then reads the message.  A match starts at the colon after the pid:
#: the level is at ``start + LEVEL_AT``, the message at ``start + MESSAGE_AT``.
MATCHER: re.Pattern[bytes] = re.compile(
    (":[XCSM] .{24} (?:" + "|".join(f"{_LEVEL_RE[level]} (?:{_alternatives([s.pattern for s in sigs])})"
                                    for level, sigs in _per_level().items() if sigs) + ")").encode())
LEVEL_AT, MESSAGE_AT = 28, 30


def _literal_head(pattern: str, size: int = 2) -> bytes:
    """Up to ``size`` literal bytes the pattern starts with (``\\+`` is ``+``); fewer when a special comes first."""
    out, i = b"", 0
    while len(out) < size and i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out, i = out + pattern[i + 1].encode(), i + 2
        elif char in ".[(|*+?{^$":
            break
        else:
            out, i = out + char.encode(), i + 1
    return out


#: level byte -> the table's signatures of that level, with their literal head and compiled pattern
_EACH = {ord(level): tuple((sig, _literal_head(sig.pattern), re.compile(sig.pattern.encode())) for sig in sigs)
         for level, sigs in _per_level().items()}
_CANDIDATES: dict[tuple[int, bytes], tuple[tuple[Signature, re.Pattern[bytes]], ...]] = {}


def signature_of(buf: bytes, level: int, message_start: int) -> Signature | None:
    """Which signature the message at ``buf[message_start:]`` (written at ``level``, a byte) matches.

    The first in table order.  Only the signatures whose literal head agrees with the
    message's first two bytes are tried: one or two, where trying a level's whole list
    took 5 attempts a line on average (15 sentinel events start with ``+``).
    """
    key = (level, buf[message_start:message_start + 2])
    candidates = _CANDIDATES.get(key)
    if candidates is None:
        head = key[1]
        candidates = tuple((sig, pattern) for sig, literal, pattern in _EACH.get(level, ())
                           if literal[:len(head)] == head[:len(literal)])
        if len(_CANDIDATES) < 65536:
            _CANDIDATES[key] = candidates
    for sig, pattern in candidates:
        if pattern.match(buf, message_start):
            return sig
    return None


def grep_pattern() -> str:
    """The whole table as one ``grep -E`` expression, level prefix included."""
    return "|".join(f" {_LEVEL_RE[level]} ({'|'.join(s.pattern for s in sigs)})"
                    for level, sigs in _per_level().items() if sigs)
