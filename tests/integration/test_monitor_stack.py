"""``redisops monitor up | status | down`` against a real topology: Debian's prometheus, alertmanager and
redis_exporter on free loopback ports, scraping real nodes through the exporter's least-privilege user.

One topology (a Sentinel group of 2 data nodes and 3 sentinels, a 3-master cluster) and one stack for the module;
the tests run in file order and the last one kills the group's master.
"""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from alert_endpoints import Endpoint
from cli_json import data, error

from redisops.lifecycle import Deployment
from redisops.observe.stack import EXPORTER_USER, Monitor
from redisops.runtime.plan import NodeKind
from redisops.testing import Topology, assert_eventually

REDISOPS = [sys.executable, "-m", "redisops"]

#: a rule that fires at once when a data node stops answering: the end-to-end test's alert
TEST_RULES = """
groups:
  - name: test
    rules:
      - alert: TestNodeDown
        expr: redis_up{role_kind="node"} == 0
        for: 0s
        labels: {severity: critical}
        annotations: {summary: "{{ $labels.instance }} is down"}
"""


def cli(*args: str, spec: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REDISOPS, *args, "-f", str(spec)], capture_output=True, text=True, timeout=timeout,
                          check=False)


def monitor_section(base: int) -> dict[str, Any]:
    """Free ports from the harness' block (base+30.. are unused by the topology); 1 s intervals."""
    return {"prometheus_port": base + 40, "alertmanager_port": base + 41, "exporter_port": base + 42,
            "scrape_interval_s": 1, "evaluation_interval_s": 1, "group_wait_s": 0.5, "group_interval_s": 1,
            "rule_files": ["test-rules.yml"]}


@dataclass
class Stack:
    topo: Topology
    spec_file: Path
    endpoint: Endpoint

    @property
    def monitor(self) -> Monitor:
        return Monitor.open(self.spec_file)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("monitor")
    endpoint = Endpoint().start()
    spec_file = Topology.write_spec(directory, replicas=1, replicas_per_master=0)
    spec = yaml.safe_load(spec_file.read_text())
    spec["monitor"] = monitor_section(spec["sentinel"][0]["port"])
    spec["watch"] = {"metrics_port": 0}
    spec["alerts"] = {"channels": [{"type": "webhook", "url": f"{endpoint.url}/hook"}]}
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    (directory / "test-rules.yml").write_text(TEST_RULES)
    topo = Topology(Deployment.open(spec_file))
    try:
        topo.up()
        yield Stack(topo, spec_file, endpoint)
    finally:
        try:
            Monitor.open(spec_file).down()
        finally:
            topo.stop()
            endpoint.stop()


def test_up_scrapes_every_node_through_the_exporter_user(stack: Stack) -> None:
    done = cli("monitor", "up", "--json", spec=stack.spec_file)
    assert done.returncode == 0, done.stderr
    report = data(done.stdout, "monitor.up")
    assert set(report["services"].values()) == {"started"}
    nodes = {t["instance"]: t for t in report["targets"] if t["job"] in ("redis", "sentinel")}
    assert set(nodes) == {f"redis://{n.address}" for n in stack.topo.plan.nodes}
    assert all(t["health"] == "up" for t in report["targets"]), report["targets"]
    assert {t["job"] for t in report["targets"]} == {"redis", "sentinel", "redis_exporter", "prometheus",
                                                     "alertmanager"}
    # the exporter really read the nodes as its user: sentinel and cluster metrics are there
    query = stack.monitor._api("/api/v1/query?query=redis_sentinel_masters or redis_cluster_state")
    assert len(query["result"]) == 3 + 3


def test_exporter_user_can_run_only_what_it_needs(stack: Stack) -> None:
    password = yaml.safe_load((stack.spec_file.parent / "redisops.secrets.yaml").read_text())["exporter_password"]
    for node in stack.topo.plan.nodes:
        client = redis.Redis(node.address.host, node.address.port, username=EXPORTER_USER, password=password,
                             socket_timeout=3, decode_responses=True)
        try:
            assert client.info("server")
            forbidden = ([("SENTINEL", "FAILOVER", "mymaster"), ("SENTINEL", "SET", "mymaster", "quorum", "1"),
                          ("SENTINEL", "CONFIG", "GET", "*"), ("ACL", "LIST")] if node.kind is NodeKind.SENTINEL
                         else [("GET", "k"), ("SET", "k", "v"), ("CONFIG", "GET", "requirepass"), ("FLUSHALL",),
                               ("ACL", "LIST"), ("SUBSCRIBE", "x")])
            for command in forbidden:
                with pytest.raises(redis.exceptions.NoPermissionError):
                    client.execute_command(*command)
            if node.kind is NodeKind.SENTINEL:
                assert client.execute_command("SENTINEL", "CKQUORUM", "mymaster").startswith("OK")
        finally:
            client.close()


