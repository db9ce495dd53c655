"""Benchmark: `redisops logs scan`'s engine vs `grep -E -c` with the same signatures, in MB/s.

The log is generated from real line shapes: the lines of tests/logs_corpus/ (written by
redis-server / redis-sentinel 7.0.15 while a master was killed, a replica's sync was
broken, a BGSAVE failed, ...), re-stamped with increasing times (``--lines-per-s`` a
second on average, so the spike detector sees a realistic number of windows) and mixed
so that ``--anomaly-pct`` percent of the lines are ones a signature matches (the rest
are the corpus' ordinary lines: saves, syncs, sentinel chatter).  Its size is bounded by
``--mb``; it is written to a temp dir and removed.

Both sides read the same file from the page cache (one untimed read first), in
alternating rounds; medians are reported.  redisops runs ``scan()`` itself: findings,
incidents and per-window line counts, not only the match count, twice a round: in one
process (``workers=1``), which is what to compare with grep's one process, and in one
process a CPU (``workers=N``: a large file in pieces; ``logs scan`` does so when the
CPUs are idle).  grep runs
``grep -E -c`` with :func:`grep_pattern` (the same table, the level prefix included)
under ``LC_ALL=C``.  All must count the same lines, else the run fails.

Usage: .venv/bin/python bench/logs_scan.py [--mb 200] [--anomaly-pct 1] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from redisops.observe.logs.lines import HEADER
from redisops.observe.logs.scan import MAX_PIECES, LogSource, ScanOptions, pieces, scan
from redisops.observe.logs.signatures import MATCHER, grep_pattern

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "logs_corpus"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def corpus_lines() -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    """``(pid:role, level + message)`` of every corpus line: (ordinary, anomalous)."""
    ordinary, anomalous = [], []
    for path in sorted(CORPUS.rglob("*.log")):
        for line in path.read_bytes().splitlines():
            header = HEADER.match(line)
            if header is None:
                continue
            shape = (line[:header.start(3)], line[header.start(10):])
            (anomalous if MATCHER.search(line) else ordinary).append(shape)
    return ordinary, anomalous


def generate(path: Path, megabytes: int, anomaly_pct: float, lines_per_s: float, seed: int) -> int:
    ordinary, anomalous = corpus_lines()
    rng = random.Random(seed)
    when = datetime(2026, 12, 1, 0, 0, 0)
    limit, size, planted = megabytes * 1_000_000, 0, 0
    with open(path, "wb") as out:
        batch: list[bytes] = []
        while size < limit:
            when += timedelta(seconds=rng.expovariate(lines_per_s))
            bad = rng.random() * 100 < anomaly_pct
            prefix, rest = rng.choice(anomalous if bad else ordinary)
            millis = when.microsecond // 1000
            stamp = f"{when.day:02d} {MONTHS[when.month - 1]} {when.year} {when:%H:%M:%S}.{millis:03d}"
            line = prefix + stamp.encode() + b" " + rest + b"\n"
            batch.append(line)
            size += len(line)
            planted += bad
            if len(batch) >= 10000:
                out.write(b"".join(batch))
                batch.clear()
        out.write(b"".join(batch))
    return planted


def run_grep(path: Path) -> tuple[float, int]:
    start = time.perf_counter()
    done = subprocess.run(["grep", "-E", "-c", grep_pattern(), str(path)], capture_output=True, text=True,
                          env={**os.environ, "LC_ALL": "C"}, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"grep failed: {done.stderr.strip()}")
    return elapsed, int(done.stdout.strip() or 0)


def run_redisops(path: Path, workers: int | None) -> tuple[float, int, int]:
    start = time.perf_counter()
    report = scan([LogSource("bench", path)], ScanOptions(workers=workers))
    elapsed = time.perf_counter() - start
    return elapsed, len(report.findings), len(report.incidents)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=200, help="size of the generated log (MB, at most 2000)")
    parser.add_argument("--anomaly-pct", type=float, default=1.0, help="percent of lines a signature matches")
    parser.add_argument("--lines-per-s", type=float, default=50.0, help="mean log lines a second")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not 1 <= args.mb <= 2000:
        raise SystemExit("--mb must be between 1 and 2000")
    with tempfile.TemporaryDirectory(prefix="redisops-logs-bench-") as tmp:
        path = Path(tmp) / "redis.log"
        planted = generate(path, args.mb, args.anomaly_pct, args.lines_per_s, args.seed)
        size = path.stat().st_size
        path.read_bytes()  # into the page cache for both
        grep_s, auto_s, one_s = [], [], []
        cpus = min(len(os.sched_getaffinity(0)), MAX_PIECES)
        for _ in range(args.rounds):
            elapsed, grep_count = run_grep(path)
            grep_s.append(elapsed)
            elapsed, found, incidents = run_redisops(path, cpus)
            auto_s.append(elapsed)
            elapsed, found_one, incidents_one = run_redisops(path, 1)
            one_s.append(elapsed)
            if not found == found_one == grep_count or incidents != incidents_one:
                raise SystemExit(f"different line counts: redisops {found} ({found_one} in one process, "
                                 f"incidents {incidents} / {incidents_one}), grep {grep_count}")
        mb = size / 1e6
        grep_rate = mb / statistics.median(grep_s)
        auto, one = mb / statistics.median(auto_s), mb / statistics.median(one_s)
        processes = len(pieces(path, ScanOptions(workers=cpus)))
        print(f"log: {mb:.0f} MB, {planted} planted anomalous lines ({args.anomaly_pct:g}%), "
              f"{args.lines_per_s:g} lines/s")
        print(f"grep -E -c (LC_ALL=C)          : {grep_rate:7.1f} MB/s  median of {args.rounds}  ({grep_count} lines)")
        print(f"redisops logs scan, 1 process  : {one:7.1f} MB/s  median of {args.rounds}  ({found} findings, "
              f"{incidents} incidents)")
        print(f"redisops logs scan, {processes} processes: {auto:7.1f} MB/s  median of {args.rounds}  "
              f"(load average now {os.getloadavg()[0]:.1f})")
        print(f"ratio redisops/grep            : {one / grep_rate:.2f}x in 1 process, {auto / grep_rate:.2f}x "
              f"in {processes}")


if __name__ == "__main__":
    main()
