"""Benchmark: client write outage during a Sentinel failover, redisops writer vs plain redis-py.

A Sentinel group (1 master, 2 replicas, 3 sentinels, down-after 1000 ms) on free
loopback ports.  Each round both clients write at the same rate through the same
failover: SIGKILL of the master, wait for the promotion and for both clients to
write again, restart the old node with `up` (it rejoins as a replica).

  redisops   redisops.chaos.Writer: follows +selected-slave, then the sentinels
  redis-py   redis.sentinel.Sentinel(...).master_for(name) with default settings,
             socket timeouts 0.25 s; each error is counted and the loop goes on

Outage = the longest gap between acknowledged writes around the fault.

Usage: .venv/bin/python bench/failover.py [--rounds 20] [--rate 200]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis
from redis.sentinel import Sentinel

from redisops.chaos.writer import WriteBook, Writer
from redisops.ha.listen import sentinel_events
from redisops.lifecycle import up, wait_healthy
from redisops.testing import Topology
from redisops.topology.status import collect_status_sync
from redisops.topology.targets import targets_from_plan


class PlainWriter:
    """The anchor: redis-py's own Sentinel client, as an application would use it."""

    def __init__(self, topo: Topology, rate: float) -> None:
        group = topo.plan.groups[0]
        sentinel = Sentinel([(s.address.host, s.address.port) for s in group.sentinels],
                            sentinel_kwargs={"password": topo.secrets.sentinel_password, "socket_timeout": 0.25},
                            password=topo.secrets.redis_password, socket_timeout=0.25)
        self.client = sentinel.master_for(group.spec.name, socket_timeout=0.25)
        self.interval = 1.0 / rate
        self.book = WriteBook()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        seq = 0
        while not self.stop_event.is_set() and seq < 200_000:
            began = time.monotonic()
            try:
                self.client.set(f"plain:{seq}", seq)
                self.book.acked[seq] = time.time()
            except redis.RedisError:
                self.book.failed.add(seq)
            seq += 1
            self.stop_event.wait(max(0.0, self.interval - (time.monotonic() - began)))

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> WriteBook:
        self.stop_event.set()
        self.thread.join(timeout=30)
        return self.book


def one_round(topo: Topology, rate: float) -> tuple[float, float, float | None]:
    dep = topo.deployment
    targets, _ = targets_from_plan(dep.plan, dep.secrets)
    target = targets[0]
    wait_healthy(dep, only="sentinel", timeout=120)
    old = collect_status_sync([target], []).groups[0].master
    victim = next(n for n in dep.plan.groups[0].redis if n.address == old)
    ours = Writer(target.name, target.sentinels, password=target.password,
                  sentinel_password=target.sentinel_password, run_id=f"bench-{time.time_ns()}", rate=rate)
    plain = PlainWriter(topo, rate)
    switch: list[float] = []

    def on_event(at: float, channel: str, data: str) -> None:
        ours.on_event(at, channel, data)
        if channel == "+switch-master":
            switch.append(at)

    with sentinel_events(target.sentinels, target.sentinel_password, on_event):
        ours.start()
        plain.start()
        time.sleep(1.0)
        at = time.time()
        dep.runtime.signal(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (ours.book.first_ack_after(at) and plain.book.first_ack_after(at)):
            time.sleep(0.05)
        time.sleep(0.5)
        end = time.time()
        ours_book, plain_book = ours.stop(), plain.stop()
    up(dep, only="sentinel", timeout=120)
    return (ours_book.longest_stall(at - 1, end), plain_book.longest_stall(at - 1, end),
            (min(switch) - at) if switch else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--rate", type=float, default=200.0)
    args = parser.parse_args()
    ours: list[float] = []
    plain: list[float] = []
    switches: list[float] = []
    with tempfile.TemporaryDirectory(prefix="redisops-bench-failover-") as tmp:
        with Topology.start(Path(tmp), cluster=False, down_after_ms=1000, failover_timeout_ms=10000) as topo:
            for index in range(args.rounds):
                a, b, s = one_round(topo, args.rate)
                ours.append(a)
                plain.append(b)
                if s is not None:
                    switches.append(s)
                print(f"round {index + 1}: redisops {a:.3f} s, redis-py {b:.3f} s", file=sys.stderr)
    print("| client | rounds | outage p50 s | p95 s | max s |\n|---|---|---|---|---|")
    for name, values in (("redisops writer", ours), ("redis-py Sentinel master_for", plain)):
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        print(f"| {name} | {len(values)} | {statistics.median(values):.3f} | {p95:.3f} | {max(values):.3f} |")
    print(f"\nfirst +switch-master after the kill, median: {statistics.median(switches):.3f} s" if switches else "")
    print(f"outage ratio redis-py / redisops (median): {statistics.median(plain) / statistics.median(ours):.2f}x")


if __name__ == "__main__":
    main()