def test_no_secret_on_a_command_line_and_secret_files_private(stack: Stack) -> None:
    monitor = stack.monitor
    secrets = yaml.safe_load((stack.spec_file.parent / "redisops.secrets.yaml").read_text())
    for service in monitor.services():
        pid = service.pid()
        assert pid is not None, service.name
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        assert not any(value in argv for value in secrets.values()), service.name
        for arg in service.argv[1:]:  # loopback only, on the spec's ports
            assert "0.0.0.0" not in arg
    for path in (monitor.dir("exporter") / "passwords.json", monitor.dir("alertmanager") / "alertmanager.yml"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    passwords = json.loads((monitor.dir("exporter") / "passwords.json").read_text())
    assert set(passwords.values()) == {secrets["exporter_password"]}


def test_second_up_leaves_the_running_stack_alone(stack: Stack) -> None:
    pids = {s.name: s.pid() for s in stack.monitor.services()}
    done = cli("monitor", "up", "--json", spec=stack.spec_file)
    assert done.returncode == 0, done.stderr
    report = data(done.stdout)
    assert set(report["services"].values()) == {"already running"}
    assert {s.name: s.pid() for s in stack.monitor.services()} == pids
    # the exporter user is already right everywhere: no ACL SETUSER, no CONFIG REWRITE this time
    assert len(report["acl"]) == len(stack.topo.plan.nodes)
    assert all(line.endswith(": unchanged") for line in report["acl"]), report["acl"]


def test_changed_spec_reloads_prometheus_and_keeps_the_rest(stack: Stack) -> None:
    spec = yaml.safe_load(stack.spec_file.read_text())
    spec["monitor"]["evaluation_interval_s"] = 0.5
    stack.spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    pids = {s.name: s.pid() for s in stack.monitor.services()}
    done = cli("monitor", "up", "--json", spec=stack.spec_file)
    assert done.returncode == 0, done.stderr
    assert data(done.stdout)["services"] == {"redis_exporter": "already running", "alertmanager": "already running",
                                             "prometheus": "reloaded"}
    assert {s.name: s.pid() for s in stack.monitor.services()} == pids

    def reloaded() -> None:
        assert "evaluation_interval: 500ms" in stack.monitor._api("/api/v1/status/config")["yaml"]

    assert_eventually(reloaded, within=10, interval=0.2)


def test_status_names_a_dead_node_and_sees_it_back_after_restart(stack: Stack) -> None:
    """A killed replica and a killed sentinel are down, with the node's own reason; restarted from their configs
    they are scraped again: the exporter user was persisted into redis.conf and sentinel.conf."""
    stack.topo.kill("mymaster-1")
    stack.topo.kill("mymaster-sentinel-2")

    def both_down() -> dict[str, Any]:
        done = cli("monitor", "status", "--json", spec=stack.spec_file)
        assert done.returncode == 1, done.stderr
        report = data(done.stdout, "monitor.status")
        down = {t["node"]: t["last_error"] for t in report["targets"] if t["health"] != "up"}
        assert set(down) == {"mymaster-1", "mymaster-sentinel-2"}, down
        return down

    down = assert_eventually(both_down, within=20, interval=0.5)
    assert "does not answer" in down["mymaster-1"]
    stack.topo.up()

    def all_up() -> None:
        done = cli("monitor", "status", "--json", spec=stack.spec_file)
        assert done.returncode == 0, done.stdout
        assert data(done.stdout)["targets_up"] == data(done.stdout)["targets_total"]

    assert_eventually(all_up, within=20, interval=0.5)


def test_master_down_alert_reaches_a_webhook_through_alertmanager(stack: Stack) -> None:
    """Point 3 of the issue: exporter -> Prometheus rule -> Alertmanager -> a local webhook receiver, for the
    node going down (the test's rule, at once) and for the failover that follows (the shipped rule)."""
    master = stack.topo.node("mymaster-0")
    with stack.topo.client("mymaster-0") as client:
        assert client.info("replication")["role"] == "master"
    stack.topo.kill("mymaster-0")

    def alert_delivered() -> dict[str, Any]:
        for request in list(stack.endpoint.requests):
            body = request.json()
            for alert in body.get("alerts", []):
                labels = alert["labels"]
                if labels.get("alertname") in ("TestNodeDown", "RedisNodeDown") and alert["status"] == "firing" \
                        and labels["instance"] == f"redis://{master.address}":
                    return dict(body)
        raise AssertionError(f"no node-down alert for the master yet: {_seen(stack)}")

    # The test's rule fires at once; under the full suite's load its first notification was lost twice in CI
    # (Prometheus held it firing, Alertmanager never had it; Prometheus resends only after 1 min) while the
    # shipped RedisNodeDown (30 s later) arrived: either proves the path, and the failure message shows each hop.
    body = assert_eventually(alert_delivered, within=90, interval=0.5)
    assert body["version"] == "4" and body["receiver"] == "webhook"
    assert body["commonLabels"]["redis_group"] == "mymaster"

    def failover_alert() -> None:  # the shipped rule, once the sentinels have elected another master
        names = {(a["labels"].get("alertname"), a["labels"].get("master_name"), a["status"])
                 for r in list(stack.endpoint.requests) for a in r.json().get("alerts", [])}
        assert ("RedisSentinelMasterChanged", "mymaster", "firing") in names, names

    assert_eventually(failover_alert, within=40, interval=0.5)


def _seen(stack: Stack) -> str:
    """What the webhook received and what Prometheus and Alertmanager hold: the failure message of the end-to-end
    test, so that a failure under load says which hop lost the alert."""
    received = [(a["labels"].get("alertname"), a["labels"].get("instance") or a["labels"].get("master_name"),
                 a["status"]) for r in list(stack.endpoint.requests) for a in r.json().get("alerts", [])]
    try:
        monitor = stack.monitor
        up = [(r["metric"].get("node"), r["value"][1]) for r in monitor._api("/api/v1/query?query=redis_up")["result"]]
        rules = [(a["labels"].get("alertname"), a["labels"].get("instance"), a["state"])
                 for a in monitor._api("/api/v1/alerts")["alerts"]]
        notifier = [(r["metric"]["__name__"], r["value"][1]) for r in monitor._api(
            "/api/v1/query?query={__name__=~\"prometheus_notifications_.*\",job=\"prometheus\"}")["result"]]
        held = monitor._http.get(monitor.urls()["alertmanager"] + "/api/v2/alerts").json()
        manager = [(a["labels"].get("alertname"), a["labels"].get("instance"), a["status"]["state"]) for a in held]
    except Exception as exc:  # noqa: BLE001 - a diagnostic must not hide the failure it explains
        return f"received {received}; could not ask the stack: {exc!r}"
    return (f"received {received}; redis_up {up}; Prometheus alerts {rules}; Prometheus notifier {notifier}; "
            f"Alertmanager alerts {manager}")


def test_down_stops_every_process(stack: Stack) -> None:
    pids = [s.pid() for s in stack.monitor.services()]
    done = cli("monitor", "down", "--json", spec=stack.spec_file)
    assert done.returncode == 0, done.stderr
    assert set(data(done.stdout, "monitor.down")["services"].values()) == {"stopped"}
    assert all(pid is not None and not Path(f"/proc/{pid}").exists() or _zombie(pid) for pid in pids)
    status = cli("monitor", "status", "--json", spec=stack.spec_file)
    assert status.returncode == 3
    assert set(data(status.stdout)["services"].values()) == {"not running"}


def _zombie(pid: int | None) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] in ("Z", "X")
    except OSError:
        return True


