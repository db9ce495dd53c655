"""Performance: redis-benchmark runs with history, percentiles, charts and a regression gate.

``bench_run`` finds the target (a Sentinel group's master through its
sentinels, or the cluster), runs ``redis-benchmark --csv`` under a throwaway ACL
user, and appends a :class:`Record` to the history (JSON lines);
``compare_history`` judges the latest record against a baseline;
:func:`redisops.bench.chart.write_chart` draws runs as an HTML page and a PNG.

Names load on first use: ``bench compare`` and ``bench chart`` read a file and
need none of the machinery that ``bench run`` imports to reach live nodes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redisops.bench.compare import Comparison, TestDelta, compare, compare_history
    from redisops.bench.history import BenchOptions, HistoryError, Record, default_history, read_history
    from redisops.bench.results import TestResult, parse_csv
    from redisops.bench.run import TESTS, BenchError, RunResult, bench_run

__all__ = ["TESTS", "BenchError", "BenchOptions", "Comparison", "HistoryError", "Record", "RunResult", "TestDelta",
           "TestResult", "bench_run", "compare", "compare_history", "default_history", "parse_csv", "read_history"]

_HOMES = {"compare": ("Comparison", "TestDelta", "compare", "compare_history"),
          "history": ("BenchOptions", "HistoryError", "Record", "default_history", "read_history"),
          "results": ("TestResult", "parse_csv"),
          "run": ("TESTS", "BenchError", "RunResult", "bench_run")}
_MODULE = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    if name not in _MODULE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE[name]}"), name)
    globals()[name] = value
    return value
