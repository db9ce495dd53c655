"""Benchmark: `redisops up` to healthy and `redisops status`, side by side with redis-cli.

Default deployment shape (1 master + 2 replicas + 3 sentinels, 3+3 cluster) on free
loopback ports in a temp dir.  Rounds are bounded; every process is stopped.

  up      `redisops up` from nothing to a healthy verdict (CLI, wall time), and the cluster
          formation alone: redisops' formation vs `redis-cli --cluster create`, each on six
          freshly started empty nodes, until every node reports cluster_state:ok.
  status  `redisops status` (CLI, wall time) vs the redis-cli calls an operator would run to
          see the same things: `--cluster check`, SENTINEL MASTER / GET-MASTER-ADDR-BY-NAME /
          CKQUORUM on each sentinel and INFO replication on each data node.

Usage: .venv/bin/python bench/up_status.py [--rounds 5] [--status-runs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import redis

from redisops.auth import redis_kwargs
from redisops.cluster.create import ClusterShape, form_cluster
from redisops.lifecycle import Deployment, down
from redisops.runtime.local import find_binaries
from redisops.testing import Topology

REDISOPS = [sys.executable, "-m", "redisops"]


def timed(fn: Callable[[], object]) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def run(argv: list[str], env: dict[str, str] | None = None, limit: float = 120.0) -> None:
    """Run and wait, killed after ``limit`` s.  Not ``subprocess.run(timeout=...)``: its wait polls with a
    sleep that grows to 50 ms, which rounded every timing up to the next 50 ms step (0.415, 0.465, 0.516 ...)."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    watchdog = threading.Timer(limit, proc.kill)
    watchdog.start()
    try:
        code = proc.wait()  # blocks in waitpid: returns the moment the process ends
    finally:
        watchdog.cancel()
    if code != 0:
        raise subprocess.CalledProcessError(code, argv)


def wait_cluster_ok(dep: Deployment, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    assert dep.plan.cluster is not None
    clients = [redis.Redis(n.address.host, n.address.port, **redis_kwargs(dep.secrets.admin),
                           decode_responses=True) for n in dep.plan.cluster.nodes]
    while time.monotonic() < deadline:
        if all(c.cluster("INFO")["cluster_state"] == "ok" for c in clients):
            return
        time.sleep(0.01)
    raise RuntimeError("cluster not ok in time")


def start_fresh_cluster(dep: Deployment) -> None:
    assert dep.plan.cluster is not None
    nodes = dep.plan.cluster.nodes
    started = [dep.runtime.start(n, find_binaries()) for n in nodes]
    dep.runtime.wait_listening(started)


def bench_up(workdir: Path, rounds: int) -> dict[str, list[float]]:
    whole = "redisops up (whole deployment)"
    results: dict[str, list[float]] = {whole: [], "formation: redisops": [],
                                       "formation: redis-cli --cluster create": []}
    for index in range(rounds):
        spec = Topology.write_spec(workdir / f"up{index}")
        dep = Deployment.open(spec)
        try:
            results[whole].append(timed(lambda spec=spec: run([*REDISOPS, "up", "-f", str(spec)])))
        finally:
            down(dep, purge=True)
        results["formation: redisops"].append(time_formation(workdir / f"form-ours{index}", ours=True))
        results["formation: redis-cli --cluster create"].append(
            time_formation(workdir / f"form-cli{index}", ours=False))
    return results


def time_formation(directory: Path, ours: bool) -> float:
    """Six freshly started empty nodes, formed by one tool, until every node is cluster_state:ok."""
    dep = Deployment.open(Topology.write_spec(directory, sentinel=False))
    try:
        start_fresh_cluster(dep)
        began = time.perf_counter()
        if ours:
            assert dep.plan.cluster is not None
            form_cluster(ClusterShape.from_layout(dep.plan.cluster), dep.secrets.admin)
        else:
            redis_cli_create(dep)
        wait_cluster_ok(dep)
        return time.perf_counter() - began
    finally:
        down(dep, purge=True)


def redis_cli_create(dep: Deployment) -> None:
    assert dep.plan.cluster is not None
    addrs = [str(n.address) for n in dep.plan.cluster.nodes]
    env = {**os.environ, "REDISCLI_AUTH": dep.secrets.admin_password or ""}
    run(["redis-cli", "--user", "admin", "--cluster", "create", *addrs, "--cluster-replicas", "1", "--cluster-yes"],
        env=env)


def bench_status(workdir: Path, runs: int) -> dict[str, list[float]]:
    topo = Topology.start(workdir / "status")
    try:
        dep = topo.deployment
        ours = [timed(lambda: run([*REDISOPS, "status", "-f", str(topo.spec_file)])) for _ in range(runs)]
        ours_json = [timed(lambda: run([*REDISOPS, "status", "--json", "-f", str(topo.spec_file)]))
                     for _ in range(runs)]
        anchor = [timed(lambda: redis_cli_status(dep)) for _ in range(runs)]
    finally:
        topo.stop()
    return {"redisops status": ours, "redisops status --json": ours_json, "redis-cli equivalent (sequential)": anchor}


def redis_cli_status(dep: Deployment) -> None:
    group = dep.plan.groups[0]
    data_env = {**os.environ, "REDISCLI_AUTH": dep.secrets.admin_password or ""}
    sentinel_env = {**os.environ, "REDISCLI_AUTH": dep.secrets.sentinel_password}
    assert dep.plan.cluster is not None
    seed = dep.plan.cluster.nodes[0].address
    run(["redis-cli", "--user", "admin", "--cluster", "check", str(seed)], env=data_env)
    for sentinel in group.sentinels:
        base = ["redis-cli", "-h", sentinel.address.host, "-p", str(sentinel.address.port)]
        for command in ("MASTER", "GET-MASTER-ADDR-BY-NAME", "CKQUORUM"):
            run([*base, "SENTINEL", command, group.spec.name], env=sentinel_env)
    for node in group.redis:
        run(["redis-cli", "--user", "admin", "-h", node.address.host, "-p", str(node.address.port), "INFO",
             "replication"], env=data_env)


def summary(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (f"| {name} | {len(values)} | {statistics.median(values):.3f} | {p95:.3f} | "
            f"{min(values):.3f} | {max(values):.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--status-runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="redisops-bench-") as tmp:
        workdir = Path(tmp)
        up = bench_up(workdir, args.rounds)
        status = bench_status(workdir, args.status_runs)
    print(f"cores: {os.cpu_count()}  python: {sys.version.split()[0]}")
    print("| what | runs | median s | p95 s | min s | max s |\n|---|---|---|---|---|---|")
    for name, values in {**up, **status}.items():
        print(summary(name, values))
    formation = statistics.median(up["formation: redis-cli --cluster create"]) / statistics.median(
        up["formation: redisops"])
    status_ratio = statistics.median(status["redis-cli equivalent (sequential)"]) / statistics.median(
        status["redisops status"])
    print(f"\nformation speed-up vs redis-cli --cluster create (median): {formation:.2f}x")
    print(f"status speed-up vs sequential redis-cli calls (median): {status_ratio:.2f}x")


if __name__ == "__main__":
    main()
