"""A large log is scanned in pieces by several processes: the report must be the one a single process makes.

The log is the corpus' real lines re-stamped with increasing times (as the benchmark does), with a burst
(a rate spike) and a long line; pieces and chunks are made tiny so that windows, lines and a failover's
lines are cut at piece ends.
"""

from __future__ import annotations

import importlib
import os
import random
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from redisops.observe.logs import LogSource, ScanOptions, SpikeRule, scan
from redisops.observe.logs.lines import HEADER

RUN1 = Path(__file__).resolve().parents[1] / "logs_corpus" / "run1"
SCAN = importlib.import_module("redisops.observe.logs.scan")


def _restamped(path: Path, seconds: int = 3000) -> Path:
    """The corpus' lines in their order, a line a second (50 a second for a minute: a spike), times increasing."""
    shapes = [line for log in sorted(RUN1.glob("*.log")) for line in log.read_bytes().splitlines()
              if HEADER.match(line)]
    rng = random.Random(7)
    when, out = datetime(2026, 12, 1, 10, 0, 0), []
    for second in range(seconds):
        for _ in range(50 if 1500 <= second < 1560 else 1):
            line = shapes[len(out) % len(shapes)]
            header = HEADER.match(line)
            assert header is not None
            when += timedelta(milliseconds=rng.randrange(1, 1000 // (50 if 1500 <= second < 1560 else 1)))
            stamp = f"{when:%d %b %Y %H:%M:%S}.{when.microsecond // 1000:03d}".encode()
            out.append(line[:header.start(3)] + stamp + line[header.end(9):])
        when = max(when, datetime(2026, 12, 1, 10, 0, 0) + timedelta(seconds=second + 1))
    out.insert(len(out) // 3, out[len(out) // 3][:40] + b"x" * 5000)  # a long line with the prefix, no signature
    path.write_bytes(b"\n".join(out) + b"\n")
    return path


def _report(path: Path, workers: int) -> dict[str, Any]:
    report = scan([LogSource("n", path)], ScanOptions(spikes=SpikeRule(window_s=60, min_lines=50), workers=workers))
    data = report.to_dict()
    data["all"] = [f.to_dict() for f in report.findings]
    return data


def _ran_in_a_fresh_process(test: str) -> bool:
    """Run ``test`` in a fresh pytest process when this one has other threads (as a suite worker may, left by
    earlier tests): ``pieces()`` rightly refuses to fork beside threads, so here it would only ever give one."""
    if threading.active_count() == 1 or os.environ.get("REDISOPS_LOGS_PIECES_CHILD"):
        return False
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           f"{__file__}::{test}"], env={**os.environ, "REDISOPS_LOGS_PIECES_CHILD": "1"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return True


def test_pieces_give_the_report_of_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if _ran_in_a_fresh_process("test_pieces_give_the_report_of_one_process"):
        return
    path = _restamped(tmp_path / "redis.log")
    whole = _report(path, workers=1)
    assert whole["spikes"] and len(whole["all"]) > 1000 and whole["incidents"]  # something to get wrong
    monkeypatch.setattr(SCAN, "PIECE_MIN", 40_000)
    monkeypatch.setattr(SCAN, "CHUNK", 16_384)
    assert len(SCAN.pieces(path, ScanOptions(workers=4))) == 4
    assert _report(path, workers=4) == whole  # line numbers, times, windows cut by piece ends, incidents
    lines = path.read_text().splitlines()
    assert all(f["message"][:60] in lines[f["line"] - 1] for f in whole["all"])


def test_small_files_and_since_stay_in_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if _ran_in_a_fresh_process("test_small_files_and_since_stay_in_one_process"):
        return
    path = _restamped(tmp_path / "redis.log", seconds=300)
    assert SCAN.pieces(path, ScanOptions(workers=4)) == [(0, None)]  # far below PIECE_MIN
    monkeypatch.setattr(SCAN, "PIECE_MIN", 1000)
    assert len(SCAN.pieces(path, ScanOptions(workers=4))) == 4
    # --since: windows start at the first line read, which only a reading process finds
    assert SCAN.pieces(path, ScanOptions(since=datetime(2026, 12, 1, 10, 1), workers=4)) == [(0, None)]
    assert SCAN.pieces(path, ScanOptions(workers=1)) == [(0, None)]


def test_no_pieces_beside_other_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _restamped(tmp_path / "redis.log", seconds=300)
    monkeypatch.setattr(SCAN, "PIECE_MIN", 1000)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        assert SCAN.pieces(path, ScanOptions(workers=4)) == [(0, None)]  # fork beside a thread: not safe
    finally:
        stop.set()
        other.join(5)
