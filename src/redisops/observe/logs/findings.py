"""Finding the signatures in a buffer of log text: the scanner's inner loop.

:func:`find_in` runs :data:`~.signatures.MATCHER` over a whole buffer (a file, or a
chunk of it cut at a line end) and builds a :class:`Finding` only for the lines it
matched, so the cost of a quiet line is the regex engine's, in C.

The cost of a matched line is what decides throughput on a troubled log (1 line in
100 is 20,000 findings in 200 MB), so a finding keeps its line's bytes and parses
them only when asked: the time (a minute looked up in a cache, validated when the
finding is made, plus seconds), the pid, the role and the message are read on first
use.  Most findings are only counted and sorted; the report reads a few samples.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from redisops.observe.logs.lines import MONTHS
from redisops.observe.logs.signatures import (
    LEVEL_AT,
    MATCHER,
    MESSAGE_AT,
    SIGNATURES,
    Severity,
    Signature,
    signature_of,
)

__all__ = ["Finding", "find_in", "minute_of"]

#: longer messages (a CLIENT LIST entry in an output-buffer line) are cut in reports
MESSAGE_CHARS = 400

#: signature id -> its index in SIGNATURES
INDEX = {sig.id: i for i, sig in enumerate(SIGNATURES)}
# offsets from the colon after the pid (``MATCHER``'s match start) in ``pid:R DD Mon YYYY HH:MM:SS.mmm L msg``
_MINUTE_AT, _SECOND_AT, _MILLI_AT = 3, 21, 24


class Finding:
    """One matched line: its signature, where it is, and (read on demand) its time, pid, role and message."""

    __slots__ = ("_colon", "_raw", "_time", "line", "minute", "signature", "source")

    def __init__(self, signature: Signature, source: str, line: int, raw: bytes, colon: int,
                 minute: datetime) -> None:
        self.signature = signature
        self.source = source  # the node name, or the file's path
        self.line = line  # 1-based line number in the file
        self.minute = minute  # the line's time to the minute (validated when found)
        self._raw = raw  # the line, without its line end
        self._colon = colon  # offset of the colon after the pid in raw
        self._time: datetime | None = None

    @property
    def time(self) -> datetime:
        if self._time is None:
            at = self._colon
            self._time = self.minute + timedelta(0, int(self._raw[at + _SECOND_AT:at + _SECOND_AT + 2]), 0,
                                                 int(self._raw[at + _MILLI_AT:at + _MILLI_AT + 3]))  # s, ms
        return self._time

    @property
    def sort_key(self) -> tuple[datetime, bytes]:
        """Orders like :attr:`time` without computing it: the minute, then ``SS.mmm`` (fixed width)."""
        return self.minute, self._raw[self._colon + _SECOND_AT:self._colon + _MILLI_AT + 3]

    @property
    def pid(self) -> int:
        return int(self._raw[:self._colon])

    @property
    def role(self) -> str:  # a key of lines.ROLES
        return chr(self._raw[self._colon + 1])

    @property
    def message(self) -> str:
        return self._raw[self._colon + MESSAGE_AT:].rstrip(b"\r")[:MESSAGE_CHARS].decode("utf-8", "replace")

    @property
    def severity(self) -> Severity:
        return self.signature.severity

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Finding):
            return NotImplemented
        return (self.signature, self.source, self.line, self._raw) == (other.signature, other.source, other.line,
                                                                      other._raw)

    def __hash__(self) -> int:
        return hash((self.signature.id, self.source, self.line, self._raw))

    def __repr__(self) -> str:
        return f"Finding({self.signature.id!r}, {self.source!r}, line {self.line}, {self.message[:60]!r})"

    def packed(self) -> tuple[int, int, bytes, int]:
        """What another process needs to make this finding again (:meth:`unpack`): its signature as an index."""
        return INDEX[self.signature.id], self.line, self._raw, self._colon

    @classmethod
    def unpack(cls, source: str, packed: tuple[int, int, bytes, int]) -> Finding:
        index, line, raw, colon = packed
        minute = minute_of(raw[colon + _MINUTE_AT:colon + _MINUTE_AT + 17])
        assert minute is not None  # it was valid where the finding was made
        return cls(SIGNATURES[index], source, line, raw, colon, minute)

    def to_dict(self) -> dict[str, Any]:
        return {"signature": self.signature.id, "severity": str(self.severity), "source": self.source,
                "line": self.line, "time": self.time.isoformat(timespec="milliseconds"), "pid": self.pid,
                "role": self.role, "message": self.message}


def minute_of(stamp: bytes) -> datetime | None:
    """``DD Mon YYYY HH:MM`` -> that minute, None for an impossible date (``31 Feb``); cached."""
    minute = _MINUTES.get(stamp, _MISSING)
    if minute is _MISSING:
        minute = _minute(stamp)
        if len(_MINUTES) > 65536:
            _MINUTES.clear()
        _MINUTES[stamp] = minute
    return minute


_MISSING = datetime.min
#: what MATCHER's ``.{24}`` must hold, as :data:`~.lines.HEADER` reads it (checked here, on matched lines only:
#: spelling it out in MATCHER doubles the time of the search)
_MINUTE_SHAPE = re.compile(rb"\d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d")
_SECONDS_SHAPE = re.compile(rb":\d\d\.\d{3}")
_MINUTES: dict[bytes, datetime | None] = {}


def _minute(stamp: bytes) -> datetime | None:
    if _MINUTE_SHAPE.fullmatch(stamp) is None:
        return None
    month = MONTHS.get(stamp[3:6])
    if month is None:
        return None
    try:
        return datetime(int(stamp[7:11]), month, int(stamp[:2]), int(stamp[12:14]), int(stamp[15:17]))
    except ValueError:
        return None


def find_in(buf: bytes, source: str, *, start: int = 0, end: int | None = None, first_line: int = 1,
            marks: Sequence[int] = (), mark_lines: list[int] | None = None) -> Iterator[Finding]:
    """Findings in ``buf[start:end]``, which begins at line ``first_line`` of the file, in line order.

    Line ends are counted once, from one finding to the next.  ``marks``: offsets of
    line starts (sorted) whose line numbers the caller wants too (the spike detector's
    window boundaries); they are counted on the same pass and appended to
    ``mark_lines``, all of them once the generator is exhausted.

    A match counts only when it sits right after a line's Redis prefix (the pid runs
    from the line's start to the colon), so text quoted inside a message never
    matches; a match ends inside its line, so there is one finding per line at most.
    """
    end = len(buf) if end is None else end
    line_no, counted_to = first_line, start
    next_mark, todo = 0, len(marks)
    next_at = marks[0] if marks else end + 1  # the next mark's offset, past the buffer when none is left
    count, rfind, find, minutes = buf.count, buf.rfind, buf.find, _MINUTES
    for match in MATCHER.finditer(buf, start, end):
        at = match.start()
        line_start = rfind(b"\n", start, at) + 1 if at > start else start
        if line_start == at or not buf[line_start:at].isdigit():
            continue
        stamp = buf[at + _MINUTE_AT:at + _MINUTE_AT + 17]
        minute = minutes.get(stamp) or minute_of(stamp)
        signature = signature_of(buf, buf[at + LEVEL_AT], at + MESSAGE_AT)
        if minute is None or signature is None or _SECONDS_SHAPE.fullmatch(buf, at + 20, at + 27) is None:
            continue
        while next_at <= line_start:
            line_no += count(b"\n", counted_to, next_at)
            counted_to = next_at
            if mark_lines is not None:
                mark_lines.append(line_no)
            next_mark += 1
            next_at = marks[next_mark] if next_mark < todo else end + 1
        line_no += count(b"\n", counted_to, line_start)
        counted_to = line_start
        line_end = find(b"\n", match.end(), end)
        yield Finding(signature, source, line_no, buf[line_start:end if line_end < 0 else line_end], at - line_start,
                      minute)
    while next_mark < todo:
        line_no += count(b"\n", counted_to, marks[next_mark])
        counted_to = marks[next_mark]
        if mark_lines is not None:
            mark_lines.append(line_no)
        next_mark += 1

