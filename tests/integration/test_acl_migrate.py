"""`redisops acl apply` migrates a running deployment with one shared password to least-privilege ACL users,
in place: data kept, replication and failover working as the new users, the default user off, everything still
so after the nodes restart; a run cut short (a sentinel away) keeps the old password working and the next run
finishes; and what a hardened deployment serves audits with no finding at medium or above."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cli_json
import pytest
import redis

from redisops.alerts import Incident
from redisops.auth import Login
from redisops.clients import connect
from redisops.daemon import Daemon
from redisops.lifecycle import Deployment
from redisops.runtime.plan import NodeKind
from redisops.security.users import apply_acl
from redisops.spec.watch import WatchSpec
from redisops.testing import Topology, wait_until
from redisops.testing.watching import DaemonThread
from redisops.topology import targets_from_plan

pytestmark = pytest.mark.slow

REDISOPS = [sys.executable, "-m", "redisops"]


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """A deployment as redisops made them before ACL users: one requirepass for everything."""
    with Topology.start(tmp_path_factory.mktemp("legacy"), acl=False, down_after_ms=1000,
                        node_timeout_ms=2000) as topo:
        yield topo


def cli(topo: Topology, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REDISOPS, *args, "-f", str(topo.spec_file)], capture_output=True, text=True,
                          timeout=180)


def data_nodes(topo: Topology) -> list[str]:
    return [n.name for n in topo.plan.nodes if n.kind is not NodeKind.SENTINEL]


def test_migration_keeps_data_replication_failover_and_restarts(legacy: Topology) -> None:
    shared = legacy.secrets.redis_password
    assert shared is not None and not legacy.secrets.acl
    master = legacy.node("mymaster-0").address
    with connect(master, shared) as client:
        client.mset({f"k{i}": i for i in range(500)})
    done = cli(legacy, "acl", "apply", "--json")
    assert done.returncode == 0, done.stderr
    data = cli_json.data(done.stdout, "acl.apply")
    assert data["ok"] and data["default_off"] and data["legacy_password_dropped"]
    assert sorted(data["generated"]) == ["admin_password", "app_password", "exporter_password",
                                         "replication_password", "sentinel_user_password"]
    assert all(n["error"] is None for n in data["nodes"])
    assert {u for n in data["nodes"] if n["kind"] != "sentinel" for u in n["users"]} == {
        "admin", "app", "replication", "sentinel", "redisops-exporter"}
    dep = Deployment.open(legacy.spec_file)
    secrets = dep.secrets
    assert secrets.acl and secrets.redis_password is None
    assert "redis_password" not in (legacy.spec_file.parent / "redisops.secrets.yaml").read_text()

    for name in data_nodes(legacy):  # the shared password lets nobody in any more
        with pytest.raises(redis.AuthenticationError), connect(legacy.node(name).address, shared) as client:
            client.ping()
    app = Login("app", str(secrets.app_password))
    with connect(master, app) as client:
        assert client.get("k499") == "499"
        assert client.set("written-by-app", "1")
        for forbidden in (("FLUSHALL",), ("CONFIG", "SET", "maxmemory", "1"), ("KEYS", "*"), ("REPLICAOF", "NO", "ONE")):
            with pytest.raises(redis.exceptions.NoPermissionError):
                client.execute_command(*forbidden)

    # a failover: Sentinel reaches the nodes as `sentinel`, the replicas resync as `replication`
    failover = cli(legacy, "failover", "--json")
    assert failover.returncode == 0, failover.stderr
    new_master = cli_json.data(failover.stdout, "failover")["new_master"]
    assert new_master != str(master)

    def replicas_linked() -> bool:
        linked = 0
        for name in ("mymaster-0", "mymaster-1", "mymaster-2"):
            with connect(legacy.node(name).address, secrets.admin) as client:
                info = client.info("replication")
            linked += info.get("master_link_status") == "up"
        return linked == 2

    wait_until(replicas_linked, 30, "both replicas linked to the new master")

    # restart every node with its data: the users, the default user off and the links all come back
    assert cli(legacy, "down").returncode == 0
    up = cli(legacy, "up", "--json")
    assert up.returncode == 0, up.stderr
    for name in data_nodes(legacy):
        conf = dep.runtime.conf_path(legacy.node(name)).read_text()
        assert not [line for line in conf.splitlines() if line.startswith(("requirepass", "user ", "masterauth"))]
        assert not any(p in conf for p in secrets.passwords)
        with connect(legacy.node(name).address, secrets.admin) as client:
            users = {line.split()[1]: line for line in client.execute_command("ACL", "LIST")}
        assert users["default"].startswith("user default off"), users["default"]
        assert set(users) == {"default", "admin", "app", "replication", "sentinel", "redisops-exporter"}
    wait_until(replicas_linked, 30, "both replicas linked after the restart")
    with connect(master, app) as client:
        assert client.get("k0") == "0"

    again = cli(legacy, "acl", "apply", "--json")  # nothing left to do
    assert again.returncode == 0, again.stderr
    rerun = cli_json.data(again.stdout, "acl.apply")
    assert not rerun["generated"] and not rerun["legacy_password_dropped"]
    assert {state for n in rerun["nodes"] for state in n["users"].values()} == {"unchanged"}

    audit = cli(legacy, "audit", "--live", "--json", "--fail-on", "medium")
    # what redisops deploys, not the machine's own settings (vm.overcommit_memory, THP: `redisops doctor` says)
    found = [f for f in cli_json.data(audit.stdout, "audit")["findings"]
             if f["severity"] in ("medium", "high", "critical") and not f["target"].startswith("host ")]
    assert not found, found


def test_a_run_that_cannot_reach_a_sentinel_keeps_the_old_password_and_the_next_finishes(tmp_path: Path) -> None:
    with Topology.start(tmp_path, acl=False, cluster=False, replicas=1) as topo:
        shared = topo.secrets.redis_password
        assert shared is not None
        secrets_file = topo.spec_file.parent / "redisops.secrets.yaml"
        topo.kill("mymaster-sentinel-2")
        first = apply_acl(topo.plan, topo.deployment.runtime, secrets_file)
        assert not first.ok and not first.default_off and not first.legacy_dropped
        assert [n.name for n in first.nodes if n.error] == ["mymaster-sentinel-2"]
        with connect(topo.node("mymaster-0").address, shared) as client:  # nothing depends on the new users yet
            assert client.ping()
        assert "redis_password" in secrets_file.read_text()
        topo.up()
        second = apply_acl(topo.plan, topo.deployment.runtime, secrets_file)
        assert second.ok and second.legacy_dropped, [n.to_dict() for n in second.nodes if n.error]
        assert not second.generated  # the first run's passwords are kept
        with pytest.raises(redis.AuthenticationError), connect(topo.node("mymaster-0").address, shared) as client:
            client.ping()


class _Recorder:
    def __init__(self) -> None:
        self.incidents: list[Incident] = []
        self.sentences: list[str] = []

    def notify(self, incident: Incident) -> None:
        self.incidents.append(incident)

    def cycle(self, sentence: str, _report: object) -> None:
        self.sentences.append(sentence)


def test_a_running_watcher_follows_the_migration_without_an_incident(tmp_path: Path) -> None:
    """The watcher reads the secrets file again after a poll once it changed: it logs in as admin from then on,
    and the poll that a login change catches half way (a refused login) is not an incident."""
    with Topology.start(tmp_path, acl=False, cluster=False, replicas=1) as topo:
        groups, clusters = targets_from_plan(topo.plan, topo.secrets)
        secrets_file = topo.spec_file.parent / "redisops.secrets.yaml"
        seen = _Recorder()
        daemon = Daemon(groups, clusters, settings=WatchSpec(poll_interval_s=0.3, probe_timeout_s=1.0),
                        metrics_port=0, sinks=[seen], on_cycle=seen.cycle, base_dir=topo.spec_file.parent,
                        secrets_file=secrets_file)
        running = DaemonThread(daemon)
        try:
            wait_until(lambda: any(s.startswith("no action") for s in seen.sentences), 20, "a healthy poll")
            report = apply_acl(topo.plan, topo.deployment.runtime, secrets_file)
            assert report.ok
            migrated = len(seen.sentences)
            wait_until(lambda: isinstance(daemon.watcher.groups[0].password, Login), 10, "the watcher logs in as admin")
            wait_until(lambda: len(seen.sentences) > migrated + 3, 20, "polls after the migration")
            assert seen.sentences[-1].startswith("no action"), seen.sentences[-1]
        finally:
            running.close()
        assert running.error is None, running.error
        assert seen.incidents == [], [i.title for i in seen.incidents]
