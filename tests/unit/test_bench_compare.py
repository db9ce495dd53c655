"""bench compare's verdict on real history records (tests/recorded/bench/history.jsonl: four real runs against a
harness deployment: `base` and an unlabeled run alike, `pipelined` with -P 16, `cluster` against the cluster)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from redisops.bench import HistoryError, Record, compare, compare_history, read_history
from redisops.bench.history import append

RECORDED = Path(__file__).resolve().parents[1] / "recorded" / "bench" / "history.jsonl"


def _records() -> list[Record]:
    records, notes = read_history(RECORDED)
    assert notes == [] and [r.label for r in records] == ["base", None, "pipelined", "cluster"]
    return records


def _scaled(record: Record, test: str, *, rps: float = 1.0, p99: float = 1.0) -> Record:
    results = tuple(dataclasses.replace(r, rps=r.rps * rps, p99_ms=r.p99_ms * p99) if r.test == test else r
                    for r in record.results)
    return dataclasses.replace(record, results=results, label="candidate")


def test_a_run_against_itself_has_no_regression() -> None:
    base = _records()[0]
    result = compare(base, base, 10)
    assert result.exit_code == 0 and not result.regressions and len(result.deltas) == len(base.results)
    assert result.notes == ("the host was busy during the baseline (load 4.55 on 2 CPUs): its numbers are noisy",
                            "the host was busy during the latest run (load 4.55 on 2 CPUs): its numbers are noisy")
    quiet = dataclasses.replace(base, environment={**base.environment, "load_1m": 0.4})
    assert compare(quiet, quiet, 10).notes == ()


def test_throughput_drop_beyond_the_threshold_is_a_regression_and_within_it_is_not() -> None:
    base = _records()[0]
    slower = compare(_scaled(base, "GET", rps=0.85), base, 10)
    assert [(d.test, d.regressed) for d in slower.regressions] == [("GET", ("rps",))]
    assert slower.exit_code == 1
    assert compare(_scaled(base, "GET", rps=0.95), base, 10).exit_code == 0


def test_p99_rise_beyond_the_threshold_is_a_regression() -> None:
    base = _records()[0]
    result = compare(_scaled(base, "SET", p99=1.5), base, 10)
    assert [(d.test, d.regressed, d.p99_change_pct) for d in result.regressions] == [("SET", ("p99",), 50.0)]
    assert compare(_scaled(base, "SET", p99=1.5), base, 60).exit_code == 0


def test_pipelined_baseline_against_a_plain_run_regresses_and_says_the_options_differ(tmp_path: Path) -> None:
    records = _records()
    result = compare(records[1], records[2], 10)
    assert result.exit_code == 1
    assert {d.test for d in result.regressions} >= {"PING_INLINE", "PING_MBULK", "GET"}
    assert "options differ: pipeline 16 -> 1" in result.notes


def test_default_baseline_is_the_previous_run_against_the_same_target(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    records = _records()
    for record in records[:3]:
        append(history, record)
    result = compare_history(history, threshold_pct=1000)
    assert (result.latest.label, result.baseline.label) == ("pipelined", None)
    assert compare_history(history, baseline="base", threshold_pct=1000).baseline.label == "base"
    append(history, records[3])  # the cluster's first run: no earlier cluster run to compare with
    with pytest.raises(HistoryError, match="no earlier run against cluster main") as caught:
        compare_history(history)
    assert caught.value.exit_code == 2


def test_baseline_from_another_history_file(tmp_path: Path) -> None:
    records = _records()
    mine, theirs = tmp_path / "mine.jsonl", tmp_path / "theirs.jsonl"
    append(theirs, records[0])
    append(mine, _scaled(records[0], "INCR", rps=0.5))
    result = compare_history(mine, baseline=str(theirs))
    assert [d.test for d in result.regressions] == ["INCR"]
    assert json.loads(json.dumps(result.to_dict()))["regressions"] == ["INCR"]


def test_missing_baseline_and_history_are_one_clear_input_error(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match=r"no baseline 'v1'.*labels in the history: base, pipelined\)"):
        compare_history(RECORDED, baseline="v1")
    with pytest.raises(HistoryError, match="no benchmark history at"):
        compare_history(tmp_path / "none.jsonl")


def test_a_torn_line_is_skipped_with_a_note(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    history.write_text(RECORDED.read_text() + '{"time": "2026-')
    records, notes = read_history(history)
    assert len(records) == 4 and len(notes) == 1 and ":5: skipped" in notes[0]
