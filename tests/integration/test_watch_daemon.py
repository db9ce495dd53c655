"""The watcher against real sentinels and nodes: conditions open and resolve once, subscribers reconnect,
split brain is critical, and the ``redisops watch`` command runs, serves /metrics and stops on SIGTERM.

One Sentinel group (3 data nodes, 3 sentinels, down-after 1000 ms) for the module; every test leaves it
healthy again.  The watcher polls every 0.5 s so conditions show up fast.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cli_json
import pytest
from alert_endpoints import free_port, scrape

from redisops.alerts import Incident, IncidentKind, Severity
from redisops.ha import Watcher
from redisops.ha.subscriber import subscribe
from redisops.spec.watch import WatchSpec
from redisops.testing import Topology, assert_eventually
from redisops.testing.watching import IncidentRecorder as Recorder
from redisops.testing.watching import WatcherThread as Running
from redisops.topology import targets_from_plan

REDISOPS = [sys.executable, "-m", "redisops"]
SETTINGS = WatchSpec(poll_interval_s=0.5, probe_timeout_s=0.5, split_brain_after_s=1.0, reconnect_max_s=0.5)


def start_watcher(topo: Topology, settings: WatchSpec = SETTINGS) -> tuple[Running, Recorder]:
    groups, clusters = targets_from_plan(topo.plan, topo.secrets)
    sink = Recorder()
    running = Running(Watcher(groups, clusters, sink, settings=settings))
    sentinels = [str(topo.node(f"mymaster-sentinel-{i}").address) for i in range(3)]
    assert_eventually(lambda: all_connected(running, sentinels), within=10)
    return running, sink


def all_connected(running: Running, sentinels: list[str]) -> None:
    for s in sentinels:
        assert running.sample("redisops_watch_sentinel_connected", {"sentinel": s}) == 1, s


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    with Topology.start(tmp_path_factory.mktemp("watch"), cluster=False, down_after_ms=1000) as topology:
        yield topology


@pytest.fixture
def watching(topo: Topology) -> Iterator[tuple[Running, Recorder]]:
    running, sink = start_watcher(topo)
    try:
        yield running, sink
    finally:
        running.close()


def address(topo: Topology, name: str) -> str:
    return str(topo.node(name).address)


def test_replica_down_then_back_is_one_incident_each_way(topo: Topology, watching: tuple[Running, Recorder]) -> None:
    running, sink = watching
    topo.kill("mymaster-2")
    down = assert_eventually(lambda: one(sink.of(IncidentKind.REPLICA_DOWN)), within=10)
    assert down.labels["replica"] == address(topo, "mymaster-2") and not down.resolved
    topo.up()
    assert_eventually(lambda: resolved(sink.of(IncidentKind.REPLICA_DOWN)), within=15)
    assert [i.resolved for i in sink.of(IncidentKind.REPLICA_DOWN)] == [False, True]
    assert running.sample("redisops_incidents_total", {"kind": "replica_down"}) == 1


def test_sentinel_restart_is_resubscribed(topo: Topology, watching: tuple[Running, Recorder]) -> None:
    running, sink = watching
    name, where = "mymaster-sentinel-1", address(topo, "mymaster-sentinel-1")
    topo.kill(name)
    assert_eventually(lambda: one(sink.of(IncidentKind.SENTINEL_DOWN)), within=10)
    assert running.sample("redisops_watch_sentinel_connected", {"sentinel": where}) == 0
    topo.up()
    assert_eventually(lambda: connected(running, where), within=10)
    before = running.sample("redisops_watch_events_total", {"sentinel": where}) or 0
    # SENTINEL SET publishes +set: proof that events from the restarted sentinel arrive again
    topo.client(name).execute_command("SENTINEL", "SET", "mymaster", "down-after-milliseconds", "1000")
    assert_eventually(lambda: more(running, where, before), within=5)
    assert_eventually(lambda: resolved(sink.of(IncidentKind.SENTINEL_DOWN)), within=10)


def test_split_brain_is_critical_and_resolves(topo: Topology, watching: tuple[Running, Recorder]) -> None:
    running, sink = watching
    master = topo.node("mymaster-0").address
    rogue = topo.client("mymaster-1")
    rogue.execute_command("REPLICAOF", "NO", "ONE")
    try:
        brain = assert_eventually(lambda: one(sink.of(IncidentKind.SPLIT_BRAIN)), within=10)
        assert brain.severity is Severity.CRITICAL and address(topo, "mymaster-1") in brain.labels["masters"]
        assert running.sample("redisops_split_brain", {"group": "mymaster"}) == 1
    finally:
        rogue.execute_command("REPLICAOF", master.host, str(master.port))
    assert_eventually(lambda: resolved(sink.of(IncidentKind.SPLIT_BRAIN)), within=15)
    assert running.sample("redisops_split_brain", {"group": "mymaster"}) == 0
    assert_eventually(lambda: healthy(topo), within=15)


def test_a_stopped_subscription_ends_though_its_cancellation_is_lost(topo: Topology) -> None:
    """redis-py can take a cancellation for one of its own read timeouts and read on (about one stop in 20
    here, where every 50 ms read ends in a timeout and a PING, on Python 3.11): ``stop`` still ends the
    subscription, so a stopped watcher exits.  100 stops: without ``stop`` some hang (99 % of runs)."""
    sentinel = topo.node("mymaster-sentinel-0").address

    async def trials() -> list[int]:
        hung = []
        for i in range(100):
            stop = asyncio.Event()
            task = asyncio.create_task(subscribe(sentinel, topo.secrets.sentinel_password, lambda _c, _p: None,
                                                 stop=stop, timeout=0.5, health_s=0.0))
            await asyncio.sleep(0.02 + 0.02 * (i % 10))
            stop.set()
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=10)
            if not done:
                hung.append(i)
        return hung

    assert asyncio.run(trials()) == []


# --- the command --------------------------------------------------------------------------------------


def test_watch_once_json(topo: Topology) -> None:
    done = subprocess.run([*REDISOPS, "watch", "--once", "--json", "-f", str(topo.spec_file)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    ((kind, line),) = cli_json.records(done.stdout)
    assert kind == "watch.cycle" and line["health"] == "ok"
    master = address(topo, "mymaster-0")
    assert line["sentence"] == f"no action: mymaster {master} master, 2/2 replicas in sync, 3/3 sentinels agree"


def test_watch_once_remote_and_degraded(topo: Topology) -> None:
    sentinels = ",".join(address(topo, f"mymaster-sentinel-{i}") for i in range(3))
    env = {**os.environ, "RP": topo.secrets.admin_password, "SP": topo.secrets.sentinel_password}
    topo.kill("mymaster-2")
    try:
        done = subprocess.run([*REDISOPS, "watch", "--once", "--sentinel", sentinels, "--master", "mymaster",
                               "--user", "admin", "--password-env", "RP", "--sentinel-password-env", "SP", "-f", "/nonexistent.yaml"],
                              capture_output=True, text=True, timeout=60, env=env)
    finally:
        topo.up()
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("alerted mymaster: replica ") and "; now mymaster" in done.stdout
    assert "1/2 replicas in sync" in done.stdout


def test_watch_daemon_serves_metrics_and_stops_on_sigterm(topo: Topology) -> None:
    port = free_port()
    proc = subprocess.Popen([*REDISOPS, "watch", "--json", "--metrics-port", str(port), "-f", str(topo.spec_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        kind, first = cli_json.record(proc.stdout.readline())
        assert kind == "watch.cycle" and first["health"] == "ok"
        body = assert_eventually(lambda: scrape(port), within=10)
        assert f'redisops_master_info{{address="{address(topo, "mymaster-0")}",group="mymaster"}} 1.0' in body
        assert "redisops_watch_cycles_total" in body and 'redisops_split_brain{group="mymaster"} 0.0' in body
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert all(kind in ("watch.cycle", "watch.incident") for kind, _ in cli_json.records(out))


def test_watch_daemon_logs_changes_to_its_log_file(topo: Topology, tmp_path: Path) -> None:
    """Each cycle sentence is in ``--log-file`` once per change, not once per cycle; nothing goes to stderr."""
    logged = tmp_path / "logs" / "watch.log"
    proc = subprocess.Popen([*REDISOPS, "watch", "--json", "--metrics-port", "0", "--log-file", str(logged),
                             "-f", str(topo.spec_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sentences: list[str] = []
    try:
        assert proc.stdout is not None
        for _ in range(100):  # until three cycles in a row say the same (events of earlier tests may come first)
            kind, record = cli_json.record(proc.stdout.readline())
            if kind == "watch.cycle":
                sentences.append(record["sentence"])
            if len(sentences) >= 3 and len(set(sentences[-3:])) == 1:
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert err == ""
    sentences += [r["sentence"] for kind, r in cli_json.records(out) if kind == "watch.cycle"]
    runs = [s for i, s in enumerate(sentences) if i == 0 or s != sentences[i - 1]]
    assert len(sentences) > len(runs)  # some cycles repeated the one before ...
    text = logged.read_text()
    for sentence in set(runs):  # ... and were not logged again
        assert text.count(sentence) == runs.count(sentence), (sentence, text)
    assert "watching 1 groups" in text and text.rstrip().endswith("stopped")


# --- checks -------------------------------------------------------------------------------------------


def one(incidents: list[Incident]) -> Incident:
    assert incidents, "nothing handed yet"
    assert len(incidents) == 1, incidents
    return incidents[0]


def resolved(incidents: list[Incident]) -> None:
    assert incidents and incidents[-1].resolved, incidents


def connected(running: Running, sentinel: str) -> None:
    assert running.sample("redisops_watch_sentinel_connected", {"sentinel": sentinel}) == 1


def more(running: Running, sentinel: str, before: float) -> None:
    assert (running.sample("redisops_watch_events_total", {"sentinel": sentinel}) or 0) > before


def healthy(topo: Topology) -> None:
    from redisops.topology import Health, collect_status_sync

    groups, clusters = targets_from_plan(topo.plan, topo.secrets)
    report = collect_status_sync(groups, clusters)
    assert report.health is Health.OK, report.reasons






# --- a sentinel that hangs (last: a resumed sentinel enters TILT for 30 s) ------------------------------


def test_paused_sentinel_is_noticed_and_resubscribed(topo: Topology, watching: tuple[Running, Recorder]) -> None:
    """SIGSTOP keeps the socket open and the kernel still ACKs, so neither a read nor TCP keepalive fails:
    only a PING on the Pub/Sub connection that gets no PONG shows the sentinel is gone."""
    running, sink = watching
    name, where = "mymaster-sentinel-2", address(topo, "mymaster-sentinel-2")
    topo.pause(name)
    try:
        assert_eventually(lambda: disconnected(running, where), within=15)
        assert_eventually(lambda: one(sink.of(IncidentKind.SENTINEL_DOWN)), within=10)
    finally:
        topo.resume(name)
    assert_eventually(lambda: connected(running, where), within=15)
    before = running.sample("redisops_watch_events_total", {"sentinel": where}) or 0
    topo.client(name).execute_command("SENTINEL", "SET", "mymaster", "down-after-milliseconds", "1000")
    assert_eventually(lambda: more(running, where, before), within=5)
    assert_eventually(lambda: resolved(sink.of(IncidentKind.SENTINEL_DOWN)), within=10)


def disconnected(running: Running, sentinel: str) -> None:
    assert running.sample("redisops_watch_sentinel_connected", {"sentinel": sentinel}) == 0
