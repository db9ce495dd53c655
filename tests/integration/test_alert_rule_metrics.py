"""The shipped alert rules against live metrics.  Every metric name they read exists: on Debian's real ``prometheus-redis-exporter`` (1.45),
scraped through its multi-target ``/scrape?target=`` endpoint from every data node (masters and replicas of a
Sentinel group and of a Cluster) and every sentinel of one live topology, or on the real watcher's ``/metrics``
(the daemon embedded, with a backup schedule so its ``redisops_backup_*`` series exist).

Some series appear only in some states (``redis_master_link_up`` on replicas, ``redis_cluster_*`` on cluster
nodes, ``redis_sentinel_*`` on sentinels, ``redis_latency_spike_*`` once LATENCY LATEST holds an event), so the
test scrapes every kind and causes one latency event.  The exporter logs in as the least-privileged ACL user
``redisops monitor`` gives it (no ``CONFIG GET``: no ``redis_config_*`` series), reading the passwords from a 0600
``--redis.password-file``, never from its command line.

Then a real Prometheus (Debian's 2.42) loads the rule files and scrapes the same exporter and watcher with the
target labels docs/alerts-rules.md proposes (``redis_group``, ``redis_cluster``, ``role_kind``), evaluating every
second: the latency event fires ``RedisLatencySpike``; killing a replica and a sentinel of the group makes the
node, sentinel, peer and replica rules go active for exactly those, while the per-group rules stay silent on a
healthy group next to a cluster of three masters.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from alert_endpoints import free_port, scrape

from redisops.auth import Credential
from redisops.daemon import Daemon
from redisops.observe.rules import metric_names, rule_files
from redisops.observe.stack.acl import ensure_user
from redisops.observe.stack.config import EXPORTER_USER
from redisops.runtime.plan import NodeKind
from redisops.spec import load, load_secrets
from redisops.testing import Topology, assert_eventually
from redisops.testing.watching import DaemonThread

EXPORTER = "/usr/bin/prometheus-redis-exporter"
PROMETHEUS = "/usr/bin/prometheus"
#: series Prometheus itself adds to every target, not scraped from anyone
SYNTHETIC = {"up"}
#: a Lua script that keeps the node busy for 150 ms: one "command" event above latency-monitor-threshold (100 ms)
BUSY_150MS = """
local t = redis.call('TIME')
local start = t[1] * 1000000 + t[2]
repeat
  t = redis.call('TIME')
until t[1] * 1000000 + t[2] - start > 150000
return 1
"""


@dataclass
class Exporter:
    port: int
    process: subprocess.Popen[bytes]
    password: str  # its ACL user's

    def scrape(self, target: str) -> str:
        return self._get("/scrape?" + urllib.parse.urlencode({"target": target}))

    def own_metrics(self) -> str:
        return self._get("/metrics")

    def _get(self, path: str) -> str:
        """The body; an AssertionError while the exporter does not answer (for ``assert_eventually``)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=20) as response:
                return str(response.read().decode())
        except OSError as exc:
            raise AssertionError(f"redis_exporter {path}: {exc}") from exc


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    with Topology.start(tmp_path_factory.mktemp("rule-metrics")) as topology:
        yield topology


