"""The daemon embedded from Python, as an operator's tool, the status page or the demo app would run it: no CLI,
``Daemon.from_spec(...).serve(stop)`` on the caller's event loop.  A replica killed is one incident, handed to the
caller's sink and to the spec's webhook; ``/metrics`` counts it and shows the backup schedule's runs; stopping
the daemon ends every part of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from alert_endpoints import Endpoint, free_port, scrape

from redisops.alerts import Incident, IncidentKind
from redisops.daemon import Daemon
from redisops.runtime.processes import port_is_free
from redisops.spec import load, load_secrets
from redisops.testing import Topology, assert_eventually
from redisops.testing.watching import DaemonThread, IncidentRecorder


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    with Topology.start(tmp_path_factory.mktemp("embedded"), cluster=False, down_after_ms=1000) as topology:
        yield topology


def embedded_spec(topo: Topology, endpoint: Endpoint) -> Path:
    """The topology's spec with a webhook, a backup every 2 s and a 0.5 s poll, beside it (secrets are relative)."""
    data = yaml.safe_load(topo.spec_file.read_text())
    data["alerts"] = {"channels": [{"type": "webhook", "url": endpoint.url + "/hook"}]}
    data["backup"] = {"target": "file://./embedded-backups", "schedule": "* * * * * */2", "keep": {"last": 5}}
    data["watch"] = {"poll_interval_s": 0.5, "probe_timeout_s": 0.5}
    path = topo.spec_file.with_name("embedded.yaml")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_an_embedded_daemon_alerts_counts_and_backs_up(topo: Topology, endpoint: Endpoint) -> None:
    path = embedded_spec(topo, endpoint)
    spec = load(path)
    port = free_port()
    sink = IncidentRecorder()
    daemon = Daemon.from_spec(spec, load_secrets(path.parent / spec.auth.secrets_file), base_dir=path.parent,
                              metrics_port=port, sinks=[sink])
    running = DaemonThread(daemon)
    replica = str(topo.node("mymaster-2").address)
    try:
        assert_eventually(lambda: scrape(port), within=10)
        topo.kill("mymaster-2")
        down = assert_eventually(lambda: one(sink.of(IncidentKind.REPLICA_DOWN)), within=15)
        assert down.labels["replica"] == replica
        assert assert_eventually(lambda: hooks(endpoint, "firing"), within=10)[0]["incident"]["key"] == down.key
        body = scrape(port)
        assert 'redisops_incidents_total{kind="replica_down"} 1.0' in body
        assert f'redisops_master_info{{address="{topo.node("mymaster-0").address}",group="mymaster"}} 1.0' in body
        assert_eventually(lambda: backed_up(port), within=20)
        topo.up()
        assert_eventually(lambda: resolved(sink.of(IncidentKind.REPLICA_DOWN)), within=15)
    finally:
        running.close()
    assert not running.thread.is_alive() and running.error is None, running.error
    assert daemon.endpoint is None and port_is_free("127.0.0.1", port)  # the endpoint is closed
    assert hooks(endpoint, "resolved")  # the dispatcher delivered before it stopped


def one(incidents: list[Incident]) -> Incident:
    assert len(incidents) == 1, incidents
    return incidents[0]


def resolved(incidents: list[Incident]) -> None:
    assert incidents and incidents[-1].resolved, incidents


def hooks(endpoint: Endpoint, state: str) -> list[Any]:
    found = [b for b in (r.json() for r in endpoint.at("/hook")) if b["state"] == state]
    assert found, f"no {state} webhook yet"
    return found


def backed_up(port: int) -> None:
    assert "redisops_backup_last_run_success 1.0" in scrape(port)


