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

__all__ = ["Spike", "SpikeRule", "find_spikes", "window_bounds", "window_counts", "window_spans"]


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
    """``(window start, lines, offset of its first line)`` for every non-empty window of ``buf[start:end]``."""
    end = len(buf) if end is None else end
    return [(lo, buf.count(b"\n", pos, nxt) + (nxt == end and buf[end - 1:end] != b"\n"), pos)
            for lo, pos, nxt in window_bounds(buf, window, start, end, origin)]


def window_bounds(buf: bytes, window: timedelta, start: int = 0, end: int | None = None,
                  origin: datetime | None = None) -> list[tuple[datetime, int, int]]:
    """``(window start, offset of its first line, offset past its last line)`` for every non-empty window.

    Windows are aligned on ``origin`` (default: the first line's time), so the counts
    of consecutive chunks of one file add up; an empty stretch (a quiet hour) is
    skipped in one search.  No line end is counted here: the scanner counts them
    once, for its findings' line numbers and these bounds together.
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
        lo = origin + ((when - origin) // window) * window
        rate = (pos - first[1]) / max((when - first[0]).total_seconds(), 1e-3)  # bytes a second so far
        nxt = _boundary(buf, lo + window, pos, end, pos + int(rate * (lo + window - when).total_seconds()))
        out.append((lo, pos, max(nxt, pos)))
        if nxt <= pos:
            break
        pos = nxt
    return out


def _boundary(buf: bytes, when: datetime, pos: int, end: int, guess: int) -> int:
    """``first_at_or_after(buf, when, pos, end)``, searched from ``guess`` (where the log's rate puts it).

    A log writes at a roughly even rate, so the guess is usually a few lines off: a
    gallop of a few hundred bytes either way brackets the answer, and the binary search
    runs over that bracket rather than over the whole window (24 probes a window -> 16).
    """
    found = time_at(buf, guess, end) if pos < guess < end else None
    if found is None:
        return first_at_or_after(buf, when, pos, end)
    if found[0] < when:
        return first_at_or_after(buf, when, found[1] + 1, end, step=_NEAR)
    hi, step = found[1], _NEAR  # the answer is this line or one before it
    while hi - step > pos:
        below = time_at(buf, hi - step, hi)
        if below is not None:
            if below[0] < when:
                return first_at_or_after(buf, when, below[1] + 1, hi)
            hi = below[1]
        step *= 2
    return first_at_or_after(buf, when, pos, hi)


#: the first gallop step around a guessed window boundary: a few lines
_NEAR = 512


def find_spikes(counts: list[tuple[datetime, int]], source: str, rule: SpikeRule) -> list[Spike]:
    """The spikes among a file's window counts (:func:`window_counts`, chunks merged)."""
    if len(counts) < rule.min_windows:
        return []
    baseline = statistics.median(n for _, n in counts)
    window = timedelta(seconds=rule.window_s)
    return [Spike(source, lo, lo + window, n, baseline) for lo, n in counts
            if n >= rule.min_lines and n >= rule.factor * baseline]
