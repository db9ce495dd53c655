"""Scanning the corpus of real logs (tests/logs_corpus/run1: written by redis 7.0.15 while tests/logs_corpus/capture.py
killed a Sentinel master, then the next one lost its sentinels' contact, broke a replica's sync with a tiny output
buffer, failed a BGSAVE, sent HTTP to a replica and killed a cluster master): incidents, planted conditions, --since,
rate spikes, follow mode."""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from redisops.clock import FakeClock
from redisops.observe.logs import Finding, Incident, LogSource, ScanOptions, SpikeRule, follow, scan
from redisops.observe.logs.lines import first_at_or_after
from redisops.observe.logs.spikes import find_spikes, window_counts

RUN1 = Path(__file__).resolve().parents[1] / "logs_corpus" / "run1"


def corpus() -> list[LogSource]:
    return [LogSource(p.stem, p) for p in sorted(RUN1.glob("*.log"))]


def test_corpus_incidents_one_per_failover() -> None:
    report = scan(corpus())
    failovers = [(i.group, i.subject, i.new_master) for i in report.incidents if i.kind == "failover"]
    assert failovers == [("mymaster", "127.0.0.1:11850", "127.0.0.1:11851"),
                         ("mymaster", "127.0.0.1:11851", "127.0.0.1:11852")]
    first = next(i for i in report.incidents if i.kind == "failover")
    assert first.reporters == {"mymaster-sentinel-0", "mymaster-sentinel-1", "mymaster-sentinel-2"}
    assert first.leader == "mymaster-sentinel-0"
    cluster = [i for i in report.incidents if i.group == "cluster"]
    assert [(i.kind, i.subject, i.leader) for i in cluster] == [
        ("cluster-failover", "8aa20aa8c3bb6aa7963a67adcd4f53ebc0ed2d70", "main-3")]
    assert len(report.incidents) == 3


def test_corpus_planted_conditions_are_found() -> None:
    found: dict[str, set[str]] = {}
    for finding in scan(corpus()).findings:
        found.setdefault(finding.signature.id, set()).add(finding.source)
    planted = {  # condition caused by capture.py -> what the logs say, and where
        "security.attack": "mymaster-1",  # HTTP POST sent to the port
        "clients.output-buffer": "mymaster-1",  # client-output-buffer-limit replica 64kb, 2 MB writes
        "repl.psync-no-backlog": "mymaster-1",  # the replica cut off comes back: its offset is gone
        "persist.bgsave-error": "mymaster-1",  # dump.rdb replaced by a directory
        "persist.rdb-rename-error": "mymaster-1",
        "repl.sync-socket-error": "mymaster-2",  # its master killed
        "cluster.node-failing": "main-1",  # cluster master killed
        "cluster.failover-won": "main-3",
        "system.overcommit": "main-0",  # vm.overcommit_memory = 0 on this machine
    }
    assert {sig: node for sig, node in planted.items() if node in found.get(sig, ())} == planted


def test_exit_code_follows_fail_on() -> None:
    assert scan(corpus()).exit_code == 1
    quiet = [s for s in corpus() if s.name == "mymaster-sentinel-1"]
    from redisops.observe.logs import Severity

    assert scan(quiet, ScanOptions(fail_on=Severity.CRITICAL)).exit_code == 0
    assert scan(quiet, ScanOptions(fail_on=Severity.WARNING)).exit_code == 1


def test_since_skips_older_lines() -> None:
    report = scan(corpus(), ScanOptions(since=datetime(2026, 12, 3, 13, 32, 50)))
    assert report.findings and min(f.time for f in report.findings) >= datetime(2026, 12, 3, 13, 32, 50)
    assert [i.subject for i in report.incidents if i.kind == "failover"] == ["127.0.0.1:11851"]
    sentinel = next(f for f in report.findings if f.source == "mymaster-sentinel-0")
    lines = (RUN1 / "mymaster-sentinel-0.log").read_text().splitlines()
    assert sentinel.message in lines[sentinel.line - 1]  # line numbers still count the skipped lines


