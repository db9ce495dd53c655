"""``logs scan``: which logs, read how, and the report.

Files are read in chunks of :data:`CHUNK` bytes cut at a line end, so a log of any size
takes bounded memory; each chunk is searched in one pass (:func:`~.findings.find_in`)
and its lines counted per time window for the spike detector.  ``since`` skips by
binary search on time to the first line to read, without looking at the lines before.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from redisops.errors import UsageError
from redisops.observe.logs.findings import Finding, find_in
from redisops.observe.logs.incidents import Correlator, Incident
from redisops.observe.logs.lines import check_format, first_at_or_after, time_at
from redisops.observe.logs.signatures import SIGNATURES, Severity
from redisops.observe.logs.spikes import Spike, SpikeRule, find_spikes, window_bounds

__all__ = ["CHUNK", "MAX_PIECES", "PIECE_MIN", "LogSource", "ScanOptions", "ScanReport", "file_sources",
           "idle_cpus", "parse_duration", "pieces", "scan",
           "spec_sources"]

#: bytes read at a time: large enough that the regex engine, not Python, sets the pace
CHUNK = 16 * 1024 * 1024
#: a file is cut into pieces for several processes only when each gets at least this much
PIECE_MIN = 32 * 1024 * 1024
#: at most this many processes for one file
MAX_PIECES = 4
#: findings listed per signature in a report (all of them are counted)
SAMPLES = 5
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class LogSource:
    name: str  # the node's name, or the path as given
    path: Path


@dataclass(frozen=True)
class ScanOptions:
    since: datetime | None = None
    fail_on: Severity = Severity.WARNING
    spikes: SpikeRule = SpikeRule()
    workers: int | None = None  # processes for one large file (None: one an idle CPU, up to MAX_PIECES; 1: this one)


@dataclass
class ScanReport:
    sources: list[LogSource]
    findings: list[Finding]
    incidents: list[Incident]
    spikes: list[Spike]
    fail_on: Severity
    bytes_read: int = 0
    missing: list[LogSource] = field(default_factory=list)

    @property
    def worst(self) -> Severity | None:
        levels = [f.severity for f in self.findings] + [i.severity for i in self.incidents]
        levels += [Severity.WARNING for _ in self.spikes]
        return max(levels, default=None)

    @property
    def exit_code(self) -> int:
        """1 when anything at or above ``fail_on`` was found, else 0."""
        return 1 if self.worst is not None and self.worst >= self.fail_on else 0

    def by_signature(self) -> list[tuple[str, list[Finding]]]:
        groups: dict[str, list[Finding]] = {}
        for finding in self.findings:
            groups.setdefault(finding.signature.id, []).append(finding)
        order = {s.id: i for i, s in enumerate(SIGNATURES)}
        return sorted(groups.items(), key=lambda kv: (-kv[1][0].severity, order[kv[0]]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "sources": [{"name": s.name, "path": str(s.path)} for s in self.sources],
            "missing": [{"name": s.name, "path": str(s.path)} for s in self.missing],
            "bytes": self.bytes_read, "fail_on": str(self.fail_on),
            "worst": None if self.worst is None else str(self.worst),
            "counts": {str(s): sum(1 for f in self.findings if f.severity is s) for s in Severity},
            "signatures": [{"id": sig, "severity": str(found[0].severity), "title": found[0].signature.title,
                            "count": len(found), "sources": sorted({f.source for f in found}),
                            "first": found[0].time.isoformat(timespec="milliseconds"),
                            "last": found[-1].time.isoformat(timespec="milliseconds"),
                            "samples": [f.to_dict() for f in found[:SAMPLES]]}
                           for sig, found in self.by_signature()],
            "incidents": [i.to_dict() for i in self.incidents],
            "spikes": [s.to_dict() for s in self.spikes],
            "exit_code": self.exit_code,
        }


def parse_duration(text: str) -> timedelta:
    """``90s``, ``10m``, ``2h``, ``1d`` (a bare number is seconds)."""
    value, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "s")
    try:
        amount = float(value)
    except ValueError:
        raise UsageError(f"--since {text!r} is not a duration", hint="use e.g. 90s, 10m, 2h or 1d") from None
    if amount < 0:
        raise UsageError(f"--since {text!r} is negative", hint="use e.g. 90s, 10m, 2h or 1d")
    return timedelta(seconds=amount * _UNITS[unit])


def file_sources(paths: Sequence[Path]) -> list[LogSource]:
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise UsageError(f"no such log file: {', '.join(missing)}", hint="pass paths of existing log files")
    return [LogSource(str(p), p) for p in paths]


def spec_sources(spec: Any, spec_file: Path) -> list[LogSource]:
    """Every node's log of the spec (``.redisops/<name>/<node>/redis.log`` or ``sentinel.log``)."""
    from redisops.runtime.local import LocalRuntime
    from redisops.runtime.plan import build_plan, state_dir
    from redisops.spec.secrets import Secrets

    plan = build_plan(spec)
    no_passwords = Secrets("", "")  # where the logs are needs no password
    runtime = LocalRuntime(plan, state_dir(spec, spec_file), no_passwords)
    return [LogSource(node.name, runtime.log_path(node)) for node in plan.nodes]


