"""``logs scan``: which logs, read how, and the report.

Files are read in chunks of :data:`CHUNK` bytes cut at a line end, so a log of any size
takes bounded memory; each chunk is searched in one pass (:func:`~.findings.find_in`)
and its lines counted per time window for the spike detector.  ``since`` skips by
binary search on time to the first line to read, without looking at the lines before.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from redisops.errors import UsageError
from redisops.observe.logs.findings import Finding, find_in
from redisops.observe.logs.incidents import Incident, correlate
from redisops.observe.logs.lines import check_format, first_at_or_after, time_at
from redisops.observe.logs.signatures import SIGNATURES, Severity
from redisops.observe.logs.spikes import Spike, SpikeRule, find_spikes, window_spans

__all__ = ["CHUNK", "LogSource", "ScanOptions", "ScanReport", "file_sources", "parse_duration", "scan",
           "spec_sources"]

#: bytes read at a time: large enough that the regex engine, not Python, sets the pace
CHUNK = 16 * 1024 * 1024
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
    from redisops.runtime.plan import build_plan
    from redisops.spec.secrets import Secrets

    plan = build_plan(spec)
    no_passwords = Secrets("", "")  # where the logs are needs no password
    runtime = LocalRuntime(plan, spec_file.parent.resolve() / ".redisops" / spec.name, no_passwords)
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
    findings.sort(key=lambda f: f.time)
    return ScanReport(present, findings, correlate(findings), spikes, options.fail_on, total, missing)


def _scan_file(source: LogSource, options: ScanOptions) -> tuple[list[Finding], list[tuple[datetime, int]], int]:
    findings: list[Finding] = []
    counts: dict[datetime, int] = {}
    window = timedelta(seconds=options.spikes.window_s)
    origin: datetime | None = None
    line_no, read = 1, 0
    for chunk, end in _chunks(source.path, _check(source)):
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
        spans = window_spans(chunk, window, start, end, origin=origin)
        checkpoints: list[tuple[int, int]] = []  # (offset of a window's first line, its line number)
        number = line_no + (chunk.count(b"\n", start, spans[0][2]) if spans else 0)
        for lo, n, offset in spans:
            counts[lo] = counts.get(lo, 0) + n
            checkpoints.append((offset, number))
            number += n
        findings.extend(find_in(chunk, source.name, start=start, end=end, first_line=line_no,
                                checkpoints=checkpoints))
        line_no = number if spans else line_no + chunk.count(b"\n", start, end)
    return findings, sorted(counts.items()), read


def _check(source: LogSource) -> Callable[[bytes], None]:
    return lambda head: check_format(str(source.path), head)


def _chunks(path: Path, check: Callable[[bytes], None]) -> Iterator[tuple[bytes, int]]:
    """``(buffer, end)``: the file in pieces, ``buffer[:end]`` ending at a line end (the file's last may not).

    Nothing is copied after the read: the bytes past the last line end are read again
    with the next piece (a seek back), rather than sliced off and glued to it, which
    on a 200 MB log cost two extra passes over memory.  ``check`` sees the file's head.
    """
    with open(path, "rb") as handle:
        data = handle.read(CHUNK)
        check(data[:65536])
        while data:
            if len(data) < CHUNK:  # the rest of the file
                yield data, len(data)
                return
            cut = data.rfind(b"\n") + 1
            while cut == 0:  # a line longer than a chunk
                more = handle.read(CHUNK)
                if not more:
                    yield data, len(data)
                    return
                data += more
                cut = data.rfind(b"\n") + 1
            handle.seek(cut - len(data), os.SEEK_CUR)
            yield data, cut
            data = handle.read(CHUNK)


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
