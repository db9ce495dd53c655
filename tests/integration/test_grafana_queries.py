"""Every panel query of the shipped Grafana dashboards returns data from a live Prometheus.

Grafana is not packaged for Debian 12, so the dashboards are checked where their data comes from: one real
topology (a Sentinel group of a master, a replica and 3 sentinels; a cluster of 3 masters with a replica each),
the real monitoring stack on it (``redisops monitor``: Prometheus, redis_exporter, Alertmanager, scraping every
second) and the real watcher (embedded daemon) whose ``/metrics`` Prometheus scrapes too.  Some keys are written and
one failover is made, so the failover panels have something to show.  Then every target of every panel runs through
Prometheus' query API with the template variables filled in from what Prometheus holds: every node for the node
dashboard, all groups / clusters at once ("All") for the others.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml
from cli_json import data

from redisops.daemon import Daemon
from redisops.lifecycle import Deployment
from redisops.observe.grafana import check_queries, dashboard_files, load_dashboard, panel_queries
from redisops.observe.stack import Monitor
from redisops.runtime.plan import NodeKind
from redisops.spec import load, load_secrets
from redisops.testing import Topology, assert_eventually
from redisops.testing.watching import DaemonThread

REDISOPS = [sys.executable, "-m", "redisops"]
#: seconds of history each check queries (the stack is younger: range queries read what there is)
WINDOW = 120.0


@dataclass
class Live:
    topo: Topology
    spec_file: Path
    prometheus: str  # URL
    watcher: DaemonThread

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.prometheus}/api/v1/query", params={"query": expr}, timeout=5)
        return list(response.json()["data"]["result"])


def _sentinel_master(topo: Topology) -> str:
    with topo.client("mymaster-sentinel-0") as client:
        host, port = client.sentinel_get_master_addr_by_name("mymaster")
    return f"{host}:{port}"


def _write_keys(topo: Topology) -> None:
    """Keys on the group's master and on every cluster master (and so on their replicas)."""
    with topo.client("mymaster-0") as client:
        client.mset({f"group:{i}": i for i in range(50)})
    seed = next(n for n in topo.plan.nodes if n.kind is NodeKind.CLUSTER)
    cluster = redis.RedisCluster(host=seed.address.host, port=seed.address.port,
                                 username="admin", password=topo.secrets.admin_password, socket_timeout=5)
    try:
        for i in range(200):  # 200 random slots: every one of 3 masters gets some
            cluster.set(f"cluster:{i}", i)
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    directory = tmp_path_factory.mktemp("grafana")
    spec_file = Topology.write_spec(directory, replicas=1, replicas_per_master=1, down_after_ms=1000)
    spec = yaml.safe_load(spec_file.read_text())
    base = spec["sentinel"][0]["port"]  # base+30.. are free in the harness' block
    spec["monitor"] = {"prometheus_port": base + 40, "alertmanager_port": base + 41, "exporter_port": base + 42,
                       "scrape_interval_s": 1, "evaluation_interval_s": 1}
    spec["watch"] = {"metrics_port": base + 43, "poll_interval_s": 0.5, "probe_timeout_s": 1.0}
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    topo = Topology(Deployment.open(spec_file))
    watcher: DaemonThread | None = None
    try:
        topo.up()
        loaded = load(spec_file)
        watcher = DaemonThread(Daemon.from_spec(loaded, load_secrets(spec_file.parent / loaded.auth.secrets_file),
                                                base_dir=spec_file.parent, backups=False))
        monitor = Monitor.open(spec_file)
        report = monitor.up(timeout=60)
        assert report.exit_code == 0, report.to_dict()
        yield Live(topo, spec_file, monitor.urls()["prometheus"], watcher)
    finally:
        try:
            Monitor.open(spec_file).down()
        finally:
            try:
                if watcher is not None:
                    watcher.close()
            finally:
                topo.stop()


