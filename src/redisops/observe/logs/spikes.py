"""Rate spikes: windows in which a log wrote far more lines than it usually does.

A healthy node writes a few lines a minute (a BGSAVE is four); a replica in a resync
loop, a master dropping clients for their output buffers, a sentinel flapping, write
hundreds.  The baseline is the file's own: the median line count of its non-empty
windows.  A window is a spike when it holds at least :attr:`SpikeRule.factor` times the
baseline and at least :attr:`SpikeRule.min_lines` lines; with fewer than
:attr:`SpikeRule.min_windows` windows there is no baseline to compare with, and no
verdict.

Counting lines per window parses no line: window boundaries are found by binary search
on time (:func:`~.lines.first_at_or_after`), and the lines between two boundaries are
counted with ``bytes.count``, so the cost grows with the number of windows, not lines.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from redisops.observe.logs.lines import first_at_or_after, time_at

__all__ = ["Spike", "SpikeRule", "find_spikes", "window_counts", "window_spans"]


@dataclass(frozen=True)
class SpikeRule:
    window_s: float = 60.0  # one minute: Redis' own periodic lines (saves, cron) come minutes apart
    factor: float = 10.0  # ten times the usual rate: a resync loop or a flapping node, not a busy BGSAVE
    min_lines: int = 50  # fewer lines than this are never a spike, however quiet the file
    min_windows: int = 5  # a baseline needs a few windows of history


@dataclass(frozen=True)
class Spike:
    source: str
    start: datetime
    end: datetime
    lines: int
    baseline: float

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "start": self.start.isoformat(timespec="milliseconds"),
                "end": self.end.isoformat(timespec="milliseconds"), "lines": self.lines,
                "baseline": self.baseline, "ratio": round(self.lines / self.baseline, 1),
                "summary": self.summary()}

    def summary(self) -> str:
        return (f"{self.source}: {self.lines} lines in {self.start:%H:%M:%S}-{self.end:%H:%M:%S}, "
                f"{self.lines / self.baseline:.0f}x its usual {self.baseline:g} a window")


def window_counts(buf: bytes, window: timedelta, start: int = 0, end: int | None = None,
                  origin: datetime | None = None) -> list[tuple[datetime, int]]:
    """``(window start, lines)`` for every non-empty window of ``buf[start:end]``, in order."""
    return [(lo, n) for lo, n, _ in window_spans(buf, window, start, end, origin)]


def window_spans(buf: bytes, window: timedelta, start: int = 0, end: int | None = None,
                 origin: datetime | None = None) -> list[tuple[datetime, int, int]]:
    """``(window start, lines, offset of its first line)`` for every non-empty window of ``buf[start:end]``.

    Windows are aligned on ``origin`` (default: the first line's time), so the counts
    of consecutive chunks of one file add up; an empty stretch (a quiet hour) is
    skipped in one search.
    """
    end = len(buf) if end is None else end
    out: list[tuple[datetime, int, int]] = []
    first = time_at(buf, start, end)
    if first is None:
        return out
    origin = first[0] if origin is None else origin
    pos = first[1]
    while pos < end:
        found = time_at(buf, pos, end)
        if found is None:
            break
        when, pos = found
        index = (when - origin) // window
        lo = origin + index * window
        nxt = first_at_or_after(buf, lo + window, pos, end)
        unterminated = nxt == end and buf[end - 1:end] != b"\n"
        out.append((lo, buf.count(b"\n", pos, nxt) + unterminated, pos))
        if nxt <= pos:
            break
        pos = nxt
    return out


def find_spikes(counts: list[tuple[datetime, int]], source: str, rule: SpikeRule) -> list[Spike]:
    """The spikes among a file's window counts (:func:`window_counts`, chunks merged)."""
    if len(counts) < rule.min_windows:
        return []
    baseline = statistics.median(n for _, n in counts)
    window = timedelta(seconds=rule.window_s)
    return [Spike(source, lo, lo + window, n, baseline) for lo, n in counts
            if n >= rule.min_lines and n >= rule.factor * baseline]
