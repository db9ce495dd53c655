"""The CLI surface on real nodes: ``--json`` envelopes of many commands against the schema, streams and Ctrl-C,
``backup run --sentinel-password-env``, ``backup schedule --json``, ``cluster create -f``, ``down --purge``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import cli_json
import pytest

from redisops.lifecycle import Deployment
from redisops.testing import Topology, empty_cluster_node

REDISOPS = str(Path(sys.executable).parent / "redisops")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([REDISOPS, *args], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})


def interrupt(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Ctrl-C, then everything it wrote."""
    proc.send_signal(signal.SIGINT)
    return proc.communicate(timeout=60)


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    with Topology.start(tmp_path_factory.mktemp("cli-surface"), replicas=1) as topo:
        topo.client("mymaster-0").set("kept", "1")
        yield topo


def sentinels(topo: Topology) -> str:
    return ",".join(str(n.address) for n in topo.plan.nodes if n.name.startswith("mymaster-sentinel-"))


def test_what_commands_print_matches_the_schema(topo: Topology, tmp_path: Path) -> None:
    spec, store = str(topo.spec_file), f"file://{tmp_path / 'backups'}"
    for args, kind in [(["status"], "status"), (["up"], "up"), (["cluster", "check"], "cluster.check"),
                       (["cluster", "health"], "cluster.health"), (["sentinel", "tune"], "sentinel.tune"),
                       (["verify", "replicas", "--rounds", "1"], "verify.replicas"),
                       (["backup", "run", "--set", "mymaster", "--to", store], "backup.run"),
                       (["backup", "list", "--to", store], "backup.list")]:
        done = cli(*args, "--json", "-f", spec)
        assert done.returncode in (0, 1), (args, done.stderr)  # 1: `sentinel tune` may have findings
        cli_json.data(done.stdout, kind)  # checked against the schema
    once = cli("watch", "--once", "--json", "-f", spec)
    assert once.returncode == 0, once.stderr
    ((kind, cycle),) = cli_json.records(once.stdout)
    assert kind == "watch.cycle" and cycle["health"] == "ok"


def test_a_refused_password_is_an_error_envelope(topo: Topology) -> None:
    done = cli("status", "--json", "--cluster", str(topo.node("main-0").address), "--password-env", "PW",
               env={"PW": "not-the-password"})
    assert done.returncode == 2
    error = cli_json.error(done, "status")
    assert error["type"] == "AuthError" and error["retryable"] is False


def test_status_watch_prints_an_envelope_a_line_and_ctrl_c_ends_it_with_130(topo: Topology) -> None:
    proc = subprocess.Popen([REDISOPS, "status", "--watch", "--interval", "0.2", "--json", "-f", str(topo.spec_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(2)]
    finally:
        _, err = interrupt(proc)
    assert [cli_json.record(line)[0] for line in lines] == ["status", "status"]
    assert cli_json.record(lines[1])[1]["health"] == "ok"
    assert proc.returncode == 130
    error = cli_json.envelope(err.strip().splitlines()[-1], "status")["error"]
    assert (error["type"], error["exit_code"]) == ("Interrupted", 130)


def test_backup_run_takes_the_sentinels_password_like_status(topo: Topology, tmp_path: Path) -> None:
    env = {"RP": topo.secrets.admin_password, "SP": topo.secrets.sentinel_password}
    remote = ["backup", "run", "--json", "--sentinel", sentinels(topo), "--master", "mymaster", "--user", "admin",
              "--password-env", "RP",
              "--to", f"file://{tmp_path / 'remote'}", "--no-digest"]
    made = cli(*remote, "--sentinel-password-env", "SP", env=env)
    assert made.returncode == 0, made.stderr
    (backup,) = cli_json.data(made.stdout, "backup.run")
    assert (backup["kind"], backup["source"], backup["shards"]) == ("sentinel", "mymaster", 1)
    without = cli(*remote, env=env)  # the sentinels ask for their password: nobody names the master
    assert without.returncode == 3
    assert cli_json.error(without, "backup.run")["message"] == "mymaster: no reachable master"


def test_backup_schedule_prints_a_line_per_run(topo: Topology, tmp_path: Path) -> None:
    proc = subprocess.Popen([REDISOPS, "backup", "schedule", "--json", "--cron", "* * * * * */5", "--no-prune",
                             "--to", f"file://{tmp_path / 'scheduled'}", "-f", str(topo.spec_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        kind, first = cli_json.record(proc.stdout.readline())
    finally:
        _, err = interrupt(proc)
    assert kind == "backup.schedule" and first["ok"] is True, err
    assert first["sentence"].startswith("backed up ") and "; next at " in first["sentence"]
    assert proc.returncode == 130
    assert cli_json.envelope(err.strip().splitlines()[-1], "backup.schedule")["error"]["type"] == "Interrupted"


def test_cluster_create_takes_the_password_from_the_spec(tmp_path: Path) -> None:
    spec = Topology.write_spec(tmp_path / "spec", sentinel=False)  # nothing started: its secrets file is used
    secrets = Deployment.open(spec).secrets
    with ExitStack() as stack:
        nodes = [str(stack.enter_context(empty_cluster_node(tmp_path / f"n{i}", secrets))) for i in range(3)]
        anonymous = cli("cluster", "create", *nodes, "--replicas", "0", "--json")
        assert anonymous.returncode == 2
        assert cli_json.error(anonymous, "cluster.create")["type"] == "AuthError"
        done = cli("cluster", "create", *nodes, "--replicas", "0", "-f", str(spec), "--json")
        assert done.returncode == 0, done.stderr
        assert cli_json.data(done.stdout, "cluster.create")["result"].startswith("formed cluster: 3 masters")


def test_down_purge_without_yes_stops_nothing(tmp_path: Path) -> None:
    with Topology.start(tmp_path, cluster=False, replicas=1) as small:
        spec = str(small.spec_file)
        pids = {n.name: small.pid(n.name) for n in small.plan.nodes}
        refused = cli("down", "--purge", "--json", "-f", spec)  # stdin is not a terminal
        assert refused.returncode == 2
        assert cli_json.error(refused, "down")["hint"] == "add --yes to confirm"
        assert {n.name: small.pid(n.name) for n in small.plan.nodes} == pids and all(pids.values())
        assert small.client("mymaster-0").ping()  # and it still answers
        purged = cli("down", "--purge", "--yes", "--json", "-f", spec)
        assert purged.returncode == 0, purged.stderr
        result = cli_json.data(purged.stdout, "down")
        assert result["purged"] is True and sorted(result["stopped"]) == sorted(pids)
        assert not small.deployment.runtime.state_dir.exists()
