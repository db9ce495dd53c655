"""``bench compare``: the latest run against a baseline, test by test -- the CI gate.

A test regressed when its throughput fell, or its p99 latency rose, by more
than the threshold (percent of the baseline).  Tests that only one of the two
runs holds are listed, not judged.  Differences in options or environment
(clients, pipeline, Redis version, CPU count) are reported as notes: they
explain a difference without deciding it, since the comparison of unlike runs
is the user's choice to make, and a CI gate wants the numbers either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from redisops.bench.history import HistoryError, Record, by_label, read_history
from redisops.bench.results import TestResult

__all__ = ["Comparison", "TestDelta", "compare", "compare_history"]

#: environment keys whose change is worth a note next to the numbers
_ENVIRONMENT = ("redis_version", "redis_benchmark", "redisops_version", "host", "cpus")


@dataclass(frozen=True)
class TestDelta:
    __test__ = False  # a name pytest would otherwise collect

    test: str
    baseline: TestResult
    latest: TestResult
    rps_change_pct: float  # negative: slower
    p99_change_pct: float  # positive: slower
    regressed: tuple[str, ...]  # "rps" and/or "p99"

    def to_dict(self) -> dict[str, object]:
        return {"test": self.test, "baseline_rps": self.baseline.rps, "latest_rps": self.latest.rps,
                "rps_change_pct": self.rps_change_pct, "baseline_p99_ms": self.baseline.p99_ms,
                "latest_p99_ms": self.latest.p99_ms, "p99_change_pct": self.p99_change_pct,
                "baseline_p50_ms": self.baseline.p50_ms, "latest_p50_ms": self.latest.p50_ms,
                "regressed": list(self.regressed)}


@dataclass(frozen=True)
class Comparison:
    latest: Record
    baseline: Record
    threshold_pct: float
    deltas: tuple[TestDelta, ...]
    only_latest: tuple[str, ...]
    only_baseline: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def regressions(self) -> tuple[TestDelta, ...]:
        return tuple(d for d in self.deltas if d.regressed)

    @property
    def exit_code(self) -> int:
        return 1 if self.regressions else 0

    def verdict(self) -> str:
        against = f"{self.latest.name()} against {self.baseline.name()} (threshold {self.threshold_pct:g} %)"
        if not self.deltas:
            return f"no test in common: {against}"
        if not self.regressions:
            return f"no regression in {len(self.deltas)} tests: {against}"
        names = ", ".join(f"{d.test} ({' and '.join(d.regressed)})" for d in self.regressions)
        return f"{len(self.regressions)} of {len(self.deltas)} tests regressed: {names}; {against}"

    def to_dict(self) -> dict[str, object]:
        return {"latest": _ref(self.latest), "baseline": _ref(self.baseline), "threshold_pct": self.threshold_pct,
                "tests": [d.to_dict() for d in self.deltas], "only_latest": list(self.only_latest),
                "only_baseline": list(self.only_baseline), "notes": list(self.notes),
                "regressions": [d.test for d in self.regressions], "verdict": self.verdict()}


def compare(latest: Record, baseline: Record, threshold_pct: float) -> Comparison:
    deltas = []
    for result in latest.results:
        before = baseline.result(result.test)
        if before is not None:
            deltas.append(_delta(before, result, threshold_pct))
    mine = {r.test for r in latest.results}
    theirs = {r.test for r in baseline.results}
    return Comparison(latest, baseline, threshold_pct, tuple(deltas),
                      tuple(r.test for r in latest.results if r.test not in theirs),
                      tuple(r.test for r in baseline.results if r.test not in mine), _notes(latest, baseline))


def compare_history(history: Path, *, baseline: str | None = None, threshold_pct: float = 10.0) -> Comparison:
    """The history's latest record against ``baseline``: a label in the history, a history file (its
    latest record), or by default the latest earlier run against the same target (group or cluster)."""
    records, _notes_ = read_history(history)
    if not records:
        raise HistoryError(f"{history} holds no benchmark run", hint="run `redisops bench run` first")
    latest, earlier = records[-1], records[:-1]
    return compare(latest, _baseline(history, earlier, baseline, latest), threshold_pct)


def _baseline(history: Path, earlier: Sequence[Record], baseline: str | None, latest: Record) -> Record:
    if baseline is None:
        same = [r for r in earlier if _where(r) == _where(latest)]
        if not same:
            raise HistoryError(f"{history} holds no earlier run against {_where(latest)}: nothing to compare with",
                               hint="run `redisops bench run` again, or give --baseline LABEL|FILE")
        return same[-1]
    found = by_label(earlier, baseline)
    if found is not None:
        return found
    path = Path(baseline)
    if path.is_file():
        records, _ = read_history(path)
        if records:
            return records[-1]
        raise HistoryError(f"baseline file {path} holds no benchmark run")
    labels = sorted({r.label for r in earlier if r.label})
    known = f"labels in the history: {', '.join(labels)}" if labels else "no run in the history has a label"
    raise HistoryError(f"no baseline {baseline!r}: neither a label of an earlier run nor a file ({known})",
                       hint="label a run with `redisops bench run --label NAME`, or give a history file")


def _delta(before: TestResult, after: TestResult, threshold: float) -> TestDelta:
    rps = _change(before.rps, after.rps)
    p99 = _change(before.p99_ms, after.p99_ms)
    regressed = tuple(name for name, bad in (("rps", rps < -threshold), ("p99", p99 > threshold)) if bad)
    return TestDelta(after.test, before, after, rps, p99, regressed)


def _change(before: float, after: float) -> float:
    if before == 0:
        return 0.0 if after == 0 else 100.0  # from nothing: counted as doubling, JSON has no infinity
    return round((after - before) / before * 100, 1)


def _notes(latest: Record, baseline: Record) -> tuple[str, ...]:
    notes = [f"options differ: {', '.join(diff)}" for diff in [latest.options.differences(baseline.options)] if diff]
    if _where(latest) != _where(baseline):
        notes.append(f"targets differ: {_where(baseline)} -> {_where(latest)}")
    for key in _ENVIRONMENT:
        before, after = baseline.environment.get(key), latest.environment.get(key)
        if before != after:
            notes.append(f"{key} differs: {before} -> {after}")
    busy = (_busy(baseline, "baseline"), _busy(latest, "latest run"))
    notes += [note for note in busy if note]
    notes += [f"{which}: {note}" for record, which in ((baseline, "baseline"), (latest, "latest run"))
              for note in record.extra.get("notes", ())]
    return tuple(notes)


def _busy(record: Record, which: str) -> str | None:
    """A note when the host ran more than one runnable task per CPU: redis-benchmark and Redis then compete
    for CPUs with others, and the numbers say as much about the neighbours as about Redis."""
    load, cpus = record.environment.get("load_1m"), record.environment.get("cpus")
    if not isinstance(load, (int, float)) or not isinstance(cpus, int) or cpus < 1 or load <= cpus:
        return None
    return f"the host was busy during the {which} (load {load:g} on {cpus} CPUs): its numbers are noisy"


def _where(record: Record) -> str:
    return f"{record.target.get('kind')} {record.target.get('name')}"


def _ref(record: Record) -> dict[str, object]:
    return {"time": record.time, "label": record.label, "target": dict(record.target)}
