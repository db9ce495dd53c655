"""``redisops watch`` runs the spec's backup schedule next to the watcher: a failing store pages through the
alert channels, the next good run resolves it and its backup shows in ``backup list``, /metrics has the
``redisops_backup_*`` series, and SIGTERM stops both.

The schedule is a real cron expression with croniter's optional sixth (seconds) field, ``* * * * * */2``,
so the daemon runs as a user would run it, only every 2 s instead of every hour.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cli_json
import pytest
import yaml
from alert_endpoints import Endpoint, free_port
from alert_endpoints import scrape as scrape_once

from redisops.testing import Topology, assert_eventually

REDISOPS = [sys.executable, "-m", "redisops"]


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    with Topology.start(tmp_path_factory.mktemp("watch-backups"), cluster=False, replicas=1) as topology:
        yield topology


def watch_spec(topo: Topology, endpoint: Endpoint) -> Path:
    """The topology's spec plus a backup schedule and a webhook, beside it (secrets are relative to it)."""
    data = yaml.safe_load(topo.spec_file.read_text())
    data["backup"] = {"target": "file://./backups", "schedule": "* * * * * */2", "keep": {"last": 50}}
    data["alerts"] = {"channels": [{"type": "webhook", "url": endpoint.url + "/hook"}]}
    path = topo.spec_file.with_name("watch-backups.yaml")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class Lines:
    """The daemon's stdout, read in a thread so the pipe never fills."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.records: list[tuple[str, Any]] = []  # (kind, data) of each envelope line
        assert proc.stdout is not None
        self._stdout = proc.stdout
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stdout:
            self.records.append(cli_json.record(line))

    def backups(self) -> list[dict[str, Any]]:
        return [r for kind, r in self.records if kind == "watch.backup"]


def test_watch_runs_the_backup_schedule_and_alerts_on_failure(topo: Topology, endpoint: Endpoint) -> None:
    spec = watch_spec(topo, endpoint)
    store = spec.parent / "backups"
    store.write_text("a file where the backup directory should be")  # the store refuses every backup
    topo.client("mymaster-0").set("watched", "1")
    port = free_port()
    proc = subprocess.Popen([*REDISOPS, "watch", "--json", "--metrics-port", str(port), "-f", str(spec)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = Lines(proc)
        firing = assert_eventually(lambda: hook_states(endpoint, "firing"), within=20)[0]
        assert firing["incident"]["kind"] == "backup_failed" and firing["incident"]["key"] == "backup_failed:test"
        assert "backup store" in firing["incident"]["summary"]
        assert lines.backups() and not lines.backups()[0]["ok"]
        assert "redisops_backup_last_run_success 0.0" in scrape(port)

        store.unlink()  # the store is back: the next run succeeds and resolves the alert
        resolved = assert_eventually(lambda: hook_states(endpoint, "resolved"), within=20)[0]
        assert resolved["incident"]["timeline"][-1]["event"] == "backup succeeded"
        listed = subprocess.run([*REDISOPS, "backup", "list", "--json", "-f", str(spec)],
                                capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0, listed.stderr
        backups = cli_json.data(listed.stdout)
        assert backups and all(b["kind"] == "sentinel" and b["source"] == "mymaster" for b in backups)
        assert backups[0]["keys"] >= 1
        ok = next(b for b in lines.backups() if b["ok"])
        assert ok["sentence"].startswith(f"backed up {backups[0]['id']} (") and "; next at " in ok["sentence"]
        body = scrape(port)
        assert "redisops_backup_last_run_success 1.0" in body
        assert 'redisops_backup_runs_total{outcome="failed"}' in body
        assert 'redisops_incidents_total{kind="backup_failed"} 1.0' in body
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=40)
    assert proc.returncode == 0, err
    assert "backup: backed up " in err and "backup: failed: backup store" in err
    assert [s for s in hook_states(endpoint)] == ["firing", "resolved"]  # repeated failures paged once


def hook_states(endpoint: Endpoint, state: str | None = None) -> list[Any]:
    bodies = [r.json() for r in endpoint.at("/hook")]
    if state is None:
        return [b["state"] for b in bodies]
    found = [b for b in bodies if b["state"] == state]
    assert found, f"no {state} alert yet: {bodies}"
    return found


def scrape(port: int) -> str:
    return assert_eventually(lambda: scrape_once(port), within=10)