def scan(sources: Iterable[LogSource], options: ScanOptions = ScanOptions()) -> ScanReport:
    """Read every source; findings, the incidents they make, and rate spikes."""
    present, missing, findings, spikes, total = [], [], [], [], 0
    for source in sources:
        if not source.path.is_file():
            missing.append(source)
            continue
        present.append(source)
        found, counts, read = _scan_file(source, options)
        findings.extend(found)
        spikes.extend(find_spikes(counts, source.name, options.spikes))
        total += read
    if not present:
        where = ", ".join(str(s.path) for s in missing[:3]) or "nothing"
        raise UsageError(f"no log file to scan (looked for {where})",
                         hint="start the nodes with `redisops up`, or pass log files: `redisops logs scan FILE...`")
    findings.sort(key=lambda f: f.sort_key)
    correlator = Correlator()
    for finding in findings:  # sorted already: no second sort in correlate()
        correlator.step(finding)
    return ScanReport(present, findings, correlator.incidents(), spikes, options.fail_on, total, missing)


def _scan_file(source: LogSource, options: ScanOptions) -> tuple[list[Finding], list[tuple[datetime, int]], int]:
    """One file, in pieces on several processes when it is large (see :func:`pieces`), else in this one."""
    ranges = pieces(source.path, options)
    if len(ranges) < 2:
        found, counts, read, _ = _scan_range(source, options, 0, None, None, check=True)
        return found, sorted(counts.items()), read
    with open(source.path, "rb") as handle:
        head = handle.read(65536)
    check_format(str(source.path), head)
    first = time_at(head, 0, len(head))
    origin = None if first is None else first[0]  # windows aligned on the file's first line, in every piece
    context = multiprocessing.get_context("fork")
    with context.Pool(len(ranges) - 1) as pool:
        later = [pool.apply_async(_scan_piece, (source, options, lo, hi, origin)) for lo, hi in ranges[1:]]
        results = [_scan_range(source, options, *ranges[0], origin), *(_unpack(source, job.get()) for job in later)]
    findings, counts, total, lines_before = [], {}, 0, 0
    for found, piece_counts, read, lines in results:
        for finding in found:
            finding.line += lines_before
        findings.extend(found)
        for lo, n in piece_counts.items():  # a window cut by a piece's end is counted in both
            counts[lo] = counts.get(lo, 0) + n
        total += read
        lines_before += lines
    return findings, sorted(counts.items()), total


_Packed = tuple[list[tuple[int, int, bytes, int]], dict[datetime, int], int, int]
_Scanned = tuple[list[Finding], dict[datetime, int], int, int]


def _scan_piece(source: LogSource, options: ScanOptions, begin: int, stop: int | None,
                origin: datetime | None) -> _Packed:
    """:func:`_scan_range` in another process: findings as plain tuples, 10x cheaper to pickle than objects."""
    found, counts, read, lines = _scan_range(source, options, begin, stop, origin)
    return [f.packed() for f in found], counts, read, lines


def _unpack(source: LogSource, packed: _Packed) -> _Scanned:
    found, counts, read, lines = packed
    return [Finding.unpack(source.name, item) for item in found], counts, read, lines


