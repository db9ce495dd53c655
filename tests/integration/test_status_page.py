"""The status page over HTTP, served by a real daemon watching a real Sentinel group and cluster:
``/api/status`` is the live topology (the report ``status --json`` prints) and the incidents as the watcher hands
them, kept after they resolve; nothing secret is served; a request naming a foreign host is refused while
``/metrics`` answers as before; the page follows a full ``down`` + ``up``; ``redisops dashboard`` finds the page,
says clearly when there is none, and ``--serve`` runs one without a watcher.
"""

from __future__ import annotations

import http.client
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
import yaml
from alert_endpoints import free_port

from redisops.daemon import Daemon
from redisops.spec.watch import WatchSpec
from redisops.testing import Topology, assert_eventually
from redisops.testing.watching import DaemonThread
from redisops.topology import collect_status_sync, targets_from_plan

REDISOPS = [sys.executable, "-m", "redisops"]
SETTINGS = WatchSpec(poll_interval_s=0.5, probe_timeout_s=0.5)


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    with Topology.start(tmp_path_factory.mktemp("page"), cluster=True, down_after_ms=1000) as topology:
        yield topology


@pytest.fixture
def page(topo: Topology) -> Iterator[int]:
    """A daemon serving the page on a free port, polled at least once; yields the port."""
    groups, clusters = targets_from_plan(topo.plan, topo.secrets)
    port = free_port()
    running = DaemonThread(Daemon(groups, clusters, settings=SETTINGS, metrics_port=port, base_dir=topo.spec_file.parent))
    try:
        assert_eventually(lambda: polled(port), within=15)
        yield port
    finally:
        running.close()
    assert running.error is None, running.error


