"""redis-benchmark's ``--csv`` output, parsed once.

redis-benchmark 7.0 prints one header line and one line per test::

    "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    "SET","19417.48","0.448","0.032","0.367","0.743","2.223","9.199"
    "LRANGE_100 (first 100 elements)","25641.03","0.288",...

With ``--cluster`` it first prints the masters it found ("Cluster has 3 master
nodes: ...") on the same stream, so only lines that parse as CSV rows of eight
fields count; the header is recognised by its first field.  Older releases
(6.x) print only ``test,rps``: such a row is refused rather than recorded with
made-up percentiles.
"""

from __future__ import annotations

import csv
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

__all__ = ["FIELDS", "TestResult", "medians", "parse_csv", "parse_row"]

#: the latency columns, in the order redis-benchmark prints them after ``rps``
FIELDS = ("avg_ms", "min_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms")


@dataclass(frozen=True)
class TestResult:
    """One test of a run: requests per second and latencies in milliseconds."""

    __test__ = False  # a name pytest would otherwise collect

    test: str  # as redis-benchmark names it: "SET", "LRANGE_100 (first 100 elements)"
    rps: float
    avg_ms: float
    min_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> TestResult:
        return cls(str(data["test"]), *(float(str(data[name])) for name in ("rps", *FIELDS)))


def parse_row(fields: list[str]) -> TestResult | None:
    """One CSV row -> a result; None for the header and for lines that are not a result row."""
    if len(fields) != 8 or fields[0] == "test":
        return None
    try:
        numbers = [float(value) for value in fields[1:]]
    except ValueError:
        return None
    return TestResult(fields[0], *numbers)


def parse_csv(text: str | Iterable[str]) -> list[TestResult]:
    """Every result row of redis-benchmark's ``--csv`` output, in order; other lines are skipped."""
    lines = text.splitlines() if isinstance(text, str) else text
    rows = csv.reader(line for line in lines if line.startswith('"'))
    return [result for result in (parse_row(row) for row in rows) if result is not None]


def medians(runs: Sequence[Sequence[TestResult]]) -> list[TestResult]:
    """Per test, the median of each number over the runs that have it (in the first run's order).

    Each field on its own: the median p99 need not come from the run with the
    median rps, but each is the typical value of what it measures, and one
    outlier run moves none of them.
    """
    order = list(dict.fromkeys(r.test for run in runs for r in run))
    merged = []
    for test in order:
        found = [r for run in runs for r in run if r.test == test]
        numbers = [round(statistics.median(getattr(r, name) for r in found), 3) for name in ("rps", *FIELDS)]
        merged.append(TestResult(test, *numbers))
    return merged