@pytest.fixture(scope="module")
def exporter(topo: Topology, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exporter]:
    # the exporter's user and password come with the deployment (auth.conf of every node, from the secrets file):
    # `redisops monitor up`'s ensure_user finds each exactly as it wants it
    secret = topo.secrets.exporter_password
    assert secret
    for node in topo.plan.nodes:
        outcome = ensure_user(node.address, node.kind, password(topo, node.kind), EXPORTER_USER, secret)
        assert outcome.action == "unchanged", outcome
    passwords = tmp_path_factory.mktemp("exporter") / "passwords.json"
    passwords.touch(mode=0o600)
    passwords.write_text(json.dumps({target(n): secret for n in topo.plan.nodes}))
    port = free_port()
    # -redis.addr= : the exporter's own /metrics scrapes no default redis://localhost:6379
    process = subprocess.Popen([EXPORTER, f"-web.listen-address=127.0.0.1:{port}", "-redis.addr=",
                                f"-redis.user={EXPORTER_USER}", f"-redis.password-file={passwords}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    running = Exporter(port, process, secret)
    try:
        assert_eventually(running.own_metrics, within=10)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def watcher(topo: Topology) -> Iterator[int]:
    """The daemon on the topology's spec with a backup schedule (once a year: its series exist from the start)."""
    data = yaml.safe_load(topo.spec_file.read_text())
    data["backup"] = {"target": "file://./rule-metrics-backups", "schedule": "0 0 1 1 *", "keep": {"last": 1}}
    data["watch"] = {"poll_interval_s": 0.5, "probe_timeout_s": 1.0}
    path = topo.spec_file.with_name("rule-metrics.yaml")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    spec = load(path)
    port = free_port()
    daemon = Daemon.from_spec(spec, load_secrets(path.parent / spec.auth.secrets_file), base_dir=path.parent,
                              metrics_port=port)
    running = DaemonThread(daemon)
    try:
        assert_eventually(lambda: scrape(port), within=10)
        yield port
    finally:
        running.close()
    assert running.error is None, running.error


def target(node: object) -> str:
    return f"redis://{node.address}"  # type: ignore[attr-defined]


def password(topo: Topology, kind: NodeKind) -> Credential:
    return topo.secrets.sentinel_password if kind is NodeKind.SENTINEL else topo.secrets.admin


def busy(topo: Topology, name: str) -> None:
    """Keep node ``name`` busy for 150 ms: a "command" event in its LATENCY LATEST."""
    client = topo.client(name)
    try:
        client.eval(BUSY_150MS, 0)
    finally:
        client.close()


def names_in(exposition: str) -> set[str]:
    """The sample names of a Prometheus text exposition (what Prometheus stores), not the # HELP / # TYPE lines."""
    found = set()
    for line in exposition.splitlines():
        if line and not line.startswith("#"):
            found.add(line.split("{", 1)[0].split(" ", 1)[0])
    return found


def rule_metric_names() -> dict[str, set[str]]:
    """Every metric name each rule reads."""
    used: dict[str, set[str]] = {}
    for path in rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                used[rule["alert"]] = metric_names(rule["expr"])
    return used


def test_every_metric_a_rule_reads_is_exported(topo: Topology, exporter: Exporter, watcher: int) -> None:
    busy(topo, "mymaster-0")  # one latency event: LATENCY LATEST is empty until then
    kinds = {n.kind for n in topo.plan.nodes}
    assert kinds == {NodeKind.REDIS, NodeKind.SENTINEL, NodeKind.CLUSTER}

    def seen() -> set[str]:
        names = set(SYNTHETIC) | names_in(exporter.own_metrics()) | names_in(scrape(watcher))
        for node in topo.plan.nodes:
            body = exporter.scrape(target(node))
            assert "redis_up 1" in body, f"the exporter cannot read {node.name}"
            names |= names_in(body)
        return names

    def nothing_missing() -> set[str]:
        names = seen()
        missing = {rule: sorted(used - names) for rule, used in rule_metric_names().items() if used - names}
        assert not missing, f"rules read metrics nobody exports: {missing}"
        return names

    names = assert_eventually(nothing_missing, within=20)
    # the check has teeth: what only newer exporters (or nobody) export is not there
    assert {"redis_sentinel_master_config_epoch", "redis_max_clients", "redis_total_system_memory_bytes",
            "redis_master_link_down_since_seconds", "redis_config_maxclients"} & names == set()
    # and every kind of node was really read: replicas, cluster nodes, sentinels, the latency event, the watcher
    assert {"redis_master_link_up", "redis_cluster_state", "redis_sentinel_master_status",
            "redis_latency_spike_duration_seconds", "redisops_backup_last_success_timestamp_seconds"} <= names


def test_the_password_file_is_private_and_off_the_command_line(topo: Topology, exporter: Exporter) -> None:
    argv = Path(f"/proc/{exporter.process.pid}/cmdline").read_bytes().decode()
    for secret in (*topo.secrets.passwords, exporter.password):
        assert secret not in argv
    password_file = next(a for a in argv.split("\0") if a.startswith("-redis.password-file="))
    assert os.stat(password_file.split("=", 1)[1]).st_mode & 0o777 == 0o600


# --- the rules evaluated by a real Prometheus ------------------------------------------------------------------

def prometheus_config(topo: Topology, exporter: int, watcher: int) -> dict[str, Any]:
    """The scrape config docs/alerts-rules.md describes, every second."""
    targets = []
    for node in topo.plan.nodes:
        kind = "sentinel" if node.kind is NodeKind.SENTINEL else "node"
        group = {"redis_cluster": "main"} if node.kind is NodeKind.CLUSTER else {"redis_group": "mymaster"}
        targets.append({"targets": [target(node)], "labels": {"role_kind": kind, "node": node.name, **group}})
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in rule_files()],
        "scrape_configs": [
            {"job_name": "redis", "metrics_path": "/scrape", "static_configs": targets,
             "relabel_configs": [
                 {"source_labels": ["__address__"], "target_label": "__param_target"},
                 {"source_labels": ["__param_target"], "target_label": "instance"},
                 {"target_label": "__address__", "replacement": f"127.0.0.1:{exporter}"}]},
            {"job_name": "redis_exporter",
             "static_configs": [{"targets": [f"127.0.0.1:{exporter}"], "labels": {"role_kind": "exporter"}}]},
            {"job_name": "redisops_watcher",
             "static_configs": [{"targets": [f"127.0.0.1:{watcher}"], "labels": {"role_kind": "watcher"}}]},
        ],
    }


