"""`redisops doctor` on real nodes, every condition really caused: slowlog entries, a 150 ms script (latency
spike), a big hash, a failed BGSAVE, a paused and a killed node; the latency monitor turned on for a window and
put back, also after the doctor was SIGKILLed in that window."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import cli_json
import pytest
from cli_runner import cli_runner
from redis.crc import key_slot

from redisops.cli.main import app
from redisops.observe.doctor import DoctorNode, DoctorReport, DoctorSettings, Thresholds, examine
from redisops.runtime.processes import port_is_free
from redisops.testing import Topology, allocate_ports, assert_eventually

REDISOPS = [sys.executable, "-m", "redisops"]
#: busy-waits ARGV[1] microseconds on the server's clock (bounded in iterations too): a real slow command
SLOW_SCRIPT = ("local t = redis.call('TIME') local s = t[1]*1000000 + t[2] local i = 0 "
               "while true do i = i + 1 local n = redis.call('TIME') "
               "if n[1]*1000000 + n[2] - s >= tonumber(ARGV[1]) then break end "
               "if i > 50000000 then return -1 end end return i")
QUICK = ("--latency-window", "0", "--no-host")


def doctor(*args: str, spec: Path | None = None) -> tuple[int, dict[str, Any]]:
    """The CLI in this process (the one killed for real below runs as its own process)."""
    where = ["-f", str(spec)] if spec is not None else []
    result = cli_runner().invoke(app, ["doctor", "--json", *args, *where])
    assert result.stdout, result.stderr
    return result.exit_code, cli_json.data(result.stdout)


def findings(data: dict[str, Any], node: str | None = None) -> dict[str, dict[str, Any]]:
    return {f["id"]: f for f in data["findings"] if node is None or f["node"] == node}


def node_of(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(n for n in data["nodes"] if n["name"] == name)


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with Topology.start(tmp_path_factory.mktemp("doctor"), sentinel=True, cluster=True) as topology:
        yield topology


def threshold(topo: Topology, name: str) -> str:
    return str(topo.client(name).config_get("latency-monitor-threshold")["latency-monitor-threshold"])


def conf_threshold(topo: Topology, name: str) -> list[str]:
    conf = topo.deployment.runtime.conf_path(topo.node(name))
    return [line for line in conf.read_text().splitlines() if line.startswith("latency-monitor-threshold")]


def test_slowlog_grouped_and_a_latency_spike(topo: Topology) -> None:
    client = topo.client("mymaster-0")
    client.slowlog_reset()
    client.execute_command("LATENCY", "RESET")
    assert client.eval(SLOW_SCRIPT, 0, 150_000) > 0  # logged at the deployed 10 ms (its TIME calls are not)
    client.config_set("slowlog-log-slower-than", 0)
    try:
        for i in range(30):
            client.set(f"slow:{i}", i)
        client.keys("slow:*")
    finally:
        client.config_set("slowlog-log-slower-than", 10000)
    code, data = doctor("--node", "mymaster-0", *QUICK, spec=topo.spec_file)
    assert code == 1
    [node] = data["nodes"]
    groups = {g["command"]: g for g in node["slowlog"]["groups"]}
    assert groups["SET"]["count"] == 30 and groups["KEYS"]["count"] == 1
    assert groups["EVAL"]["max_us"] >= 150_000 and node["slowlog"]["worst"][0]["command"].startswith("EVAL")
    found = findings(data, "mymaster-0")
    assert found["slowlog.eval"]["severity"] == "warning" and found["slowlog.keys"]["severity"] == "warning"
    assert "slowlog.set" not in found  # 30 fast SETs are grouped, not a finding
    # the deployed nodes keep the latency monitor on (100 ms): the spike was recorded without any window
    assert node["latency"]["threshold_ms"] == 100 and node["latency"]["sampled_s"] == 0
    [event] = [e for e in node["latency"]["events"] if e["event"] == "command"]
    assert event["max_ms"] >= 150
    assert found["latency.command"]["severity"] == "warning"
    assert "command" in node["latency"]["doctor"]


def test_latency_monitor_off_is_sampled_for_a_window_and_put_back(topo: Topology) -> None:
    name = "main-0"
    client = topo.client(name)
    client.config_set("latency-monitor-threshold", 0)
    client.execute_command("LATENCY", "RESET")
    node = DoctorNode(name, topo.node(name).address, topo.secrets.admin)
    journal = topo.deployment.journal
    out: list[DoctorReport] = []
    worker = threading.Thread(target=lambda: out.append(examine(
        [node], journal=journal, settings=DoctorSettings(latency_window_s=4, host=False))))
    worker.start()
    try:
        assert_eventually(lambda: _assert_equal(threshold(topo, name), "10"))  # on, for the window
        assert [e.param for e in journal.entries()] == ["latency-monitor-threshold"]
        assert client.eval(SLOW_SCRIPT, 0, 150_000) > 0
    finally:
        worker.join(timeout=30)
        client.config_set("latency-monitor-threshold", 100)
    [report] = out
    latency = report.nodes[0].latency
    assert latency["threshold_ms"] == 0 and latency["sampled_s"] == 4 and latency["sample_threshold_ms"] == 10
    assert [e["event"] for e in latency["events"]] == ["command"] and latency["events"][0]["max_ms"] >= 150
    assert "latency.command" in {f.id for f in report.findings}
    assert journal.entries() == []
    assert conf_threshold(topo, name) == ["latency-monitor-threshold 100"]  # the file never held the window's 10


def _assert_equal(left: object, right: object) -> None:
    assert left == right, (left, right)


def test_a_doctor_killed_in_its_window_is_undone_by_the_next_run(topo: Topology) -> None:
    name = "mymaster-2"
    client = topo.client(name)
    client.config_set("latency-monitor-threshold", 0)
    journal = topo.deployment.journal
    try:
        for undo_by in ("doctor", "up"):
            proc = subprocess.Popen([*REDISOPS, "doctor", "--node", name, "--latency-window", "300", "--no-host",
                                     "-f", str(topo.spec_file)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                assert_eventually(lambda: _assert_equal(threshold(topo, name), "10"), within=20)
                assert [(e.param, e.original, e.owner.pid) for e in journal.entries()] == [
                    ("latency-monitor-threshold", "0", proc.pid)]
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
            assert threshold(topo, name) == "10"  # nobody put it back: the owner is dead
            if undo_by == "doctor":
                code, data = doctor("--node", name, *QUICK, spec=topo.spec_file)
                [line] = data["recovered"]
                assert line.startswith("undid latency-monitor-threshold 10 on ") and "doctor" in line
                assert data["nodes"][0]["config"]["latency-monitor-threshold"] == "0"  # read after the undo
            else:
                assert any("latency-monitor-threshold" in a for a in topo.up().actions)
            assert threshold(topo, name) == "0" and journal.entries() == []
    finally:
        client.config_set("latency-monitor-threshold", 100)
    assert conf_threshold(topo, name) == ["latency-monitor-threshold 100"]


def test_big_keys_sampled_on_masters_within_bounds(topo: Topology) -> None:
    client = topo.client("mymaster-0")
    client.hset("big:hash", mapping={f"field:{i}": "x" * 50 for i in range(30_000)})
    client.mset({f"small:{i}": i for i in range(600)})
    owned = topo.plan.cluster.slots_of(topo.node("main-1"))
    listed = next(f"{{b{i}}}list" for i in range(10_000) if owned[0] <= key_slot(f"{{b{i}}}list".encode()) <= owned[1])
    topo.client("main-1").rpush(listed, *range(100))
    try:
        code, data = doctor(*QUICK, spec=topo.spec_file)
        master = node_of(data, "mymaster-0")["bigkeys"]
        assert master["complete"] and master["sized"] >= 601
        top = master["top"][0]
        assert (top["key"], top["type"], top["length"]) == ("big:hash", "hash", 30_000) and top["bytes"] > 1024 ** 2
        assert master["bytes"] > top["bytes"] and [k["type"] for k in master["top"][1:]] == ["string"] * 9
        [big] = findings(data, "mymaster-0")["keys.big"]["details"]["keys"]
        assert big["key"] == "big:hash" and code == 1
        roles = {n["name"]: (n["role"], n["bigkeys"] is not None) for n in data["nodes"]}
        assert roles["mymaster-1"] == ("replica", False)  # a replica holds its master's keys: not walked again
        masters = [n for n in data["nodes"] if n["role"] == "master"]
        assert len(masters) == 4 and all(n["bigkeys"] is not None for n in masters)
        assert any(k["key"] == listed and k["length"] == 100 for n in masters for k in n["bigkeys"]["top"])
        # bounded: at most --sample-keys keys sized, and it says it stopped short
        code, data = doctor("--node", "mymaster-0", "--sample-keys", "100", *QUICK, spec=topo.spec_file)
        bounded = data["nodes"][0]["bigkeys"]
        assert bounded["sized"] == 100 and bounded["complete"] is False
    finally:
        client.delete("big:hash", *(f"small:{i}" for i in range(600)))
        topo.client("main-1").delete(listed)


def test_a_failed_bgsave_is_an_error_and_a_healthy_node_exits_0(topo: Topology) -> None:
    name = "main-3"
    client = topo.client(name)
    data_dir = Path(client.config_get("dir")["dir"])
    dump = data_dir / client.config_get("dbfilename")["dbfilename"]
    kept = dump.with_name("kept.rdb")
    if dump.exists():
        dump.rename(kept)
    dump.mkdir()  # the finished snapshot cannot be renamed over a directory: BGSAVE fails for real
    try:
        client.bgsave()
        assert_eventually(lambda: _assert_equal(client.info("persistence")["rdb_last_bgsave_status"], "err"))
        code, data = doctor("--node", name, "--fail-on", "error", *QUICK, spec=topo.spec_file)
        assert code == 1
        assert findings(data, name)["persistence.rdb-failed"]["severity"] == "error"
    finally:
        dump.rmdir()
        if kept.exists():
            kept.rename(dump)
        assert_eventually(lambda: _bgsave_ok(client), within=20)
    code, data = doctor("--node", name, "--fail-on", "error", *QUICK, spec=topo.spec_file)
    assert code == 0, data["findings"]
    assert "persistence.rdb-failed" not in findings(data)


def _bgsave_ok(client: Any) -> None:
    info = client.info("persistence")
    if info["rdb_last_bgsave_status"] != "ok" and not info["rdb_bgsave_in_progress"]:
        client.bgsave()
    assert client.info("persistence")["rdb_last_bgsave_status"] == "ok"


def test_the_host_is_checked_for_local_nodes(topo: Topology) -> None:
    code, data = doctor("--node", "mymaster-0", "--latency-window", "0", "--intrinsic-latency", "1",
                        spec=topo.spec_file)
    host = data["host"]
    assert host["checked"] is True
    stalls = host["intrinsic_latency"]
    assert stalls["seconds"] == 1 and stalls["max_us"] >= 1 and stalls["avg_us"] > 0
    assert ("host.intrinsic-latency" in findings(data)) == (stalls["max_us"] >= 5000)
    assert host["overcommit_memory"] == Path("/proc/sys/vm/overcommit_memory").read_text().strip()
    assert ("host.overcommit" in findings(data)) == (host["overcommit_memory"] != "1")


def test_no_node_answering_is_down() -> None:
    port = allocate_ports()
    assert port_is_free("127.0.0.1", port)
    code, data = doctor("--seed", f"127.0.0.1:{port}", *QUICK)
    assert code == 3
    assert findings(data)["node.unreachable"]["severity"] == "error"
    assert json.dumps(data).count("connection refused") + json.dumps(data).count("Connection refused") >= 1


def test_a_lagging_replica_and_a_dead_master(tmp_path: Path) -> None:
    with Topology.start(tmp_path, sentinel=True, cluster=False, down_after_ms=60_000) as topo:
        password = topo.secrets.admin
        master = DoctorNode("mymaster-0", topo.node("mymaster-0").address, password)
        lagging = str(topo.node("mymaster-2").address)
        topo.pause("mymaster-2")
        try:
            def lag_found() -> None:
                report = examine([master], settings=DoctorSettings(latency_window_s=0, host=False,
                                                                   thresholds=Thresholds(replica_lag_s=1)))
                lag = [f for f in report.findings if f.id == "replication.lag"]
                assert lag and lag[0].details["replica"] == lagging and lag[0].details["lag_s"] > 1, lag
            assert_eventually(lag_found, within=15, interval=0.5)
        finally:
            topo.resume("mymaster-2")
        topo.kill("mymaster-0")
        def links_down() -> dict[str, Any]:
            code, data = doctor(*QUICK, spec=topo.spec_file)
            found = {(f["node"], f["id"]) for f in data["findings"]}
            assert {("mymaster-1", "replication.link-down"), ("mymaster-2", "replication.link-down")} <= found, found
            return data
        data = assert_eventually(links_down, within=20, interval=0.5)
        assert ("mymaster-0", "node.unreachable") in {(f["node"], f["id"]) for f in data["findings"]}
        assert node_of(data, "mymaster-0")["error"] and node_of(data, "mymaster-1")["role"] == "replica"


def test_a_refused_command_names_the_permission_and_the_rest_is_examined(topo: Topology) -> None:
    name = "main-2"
    client = topo.client(name)
    owned = topo.plan.cluster.slots_of(topo.node(name))
    key = next(f"k{i}" for i in range(10_000) if owned[0] <= key_slot(f"k{i}".encode()) <= owned[1])
    client.set(key, "v")
    client.execute_command("ACL", "SETUSER", "admin", "-config|get", "-memory")
    try:
        code, data = doctor("--node", name, "--latency-window", "5", "--no-host", spec=topo.spec_file)
    finally:
        client.execute_command("ACL", "SETUSER", "admin", "+@all")
        client.delete(key)
    [node] = data["nodes"]
    refused = [f for f in node["findings"] if f["id"] == "doctor.refused"]
    fixes = " ".join(f["fix"] for f in refused)
    assert "+config|get" in fixes and "+memory|doctor" in fixes and "+memory|usage" in fixes, refused
    assert all(f["severity"] == "info" for f in refused)
    assert node["error"] is None and node["role"] == "master" and node["figures"]["used_memory"]  # INFO still read
    assert node["slowlog"]["groups"] is not None and node["latency"]["sampled_s"] == 0  # not changed blind
    assert topo.deployment.journal.entries() == []
