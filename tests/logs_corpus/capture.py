"""Cause real trouble on real nodes and keep their logs: how tests/logs_corpus/run1 was written.

Usage: .venv/bin/python tests/logs_corpus/capture.py OUT_DIR

One Sentinel group (1 master, 2 replicas, 3 sentinels, down-after 1 s) and one cluster (3 masters, 3 replicas,
node timeout 1 s), in a temp dir on free ports.  In order: the group's master is killed (a failover); an HTTP
request is sent to a replica's port (the SECURITY ATTACK warning); the new master gets
``client-output-buffer-limit replica 64kb 32kb 1`` and five 2 MB writes (its replica is cut off, then cannot
resync partially); its ``dump.rdb`` is replaced by a directory and BGSAVE runs (the save fails, writes get
MISCONF); a cluster master is killed (FAIL, election).  Every node's log is copied to OUT_DIR as <node>.log.
In run1 the group failed over a second time: the new master stopped answering its sentinels for a second
while the five big writes streamed to its replica.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

from redisops.testing import Topology, assert_eventually


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="redisops-capture-") as work:
        topo = Topology.start(Path(work), sentinel=True, cluster=True, down_after_ms=1000, node_timeout_ms=1000)
        try:
            cause_trouble(topo)
        finally:
            for node in topo.plan.nodes:
                log = topo.deployment.runtime.log_path(node)
                if log.exists():
                    shutil.copy(log, out / f"{node.name}.log")
            topo.stop()


def cause_trouble(topo: Topology) -> None:
    sentinel = topo.client("mymaster-sentinel-0")
    old_port = topo.node("mymaster-0").address.port
    topo.kill("mymaster-0")

    def moved() -> int:
        _, port = sentinel.sentinel_get_master_addr_by_name("mymaster")
        assert int(port) != old_port
        return int(port)

    new_port = assert_eventually(moved, within=30)
    time.sleep(3)
    with socket.create_connection(("127.0.0.1", topo.node("mymaster-1").address.port)) as conn:
        conn.sendall(b"POST / HTTP/1.1\r\nHost: evil\r\n\r\n")
        time.sleep(0.3)
    name = next(n.name for n in topo.plan.nodes if n.address.port == new_port)
    master = topo.client(name)
    master.config_set("client-output-buffer-limit", "replica 64kb 32kb 1")
    for i in range(5):
        master.set(f"big{i}", os.urandom(2_000_000))
        time.sleep(0.3)
    time.sleep(3)
    master.config_set("client-output-buffer-limit", "replica 256mb 64mb 60")
    time.sleep(3)
    dump = topo.deployment.runtime.node_dir(topo.node(name)) / "dump.rdb"
    dump.unlink(missing_ok=True)
    dump.mkdir()
    (dump / "x").write_text("x")
    master.bgsave()
    time.sleep(2)
    shutil.rmtree(dump)
    master.bgsave()
    time.sleep(1)
    topo.kill("main-0")
    time.sleep(8)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