@dataclass
class Prometheus:
    port: int

    def api(self, path: str) -> Any:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/{path}", timeout=5) as response:
                return json.loads(response.read())["data"]
        except OSError as exc:
            raise AssertionError(f"prometheus /api/v1/{path}: {exc}") from exc

    def scraped(self, query: str) -> tuple[float, float]:
        """(evaluation time, value) of a one-number PromQL ``query``; AssertionError while it has no value."""
        result = self.api("query?" + urllib.parse.urlencode({"query": query}))["result"]
        assert result, f"no value yet for {query}"
        return float(result[0]["value"][0]), float(result[0]["value"][1])

    def evaluated_after(self, at: float) -> None:
        """Every rule group ran after Unix time ``at``."""
        for group in self.api("rules")["groups"]:
            stamp = re.sub(r"(\.\d{6})\d*", r"\1", group["lastEvaluation"]).replace("Z", "+00:00")
            assert datetime.fromisoformat(stamp).timestamp() > at, f"{group['name']} not evaluated since {at}"

    def active(self) -> dict[str, list[dict[str, str]]]:
        """Alert name -> the label sets of its pending or firing alerts."""
        found: dict[str, list[dict[str, str]]] = {}
        for alert in self.api("alerts")["alerts"]:
            found.setdefault(alert["labels"]["alertname"], []).append({**alert["labels"], "state": alert["state"]})
        return found


@pytest.fixture
def prometheus(topo: Topology, exporter: Exporter, watcher: int, tmp_path: Path) -> Iterator[Prometheus]:
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(topo, exporter.port, watcher)))
    port = free_port()
    process = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
                                f"--web.listen-address=127.0.0.1:{port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield Prometheus(port)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


#: rules that must stay silent throughout: one healthy group, a healthy cluster of three masters
SILENT = {"RedisTwoMastersInGroup", "RedisGroupWithoutMaster", "RedisSentinelsDisagree",
          "RedisSentinelMasterChanged", "RedisSentinelQuorumLost", "RedisSentinelMasterDown", "RedisReplicaPromoted",
          "RedisClusterStateNotOk", "RedisClusterSlotsFail", "RedisClusterSlotsPfail", "RedisClusterSlotsUnassigned",
          "RedisClusterMembershipDisagree", "RedisScrapeFailed", "RedisExporterDown", "RedisExporterCannotRead",
          "RedisopsWatcherDown", "RedisopsSplitBrain", "RedisopsBackupFailed", "RedisMasterWithoutReplicas",
          "RedisRdbSaveFailed", "RedisAofWriteFailed"}


