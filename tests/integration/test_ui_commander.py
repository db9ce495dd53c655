"""``redisops ui``: Redis Commander on loopback, pre-connected to the group (through its sentinels) and the cluster.

Real Redis Commander (``make commander`` installs it into .redisops/tools) against a real topology: the config file
it reads, the process (listening on 127.0.0.1 only, no password on its command line or in its environment), the
keys it shows through its own HTTP API, and that it finds them again after the nodes were stopped and started.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import cli_json
import httpx
import pytest
import redis
import yaml

from redisops.lifecycle import Deployment
from redisops.observe.commander import Commander, find_tool
from redisops.runtime.processes import is_alive
from redisops.testing import Topology, assert_eventually

REDISOPS = str(Path(sys.executable).parent / "redisops")
REPO = Path(__file__).resolve().parents[2]
COMMANDER_PACKAGE = REPO / ".redisops" / "tools" / "node_modules" / "redis-commander"


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([REDISOPS, *args], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env=env if env is not None else tool_env())


def tool_env(**extra: str) -> dict[str, str]:
    assert COMMANDER_PACKAGE.is_dir(), "Redis Commander is not installed: run `make commander`"
    return {**os.environ, "REDISOPS_COMMANDER": str(COMMANDER_PACKAGE), **extra}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp* write them) of the sockets listening on ``port``."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.rpartition(":")
            if state == "0A" and int(hex_port, 16) == port:
                out.add(address)
    return out


def ui_keys(url: str, label: str, prefix: str) -> list[str]:
    """The keys Redis Commander's key tree shows under ``prefix`` for the connection labelled ``label`` (for a
    cluster it asks every master)."""
    info = httpx.get(f"{url}apiv2/server/info", timeout=5, trust_env=False).json()["data"]
    ids = [c["connectionId"] for c in info if c["label"] == label]
    assert ids, [c["label"] for c in info]
    reply = httpx.get(f"{url}apiv1/keystree/{ids[0]}/{prefix}", timeout=5, trust_env=False)
    assert reply.status_code == 200, reply.text
    return [prefix + item["keyName"] for item in reply.json()["data"] if not item.get("children")]


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    with Topology.start(tmp_path_factory.mktemp("ui"), replicas=1, replicas_per_master=0) as topology:
        yield topology


@pytest.fixture
def commander(topo: Topology) -> Iterator[Commander]:
    """The spec's Redis Commander, stopped after the test whatever happened."""
    ui = Commander(topo.plan, topo.secrets, topo.deployment.runtime.state_dir)
    try:
        yield ui
    finally:
        state = ui.running()
        ui.stop()
        assert state is None or not is_alive(state.pid)


def write_keys(topo: Topology, prefix: str) -> tuple[str, str]:
    group_key, cluster_key = f"{prefix}group", f"{prefix}cluster"
    master = topo.client("mymaster-0")
    master.set(group_key, "written to the group")
    master.wait(1, 5000)  # on the replica too: the restart below may bring either back as master
    seed = topo.node("main-0").address
    cluster = redis.RedisCluster(seed.host, seed.port, username="admin", password=topo.secrets.admin_password)
    try:
        cluster.set(cluster_key, "written to the cluster")
    finally:
        cluster.close()
    return group_key, cluster_key


