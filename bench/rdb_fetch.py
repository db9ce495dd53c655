"""Benchmark: our RDB fetch over the replication protocol vs `redis-cli --rdb`, on the same node.

One redis-server 7.0 (loopback, free port, temp dir, ``rdbcompression no`` so the
RDB is as large as the data) filled by ``DEBUG POPULATE`` with ``--keys`` keys of
``--value-size`` bytes (default 1M x 1000 B: an RDB of about 1 GB).  Runs
alternate, so both see the same machine load:

  redis-cli   `redis-cli -p PORT --rdb FILE` (AUTH-less; REPLCONF rdb-only + SYNC; writes and fsyncs FILE)
  fetch       redisops.data.backup.fetch_rdb into a file, fsynced: the same transfer, our code
  backup      the whole `backup run` pipeline for one shard: fetch + sha256 + zstd (level 3) + sha256 +
              write to a file:// store, without the load-and-digest step (--no-digest)

Each run includes the node's fork and snapshot, as for a real backup.
Usage: .venv/bin/python bench/rdb_fetch.py [--keys 1000000] [--value-size 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

from redisops.address import Address
from redisops.data.backup import BackupOptions, ShardSource, open_store, run_backup
from redisops.data.backup.rdb_fetch import fetch_rdb


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def redis_cli(port: int, out: Path) -> int:
    subprocess.run(["redis-cli", "-p", str(port), "--rdb", str(out)], check=True, capture_output=True)
    return out.stat().st_size


def ours(port: int, out: Path) -> int:
    with out.open("wb") as handle:
        result = fetch_rdb(Address("127.0.0.1", port), None, handle.write)
        handle.flush()
        os.fsync(handle.fileno())
    return result.size


def backup(port: int, out: Path) -> int:
    store = open_store(f"file://{out.parent / 'store'}")
    source = ShardSource("shard-0", Address("127.0.0.1", port), None, "master")
    manifest = run_backup("sentinel", "bench", [source], store, BackupOptions(digest=False))
    store.remove(manifest.id)
    return manifest.shards[0].raw_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--value-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="redisops-bench-rdb-"))
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(workdir), "--rdbcompression", "no",
                             "--enable-debug-command", "local", "--repl-diskless-sync", "no"],
                            cwd=workdir, stdout=subprocess.DEVNULL)
    try:
        client = redis.Redis("127.0.0.1", port)
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        client.execute_command("DEBUG", "POPULATE", args.keys, "key", args.value_size)
        runners: dict[str, Callable[[int, Path], int]] = {"redis-cli": redis_cli, "fetch": ours, "backup": backup}
        rates: dict[str, list[float]] = {name: [] for name in runners}
        for i in range(args.rounds):
            for name, fn in runners.items():
                out = workdir / f"{name}.rdb"
                began = time.perf_counter()
                size = fn(port, out)
                seconds = time.perf_counter() - began
                out.unlink(missing_ok=True)
                rates[name].append(size / seconds / 1e6)
                print(f"round {i + 1} {name:<9} {size / 1e6:8.1f} MB in {seconds:6.2f} s = "
                      f"{size / seconds / 1e6:7.1f} MB/s", flush=True)
        cli = statistics.median(rates["redis-cli"])
        for name in ("fetch", "backup"):
            print(f"median {name}: {statistics.median(rates[name]):.1f} MB/s vs redis-cli {cli:.1f} MB/s "
                  f"-> {statistics.median(rates[name]) / cli:.2f}x")
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
