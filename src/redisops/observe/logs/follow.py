"""``logs scan --follow``: findings and incidents from lines as the nodes write them.

Like ``tail -F``: each file is read from its end (or from ``since``), polled every
``poll_s``; a file that shrank (rotated or truncated) is read again from its start.
Only whole lines are scanned, so a line being written is read on the next poll.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from redisops.clock import Clock, SystemClock
from redisops.observe.logs.findings import Finding, find_in
from redisops.observe.logs.incidents import Correlator, Incident
from redisops.observe.logs.scan import LogSource

__all__ = ["follow"]

Event = Finding | Incident


@dataclass
class _Tail:
    source: LogSource
    offset: int
    line: int = 1
    rest: bytes = b""

    def read(self) -> bytes:
        try:
            with open(self.source.path, "rb") as handle:
                handle.seek(0, 2)
                size = handle.tell()
                if size < self.offset:  # rotated or truncated: start again
                    self.offset, self.line, self.rest = 0, 1, b""
                handle.seek(self.offset)
                data = handle.read(size - self.offset)
        except OSError:
            return b""
        self.offset += len(data)
        data = self.rest + data
        cut = data.rfind(b"\n") + 1
        self.rest = data[cut:]
        return data[:cut]


def follow(sources: Sequence[LogSource], stop: Callable[[], bool], *, since: datetime | None = None,
           poll_s: float = 0.5, clock: Clock | None = None) -> Iterator[Event]:
    """Findings as they are written, and each failover incident once it has switched master.

    Runs until ``stop()`` is true (checked every poll).  ``since``: first report what the
    files already hold from that time on (else only what is written from now on).
    """
    from_start = since is not None
    clock = clock or SystemClock()
    tails = [_Tail(s, 0) if from_start else _at_end(s) for s in sources]
    correlator, announced = Correlator(), set()
    while not stop():
        for tail in tails:
            chunk = tail.read()
            if not chunk:
                continue
            for finding in find_in(chunk, tail.source.name, first_line=tail.line):
                if since is not None and finding.time < since:
                    continue
                correlator.step(finding)
                yield finding
            tail.line += chunk.count(b"\n")
        for incident in correlator.incidents():
            key = (incident.group, incident.subject, incident.started)
            if incident.kind in ("failover", "cluster-failover") and key not in announced:
                announced.add(key)
                yield incident
        clock.sleep(poll_s)


def _at_end(source: LogSource) -> _Tail:
    """A tail at the file's end, numbering lines as the file does."""
    try:
        data = source.path.read_bytes()
    except OSError:
        return _Tail(source, 0)
    return _Tail(source, len(data), data.count(b"\n") + 1)
