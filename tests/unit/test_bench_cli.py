"""`redisops bench` in-process: bad input is one line with exit 2, and the package's public names are pinned."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_runner import cli_runner

import redisops.bench
from redisops.cli.main import app

RECORDED = Path(__file__).resolve().parents[1] / "recorded" / "bench" / "history.jsonl"


def invoke(*args: str) -> tuple[int, str, str]:
    result = cli_runner().invoke(app, ["bench", *args])
    return result.exit_code, result.stdout, result.stderr


def test_public_names_are_pinned_and_load_lazily() -> None:
    assert sorted(redisops.bench.__all__) == sorted([
        "TESTS", "BenchError", "BenchOptions", "Comparison", "HistoryError", "Record", "RunResult", "TestDelta",
        "TestResult", "bench_run", "compare", "compare_history", "default_history", "parse_csv", "read_history"])
    for name in redisops.bench.__all__:
        getattr(redisops.bench, name)
    with pytest.raises(AttributeError):
        redisops.bench.nothing  # noqa: B018


def test_unknown_test_is_one_line_exit_2(tmp_path: Path) -> None:
    code, out, err = invoke("run", "--tests", "set,sett", "-f", str(tmp_path / "redisops.yaml"))
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [err.strip()] and "unknown test sett" in err and "lrange_100" in err


def test_compare_without_history_or_baseline_is_exit_2(tmp_path: Path) -> None:
    code, _, err = invoke("compare", "--history", str(tmp_path / "none.jsonl"))
    assert code == 2 and "no benchmark history at" in err
    history = tmp_path / "h.jsonl"
    shutil.copy(RECORDED, history)
    code, _, err = invoke("compare", "--history", str(history), "--baseline", "v9", "--json")
    assert code == 2 and json.loads(err.strip().splitlines()[-1])["error"]["type"] == "HistoryError"


def test_compare_of_real_runs_prints_the_table_and_exits_1_on_regression(tmp_path: Path) -> None:
    history = tmp_path / "h.jsonl"
    history.write_text("".join(RECORDED.read_text().splitlines(keepends=True)[:3]))  # base, plain, pipelined
    code, out, _ = invoke("compare", "--history", str(history), "--baseline", "base", "--threshold", "5")
    assert code == 1 and "REGRESSED" in out and "note: options differ: pipeline 1 -> 16" in out
    code, out, _ = invoke("compare", "--history", str(history), "--baseline", "base", "--threshold", "1000")
    assert code == 0 and "no regression" in out


def test_chart_from_a_history_file(tmp_path: Path) -> None:
    code, out, err = invoke("chart", "--history", str(RECORDED), "-o", str(tmp_path / "c"), "--json")
    assert code == 0, err
    written = json.loads(out)["data"]
    assert Path(written["png"]).read_bytes().startswith(b"\x89PNG") and Path(written["html"]).is_file()


@pytest.mark.parametrize(("args", "message"), [
    (["--seed", "127.0.0.1:7000", "--sentinel", "127.0.0.1:26379", "--master", "m"], "--sentinel and --seed exclude"),
    (["--seed", "127.0.0.1:7000", "--cluster"], "--group / --cluster pick from the spec"),
    (["--master", "m"], "--master and --*password-env only go with --sentinel or --seed"),
    (["--sentinel", "127.0.0.1:26379"], "--sentinel and --master go together"),
    (["--seed", "127.0.0.1:7000", "--password-env", "REDISOPS_TEST_UNSET_VAR"], "REDISOPS_TEST_UNSET_VAR is not set"),
])
def test_remote_target_flags_that_cannot_work_are_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    code, out, err = invoke("run", *args, "-f", str(tmp_path / "none.yaml"))
    assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1