def test_every_panel_query_returns_data_after_a_failover(live: Live) -> None:
    _write_keys(live.topo)
    old = _sentinel_master(live.topo)
    with live.topo.client("mymaster-sentinel-0") as sentinel:
        sentinel.execute_command("SENTINEL", "FAILOVER", "mymaster")

    def failed_over() -> str:
        new = _sentinel_master(live.topo)
        assert new != old, "no failover yet"
        return new

    new = assert_eventually(failed_over, within=30)
    models = [load_dashboard(p) for p in dashboard_files()]
    assert {m["uid"] for m in models} == {"redisops-overview", "redisops-sentinel", "redisops-cluster",
                                          "redisops-node"}

    def all_have_data() -> Any:
        checked = check_queries(live.prometheus, models, window_s=WINDOW, scrape_interval_s=1)
        assert not checked.empty, "\n".join(checked.empty)
        return checked

    checked = assert_eventually(all_have_data, within=45, interval=1)
    nodes = sum(1 for n in live.topo.plan.nodes if n.kind is not NodeKind.SENTINEL)
    per_board = {m["uid"]: len(panel_queries(m)) for m in models}
    # the node dashboard ran once per data node, the others once with every group / cluster selected
    assert checked.queries == per_board["redisops-node"] * nodes + sum(
        n for uid, n in per_board.items() if uid != "redisops-node")

    # and the failover panels show this failover, not just any series
    sentinel_board = next(m for m in models if m["uid"] == "redisops-sentinel")
    panels = {p["title"]: p["targets"][0]["expr"] for p in sentinel_board["panels"] if p.get("targets")}
    window = {"$__range": f"{WINDOW:g}s", '"$group"': '"mymaster"'}

    def panel(title: str) -> list[dict[str, Any]]:
        expr = panels[title]
        for key, value in window.items():
            expr = expr.replace(key, value)
        return live.query(expr)

    def failover_shown() -> None:
        changes = panel("Master changes in range")
        assert [(r["metric"]["master_name"], r["value"][1]) for r in changes] == [("mymaster", "1")], changes
        seen = panel("Failovers seen by the watcher")
        assert [(r["metric"]["group"], r["value"][1]) for r in seen] == [("mymaster", "1")], seen
        named = panel("Master (sentinels naming it)")
        assert [(r["metric"]["master_address"], r["value"][1]) for r in named] == [(new, "3")], named

    assert_eventually(failover_shown, within=20)


def test_cli_writes_provisioning_and_checks_it_live(live: Live, tmp_path: Path) -> None:
    out = tmp_path / "grafana"
    done = subprocess.run([*REDISOPS, "monitor", "grafana", "-o", str(out), "--check", "--window", "60", "--json",
                           "-f", str(live.spec_file)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    report = data(done.stdout, "monitor.grafana")
    assert report["check"]["empty"] == [] and report["check"]["queries"] > 100
    datasource = yaml.safe_load((out / "provisioning" / "datasources" / "redisops.yaml").read_text())
    assert datasource["datasources"][0]["url"] == live.prometheus
    assert datasource["datasources"][0]["jsonData"]["timeInterval"] == "1s"
    provider = yaml.safe_load((out / "provisioning" / "dashboards" / "redisops.yaml").read_text())
    assert provider["providers"][0]["options"]["path"] == str((out / "dashboards").resolve())
    assert sorted(p.name for p in (out / "dashboards").iterdir()) == ["cluster.json", "node.json", "overview.json",
                                                                     "sentinel.json"]


def test_a_panel_without_data_is_one_line_naming_it(live: Live, tmp_path: Path) -> None:
    """Bad input: a dashboard whose query returns nothing (a metric redis_exporter 1.45 does not export)."""
    model = load_dashboard(dashboard_files()[0])
    model["uid"], model["title"], model["templating"] = "mine", "Mine", {"list": []}
    model["panels"] = [{
        "id": 1, "type": "stat", "title": "Config epoch", "gridPos": {"h": 4, "w": 6, "x": 0, "y": 0},
        "datasource": {"type": "prometheus", "uid": "redisops-prometheus"},
        "targets": [{"refId": "A", "expr": "redis_sentinel_master_config_epoch", "instant": True}],
    }]
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps(model))
    done = subprocess.run([*REDISOPS, "monitor", "grafana", "-o", str(tmp_path / "out"), "--check", "--window", "30",
                           "--dashboard", str(mine), "-f", str(live.spec_file)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("no data:")]
    assert lines == ["no data: Mine / Config epoch (panel 1, query A) returned no series: "
                     "redis_sentinel_master_config_epoch"], done.stdout


def test_bad_input_without_a_stack_is_one_line(tmp_path: Path) -> None:
    """A broken dashboard of one's own: exit 2, nothing written; --check with no Prometheus running: exit 3."""
    spec_file = Topology.write_spec(tmp_path / "spec", replicas=1, replicas_per_master=0)
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps({"uid": "mine", "title": "Mine", "schemaVersion": 39, "panels": [
        {"id": 1, "type": "graph", "title": "Old", "gridPos": {"h": 4, "w": 30, "x": 0, "y": 0},
         "targets": [{"refId": "A", "expr": "redis_up"}]}]}))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*REDISOPS, "monitor", "grafana", *args, "-f", str(spec_file)], capture_output=True,
                              text=True, timeout=60, check=False)

    broken = cli("-o", str(tmp_path / "out"), "--dashboard", str(mine))
    assert broken.returncode == 2, broken.stdout + broken.stderr
    (line,) = broken.stderr.strip().splitlines()
    assert "mine.json" in line and "type 'graph'" in line and "more" in line, line
    assert not (tmp_path / "out").exists()
    down = cli("-o", str(tmp_path / "out"), "--check")
    assert down.returncode == 3, down.stdout + down.stderr
    (line,) = down.stderr.strip().splitlines()
    assert "did not answer" in line and "redisops monitor up" in line, line
