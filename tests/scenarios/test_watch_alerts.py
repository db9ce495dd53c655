"""End to end: ``redisops watch`` (the real daemon, the real alert dispatcher) and a webhook receiver on
127.0.0.1.  Kill -9 the master: exactly one "firing" failover message arrives, with its timeline, then one
"resolved"; /metrics shows the failover and the delivery.  (A second failover Sentinel itself starts of the
master it just promoted is a second incident: see ``alert_endpoints.failover_chain``.)  The delay from the first +switch-master to the
receiver is printed (``-s``), not asserted.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cli_json
import pytest
import yaml
from alert_endpoints import failover_chain, free_port, scrape

from redisops.testing import Topology, assert_eventually

REDISOPS = [sys.executable, "-m", "redisops"]


class Receiver:
    """A webhook endpoint that records (arrival time, JSON body)."""

    def __init__(self) -> None:
        self.received: list[tuple[float, dict[str, Any]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((time.time(), json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def failovers(self) -> list[tuple[float, dict[str, Any]]]:
        return [(t, b) for t, b in self.received if b["incident"]["kind"] == "failover"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    try:
        yield server
    finally:
        server.close()


@pytest.mark.slow
def test_killed_master_is_one_webhook_alert_then_resolved(tmp_path: Path, receiver: Receiver) -> None:
    with Topology.start(tmp_path, cluster=False, down_after_ms=1000) as topo:
        spec = yaml.safe_load(topo.spec_file.read_text())
        spec["alerts"] = {"channels": [{"type": "webhook", "url": receiver.url}]}
        topo.spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
        port = free_port()
        proc = subprocess.Popen([*REDISOPS, "watch", "--json", "--metrics-port", str(port), "-f", str(topo.spec_file)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            kind, cycle = cli_json.record(proc.stdout.readline())
            assert (kind, cycle["health"]) == ("watch.cycle", "ok")  # polled once, subscribers started
            assert_eventually(lambda: subscribed(port), within=10)
            old = str(topo.node("mymaster-0").address)
            topo.kill("mymaster-0")
            assert_eventually(lambda: delivered(receiver), within=30)
            time.sleep(1.5)  # the later +switch-master of the other sentinels must not send another
            assert_eventually(lambda: all_resolved(receiver), within=30)
            metrics = scrape(port)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err

    seen = [(b["incident"]["key"], b["state"], [(e["event"], e["source"], e["detail"]) for e in b["incident"]["timeline"]])
            for _, b in receiver.failovers()]
    keys = failover_chain([b for _, b in receiver.failovers()], old)
    (arrived, firing), (_, resolved) = [(t, b) for t, b in receiver.failovers() if b["incident"]["key"] == keys[0]]
    events = [e["event"] for e in resolved["incident"]["timeline"]]
    assert events.index("+sdown") < events.index("+odown") < events.index("+switch-master")
    switch_at = next(e["at"] for e in firing["incident"]["timeline"] if e["event"] == "+switch-master")
    print(f"\nfirst +switch-master -> webhook received {(arrived - switch_at) * 1000:.1f} ms")
    counted = [line for line in metrics.splitlines() if line.startswith("redisops_failovers_total{")]
    assert counted == [f'redisops_failovers_total{{group="mymaster"}} {len(keys)}.0'], (counted, seen, err)
    assert 'redisops_alert_deliveries_total{channel="webhook",outcome="sent"}' in metrics


def subscribed(port: int) -> None:
    lines = [x for x in scrape(port).splitlines() if x.startswith("redisops_watch_sentinel_connected{")]
    assert len(lines) == 3 and all(x.endswith(" 1.0") for x in lines), lines


def delivered(receiver: Receiver) -> None:
    states = [b["state"] for _, b in receiver.failovers()]
    assert "firing" in states and "resolved" in states, receiver.received


def all_resolved(receiver: Receiver) -> None:
    firing = {b["incident"]["key"] for _, b in receiver.failovers() if b["state"] == "firing"}
    resolved = {b["incident"]["key"] for _, b in receiver.failovers() if b["state"] == "resolved"}
    assert firing == resolved, receiver.received