def test_prometheus_evaluates_the_rules_on_the_live_topology(topo: Topology, prometheus: Prometheus) -> None:
    replica, sentinel = topo.node("mymaster-2"), topo.node("mymaster-sentinel-2")

    def every_node_scraped() -> float:
        at, nodes = prometheus.scraped("count(redis_up == 1)")
        assert nodes == len(topo.plan.nodes), f"{nodes} nodes scraped"
        return at

    def spike_fires() -> dict[str, list[dict[str, str]]]:
        active = prometheus.active()
        assert any(a["instance"] == target(topo.node("mymaster-0")) and a["event_name"] == "command"
                   for a in active.get("RedisLatencySpike", [])), active
        return active

    def down_noticed() -> dict[str, list[dict[str, str]]]:
        active = prometheus.active()
        assert [a["instance"] for a in active.get("RedisNodeDown", [])] == [target(replica)], active
        assert [a["instance"] for a in active.get("RedisSentinelDown", [])] == [target(sentinel)], active
        for name in ("RedisSentinelPeerDown", "RedisSentinelReplicaDown"):
            assert [(a["redis_group"], a["master_name"]) for a in active.get(name, [])] == [("mymaster", "mymaster")]
        return active

    busy(topo, "mymaster-0")
    at = assert_eventually(every_node_scraped, within=20)
    assert_eventually(lambda: prometheus.evaluated_after(at), within=10)  # every rule saw every node
    before = assert_eventually(spike_fires, within=10)
    assert SILENT & set(before) == set(), before

    try:
        topo.kill("mymaster-2")
        topo.kill("mymaster-sentinel-2")
        after = assert_eventually(down_noticed, within=30)
        assert SILENT & set(after) == set(), after
    finally:
        topo.up()  # the module's topology whole again for whatever runs next



def current_master(topo: Topology) -> str:
    """The name of the node the group's first sentinel names as master."""
    client = topo.client("mymaster-sentinel-0")
    try:
        host, port = client.sentinel_get_master_addr_by_name("mymaster")
    finally:
        client.close()
    return next(n.name for n in topo.plan.nodes if (n.address.host, n.address.port) == (host, int(port)))


def cluster_master(topo: Topology) -> str:
    """The name of a cluster node that is master now."""
    for node in topo.plan.nodes:
        if node.kind is NodeKind.CLUSTER:
            client = topo.client(node.name)
            try:
                if client.execute_command("ROLE")[0] in (b"master", "master"):
                    return node.name
            finally:
                client.close()
    raise AssertionError("no cluster master")


@pytest.mark.slow
def test_prometheus_sees_a_group_and_a_shard_fail_over(topo: Topology, prometheus: Prometheus) -> None:
    """Killing the group's master and a cluster master fires the failover rules for each: the sentinels' new master
    address (group only), the promotion of the group's new master and of the shard's replica; no split brain."""
    old, shard = current_master(topo), cluster_master(topo)
    at, _ = assert_eventually(lambda: prometheus.scraped("count(redis_up == 1)"), within=20)
    assert_eventually(lambda: prometheus.evaluated_after(at), within=10)
    before = prometheus.active()
    assert {"RedisSentinelMasterChanged", "RedisReplicaPromoted"} & set(before) == set(), before

    def failed_over() -> dict[str, list[dict[str, str]]]:
        new = current_master(topo)
        assert new != old, "no failover yet"
        active = prometheus.active()
        changed = [(a["redis_group"], a["master_name"], a["state"]) for a in active.get("RedisSentinelMasterChanged", [])]
        assert changed == [("mymaster", "mymaster", "firing")], active
        promoted = sorted((a.get("redis_group", ""), a.get("redis_cluster", ""), a["instance"])
                          for a in active.get("RedisReplicaPromoted", []))
        assert [p[:2] for p in promoted] == [("", "main"), ("mymaster", "")], active
        assert promoted[1][2] == target(topo.node(new)) and promoted[0][2] != target(topo.node(shard)), active
        down = {a["instance"] for a in active.get("RedisNodeDown", [])}
        assert down == {target(topo.node(old)), target(topo.node(shard))}, active
        return active

    try:
        topo.kill(old)
        topo.kill(shard)
        after = assert_eventually(failed_over, within=60)  # a failover retried after failover-timeout fits
        assert {"RedisTwoMastersInGroup", "RedisopsSplitBrain", "RedisGroupWithoutMaster"} & set(after) == set(), after
    finally:
        topo.up()  # the old masters come back as replicas
