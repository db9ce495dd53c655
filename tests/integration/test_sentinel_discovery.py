"""Given one sentinel of three, ``status`` and the watcher find and use the other two.

One Sentinel group (3 data nodes, 3 sentinels) for the module, always reached through sentinel 0 only;
every test leaves all its nodes running again (the last one moves the master by a planned failover).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import cli_json
import pytest

from redisops.alerts import IncidentKind
from redisops.ha import Watcher
from redisops.ha.events import SentinelEvent
from redisops.spec.watch import WatchSpec
from redisops.testing import Topology, assert_eventually
from redisops.testing.watching import IncidentRecorder as Recorder
from redisops.testing.watching import WatcherThread as Running
from redisops.topology.targets import SentinelTarget

REDISOPS = [sys.executable, "-m", "redisops"]
SETTINGS = WatchSpec(poll_interval_s=0.5, probe_timeout_s=0.5, reconnect_max_s=0.5)
SENTINELS = [f"mymaster-sentinel-{i}" for i in range(3)]


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    with Topology.start(tmp_path_factory.mktemp("discovery"), cluster=False, down_after_ms=1000) as topology:
        yield topology


def address(topo: Topology, name: str) -> str:
    return str(topo.node(name).address)


def remote(topo: Topology, command: str, *args: str, sentinel: str | None = None) -> subprocess.CompletedProcess[str]:
    """``redisops COMMAND --sentinel <sentinel 0> --master mymaster`` with the passwords in env vars."""
    env = {**os.environ, "DISC_RP": topo.secrets.admin_password, "DISC_SP": topo.secrets.sentinel_password}
    return subprocess.run([*REDISOPS, command, *args, "--sentinel", sentinel or address(topo, SENTINELS[0]),
                           "--master", "mymaster", "--user", "admin", "--password-env", "DISC_RP", "--sentinel-password-env", "DISC_SP",
                           "-f", "/nonexistent.yaml"], capture_output=True, text=True, timeout=60, env=env)


def group_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    (group,) = cli_json.data(result.stdout)["groups"]
    return dict(group)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_status_given_one_sentinel_shows_all_three(topo: Topology, host: str) -> None:
    # by host name too: the peers name it 127.0.0.1, and its run id (SENTINEL MYID) says it is the same one
    result = remote(topo, "status", "--json", sentinel=f"{host}:{topo.node(SENTINELS[0]).address.port}")
    assert result.returncode == 0, result.stdout + result.stderr
    group = group_of(result)
    assert (group["health"], group["expected_sentinels"], group["quorum"]) == ("ok", 3, 2)
    assert [s["address"].split(":")[1] for s in group["sentinels"]] == [
        str(topo.node(n).address.port) for n in sorted(SENTINELS, key=lambda n: n != SENTINELS[0])]
    master = address(topo, "mymaster-0")
    assert [(s["master"], s["num_other_sentinels"], s["ckquorum_ok"]) for s in group["sentinels"]] == [
        (master, 2, True)] * 3


def test_status_shows_a_killed_unlisted_sentinel_unreachable(topo: Topology) -> None:
    dead = address(topo, SENTINELS[2])
    topo.kill(SENTINELS[2])
    try:
        result = remote(topo, "status", "--json")
    finally:
        topo.up()
    assert result.returncode == 1, result.stdout + result.stderr
    group = group_of(result)
    assert group["health"] == "degraded" and group["expected_sentinels"] == 3
    assert group["reasons"] == [f"mymaster: sentinel {dead} unreachable (connection refused)"]
    (shown,) = [s for s in group["sentinels"] if s["address"] == dead]
    assert shown["reachable"] is False and shown["failure"]["kind"] == "unreachable"


def test_watch_once_given_one_sentinel_counts_three(topo: Topology) -> None:
    result = remote(topo, "watch", "--once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3/3 sentinels agree" in result.stdout


# --- the watcher ------------------------------------------------------------------------------------


class EventLog(Watcher):
    """A watcher that also keeps every event it was fed (source, name), to see whom it hears."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[tuple[str, str]] = []

    def on_event(self, event: SentinelEvent) -> None:
        self.seen.append((str(event.source), event.name))
        super().on_event(event)


@pytest.fixture
def watching(topo: Topology) -> Iterator[tuple[Running, EventLog, Recorder]]:
    target = SentinelTarget("mymaster", (topo.node(SENTINELS[0]).address,), password=topo.secrets.admin,
                            sentinel_password=topo.secrets.sentinel_password)
    sink = Recorder()
    watcher = EventLog([target], [], sink, settings=SETTINGS)
    running = Running(watcher)
    try:
        yield running, watcher, sink
    finally:
        running.close()


def test_watcher_given_one_sentinel_subscribes_to_all_and_outlives_it(
        topo: Topology, watching: tuple[Running, EventLog, Recorder]) -> None:
    running, watcher, _ = watching
    everyone = [address(topo, n) for n in SENTINELS]
    assert_eventually(lambda: all_connected(running, everyone), within=10)
    topo.kill(SENTINELS[0])
    try:
        def still_watching() -> None:
            report = watcher.last_report
            assert report is not None
            (group,) = report.groups
            reachable = {str(v.address): v.reachable for v in group.sentinels}
            assert reachable == {everyone[0]: False, everyone[1]: True, everyone[2]: True}
            assert running.sample("redisops_watch_sentinel_connected", {"sentinel": everyone[0]}) == 0

        assert_eventually(still_watching, within=10)
    finally:
        topo.up()
    assert_eventually(lambda: all_connected(running, everyone), within=10)


def test_watcher_given_one_sentinel_hears_every_sentinel_switch_master(
        topo: Topology, watching: tuple[Running, EventLog, Recorder]) -> None:
    running, watcher, sink = watching
    everyone = [address(topo, n) for n in SENTINELS]
    assert_eventually(lambda: all_connected(running, everyone), within=10)
    topo.client(SENTINELS[0]).execute_command("SENTINEL", "FAILOVER", "mymaster")

    def switched_everywhere() -> None:
        heard = {source for source, name in list(watcher.seen) if name == "+switch-master"}
        assert heard == set(everyone), heard

    assert_eventually(switched_everywhere, within=30)
    assert_eventually(lambda: failover_handed(sink), within=10)


def all_connected(running: Running, sentinels: list[str]) -> None:
    assert [running.sample("redisops_watch_sentinel_connected", {"sentinel": s}) for s in sentinels] == [1.0] * len(sentinels), sentinels


def failover_handed(sink: Recorder) -> None:
    assert any(i.kind is IncidentKind.FAILOVER for i in sink.incidents), sink.incidents