def test_ui_connects_everything_with_no_secret_in_sight(topo: Topology, commander: Commander) -> None:
    prefix = f"ui-{uuid.uuid4().hex[:8]}:"
    group_key, cluster_key = write_keys(topo, prefix)
    port = free_port()
    done = cli("ui", "-f", str(topo.spec_file), "--port", str(port), "--json")
    assert done.returncode == 0, done.stderr
    data = cli_json.data(done.stdout, "ui")
    assert data["url"] == f"http://127.0.0.1:{port}/"
    assert data["already_running"] is False
    assert {(c["label"], c["connected"]) for c in data["connections"]} == {("mymaster (sentinels)", True),
                                                                           ("main (cluster)", True)}
    pid = data["pid"]

    # the config: every sentinel of the group, every cluster node, the passwords; private
    config_file = Path(data["config"])
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_file.parent.parent.stat().st_mode) == 0o700
    config = json.loads(config_file.read_text())
    assert config["server"] == {"address": "127.0.0.1", "port": port}
    assert config["noSave"] is True
    group, cluster = config["connections"]
    assert group["sentinels"] == [{"host": "127.0.0.1", "port": s.address.port} for s in topo.plan.groups[0].sentinels]
    assert group["sentinelName"] == "mymaster"
    assert group["sentinelPassword"] == topo.secrets.sentinel_password
    assert (group["username"], group["password"]) == ("admin", topo.secrets.admin_password)
    assert cluster["clusters"] == [{"host": "127.0.0.1", "port": n.address.port} for n in topo.plan.cluster.nodes]
    assert (cluster["username"], cluster["password"]) == ("admin", topo.secrets.admin_password)

    # the process: loopback only, no password on its command line, in its environment or its log
    assert listening_addresses(port) == {"0100007F"}, listening_addresses(port)
    secrets = (*topo.secrets.passwords,)
    for view in ("cmdline", "environ"):
        text = Path(f"/proc/{pid}/{view}").read_bytes().decode(errors="replace")
        assert not any(secret in text for secret in secrets), view
    assert "redis-commander.js" in Path(f"/proc/{pid}/cmdline").read_text()

    # what the UI shows: the key written to the group's master and the one written to the cluster
    url = data["url"]
    assert ui_keys(url, "mymaster (sentinels)", prefix) == [group_key]
    assert ui_keys(url, "main (cluster)", prefix) == [cluster_key]
    log = Path(data["log"]).read_text()
    assert not any(secret in log for secret in secrets)

    # idempotent: the running UI is kept
    again = cli_json.data(cli("ui", "-f", str(topo.spec_file), "--json").stdout, "ui")
    assert (again["already_running"], again["pid"], again["port"]) == (True, pid, port)

    # another port: the UI moves there
    moved_port = free_port()
    moved = cli_json.data(cli("ui", "-f", str(topo.spec_file), "--port", str(moved_port), "--json").stdout, "ui")
    assert (moved["already_running"], moved["port"]) == (False, moved_port)
    assert not is_alive(pid)
    pid, url = moved["pid"], moved["url"]
    assert ui_keys(url, "mymaster (sentinels)", prefix) == [group_key]

    # the nodes stop and start again (`redisops down` + `up`): the UI reconnects by itself
    topo.stop()
    topo.up()
    assert_eventually(lambda: ui_keys(url, "mymaster (sentinels)", prefix) == [group_key], within=30, interval=0.5)
    assert_eventually(lambda: ui_keys(url, "main (cluster)", prefix) == [cluster_key], within=30, interval=0.5)

    stopped = cli_json.data(cli("ui", "-f", str(topo.spec_file), "--stop", "--json").stdout, "ui")
    assert stopped == {"stopped": True, "pid": pid}
    assert not is_alive(pid)
    assert not config_file.exists()  # it held the passwords


def test_ui_follows_the_group_to_its_new_master(tmp_path: Path) -> None:
    """Connected through the sentinels, not to a fixed node: after a failover the UI shows the new master's keys."""
    assert COMMANDER_PACKAGE.is_dir(), "Redis Commander is not installed: run `make commander`"
    with Topology.start(tmp_path, cluster=False, replicas=1, down_after_ms=1000) as group:
        ui = Commander(group.plan, group.secrets, group.deployment.runtime.state_dir)
        try:
            started = ui.start(find_tool([REPO]), free_port())
            assert started.all_connected, started.connections
            old = group.node("mymaster-0").address
            group.kill("mymaster-0")
            sentinel = group.client("mymaster-sentinel-0")

            def promoted() -> str:
                host, port = sentinel.sentinel_get_master_addr_by_name("mymaster")
                assert (host, int(port)) != (old.host, old.port), "no failover yet"
                return next(n.name for n in group.plan.groups[0].redis if n.address.port == int(port))

            new_master = assert_eventually(promoted, within=30, interval=0.2)
            prefix = f"ui-{uuid.uuid4().hex[:8]}:"
            group.client(new_master).set(f"{prefix}after-failover", "written to the new master")
            assert_eventually(lambda: ui_keys(started.state.url, "mymaster (sentinels)", prefix)
                              == [f"{prefix}after-failover"], within=30, interval=0.5)
        finally:
            ui.stop()


def test_port_in_use_is_one_line_and_keeps_the_running_ui(topo: Topology, commander: Commander) -> None:
    running = commander.start(find_tool([REPO]), free_port()).state
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = cli("ui", "-f", str(topo.spec_file), "--port", str(port))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"127.0.0.1:{port}" in lines[0] and "already in use" in lines[0] and "--port" in lines[0], lines[0]
    assert commander.running() == running  # asked to move to a taken port, it stays where it was