# --- without nodes: bad input and offline checks -------------------------------------------------------------
@pytest.fixture
def bare_spec(tmp_path: Path) -> Iterator[Path]:
    """A spec on free ports whose nodes are not started (nothing of the stack may start either)."""
    spec_file = Topology.write_spec(tmp_path, replicas=1, replicas_per_master=0)
    spec = yaml.safe_load(spec_file.read_text())
    spec["monitor"] = monitor_section(spec["sentinel"][0]["port"])
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    (tmp_path / "test-rules.yml").write_text(TEST_RULES)
    try:
        yield spec_file
    finally:
        Monitor.open(spec_file).down()


def test_port_in_use_is_one_line_and_starts_nothing(bare_spec: Path) -> None:
    port = yaml.safe_load(bare_spec.read_text())["monitor"]["prometheus_port"]
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        done = cli("monitor", "up", "--json", spec=bare_spec)
        plain = cli("monitor", "up", spec=bare_spec)
    err = error(done, "monitor.up")
    assert done.returncode == 2 and err["type"] == "PortInUseError"
    assert f"127.0.0.1:{port}" in err["message"] and "monitor.prometheus_port" in err["hint"]
    assert plain.returncode == 2 and len(plain.stderr.strip().splitlines()) == 1, plain.stderr
    assert all(s.pid() is None for s in Monitor.open(bare_spec).services())


def test_invalid_rule_file_is_one_line_and_starts_nothing(bare_spec: Path) -> None:
    (bare_spec.parent / "test-rules.yml").write_text(
        "groups:\n  - name: broken\n    rules:\n      - alert: Broken\n        expr: redis_up ==== 0\n")
    done = cli("monitor", "up", spec=bare_spec)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "test-rules.yml" in lines[0] and "invalid" in lines[0], done.stderr
    assert all(s.pid() is None for s in Monitor.open(bare_spec).services())


