"""redis-benchmark --csv output as redis-benchmark 7.0.15 printed it (tests/recorded/bench, captured from real runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from redisops.address import Address
from redisops.bench import BenchOptions, TestResult, parse_csv
from redisops.bench.credentials import BenchUser, owner_of, user_name
from redisops.bench.history import Record
from redisops.bench.results import medians
from redisops.bench.run import bench_command, check_options
from redisops.bench.target import BenchTarget
from redisops.errors import UsageError
from redisops.runtime.processes import Owner

RECORDED = Path(__file__).resolve().parents[1] / "recorded" / "bench"


def test_every_test_of_a_sentinel_master_run_with_all_eight_columns() -> None:
    results = parse_csv((RECORDED / "redis-benchmark-7.0.15-group.csv").read_text())
    assert len(results) == 20
    assert [r.test for r in results[:4]] == ["PING_INLINE", "PING_MBULK", "SET", "GET"]
    assert results[2] == TestResult("SET", 19417.48, 0.448, 0.032, 0.367, 0.743, 2.223, 9.199)
    assert "LRANGE_600 (first 600 elements)" in [r.test for r in results]
    assert all(r.min_ms <= r.p50_ms <= r.p95_ms <= r.p99_ms <= r.max_ms for r in results)


def test_cluster_output_skips_the_masters_preamble() -> None:
    text = (RECORDED / "redis-benchmark-7.0.15-cluster.csv").read_text()
    assert text.startswith("Cluster has 3 master nodes")
    results = parse_csv(text)
    assert [r.test for r in results] == ["SET", "GET"]
    assert results[1].p99_ms == 2.015


def test_header_alone_and_foreign_rows_give_no_result() -> None:
    header = (RECORDED / "redis-benchmark-7.0.15-group.csv").read_text().splitlines()[0]
    assert parse_csv(header) == []
    assert parse_csv('"SET","12345.67"\n') == []  # redis-benchmark 6.x: rps only, no percentiles to record
    assert parse_csv('"SET","fast","1","1","1","1","1","1"\n') == []


def test_result_survives_the_history_round_trip() -> None:
    line = (RECORDED / "history.jsonl").read_text().splitlines()[0]
    import json

    record = Record.from_dict(json.loads(line))
    assert Record.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    assert record.environment["redis_benchmark"] == "7.0.15"


def test_command_line_holds_the_throwaway_user_never_the_deployment_password() -> None:
    target = BenchTarget("cluster", "main", Address("127.0.0.1", 7000), (Address("127.0.0.1", 7000),),
                         password="the-real-password")
    user = BenchUser("redisops-bench-h-1-2", "throwaway")
    argv = bench_command("/usr/bin/redis-benchmark", target, BenchOptions(("set",), threads=2), user)
    assert "the-real-password" not in " ".join(argv)
    assert argv[argv.index("--user") + 1] == user.name and argv[argv.index("-a") + 1] == "throwaway"
    assert {"--cluster", "--csv"} <= set(argv) and argv[argv.index("--threads") + 1] == "2"
    assert "-a" not in bench_command("redis-benchmark", target, BenchOptions(("set",)), None)


def test_user_names_say_which_process_owns_them() -> None:
    me = Owner.me()
    assert owner_of(user_name(me)) == me
    assert owner_of("redisops-bench-otherhost-1-2") is None  # another host's runs are not ours to judge
    assert owner_of("app") is None


@pytest.mark.parametrize(("options", "message"), [
    (BenchOptions(("sett",)), "unknown test sett"),
    (BenchOptions(()), "unknown test (none given)"),
    (BenchOptions(("set",), requests=0), "--requests must be at least 1"),
])
def test_options_that_cannot_run_are_refused(options: BenchOptions, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_options(options)


def test_repeated_runs_record_each_numbers_median_so_one_outlier_moves_nothing() -> None:
    import json

    lines = (RECORDED / "history.jsonl").read_text().splitlines()[:3]
    runs = [Record.from_dict(json.loads(line)).results for line in lines]  # base, plain, pipelined (the outlier)
    merged = {r.test: r for r in medians(runs)}
    for test in ("SET", "GET", "MSET (10 keys)"):
        values = sorted(run_[[r.test for r in run_].index(test)].rps for run_ in runs)
        assert merged[test].rps == values[1]
    sets = [next(r for r in run_ if r.test == "SET") for run_ in runs]
    assert merged["SET"].p99_ms == sorted(r.p99_ms for r in sets)[1]
    assert medians([runs[0]]) == list(runs[0])


def test_tests_too_short_for_the_250_ms_clock_of_cluster_mode_get_a_note() -> None:
    from redisops.bench.run import coarse_timing

    cluster = parse_csv((RECORDED / "redis-benchmark-7.0.15-cluster.csv").read_text())  # -n 2000 --threads 2
    notes = coarse_timing(cluster, BenchOptions(("set", "get"), requests=2000, threads=2), cluster=True)
    assert len(notes) == 1 and notes[0].startswith("SET, GET: lasted under 2.5 s (down to 0.25 s)")
    assert coarse_timing(cluster, BenchOptions(("set", "get"), requests=200_000), cluster=True) == []
    group = parse_csv((RECORDED / "redis-benchmark-7.0.15-group.csv").read_text())  # one event loop: fine timing
    assert coarse_timing(group, BenchOptions(requests=2000), cluster=False) == []
