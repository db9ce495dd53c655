"""One Redis / Sentinel log line: ``pid:role DD Mon YYYY HH:MM:SS.mmm level message``.

The format is ``serverLogRaw``'s ``"%d:%c %s %c %s"`` (Redis 3.0 and later): the role
character is ``X`` sentinel, ``C`` a forked child (BGSAVE, AOF rewrite), ``S`` replica,
``M`` master; the level character is one of ``.-*#`` (debug, verbose, notice, warning).
Crash reports also write raw lines without this prefix; they are kept as lines of the
file but never parsed.

Timestamps carry no time zone: Redis writes local time, so they are compared with the
local wall clock (``--since``) and with each other, never converted.

Every line of a log is not parsed: the scanner finds candidate lines in whole buffers
(:mod:`.signatures`) and parses only those, plus the few lines that binary searches on
time land on (:func:`time_at`, :func:`first_at_or_after`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from redisops.errors import InputError

__all__ = ["HEADER", "LEVELS", "MONTHS", "ROLES", "LogFormatError", "LogLine", "check_format", "first_at_or_after",
           "parse_line", "parse_time", "time_at"]

#: role character -> what wrote the line
ROLES = {"X": "sentinel", "C": "child", "S": "replica", "M": "master"}
#: level character -> Redis log level
LEVELS = {".": "debug", "-": "verbose", "*": "notice", "#": "warning"}

HEADER = re.compile(rb"(\d+):([XCSM]) (\d{1,2}) ([A-Z][a-z]{2}) (\d{4}) (\d\d):(\d\d):(\d\d)\.(\d{3}) ([.*#-]) ")
#: month abbreviation (as Redis writes it, bytes) -> month number
MONTHS = {m.encode(): i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
#: lines read from the head of a file to decide whether it is a Redis log at all
FORMAT_PROBE_LINES = 50


class LogFormatError(InputError):
    """A file that is not a Redis / Sentinel log (no line in its first lines has the Redis prefix)."""

    def __init__(self, path: str, sample: str) -> None:
        self.path = path
        super().__init__(
            f"{path} is not a Redis log: no line like `1234:M 03 Dec 2026 13:05:01.123 * message` "
            f"in its first {FORMAT_PROBE_LINES} lines (first line: {sample!r})",
            hint="pass redis-server / redis-sentinel log files (`logfile` in redis.conf), Redis 3.0 or later")


@dataclass(frozen=True)
class LogLine:
    pid: int
    role: str  # a key of ROLES
    time: datetime
    level: str  # a key of LEVELS
    message: str

    @property
    def role_name(self) -> str:
        return ROLES[self.role]


def parse_time(match: re.Match[bytes]) -> datetime | None:
    """The timestamp of a :data:`HEADER` match; None for an impossible date (``31 Feb``).

    The minute is looked up in a small cache (a log's lines share their minute with
    many others), so a binary search on time costs a dict lookup per probe, not a
    date computation.
    """
    key = match.group(3, 4, 5, 6, 7)
    minute = _MINUTES.get(key)
    if minute is None:
        minute = _minute(key)
        if minute is None:
            return None
        if len(_MINUTES) > 4096:
            _MINUTES.clear()
        _MINUTES[key] = minute
    return minute + timedelta(seconds=int(match.group(8)), milliseconds=int(match.group(9)))


_MINUTES: dict[tuple[bytes, ...], datetime] = {}


def _minute(key: tuple[bytes, ...]) -> datetime | None:
    day, month_name, year, hour, minute = key
    month = MONTHS.get(month_name)
    if month is None:
        return None
    try:
        return datetime(int(year), month, int(day), int(hour), int(minute))
    except ValueError:
        return None


def parse_line(raw: bytes | str) -> LogLine | None:
    """A log line, or None when it lacks the Redis prefix (a raw crash-report line, garbage)."""
    data = raw.encode() if isinstance(raw, str) else raw
    match = HEADER.match(data)
    if match is None:
        return None
    when = parse_time(match)
    if when is None:
        return None
    message = data[match.end():].rstrip(b"\r\n").decode("utf-8", "replace")
    return LogLine(int(match.group(1)), match.group(2).decode(), when, match.group(10).decode(), message)


def check_format(path: str, head: bytes) -> None:
    """Raise :class:`LogFormatError` unless one of the first lines of ``head`` is a Redis log line.

    One good line is enough: a log may start with a crash report's raw lines or a
    line cut by rotation.  An empty file is a log with nothing in it.
    """
    lines = [line for line in head.split(b"\n")[:FORMAT_PROBE_LINES] if line.strip()]
    if not lines or any(HEADER.match(line) for line in lines):
        return
    if b"\0" in head[:4096]:
        raise LogFormatError(path, "<binary data>")
    raise LogFormatError(path, lines[0][:60].decode("utf-8", "replace"))


def time_at(buf: bytes, pos: int, end: int, tries: int = 16) -> tuple[datetime, int] | None:
    """The time of the first parseable line starting at or after ``pos``, and that line's start.

    ``pos`` may fall inside a line: the search starts at the next line (or at ``pos``
    when it is a line start).  Gives up after ``tries`` unparseable lines.
    """
    if pos > 0 and buf[pos - 1:pos] != b"\n":
        pos = buf.find(b"\n", pos, end)
        if pos < 0:
            return None
        pos += 1
    for _ in range(tries):
        if pos >= end:
            return None
        match = HEADER.match(buf, pos)
        if match is not None and (when := parse_time(match)) is not None:
            return when, pos
        nxt = buf.find(b"\n", pos, end)
        if nxt < 0:
            return None
        pos = nxt + 1
    return None


def first_at_or_after(buf: bytes, when: datetime, lo: int, hi: int, step: int = 4096) -> int:
    """Offset of the first line at or after ``when`` in ``buf[lo:hi]`` (``hi`` when there is none).

    A binary search over byte offsets: a log's lines are in time order (a child's
    lines can lag its parent's by a few milliseconds, which moves a boundary by a
    line at most).  Galloping from ``lo`` first (``step`` bytes, doubling) keeps
    consecutive searches (one per window) proportional to the window's size, not the
    file's.  ``lo`` is a line start, or inside a line known to be before ``when``.
    """
    answer, bound = hi, hi
    while lo + step < hi:  # gallop
        found = time_at(buf, lo + step, hi)
        if found is None:
            break
        if found[0] >= when:
            answer, bound = found[1], lo + step
            break
        lo, step = found[1] + 1, step * 2
    while lo < bound:  # the answer is a line starting in [lo, bound), else it is `answer`
        mid = (lo + bound) // 2
        found = time_at(buf, mid, answer)
        if found is None:
            bound = mid
        elif found[0] >= when:
            answer, bound = found[1], mid
        else:
            lo = found[1] + 1
    return answer