def test_missing_node_and_missing_commander_say_how_to_install(tmp_path: Path) -> None:
    spec = Topology.write_spec(tmp_path / "spec")
    env = {k: v for k, v in os.environ.items() if k != "REDISOPS_COMMANDER"}
    no_tool = cli("ui", "-f", str(spec), "--json", env=env, cwd=tmp_path)
    error = cli_json.error(no_tool, "ui")
    assert no_tool.returncode == 2
    assert "Redis Commander not found" in error["message"], error
    assert "make commander" in error["hint"] and "npm install --prefix .redisops/tools redis-commander@0.9.0" \
        in error["hint"], error

    no_node = cli("ui", "-f", str(spec), env={**tool_env(), "PATH": str(tmp_path)}, cwd=tmp_path)
    assert no_node.returncode == 2, no_node.stderr
    line = no_node.stderr.strip()
    assert "\n" not in line and "node (Node.js) not found" in line and "sudo apt-get install -y nodejs npm" in line, line


@pytest.mark.slow
def test_ui_over_tls_shows_both_and_follows_a_rotation(tmp_path: Path) -> None:
    """`tls.enabled: true`: Redis Commander logs in with redisops' client certificate (the nodes ask for one), to the
    sentinels and the data nodes over TLS; `tls rotate` reissues that certificate, and the next `redisops ui`
    restarts it on its port with the new one."""
    spec_file = Topology.write_spec(tmp_path, replicas=1, replicas_per_master=0)
    data = yaml.safe_load(spec_file.read_text())
    data["tls"] = {"enabled": True}
    spec_file.write_text(yaml.safe_dump(data, sort_keys=False))
    with Topology(Deployment.open(spec_file)) as topo:
        topo.up()
        assert topo.secrets.tls is not None
        ui = Commander.open(spec_file)
        try:
            prefix = f"ui-{uuid.uuid4().hex[:8]}:"
            tls = topo.secrets.tls.redis_kwargs()
            master = topo.client("mymaster-0")
            master.set(f"{prefix}group", "over TLS")
            seed = topo.node("main-0").address
            cluster = redis.RedisCluster(seed.host, seed.port, username="admin",
                                         password=topo.secrets.admin_password, ssl=True, **tls)
            try:
                cluster.set(f"{prefix}cluster", "over TLS")
            finally:
                cluster.close()

            port = free_port()
            done = cli("ui", "-f", str(spec_file), "--port", str(port), "--json")
            assert done.returncode == 0, done.stderr
            first = cli_json.data(done.stdout, "ui")
            assert {(c["label"], c["connected"]) for c in first["connections"]} == {
                ("mymaster (sentinels)", True), ("main (cluster)", True)}, first["connections"]
            config = json.loads(Path(first["config"]).read_text())
            group, cluster_conn = config["connections"]
            client_cert = (topo.deployment.runtime.state_dir / "tls" / "clients" / "redisops.crt").read_text()
            assert group["tls"]["cert"] == client_cert and group["sentinelTLS"] is True
            assert cluster_conn["tls"]["cert"] == client_cert
            assert ui_keys(first["url"], "mymaster (sentinels)", prefix) == [f"{prefix}group"]
            assert ui_keys(first["url"], "main (cluster)", prefix) == [f"{prefix}cluster"]
            log = Path(first["log"]).read_text()
            key = (topo.deployment.runtime.state_dir / "tls" / "clients" / "redisops.key").read_text()
            assert key.strip().splitlines()[1] not in log  # the key is in the private config only

            # unchanged: the running UI is kept
            kept = cli_json.data(cli("ui", "-f", str(spec_file), "--json").stdout, "ui")
            assert (kept["already_running"], kept["pid"]) == (True, first["pid"])

            rotated = subprocess.run([REDISOPS, "tls", "rotate", "--json", "-f", str(spec_file)],
                                     capture_output=True, text=True, timeout=120)
            assert rotated.returncode == 0, rotated.stdout + rotated.stderr
            renewed = (topo.deployment.runtime.state_dir / "tls" / "clients" / "redisops.crt").read_text()
            assert renewed != client_cert
            again = cli_json.data(cli("ui", "-f", str(spec_file), "--json").stdout, "ui")
            assert (again["already_running"], again["port"]) == (False, port)
            assert again["pid"] != first["pid"] and not is_alive(first["pid"])
            assert json.loads(Path(again["config"]).read_text())["connections"][0]["tls"]["cert"] == renewed
            assert all(c["connected"] for c in again["connections"]), again["connections"]
            assert ui_keys(again["url"], "main (cluster)", prefix) == [f"{prefix}cluster"]
        finally:
            state = ui.running()
            ui.stop()
            assert state is None or not is_alive(state.pid)
