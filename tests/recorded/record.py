"""Record the watcher's inputs during real failovers on the test harness, into ``tests/recorded/*.json``.

    .venv/bin/python tests/recorded/record.py                     # every scenario
    .venv/bin/python tests/recorded/record.py sentinel_pause      # one

Each scenario starts a fresh topology (real redis-server / redis-sentinel on free loopback ports, in a temp dir),
runs a :class:`~redisops.testing.recording.RecordingWatcher` on it (poll every 0.5 s), does the fault, waits for
the topology to be healthy again, stops everything and writes what the watcher was fed.  The waits look at the
live topology (``collect_status_sync``), never at what the watcher concluded, so a recording does not depend on
the logic it is meant to test.  ``tests/unit/test_watch_replay.py`` replays the files.

Rival leaders (two sentinels of consecutive epochs promoting different replicas) could not be provoked on demand
here; ``tests/unit/test_watch_events.py`` keeps a hand-written sequence for them.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from redisops.address import Address
from redisops.ha import Watcher
from redisops.spec.watch import WatchSpec
from redisops.testing import Topology, assert_eventually
from redisops.testing.recording import RecordingWatcher, save
from redisops.testing.watching import IncidentRecorder, WatcherThread
from redisops.topology import Health, collect_status_sync, targets_from_plan
from redisops.topology.model import Role

HERE = Path(__file__).parent
SETTINGS = WatchSpec(poll_interval_s=0.5, probe_timeout_s=0.5, split_brain_after_s=1.0, reconnect_max_s=0.5)
DOWN_AFTER_MS = 1000
NODE_TIMEOUT_MS = 1000

Scenario = Callable[[Topology, Watcher], str]


def healthy(topo: Topology) -> None:
    groups, clusters = targets_from_plan(topo.plan, topo.secrets)
    report = collect_status_sync(groups, clusters)
    assert report.health is Health.OK, report.reasons


def master_of(topo: Topology) -> Address:
    groups, _ = targets_from_plan(topo.plan, topo.secrets)
    group = collect_status_sync(groups, []).groups[0]
    assert group.master is not None and group.master_node is not None, group.reasons
    return group.master


def name_of(topo: Topology, address: Address | str) -> str:
    return next(n.name for n in topo.plan.nodes if str(n.address) == str(address))


def served_by_other(topo: Topology, old: Address) -> None:
    """The sentinels name another master, and it answers as master."""
    assert master_of(topo) != old


def settle(topo: Topology, within: float = 60) -> None:
    assert_eventually(lambda: healthy(topo), within=within, interval=0.5)
    time.sleep(3)  # a few quiet polls at the end


# --- the scenarios ------------------------------------------------------------------------------------


def sentinel_kill(topo: Topology, watcher: Watcher) -> str:
    old = master_of(topo)
    time.sleep(2)
    topo.kill(name_of(topo, old))
    assert_eventually(lambda: served_by_other(topo, old), within=30, interval=0.2)
    time.sleep(4)
    topo.up()  # the old master comes back, as a replica of the new one
    settle(topo)
    return f"kill -9 of the master {old}, then `up` restarts it"


def sentinel_pause(topo: Topology, watcher: Watcher) -> str:
    old = master_of(topo)
    time.sleep(2)
    topo.pause(name_of(topo, old))
    try:
        assert_eventually(lambda: served_by_other(topo, old), within=30, interval=0.2)
        time.sleep(4)
    finally:
        topo.resume(name_of(topo, old))  # it wakes up as a master; Sentinel converts it
    settle(topo)
    return f"SIGSTOP of the master {old} until the failover is done, then SIGCONT"


def sentinel_planned(topo: Topology, watcher: Watcher) -> str:
    old = master_of(topo)
    time.sleep(2)
    topo.client("mymaster-sentinel-0").execute_command("SENTINEL", "FAILOVER", "mymaster")
    assert_eventually(lambda: served_by_other(topo, old), within=30, interval=0.2)
    settle(topo)
    return f"SENTINEL FAILOVER mymaster (planned; nothing down), old master {old}"


def sentinel_chained(topo: Topology, watcher: Watcher) -> str:
    """Kill the master; the moment the sentinels name a new one, kill that one too: Sentinel fails over again."""
    old = master_of(topo)
    time.sleep(2)
    topo.kill(name_of(topo, old))
    second = assert_eventually(lambda: new_master(topo, old), within=30, interval=0.05)
    topo.kill(name_of(topo, second))
    assert_eventually(lambda: served_by_other(topo, second), within=60, interval=0.2)
    time.sleep(4)
    topo.up()
    settle(topo, within=90)
    return f"kill -9 of the master {old}, and of {second} as soon as the sentinels named it; then `up`"


def new_master(topo: Topology, old: Address) -> Address:
    """The master a sentinel names, once it is not ``old`` (asked of one sentinel: the first to switch)."""
    for i in range(3):
        try:
            host, port = topo.client(f"mymaster-sentinel-{i}").sentinel_get_master_addr_by_name("mymaster")
        except Exception:
            continue
        if Address(host, int(port)) != old:
            return Address(host, int(port))
    raise AssertionError("no sentinel names a new master yet")


def cluster_kill(topo: Topology, watcher: Watcher) -> str:
    _, clusters = targets_from_plan(topo.plan, topo.secrets)
    status = collect_status_sync([], clusters).clusters[0]
    old = next(r for r in status.rows if r.role is Role.MASTER and r.slots)
    first = old.slots[0][0]
    time.sleep(2)
    assert old.address is not None
    topo.kill(name_of(topo, old.address))

    def slots_moved() -> None:
        now = collect_status_sync([], clusters).clusters[0]
        assert now.slot_map.owner(first) not in (None, old.id), now.reasons

    assert_eventually(slots_moved, within=30, interval=0.2)
    time.sleep(4)
    topo.up()  # the old master comes back and rejoins as a replica
    settle(topo)
    return f"kill -9 of the cluster master {old.address} (slots from {first}), then `up` restarts it"


SCENARIOS: dict[str, tuple[Scenario, dict[str, object]]] = {
    "sentinel_kill": (sentinel_kill, {"cluster": False, "down_after_ms": DOWN_AFTER_MS}),
    "sentinel_pause": (sentinel_pause, {"cluster": False, "down_after_ms": DOWN_AFTER_MS}),
    "sentinel_planned": (sentinel_planned, {"cluster": False, "down_after_ms": DOWN_AFTER_MS}),
    "sentinel_chained": (sentinel_chained, {"cluster": False, "down_after_ms": DOWN_AFTER_MS}),
    "cluster_kill": (cluster_kill, {"sentinel": False, "node_timeout_ms": NODE_TIMEOUT_MS}),
}


def record(name: str) -> Path:
    scenario, options = SCENARIOS[name]
    with tempfile.TemporaryDirectory(prefix=f"record-{name}-") as tmp, Topology.start(Path(tmp), **options) as topo:
        groups, clusters = targets_from_plan(topo.plan, topo.secrets)
        watcher = RecordingWatcher(groups, clusters, IncidentRecorder(), settings=SETTINGS)
        running = WatcherThread(watcher)
        try:
            assert_eventually(lambda: subscribed(running, len(groups) * 3), within=10)
            about = scenario(topo, watcher)
        finally:
            running.close()
        notes = {"redis": redis_version(), **{k: str(v) for k, v in options.items()}}
        path = HERE / f"{name}.json"
        save(watcher.recording(about, notes), path,
             secrets=[*topo.secrets.passwords])
    print(f"{path}: {len(watcher.inputs)} inputs; {about}")
    return path


def subscribed(running: WatcherThread, count: int) -> None:
    samples = running.watcher.metrics.registry.collect()
    up = [s for m in samples if m.name == "redisops_watch_sentinel_connected" for s in m.samples if s.value == 1]
    assert len(up) >= count, up


def redis_version() -> str:
    out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    return next((w.split("=")[1] for w in out.split() if w.startswith("v=")), out.strip())


if __name__ == "__main__":
    for scenario_name in sys.argv[1:] or list(SCENARIOS):
        record(scenario_name)
