"""Finding the signatures in a buffer of log text: the scanner's inner loop.

:func:`find_in` runs :data:`~.signatures.MATCHER` over a whole buffer (a file, or a
chunk of it cut at a line end) and builds a :class:`Finding` only for the lines it
matched, so the cost of a quiet line is the regex engine's, in C.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redisops.observe.logs.lines import HEADER, parse_time
from redisops.observe.logs.signatures import LEVEL_AT, MATCHER, MESSAGE_AT, Severity, Signature, signature_of

__all__ = ["Finding", "find_in"]

#: longer messages (a CLIENT LIST entry in an output-buffer line) are cut in reports
MESSAGE_CHARS = 400


@dataclass(frozen=True)
class Finding:
    signature: Signature
    source: str  # the node name, or the file's path
    line: int  # 1-based line number in the file
    time: datetime
    pid: int
    role: str  # a key of lines.ROLES
    message: str

    @property
    def severity(self) -> Severity:
        return self.signature.severity

    def to_dict(self) -> dict[str, Any]:
        return {"signature": self.signature.id, "severity": str(self.severity), "source": self.source,
                "line": self.line, "time": self.time.isoformat(timespec="milliseconds"), "pid": self.pid,
                "role": self.role, "message": self.message}


def find_in(buf: bytes, source: str, *, start: int = 0, end: int | None = None, first_line: int = 1,
            checkpoints: Sequence[tuple[int, int]] = ()) -> Iterator[Finding]:
    """Findings in ``buf[start:end]``, which begins at line ``first_line`` of the file, in line order.

    ``checkpoints``: ``(offset of a line start, its line number)`` known already (the
    spike detector's window boundaries, sorted), so that numbering a finding counts
    the newlines from the closest one instead of from the previous finding: the
    buffer is not scanned a second time for line ends.

    A match counts only when it sits right after a line's Redis prefix, so text quoted
    inside a message never matches; a match ends inside its line, so there is one
    finding per line at most.
    """
    end = len(buf) if end is None else end
    line_no, counted_to = first_line, start
    offsets = [offset for offset, _ in checkpoints]
    for match in MATCHER.finditer(buf, start, end):
        at = match.start()
        line_start = buf.rfind(b"\n", start, at) + 1 if at > start else start
        header = HEADER.match(buf, line_start)
        if header is None or header.end() != at + MESSAGE_AT:  # the colon is the one after the pid
            continue
        when = parse_time(header)
        signature = signature_of(buf, buf[at + LEVEL_AT], at + MESSAGE_AT)
        if when is None or signature is None:
            continue
        closest = bisect.bisect_right(offsets, line_start) - 1
        if closest >= 0 and offsets[closest] > counted_to:
            counted_to, line_no = checkpoints[closest]
        line_no += buf.count(b"\n", counted_to, line_start)
        counted_to = line_start
        line_end = buf.find(b"\n", match.end(), end)
        text = buf[at + MESSAGE_AT:end if line_end < 0 else line_end].rstrip(b"\r")
        yield Finding(signature, source, line_no, when, int(header.group(1)), header.group(2).decode(),
                      text[:MESSAGE_CHARS].decode("utf-8", "replace"))