def idle_cpus() -> int:
    """CPUs this process may use, less the 1-minute load average (at least 1).

    On a busy machine a second process only waits for a CPU, and its findings still
    cost a pickling each way: measured on 2 CPUs under a load of 3, two processes were
    10 % slower than one.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        load = os.getloadavg()[0]
    except OSError:  # not available on this platform
        load = 0.0
    return max(1, cpus - round(load))


def pieces(path: Path, options: ScanOptions) -> list[tuple[int, int | None]]:
    """Byte ranges cut at line ends, one per process: several only for a large file, an idle CPU each.

    Each piece is searched by its own process (Python's regex engine holds the GIL),
    started by ``fork`` (no import, no copy of the buffers: a piece is read by its
    process); findings come back pickled, a few bytes each.  Not with ``since`` (the
    windows' origin is the first line read, found while reading), not where fork is
    unsafe or unavailable (a process running threads, no fork on the platform).
    """
    workers = idle_cpus() if options.workers is None else options.workers
    workers = min(workers, MAX_PIECES)
    size = path.stat().st_size
    count = min(workers, size // PIECE_MIN)
    if (count < 2 or options.since is not None or threading.active_count() > 1
            or "fork" not in multiprocessing.get_all_start_methods()):
        return [(0, None)]
    cuts = [0]
    with open(path, "rb") as handle:
        for k in range(1, count):
            handle.seek(size * k // count)
            tail = handle.read(CHUNK)
            newline = tail.find(b"\n")
            if newline < 0:
                break
            cut = size * k // count + newline + 1
            if cut > cuts[-1] and cut < size:
                cuts.append(cut)
    return [(lo, hi) for lo, hi in zip(cuts, [*cuts[1:], None], strict=True)]


def _scan_range(source: LogSource, options: ScanOptions, begin: int, stop: int | None, origin: datetime | None,
                *, check: bool = False) -> _Scanned:
    """Findings (line numbers counted from ``begin``), lines per window, bytes read and lines in the range."""
    findings: list[Finding] = []
    counts: dict[datetime, int] = {}
    window = timedelta(seconds=options.spikes.window_s)
    line_no, read = 1, 0
    checker = _check(source) if check else None
    for chunk, end in _chunks(source.path, checker, begin, stop):
        start = 0
        if options.since is not None:
            last = _last_time(chunk, end)
            if last is not None and last < options.since:
                line_no += chunk.count(b"\n", 0, end)
                continue
            start = first_at_or_after(chunk, options.since, 0, end)
            line_no += chunk.count(b"\n", 0, start)
        read += end - start
        if origin is None and (head := time_at(chunk, start, end)) is not None:
            origin = head[0]
        bounds = window_bounds(chunk, window, start, end, origin=origin)
        marks = [offset for _, first, past in bounds for offset in (first, past)]
        marks.append(end)
        mark_lines: list[int] = []  # the line number at each mark, counted on the findings' pass
        findings.extend(find_in(chunk, source.name, start=start, end=end, first_line=line_no, marks=marks,
                                mark_lines=mark_lines))
        unterminated = chunk[end - 1:end] != b"\n"
        for i, (lo, _, past) in enumerate(bounds):
            lines = mark_lines[2 * i + 1] - mark_lines[2 * i] + (past == end and unterminated)
            counts[lo] = counts.get(lo, 0) + lines
        line_no = mark_lines[-1]
    return findings, counts, read, line_no - 1


def _check(source: LogSource) -> Callable[[bytes], None]:
    return lambda head: check_format(str(source.path), head)


def _chunks(path: Path, check: Callable[[bytes], None] | None, begin: int = 0,
            stop: int | None = None) -> Iterator[tuple[bytes, int]]:
    """``(buffer, end)``: ``path[begin:stop]`` in pieces, ``buffer[:end]`` ending at a line end (the last may not).

    Nothing is copied after the read: the bytes past the last line end are read again
    with the next piece (a seek back), rather than sliced off and glued to it, which
    on a 200 MB log cost two extra passes over memory.  ``check`` sees the file's head.
    ``stop`` (a line start, or None for the file's end) bounds what is read.
    """
    with open(path, "rb") as handle:
        handle.seek(begin)
        left = None if stop is None else stop - begin

        def read() -> bytes:
            nonlocal left
            if left is None:
                return handle.read(CHUNK)
            data = handle.read(min(CHUNK, left))
            left -= len(data)
            return data

        data = read()
        if check is not None:
            check(data[:65536])
        while data:
            if len(data) < CHUNK:  # the rest of the range
                yield data, len(data)
                return
            cut = data.rfind(b"\n") + 1
            while cut == 0:  # a line longer than a chunk
                more = read()
                if not more:
                    yield data, len(data)
                    return
                data += more
                cut = data.rfind(b"\n") + 1
            handle.seek(cut - len(data), os.SEEK_CUR)
            if left is not None:
                left += len(data) - cut
            yield data, cut
            data = read()


def _last_time(chunk: bytes, end: int) -> datetime | None:
    """The time of one of the piece's last lines (a few lines back when the last ones are raw)."""
    pos = end
    for _ in range(16):
        pos = chunk.rfind(b"\n", 0, max(pos - 1, 0))
        found = time_at(chunk, pos + 1, end)
        if found is not None:
            return found[0]
        if pos < 0:
            return None
    return None
