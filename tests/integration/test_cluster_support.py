"""Shared helpers of the cluster tests (no tests here): keys, checksums, an extra empty node, the CLI.

Imported by the other ``test_cluster_*`` modules; ``redisops.testing`` could take these over.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import redis

from redisops.address import Address
from redisops.auth import Credential, login_parts
from redisops.clients import make_client
from redisops.testing import Topology, empty_cluster_node

REDISOPS = str(Path(sys.executable).parent / "redisops")


def seeds(topo: Topology) -> list[Address]:
    return [n.address for n in topo.plan.cluster.nodes]


def cluster_client(topo: Topology) -> redis.RedisCluster:
    seed = seeds(topo)[0]
    return redis.RedisCluster(host=seed.host, port=seed.port, username="admin", password=topo.secrets.admin_password,
                              decode_responses=True)


def load_keys(topo: Topology, count: int, size: int = 100) -> None:
    client = cluster_client(topo)
    try:
        for start in range(0, count, 2000):
            pipe = client.pipeline()
            for i in range(start, min(start + 2000, count)):
                pipe.set(f"key:{i}", f"{i}:" + "v" * size)
            pipe.execute()
    finally:
        client.close()


def masters(topo: Topology, seed: Address | None = None) -> list[redis.Redis]:
    seed = seed or seeds(topo)[0]
    client = redis.Redis(seed.host, seed.port, username="admin", password=topo.secrets.admin_password, decode_responses=True)
    try:
        nodes = client.cluster("NODES")
    finally:
        client.close()
    out = []
    for addr, info in nodes.items():
        if "master" in info["flags"] and "fail" not in info["flags"]:
            host, port = addr.split("@")[0].rsplit(":", 1)
            out.append(make_client(Address(host, int(port)), topo.secrets.admin, timeout=10.0))
    return out


def checksum(topo: Topology, seed: Address | None = None) -> tuple[int, str]:
    """(key count, sha256 over sorted key=value) read from every master directly."""
    pairs: list[str] = []
    for node in masters(topo, seed):
        try:
            keys = list(node.scan_iter(count=1000))
            for start in range(0, len(keys), 1000):
                chunk = keys[start:start + 1000]
                pipe = node.pipeline(transaction=False)
                for key in chunk:
                    pipe.get(key)
                pairs += [f"{k}={v}" for k, v in zip(chunk, pipe.execute(), strict=True)]
        finally:
            node.close()
    return len(pairs), hashlib.sha256("\n".join(sorted(pairs)).encode()).hexdigest()


def redis_cli_check(topo: Topology, seed: Address | None = None) -> str:
    """``redis-cli --cluster check``: the independent judge; asserts a clean report and returns it."""
    seed = seed or seeds(topo)[0]
    deadline = time.monotonic() + 10
    while True:
        proc = subprocess.run(["redis-cli", "--user", "admin", "--cluster", "check", str(seed)], capture_output=True,
                              text=True, timeout=30, env={**os.environ, "REDISCLI_AUTH": topo.secrets.admin_password})
        out = proc.stdout
        clean = ("[OK] All nodes agree about slots configuration." in out
                 and "[OK] All 16384 slots covered." in out and "[WARNING]" not in out and "[ERR]" not in out)
        if clean or time.monotonic() > deadline:
            assert clean, out
            return out
        time.sleep(0.2)


def cli(*args: str, password: Credential = None, cwd: Path | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``redisops cluster ARGS``; ``password`` goes to CLUSTER_PW (the env var :func:`remote` names), and an ACL
    login's user to ``--user``."""
    user, secret = login_parts(password)
    env = {**os.environ, "CLUSTER_PW": secret or ""}
    user_args = ["--user", user] if user and "--password-env" in args else []
    return subprocess.run([REDISOPS, "cluster", *args, *user_args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=cwd)


def remote(topo: Topology, seed: Address | None = None) -> list[str]:
    return ["--cluster", str(seed or seeds(topo)[0]), "--password-env", "CLUSTER_PW"]


extra_node = empty_cluster_node  # the name the cluster tests use


def join(topo: Topology, new: Address) -> None:
    """CLUSTER MEET the new node into the cluster (what ``cluster add-node`` will do)."""
    client = redis.Redis(new.host, new.port, username="admin", password=topo.secrets.admin_password)
    seed = seeds(topo)[0]
    try:
        client.execute_command("CLUSTER", "MEET", seed.host, seed.port)
    finally:
        client.close()