def test_promtool_and_amtool_accept_the_generated_configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every channel type Alertmanager 0.25 can take, and prometheus.yml with every shipped rule file."""
    spec_file = Topology.write_spec(tmp_path)
    spec = yaml.safe_load(spec_file.read_text())
    spec["alerts"] = {"channels": [
        {"type": "slack", "webhook_url_env": "TEST_SLACK_URL"},
        {"type": "telegram", "bot_token_env": "TEST_BOT_TOKEN", "chat_id": "-100123"},
        {"type": "email", "smtp": "smtp.example.com:587", "starttls": True, "from": "r@example.com",
         "to": ["a@example.com"], "username_env": "TEST_SMTP_USER", "password_env": "TEST_SMTP_PASSWORD"},
        {"type": "email", "name": "mail-465", "smtp": "smtp.example.com:465", "tls": True, "from": "r@example.com",
         "to": ["b@example.com"]},
        {"type": "webhook", "url": "http://127.0.0.1:1/hook"},
    ]}
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    for name, value in {"TEST_SLACK_URL": "https://hooks.slack.com/services/x", "TEST_BOT_TOKEN": "1:abc",
                        "TEST_SMTP_USER": "u", "TEST_SMTP_PASSWORD": "p"}.items():
        monkeypatch.setenv(name, value)
    monitor = Monitor.open(spec_file)
    assert monitor.write_configs() == []
    am = yaml.safe_load((monitor.dir("alertmanager") / "alertmanager.yml").read_text())
    kinds = {key for receiver in am["receivers"] for key in receiver if key.endswith("_configs")}
    assert kinds == {"slack_configs", "telegram_configs", "email_configs", "webhook_configs"}
    monitor.check_configs({"promtool": "promtool", "amtool": "amtool"})  # raises MonitorConfigError if rejected
    for tool, config in (("amtool", ["check-config", str(monitor.dir("alertmanager") / "alertmanager.yml")]),
                         ("promtool", ["check", "config", str(monitor.dir("prometheus") / "prometheus.yml")])):
        done = subprocess.run([tool, *config], capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    shipped = [p for p in monitor._rule_paths() if "/observe/rules/" in p]
    assert shipped == sorted(str(p) for p in (Path(monitor.rule_globs()[0]).parent).glob("*.yml"))


def test_a_stack_whose_state_dir_was_deleted_is_still_ours(bare_spec: Path) -> None:
    """``down --purge`` deletes ``.redisops/<name>/`` under a running stack: ``monitor up`` must not call its own
    processes strangers on their ports, and ``monitor down`` must still stop them."""
    import shutil

    first = cli("monitor", "up", spec=bare_spec)
    assert first.returncode == 1, first.stdout + first.stderr  # no node runs: their targets are down, the stack up
    monitor = Monitor.open(bare_spec)
    pids = {s.name: s.pid() for s in monitor.services()}
    assert all(pids.values())
    shutil.rmtree(monitor.directory)
    again = cli("monitor", "up", "--json", spec=bare_spec)
    assert again.returncode == 1, again.stdout + again.stderr
    assert set(data(again.stdout)["services"].values()) == {"restarted"}, again.stdout
    assert all(not Path(f"/proc/{pid}").exists() or _zombie(pid) for pid in pids.values()), pids
    shutil.rmtree(monitor.directory)
    down = cli("monitor", "down", "--json", spec=bare_spec)
    assert set(data(down.stdout)["services"].values()) == {"stopped"}, down.stdout
    assert {s.name: s.pid() for s in monitor.services()} == dict.fromkeys(pids)


def test_down_purge_stops_the_stack_before_deleting_its_state(bare_spec: Path) -> None:
    """The stack keeps its pid files in the directory `down --purge` deletes: purge stops it first, or it would
    run on unseen, holding its ports (fails without the stop: the services outlive the purge)."""
    first = cli("monitor", "up", spec=bare_spec)
    assert first.returncode == 1, first.stdout + first.stderr  # no node runs: targets down, the stack up
    monitor = Monitor.open(bare_spec)
    pids = {s.name: s.pid() for s in monitor.services()}
    assert all(pids.values())
    done = cli("down", "--purge", "--yes", "--json", spec=bare_spec)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(data(done.stdout, "down")["companions"]) == ["alertmanager", "prometheus", "redis_exporter"]
    assert all(not Path(f"/proc/{pid}").exists() or _zombie(pid) for pid in pids.values()), pids
    assert not monitor.directory.exists()
    assert all(s.pid() is None for s in monitor.services())
