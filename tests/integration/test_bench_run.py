"""`redisops bench run | compare | chart` against a real Sentinel group and a real cluster (redis-benchmark 7.0)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cli_json
import pytest

from redisops.bench import BenchError, BenchOptions, bench_run
from redisops.bench.credentials import PREFIX
from redisops.bench.run import run_against
from redisops.bench.target import remote_target
from redisops.testing import Topology, assert_eventually

REDISOPS = [sys.executable, "-m", "redisops"]
SMALL = ["-n", "2000", "-c", "10", "-r", "1000"]  # well under a second a test here


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    with Topology.start(tmp_path_factory.mktemp("bench"), replicas=1, masters=3, replicas_per_master=0) as topology:
        yield topology


def bench(topo: Topology | Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    spec = topo if isinstance(topo, Path) else topo.spec_file
    return subprocess.run([*REDISOPS, "bench", *args, "-f", str(spec)], capture_output=True, text=True, timeout=120,
                          env=env)


def run_json(topo: Topology, *args: str) -> dict[str, Any]:
    done = bench(topo, "run", "--json", *SMALL, *args)
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = cli_json.data(done.stdout)
    return data


def one_line_error(done: subprocess.CompletedProcess[str], code: int) -> str:
    assert done.returncode == code, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    return done.stderr


def bench_users(topo: Topology, node: str) -> list[str]:
    return [u for u in topo.client(node).acl_users() if u.startswith(PREFIX)]


def master_name(topo: Topology) -> str:
    host, port = topo.client("mymaster-sentinel-0").sentinel_get_master_addr_by_name("mymaster")
    return str(next(n.name for n in topo.plan.nodes if str(n.address) == f"{host}:{port}"))


def test_group_run_records_percentiles_of_the_current_master(topo: Topology) -> None:
    data = run_json(topo, "--tests", "set,get", "--label", "first")
    record = data["record"]
    master = topo.node(master_name(topo))
    assert record["target"] == {"kind": "sentinel", "name": "mymaster", "address": str(master.address),
                                "nodes": [str(master.address)]}
    assert [r["test"] for r in record["results"]] == ["SET", "GET"]
    for result in record["results"]:
        assert result["rps"] > 0 and result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"] <= result["max_ms"]
    assert record["environment"]["redis_version"] == topo.client(master.name).info("server")["redis_version"]
    assert record["environment"]["cpus"] == os.cpu_count() and record["options"]["requests"] == 2000
    history = topo.spec_file.parent / ".redisops" / "test" / "bench" / "history.jsonl"
    assert data["history"] == str(history)
    assert json.loads(history.read_text().splitlines()[-1])["label"] == "first"
    assert topo.client(master.name).dbsize() > 0  # the SETs landed on the master
    assert bench_users(topo, master.name) == []  # the run's throwaway user is gone


def test_cluster_run_reaches_every_master(topo: Topology, tmp_path: Path) -> None:
    for name in ("main-0", "main-1", "main-2"):
        topo.client(name).flushall()
    done = bench_run(topo.deployment, BenchOptions(("set",), clients=10, requests=2000, keyspace=1000, repeat=2),
                     cluster=True, history=tmp_path / "h.jsonl")
    assert done.record.target["kind"] == "cluster" and len(done.record.target["nodes"]) == 3
    assert [r.test for r in done.record.results] == ["SET"] and done.record.options.repeat == 2
    assert "250 ms steps" in done.record.extra["notes"][0]  # 2000 requests: far too short to time here
    for name in ("main-0", "main-1", "main-2"):
        assert topo.client(name).dbsize() > 0, name  # keys spread over the slots of every master
        assert bench_users(topo, name) == []


def test_after_a_failover_the_run_follows_the_new_master(topo: Topology, tmp_path: Path) -> None:
    old = master_name(topo)
    topo.client("mymaster-sentinel-0").execute_command("SENTINEL", "FAILOVER", "mymaster")

    def switched() -> str:
        new = master_name(topo)
        assert new != old and topo.client(new).execute_command("ROLE")[0] == "master"
        return new

    new = assert_eventually(switched, within=30, interval=0.2)
    done = bench_run(topo.deployment, BenchOptions(("incr",), clients=10, requests=2000, keyspace=1000),
                     history=tmp_path / "h.jsonl")
    assert done.record.target["address"] == str(topo.node(new).address)
    assert topo.client(new).dbsize() > 0


def test_remote_nodes_without_a_spec(topo: Topology, tmp_path: Path) -> None:
    sentinels = ",".join(str(n.address) for n in topo.plan.nodes if n.name.startswith("mymaster-sentinel-"))
    env = {**os.environ, "ADMIN_PW": topo.secrets.admin_password, "SENT_PW": topo.secrets.sentinel_password}
    done = subprocess.run([*REDISOPS, "bench", "run", "--json", *SMALL, "--tests", "get", "--sentinel", sentinels,
                           "--master", "mymaster", "--user", "admin", "--password-env", "ADMIN_PW",
                           "--sentinel-password-env", "SENT_PW",
                           "--history", str(tmp_path / "h.jsonl"), "-f", str(tmp_path / "none.yaml")],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    record = cli_json.data(done.stdout)["record"]
    assert record["target"]["address"] == str(topo.node(master_name(topo)).address)
    seed = topo.node("main-1").address
    result = run_against(remote_target(seeds=[seed], password=topo.secrets.admin),
                         BenchOptions(("get",), clients=10, requests=2000), tmp_path / "h.jsonl")
    assert result.record.target["kind"] == "cluster" and len(result.record.target["nodes"]) == 3
    assert len((tmp_path / "h.jsonl").read_text().splitlines()) == 2


def test_password_never_reaches_a_command_line_and_a_killed_run_still_drops_its_user(topo: Topology,
                                                                                     tmp_path: Path) -> None:
    passwords = topo.secrets.passwords
    assert topo.secrets.admin_password in passwords
    cli = subprocess.Popen([*REDISOPS, "bench", "run", "-f", str(topo.spec_file), "--tests", "set",
                            "-n", "50000000", "--timeout", "60", "--history", str(tmp_path / "h.jsonl")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        child = assert_eventually(lambda: _benchmark_child(cli.pid), within=20, interval=0.1)
        argv = Path(f"/proc/{child}/cmdline").read_bytes().decode().split("\0")
        assert not [i for i, p in enumerate(passwords) if p in " ".join(argv)]  # which, never what
        user = argv[argv.index("--user") + 1]
        assert user.startswith(PREFIX) and user in bench_users(topo, master_name(topo))
        os.kill(child, signal.SIGKILL)
        _out, err = cli.communicate(timeout=30)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert cli.returncode == 3 and "redis-benchmark failed (exit -9)" in err and "Traceback" not in err
    assert bench_users(topo, master_name(topo)) == []


def _benchmark_child(parent: int) -> int:
    children = _benchmark_children(parent)
    assert children, f"no redis-benchmark child of {parent} yet"
    return children[0]


def _benchmark_children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == parent and fields[0] != "Z" and b"redis-benchmark" in cmdline.split(b"\0")[0]:
                found.append(int(entry.name))
    return found


def test_leftover_users_of_dead_runs_on_this_host_are_dropped_from_memory_and_config(topo: Topology,
                                                                                    tmp_path: Path) -> None:
    import socket

    dead = f"{PREFIX}{socket.gethostname()}-999999-1"  # no such process: the run that made it is gone
    foreign = f"{PREFIX}elsewhere-1-1"  # another host's run: not ours to judge
    master = master_name(topo)
    client = topo.client(master)
    conf = topo.deployment.runtime.conf_path(topo.node(master))
    for name in (dead, foreign):
        client.acl_setuser(name, enabled=True, passwords=["+x" * 8])
    client.config_rewrite()  # as Sentinel does when it reconfigures a node: the users land in redis.conf
    assert f"user {dead} " in conf.read_text()
    try:
        bench_run(topo.deployment, BenchOptions(("ping_inline",), clients=10, requests=2000),
                  history=tmp_path / "h.jsonl")
        assert bench_users(topo, master) == [foreign]
        text = conf.read_text()
        assert f"user {dead} " not in text and f"user {foreign} " in text and "user default " in text
    finally:
        client.acl_deluser(dead, foreign)
        client.config_rewrite()


def test_a_run_past_its_timeout_is_stopped(topo: Topology, tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="did not finish within 1 s and was stopped") as caught:
        bench_run(topo.deployment, BenchOptions(("set",), requests=50_000_000), timeout=1,
                  history=tmp_path / "h.jsonl")
    assert caught.value.exit_code == 3
    assert not (tmp_path / "h.jsonl").exists()
    assert _benchmark_children(os.getpid()) == []
    assert bench_users(topo, master_name(topo)) == []


def test_compare_gates_on_a_real_regression_and_chart_draws_the_runs(topo: Topology, tmp_path: Path) -> None:
    history = str(tmp_path / "history.jsonl")
    for pipeline, label in ((32, "pipelined"), (1, None)):  # the runs through the library, the gate through the CLI
        bench_run(topo.deployment, BenchOptions(("ping_mbulk",), clients=10, requests=2000, pipeline=pipeline),
                  label=label, history=Path(history))
    done = bench(topo, "compare", "--history", history, "--baseline", "pipelined", "--json")
    assert done.returncode == 1, done.stderr
    data = cli_json.data(done.stdout)
    assert data["regressions"] == ["PING_MBULK"] and "rps" in data["tests"][0]["regressed"]
    assert "options differ: pipeline 32 -> 1" in data["notes"]
    chart = bench(topo, "chart", "--history", history, "-o", str(tmp_path / "chart"))
    assert chart.returncode == 0, chart.stderr
    assert (tmp_path / "chart" / "bench.png").read_bytes().startswith(b"\x89PNG")
    assert "pipelined" in (tmp_path / "chart" / "bench.html").read_text()


def test_bad_input_is_one_line(topo: Topology, tmp_path: Path) -> None:
    missing = bench(topo, "run", *SMALL, env={**os.environ, "PATH": str(tmp_path)})
    assert "redis-benchmark not found" in one_line_error(missing, 2) and "apt-get install -y redis-tools" in missing.stderr

    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "redisops.yaml").write_text(topo.spec_file.read_text())
    secrets = wrong / "redisops.secrets.yaml"
    secrets.write_text(f"redis_password: not-the-password\nsentinel_password: {topo.secrets.sentinel_password}\n")
    secrets.chmod(0o600)
    refused = bench(wrong / "redisops.yaml", "run", *SMALL)
    assert "refused the password" in one_line_error(refused, 2) and "not-the-password" not in refused.stderr

    down = Topology.write_spec(tmp_path / "down", cluster=False)  # free ports, nothing started
    assert "no sentinel named a master" in one_line_error(bench(down, "run", *SMALL), 3)
