"""Benchmark: `verify replicas` (server-side digests) vs a client that DUMPs every key from both sides.

One master and one replica (plain redis-server 7.0 processes on free loopback
ports in a temp dir), filled with ``--keys`` keys: 80% strings (DEBUG POPULATE,
``--value-size`` bytes), 20% small hashes/sets/lists/zsets.  Both checkers scan
the master in batches of ``--batch`` keys and look every key up on the replica,
then scan the replica and check existence on the master (both directions), so
they do the same work except for where values are digested:

  redisops   EVALSHA_RO of the digest script on both nodes per batch (about 50 bytes per key cross the network)
  dump       pipelined DUMP of the batch on both nodes, payloads compared client-side (values cross the network)

Runs alternate (dump, redisops, dump, redisops, ...) so both see the same machine load; medians are reported.
Usage: .venv/bin/python bench/verify.py [--keys 1000000] [--rounds 3] [--value-size 64] [--ttl-every N]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from redisops.address import Address
from redisops.data.keyspace import Single, connect, open_reader
from redisops.data.verify import VerifyOptions, compare_spaces, wait_caught_up


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def servers(workdir: Path, fill_master: Callable[[Address], None]) -> Iterator[tuple[Address, Address]]:
    """The master is filled before the replica starts (DEBUG POPULATE is not replicated): a full sync."""
    procs = []
    addresses: list[Address] = []
    try:
        for name in ("master", "replica"):
            port = free_port()
            node_dir = workdir / name
            node_dir.mkdir()
            args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--dir", str(node_dir), "--enable-debug-command", "local", "--repl-diskless-sync-delay", "0"]
            if addresses:
                args += ["--replicaof", "127.0.0.1", str(addresses[0].port)]
            procs.append(subprocess.Popen(args, cwd=node_dir, stdout=subprocess.DEVNULL))
            addresses.append(Address("127.0.0.1", port))
            wait_up(addresses[-1])
            if name == "master":
                fill_master(addresses[0])
        wait_synced(addresses[1])
        yield addresses[0], addresses[1]
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)


def wait_up(address: Address) -> None:
    for _ in range(200):
        try:
            redis.Redis(address.host, address.port).ping()
            return
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"{address} did not start")


def wait_synced(replica: Address) -> None:
    client = redis.Redis(replica.host, replica.port)
    for _ in range(6000):
        info = client.info("replication")
        if info.get("master_link_status") == "up" and not info.get("master_sync_in_progress"):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{replica} did not sync")


def fill(master: redis.Redis, keys: int, value_size: int, ttl_every: int = 0) -> None:
    strings = keys * 4 // 5
    master.execute_command("DEBUG", "POPULATE", strings, "s", value_size)
    if ttl_every:  # an hour's expiry on every n-th string: the nodes then read each key's PEXPIRETIME
        pipe = master.pipeline(transaction=False)
        for i in range(0, strings, ttl_every):
            pipe.expire(f"s:{i}", 3600)
            if len(pipe) >= 5000:
                pipe.execute()
        pipe.execute()
    pipe = master.pipeline(transaction=False)
    for i in range(keys - strings):
        key, kind = f"c:{i}", i % 4
        if kind == 0:
            pipe.hset(key, mapping={"a": i, "b": "x" * 10, "c": "y"})
        elif kind == 1:
            pipe.sadd(key, "a", "b", str(i))
        elif kind == 2:
            pipe.rpush(key, "a", "b", str(i))
        else:
            pipe.zadd(key, {"a": 1, "b": 2, str(i): i})
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()


def run_redisops(master: Address, replica: Address, batch: int) -> int:
    source, target = Single(master, open_reader(master, None)), Single(replica, open_reader(replica, None))
    options = VerifyOptions(batch=batch, rounds=1)
    report = compare_spaces(source, target, options,
                            catch_up=lambda: wait_caught_up(source.reader.client, target.reader.client, 60))
    assert not report.differences, report.counts
    return report.scanned


def run_dump(master: Address, replica: Address, batch: int) -> int:
    FALSE_DIFFS[0] = 0
    m, r = connect(master, None), connect(replica, None)
    scanned = 0
    for source, other, compare_values in ((m, r, True), (r, m, False)):
        cursor = 0
        while True:
            cursor, keys = source.scan(cursor, count=batch)
            scanned += len(keys)
            if compare_values:
                mine, theirs = dump_all(source, keys), dump_all(other, keys)
                FALSE_DIFFS[0] += sum(1 for a, b in zip(mine[0::2], theirs[0::2], strict=True) if a != b)
            else:
                pipe = other.pipeline(transaction=False)
                for key in keys:
                    pipe.exists(key)
                assert all(pipe.execute())
            if cursor == 0:
                break
    return scanned


#: DUMP serialises the encoding: a set of strings (a hash table in 7.0) dumps in a different order on a replica
#: that loaded it from an RDB, so the DUMP client reports those as different although their values are equal
FALSE_DIFFS = [0]


def dump_all(client: redis.Redis, keys: list[bytes]) -> list[object]:
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.dump(key)
        pipe.pttl(key)
    return pipe.execute()


def timed(fn: Callable[[], int]) -> tuple[float, int]:
    began = time.perf_counter()
    scanned = fn()
    return time.perf_counter() - began, scanned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--value-size", type=int, default=64)
    parser.add_argument("--ttl-every", type=int, default=0, metavar="N",
                        help="give every N-th string key an expiry (0: none)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="redisops-bench-verify-"))
    try:
        began = time.perf_counter()
        with servers(workdir, lambda a: fill(redis.Redis(a.host, a.port), args.keys, args.value_size,
                                                args.ttl_every)) as (
                master, replica):
            wait_caught_up(connect(master, None), connect(replica, None), 300)
            print(f"filled {args.keys} keys and synced the replica in {time.perf_counter() - began:.1f} s; "
                  f"batch {args.batch}", flush=True)
            times: dict[str, list[float]] = {"dump": [], "redisops": []}
            for i in range(args.rounds):
                for name, fn in (("dump", run_dump), ("redisops", run_redisops)):
                    seconds, scanned = timed(lambda fn=fn: fn(master, replica, args.batch))
                    times[name].append(seconds)
                    extra = f"; {FALSE_DIFFS[0]} keys reported different by DUMP" if name == "dump" else ""
                    print(f"round {i + 1} {name:<9} {seconds:7.2f} s  {scanned / seconds:>10,.0f} keys/s "
                          f"({scanned} keys looked at{extra})", flush=True)
            dump, ours = statistics.median(times["dump"]), statistics.median(times["redisops"])
            print(f"median: dump client {dump:.2f} s, redisops verify {ours:.2f} s -> {dump / ours:.2f}x faster")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