def get(port: int, path: str, host: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """``GET path`` with this ``Host`` header (default 127.0.0.1:port): status, headers, body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": host or f"127.0.0.1:{port}"})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    except OSError as exc:
        raise AssertionError(f"GET {path}: {exc}") from exc
    finally:
        conn.close()


def api(port: int) -> dict[str, Any]:
    status, _, body = get(port, "/api/status")
    assert status == 200, body
    return dict(json.loads(body))


def polled(port: int) -> dict[str, Any]:
    doc = api(port)
    assert doc["status"] is not None, "not polled yet"
    return doc


def address(topo: Topology, name: str) -> str:
    return str(topo.node(name).address)


def test_api_status_is_the_live_topology(topo: Topology, page: int) -> None:
    doc = assert_eventually(lambda: healthy(page), within=15)
    groups, clusters = targets_from_plan(topo.plan, topo.secrets)
    expected = collect_status_sync(groups, clusters).to_dict()  # what `redisops status --json` prints
    assert set(doc["status"]) == set(expected) and doc["status"]["health"] == "ok"
    (group,) = doc["status"]["groups"]
    assert group["master"] == address(topo, "mymaster-0")
    assert roles(group) == roles(expected["groups"][0]) == {
        address(topo, "mymaster-0"): "master", address(topo, "mymaster-1"): "replica",
        address(topo, "mymaster-2"): "replica"}
    (cluster,) = doc["status"]["clusters"]
    assert cluster["slots_covered"] == 16384 and cluster["masters"] == 3
    assert roles(cluster) == roles(expected["clusters"][0])
    assert sorted(roles(cluster).values()) == ["master"] * 3 + ["replica"] * 3
    master = address(topo, "mymaster-0")
    assert doc["sentence"].startswith(f"no action: mymaster {master} master, 2/2 replicas in sync")
    assert doc["incidents"] == [] and doc["poll_interval_s"] == 0.5
    assert doc["now"] >= doc["updated_at"]


def test_the_page_and_its_files_are_served_with_nothing_secret(topo: Topology, page: int) -> None:
    secrets = [s for s in (*topo.secrets.passwords,) if s]
    assert secrets
    kinds = {"/": "text/html", "/app.js": "text/javascript", "/style.css": "text/css", "/api/status": "application/json"}
    for path, kind in kinds.items():
        status, headers, body = get(page, path)
        assert status == 200 and headers["content-type"].startswith(kind), (path, status, headers)
        assert "script-src 'self'" in headers["content-security-policy"] and headers["cache-control"] == "no-store"
        assert not [s for s in secrets if s.encode() in body], f"a password in {path}"
    html = get(page, "/")[2].decode()
    assert 'src="app.js"' in html and 'href="style.css"' in html and "width=device-width" in html
    status, _, body = get(page, "/metrics")
    assert status == 200 and b"redisops_watch_cycles_total" in body
    assert not [s for s in secrets if s.encode() in body]
    assert get(page, "/nope")[0] == 404 and get(page, "/../pyproject.toml")[0] == 404


def test_a_request_for_a_foreign_host_name_is_refused(page: int) -> None:
    """DNS rebinding: a web page that points its own name at 127.0.0.1 must not read the status."""
    for path in ("/", "/api/status"):
        status, _, body = get(page, path, host=f"rebind.example.com:{page}")
        assert status == 403 and b"127.0.0.1 or localhost" in body, (path, status)
    for host in (f"localhost:{page}", f"127.0.0.2:{page}", f"[::1]:{page}", "127.0.0.1"):
        assert get(page, "/api/status", host=host)[0] == 200, host
    assert get(page, "/metrics", host="rebind.example.com")[0] == 200  # /metrics as before: Prometheus scrapes it


def test_an_incident_shows_while_firing_and_stays_when_resolved(topo: Topology, page: int) -> None:
    replica = address(topo, "mymaster-2")
    topo.kill("mymaster-2")
    try:
        doc = assert_eventually(lambda: incident(page, "replica_down", "firing"), within=15)
        (firing,) = [i for i in doc["incidents"] if i["kind"] == "replica_down"]
        assert firing["labels"]["replica"] == replica and firing["group"] == "mymaster" and firing["timeline"]
        node = next(n for n in doc["status"]["groups"][0]["nodes"] if n["address"] == replica)
        assert not node["reachable"] and doc["status"]["health"] == "degraded"
    finally:
        topo.up()
    doc = assert_eventually(lambda: incident(page, "replica_down", "resolved"), within=20)
    (resolved,) = [i for i in doc["incidents"] if i["kind"] == "replica_down"]
    assert resolved["key"] == firing["key"] and resolved["resolved_at"] >= resolved["started_at"]
    assert_eventually(lambda: healthy(page), within=15)


def test_the_page_follows_a_full_down_and_up(topo: Topology, page: int) -> None:
    """``redisops down`` + ``up`` under a running watcher: the page shows everything down, then the same
    deployment healthy again, with no restart of the watcher or reload of the page."""
    topo.stop()
    try:
        doc = assert_eventually(lambda: verdict(page, "down"), within=20)
        assert not any(n["reachable"] for n in doc["status"]["groups"][0]["nodes"])
    finally:
        topo.up()
    doc = assert_eventually(lambda: healthy(page), within=30)
    assert doc["status"]["groups"][0]["master"] in {address(topo, f"mymaster-{i}") for i in range(3)}
    assert doc["status"]["clusters"][0]["slots_covered"] == 16384


# --- redisops dashboard ---------------------------------------------------------------------------------


def test_dashboard_prints_the_running_page(topo: Topology, page: int) -> None:
    done = cli("dashboard", "--json", "--port", str(page), "-f", str(topo.spec_file))
    assert done.returncode == 0, done.stderr
    found = cli_json.data(done.stdout, "dashboard")
    assert found["url"] == f"http://127.0.0.1:{page}/" and found["health"] in ("ok", "degraded")
    done = cli("dashboard", "--port", str(page), "-f", str(topo.spec_file))
    assert done.returncode == 0 and done.stdout.startswith(f"status page: http://127.0.0.1:{page}/"), done


def test_dashboard_without_a_page_is_one_clear_line(topo: Topology, tmp_path: Path) -> None:
    port = free_port()
    done = cli("dashboard", "--port", str(port), "-f", str(topo.spec_file))
    assert done.returncode == 3 and done.stdout == "", done
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: 127.0.0.1:{port}: no status page answers (connection refused)"), line
    assert "redisops dashboard --serve" in line and "Traceback" not in done.stderr
    spec = yaml.safe_load(topo.spec_file.read_text())
    off = topo.spec_file.with_name("no-http.yaml")
    off.write_text(yaml.safe_dump({**spec, "watch": {"metrics_port": 0}}))
    error = cli_json.error(cli("dashboard", "--json", "-f", str(off)), "dashboard")
    assert error["exit_code"] == 2 and "watch.metrics_port is 0" in error["message"], error


def test_dashboard_serve_runs_a_page_without_a_watcher(topo: Topology) -> None:
    port = free_port()
    proc = subprocess.Popen([*REDISOPS, "dashboard", "--serve", "--json", "--port", str(port), "-f",
                             str(topo.spec_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        waited = cli("dashboard", "--json", "--wait", "30", "--port", str(port), "-f", str(topo.spec_file))
        assert waited.returncode == 0, waited.stderr  # --wait: found while the page was starting
        assert cli_json.data(waited.stdout, "dashboard")["url"] == f"http://127.0.0.1:{port}/"
        assert proc.stdout is not None
        assert cli_json.record(proc.stdout.readline()) == ("dashboard", {"url": f"http://127.0.0.1:{port}/"})
        doc = assert_eventually(lambda: healthy(port), within=15)
        assert doc["status"]["groups"][0]["master"] == address(topo, "mymaster-0")
        again = cli("dashboard", "--serve", "--port", str(port), "-f", str(topo.spec_file))
        assert again.returncode == 2 and "already serves the status page" in again.stderr, again
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and err.strip() == "", err  # no "no alert channels" warning: it sends none


# --- helpers ------------------------------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REDISOPS, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "COLUMNS": "200"})


def roles(part: dict[str, Any]) -> dict[str, str]:
    return {n["address"]: n["role"] for n in part["nodes"]}


def healthy(port: int) -> dict[str, Any]:
    doc = polled(port)
    assert doc["status"]["health"] == "ok", doc["status"]["reasons"]
    return doc


def verdict(port: int, health: str) -> dict[str, Any]:
    doc = polled(port)
    assert doc["status"]["health"] == health, doc["status"]["reasons"]
    return doc


def incident(port: int, kind: str, status: str) -> dict[str, Any]:
    doc = api(port)
    found = [i["status"] for i in doc["incidents"] if i["kind"] == kind]
    assert found == [status], found
    return doc
