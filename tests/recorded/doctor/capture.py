"""Writes the INFO texts of this directory: ``python tests/recorded/doctor/capture.py`` (real redis-server).

info-master-fragmented.txt: a Sentinel-group master after a 30,000-field hash and 200 keys of 1 KB were written and
the hash deleted (small, yet fragmented); info-replica-link-down.txt: its replica once the master was SIGKILLed
(down_after_ms is a minute, so no failover interferes).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from redisops.observe.doctor.examine import _Raw
from redisops.testing import Topology, assert_eventually

OUT = Path(__file__).resolve().parent


def info_text(topo: Topology, name: str) -> str:
    raw = _Raw(topo.node(name).address, topo.secrets.admin, 5)
    try:
        return bytes(raw("INFO", "all")).decode()
    finally:
        raw.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as work, \
            Topology.start(Path(work), sentinel=True, cluster=False, down_after_ms=60_000) as topo:
        client = topo.client("mymaster-0")
        client.hset("bighash", mapping={f"f{i}": "x" * 50 for i in range(30_000)})
        for i in range(200):
            client.set(f"k{i}", "v" * 1000)
        client.delete("bighash")
        time.sleep(1.5)  # a replication ACK, so slave0's offset is current
        (OUT / "info-master-fragmented.txt").write_text(info_text(topo, "mymaster-0"))
        topo.kill("mymaster-0")

        def link_down() -> str:
            text = info_text(topo, "mymaster-1")
            assert "master_link_status:down" in text and "master_link_down_since_seconds:-1" not in text
            return text

        (OUT / "info-replica-link-down.txt").write_text(assert_eventually(link_down, within=20))


if __name__ == "__main__":
    main()