def _log(path: Path, per_second: list[int], start: datetime = datetime(2026, 12, 3, 10, 0, 0)) -> Path:
    """A log of real line shapes: per_second[i] lines in second i."""
    lines = []
    for second, count in enumerate(per_second):
        for k in range(count):
            when = start + timedelta(seconds=second, milliseconds=k * 1000 // max(count, 1))
            stamp = f"{when:%d %b %Y %H:%M:%S}.{when.microsecond // 1000:03d}"
            lines.append(f"27787:S {stamp} * MASTER <-> REPLICA sync started")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_rate_spike_against_the_files_own_baseline(tmp_path: Path) -> None:
    quiet = [2] * 30
    path = _log(tmp_path / "redis.log", quiet[:20] + [80] + quiet[20:])
    buf = path.read_bytes()
    counts = window_counts(buf, timedelta(seconds=1))
    assert [n for _, n in counts] == quiet[:20] + [80] + quiet[20:]
    spikes = find_spikes(counts, "n", SpikeRule(window_s=1, factor=10, min_lines=50))
    assert [(s.start.second, s.lines, s.baseline) for s in spikes] == [(20, 80, 2)]
    # the same burst in a file that is always that busy is no spike
    busy = _log(tmp_path / "busy.log", [80] * 10).read_bytes()
    assert find_spikes(window_counts(busy, timedelta(seconds=1)), "n", SpikeRule(window_s=1)) == []
    report = scan([LogSource("n", path)], ScanOptions(spikes=SpikeRule(window_s=1, factor=10, min_lines=50)))
    assert len(report.spikes) == 1 and report.exit_code == 1


def test_binary_search_on_time(tmp_path: Path) -> None:
    buf = _log(tmp_path / "r.log", [3] * 100).read_bytes()
    lines = buf.split(b"\n")
    for second in (0, 1, 50, 99):
        pos = first_at_or_after(buf, datetime(2026, 12, 3, 10) + timedelta(seconds=second), 0, len(buf))
        assert buf[:pos].count(b"\n") == 3 * second, second
        assert lines[3 * second] in buf[pos:pos + 200]
    assert first_at_or_after(buf, datetime(2026, 12, 4), 0, len(buf)) == len(buf)


def test_follow_reads_new_lines_and_announces_the_failover(tmp_path: Path) -> None:
    """Lines appended between polls (a rotation in between) give findings, then the failover once."""
    sentinel = (RUN1 / "mymaster-sentinel-0.log").read_bytes().splitlines(keepends=True)
    path = tmp_path / "sentinel.log"
    path.write_bytes(b"".join(sentinel[:5]))
    clock = FakeClock()
    polls = iter(range(6))
    chunks = [sentinel[5:20], sentinel[20:]]

    def stop() -> bool:
        n = next(polls, None)
        if n is None:
            return True
        if n in (1, 3) and chunks:
            with open(path, "ab") as out:
                out.write(b"".join(chunks.pop(0)))
        return False

    events = list(follow([LogSource("s0", path)], stop, clock=clock, poll_s=0.5))
    findings = [e for e in events if isinstance(e, Finding)]
    incidents = [e for e in events if isinstance(e, Incident)]
    assert [i.new_master for i in incidents] == ["127.0.0.1:11851", "127.0.0.1:11852"]
    assert findings[0].line > 5 and "+sdown" in findings[0].message  # from the end: old lines are not re-read
    assert clock.slept == [0.5] * 6


def test_small_chunks_give_the_same_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pieces cut at line ends, a line longer than a piece, no final newline: the same findings and line numbers."""
    big = tmp_path / "big.log"
    parts = [p.read_bytes() for p in sorted(RUN1.glob("mymaster-*.log"))]
    long_line = b"27787:M 03 Dec 2026 13:32:59.000 # Client id=9 " + b"x" * 10000 + b" closed for overcoming of " \
                b"output buffer limits.\n"
    big.write_bytes(b"".join(parts) + long_line + parts[0].rstrip(b"\n"))

    def report(window_s: float = 60) -> list[tuple[str, int, str]]:
        options = ScanOptions(spikes=SpikeRule(window_s=window_s))
        return [(f.signature.id, f.line, f.message[:40]) for f in scan([LogSource("b", big)], options).findings]

    whole = report()
    assert report(window_s=1) == whole  # line numbers counted from many window boundaries
    monkeypatch.setattr(importlib.import_module("redisops.observe.logs.scan"), "CHUNK", 4096)
    assert report() == whole
    assert report(window_s=1) == whole
    lines = big.read_text().splitlines()
    assert all(message in lines[line - 1] for _, line, message in whole)
    assert ("clients.output-buffer", lines.index(long_line.decode().rstrip()) + 1) in [(s, n) for s, n, _ in whole]
