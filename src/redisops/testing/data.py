"""Real data for restart tests: hundreds of thousands of keys in seconds, and a fingerprint to compare.

Loading goes through ``redis-cli --pipe`` (Redis's own mass-insertion mode,
from redis-tools): the protocol is generated here and the replies counted
there, about ten times faster than a redis-py pipeline.  Cluster keys are sent
straight to the master owning their slot (``CLUSTER SLOTS``), so no redirect
is ever involved.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections import defaultdict
from collections.abc import Iterable, Sequence

import redis
from redis.crc import key_slot

from redisops.address import Address
from redisops.auth import Credential, login_parts
from redisops.clients import connect

__all__ = ["cluster_fingerprint", "fill_cluster", "fill_node", "node_fingerprint"]


def _resp(*words: bytes) -> bytes:
    return b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in words)


def fill_node(address: Address, password: Credential, keys: Iterable[bytes], value_size: int = 100) -> int:
    """``SET key <value_size bytes>`` for every key on one node; returns how many were written."""
    value = b"v" * value_size
    payload = b"".join(_resp(b"SET", key, value) for key in keys)
    count = payload.count(b"*3\r\n$3\r\nSET\r\n")
    user, secret = login_parts(password)
    env = {**os.environ, "REDISCLI_AUTH": secret or ""}
    argv = ["redis-cli", "-h", address.host, "-p", str(address.port), *(["--user", user] if user else []), "--pipe"]
    done = subprocess.run(argv, input=payload, capture_output=True, env=env, timeout=300, check=False)
    out = done.stdout.decode(errors="replace")
    if done.returncode != 0 or f"errors: 0, replies: {count}" not in out:
        raise RuntimeError(f"redis-cli --pipe into {address} failed: {out.strip()} {done.stderr.decode().strip()}")
    return count


def fill_cluster(seed: Address, password: Credential, count: int, *, prefix: str = "key", value_size: int = 100) -> int:
    """``count`` keys ``<prefix>:0 ..`` across the cluster of ``seed``, each sent to its slot's master."""
    with connect(seed, password, 5.0) as client:
        slots = client.execute_command("CLUSTER", "SLOTS")
    owner: dict[int, Address] = {}
    for first, last, master, *_ in slots:
        address = Address(str(master[0]), int(master[1]))
        owner.update(dict.fromkeys(range(int(first), int(last) + 1), address))
    batches: dict[Address, list[bytes]] = defaultdict(list)
    for i in range(count):
        key = f"{prefix}:{i}".encode()
        batches[owner[key_slot(key)]].append(key)
    return sum(fill_node(address, password, keys, value_size) for address, keys in batches.items())


def node_fingerprint(address: Address, password: Credential) -> tuple[int, str]:
    """``(DBSIZE, digest over SCAN + DUMP)``: equal before and after a restart when every key came back whole."""
    with connect(address, password, 30.0, decode=False) as client:
        size = int(client.dbsize())
        return size, _digest(client)


def cluster_fingerprint(masters: Sequence[Address], password: Credential) -> dict[Address, tuple[int, str]]:
    return {m: node_fingerprint(m, password) for m in masters}


def _digest(client: redis.Redis) -> str:
    """A digest of every key's name and value, independent of order (XOR of per-key hashes)."""
    acc = 0
    cursor = 0
    while True:
        cursor, keys = client.scan(cursor, count=5000)
        if keys:
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.dump(key)
            for key, dumped in zip(keys, pipe.execute(), strict=True):
                entry = _raw(key) + b"\0" + _raw(dumped or b"")
                acc ^= int.from_bytes(hashlib.blake2b(entry, digest_size=16).digest(), "big")
        if cursor == 0:
            return f"{acc:032x}"


def _raw(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()
