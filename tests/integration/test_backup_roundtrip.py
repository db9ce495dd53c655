"""Back up, flush, restore, compare: a Sentinel group (CLI) and the cluster (library), each to a local dir and S3."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cli_json
import pytest
import redis
from redis.cluster import RedisCluster

from redisops.data.backup import (
    BackupOptions,
    IntegrityError,
    RestoreRefused,
    backup_sources,
    list_backups,
    open_store,
    restore_backup,
    run_backup,
    verify_backup,
)
from redisops.data.backup.check import download_shard
from redisops.data.backup.errors import FetchError
from redisops.data.backup.run import ShardSource
from redisops.data.compare import classify
from redisops.data.digest import KeyState
from redisops.data.keyspace import KeySpace
from redisops.data.spaces import open_space
from redisops.runtime.plan import slot_ranges
from redisops.testing import Topology
from redisops.topology import targets_from_plan

REDISOPS = str(Path(sys.executable).parent / "redisops")
KEYS = 100_000  # the figure: mixed types, a third with TTLs
Snapshot = dict[bytes, KeyState]


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    with Topology.start(tmp_path_factory.mktemp("backup"), replicas=1) as topo:
        yield topo


def fill(client: redis.Redis | RedisCluster, n: int) -> None:
    """Mixed types, a third with TTLs, some hashes big enough to be hashtables."""
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        key, kind = f"key:{i}", i % 6
        if kind == 0:
            pipe.set(key, f"value-{i}" * (1 + i % 7))
        elif kind == 1:
            pipe.hset(key, mapping={f"f{j}": j for j in range(3 if i % 100 else 600)})
        elif kind == 2:
            pipe.rpush(key, *range(i % 10 + 1))
        elif kind == 3:
            pipe.sadd(key, *[f"m{j}" for j in range(i % 9 + 1)])
        elif kind == 4:
            pipe.zadd(key, {f"z{j}": j / 3 for j in range(i % 8 + 1)})
        else:
            pipe.xadd(key, {"event": str(i)})
        if i % 3 == 0:
            pipe.expire(key, 3600 + i)
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()


def snapshot(space: KeySpace) -> Snapshot:
    """Every key's state (expiry times are absolute, so two snapshots taken apart compare)."""
    out: Snapshot = {}
    for reader, keys in space.scan_batches(500):
        out.update(zip(keys, reader.states(keys), strict=True))
    return out


def assert_same(before: Snapshot, after: Snapshot) -> None:
    assert len(before) == len(after) == KEYS
    diffs = [(k, kind) for k in before if (kind := classify(before[k], after.get(k, KeyState("none", -2, "")),
                                                            1500))]
    assert diffs == []
    assert sum(1 for s in after.values() if s.expire_at >= 0) == len([i for i in range(KEYS) if i % 3 == 0])


def test_sentinel_group_to_local_dir_and_s3_through_the_cli(topo: Topology, s3: str, tmp_path: Path) -> None:
    master = topo.client("mymaster-0")
    fill(master, KEYS)
    groups, _ = targets_from_plan(topo.plan, topo.secrets)
    space = open_space(groups[0], topo.secrets.admin)
    before = snapshot(space)
    url = f"file://{tmp_path / 'backups'}"

    def cli(*args: str, to: str = url) -> subprocess.CompletedProcess[str]:
        return subprocess.run([REDISOPS, "backup", *args, "-f", str(topo.spec_file), "--to", to, "--json"],
                              capture_output=True, text=True, timeout=120, env={**os.environ, "AWS_ENDPOINT_URL": s3})

    made = cli("run", "--set", "mymaster")
    assert made.returncode == 0, made.stderr
    backup = cli_json.data(made.stdout)[0]
    assert backup["keys"] == KEYS and backup["kind"] == "sentinel"
    assert [b["id"] for b in cli_json.data(cli("list").stdout)] == [backup["id"]]
    checked = cli("verify", backup["id"])
    assert checked.returncode == 0 and cli_json.data(checked.stdout)["shards"][0]["digest_ok"], checked.stderr
    refused = cli("restore", backup["id"])
    assert refused.returncode == 2 and "not empty" in cli_json.error(refused)["message"]
    master.flushall()
    master.wait(1, 5000)
    restored = cli("restore", backup["id"])
    assert restored.returncode == 0, restored.stderr
    assert cli_json.data(restored.stdout)["keys"] == KEYS
    assert_same(before, snapshot(space))
    no_cron = subprocess.run([REDISOPS, "backup", "schedule", "-f", str(topo.spec_file)], capture_output=True,
                             text=True, timeout=30)
    assert no_cron.returncode == 2 and "cron" in no_cron.stderr
    replica = topo.client("mymaster-1")
    master.wait(1, 5000)
    assert replica.dbsize() == KEYS  # replicas follow through replication

    to_s3 = "s3://backups/sentinel"
    made = cli("run", "--set", "mymaster", to=to_s3)
    assert made.returncode == 0, made.stderr
    in_s3 = cli_json.data(made.stdout)[0]["id"]
    master.flushall()
    master.wait(1, 5000)
    restored = cli("restore", in_s3, to=to_s3)
    assert restored.returncode == 0, restored.stderr
    assert_same(before, snapshot(space))
    space.close()


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    for var, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(var, value)
    endpoint = f"http://127.0.0.1:{port}"
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="backups")
    try:
        yield endpoint
    finally:
        server.stop()


def test_cluster_to_local_s3_and_local_dir(topo: Topology, s3: str, tmp_path: Path) -> None:
    node = topo.node("main-0").address
    cluster = RedisCluster(node.host, node.port, username="admin", password=topo.secrets.admin_password)
    fill(cluster, KEYS)
    _, clusters = targets_from_plan(topo.plan, topo.secrets)
    space = open_space(clusters[0], topo.secrets.admin)
    before = snapshot(space)
    store = open_store("s3://backups/redis/prod", endpoint_url=s3)
    manifest = run_backup("cluster", "main", backup_sources(clusters[0], "replica"), store)
    assert len(manifest.shards) == 3 and manifest.keys == KEYS
    assert all(s.role == "replica" and s.slots for s in manifest.shards)
    assert sorted(r for s in manifest.shards for r in s.slots) == [tuple(r) for r in slot_ranges(3)]
    assert [m.id for m in list_backups(store)] == [manifest.id]
    assert [c.digest_ok for c in verify_backup(store, manifest.id, tmp_path)] == [True] * 3
    groups, _ = targets_from_plan(topo.plan, topo.secrets)
    group_space = open_space(groups[0], topo.secrets.admin)
    with pytest.raises(RestoreRefused, match="--reshape"):
        restore_backup(store, manifest.id, group_space, force=True)
    group_space.close()
    cluster.flushall()
    result = restore_backup(store, manifest.id, space)
    assert result.keys == KEYS
    assert_same(before, snapshot(space))

    local = open_store(f"file://{tmp_path / 'local'}")
    again = run_backup("cluster", "main", backup_sources(clusters[0], "replica"), local)
    cluster.flushall()
    assert restore_backup(local, again.id, space).keys == KEYS
    assert_same(before, snapshot(space))
    space.close()


def test_corrupt_and_truncated_backups_are_rejected(topo: Topology, tmp_path: Path) -> None:
    groups, _ = targets_from_plan(topo.plan, topo.secrets)
    store = open_store(f"file://{tmp_path}")
    options = BackupOptions(digest=False)
    good = run_backup("sentinel", "mymaster", backup_sources(groups[0], "replica"), store, options)
    shard = tmp_path / good.id / good.shards[0].file
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    with pytest.raises(IntegrityError, match="truncated or altered"):
        verify_backup(store, good.id, tmp_path)
    shard.write_bytes(data)
    manifest = tmp_path / good.id / "manifest.json"
    text = manifest.read_text()
    manifest.write_text(text.replace(good.shards[0].raw_sha256, "0" * 64))
    with pytest.raises(IntegrityError, match="sha256 of the RDB"):
        verify_backup(store, good.id, tmp_path)
    dead = ShardSource("shard-0", topo.node("mymaster-0").address.__class__("127.0.0.1", 1), None, "master")
    with pytest.raises(FetchError):
        run_backup("sentinel", "broken", [dead], store, options)
    assert [m.id for m in list_backups(store)] == [good.id]
    assert not any("broken" in p.name for p in tmp_path.iterdir())


def test_unreachable_bucket_and_missing_credentials_are_one_line(s3: str, monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    from redisops.data.backup import StorageError

    with pytest.raises(StorageError, match=r"^backup store s3://backups/x: list: EndpointConnectionError"):
        open_store("s3://backups/x", endpoint_url="http://127.0.0.1:1").backup_ids()
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(StorageError, match="NoCredentialsError|credentials"):
        open_store("s3://backups/y", endpoint_url=s3).write_text("{}", "id", "manifest.json")


def test_file_backups_and_the_rdbs_a_restore_downloads_are_private(topo: Topology, tmp_path: Path) -> None:
    """An RDB is the whole dataset: under the usual umask 022 every file is still 0600, every new directory 0700."""
    groups, _ = targets_from_plan(topo.plan, topo.secrets)
    old_umask = os.umask(0o022)
    try:
        store = open_store(f"file://{tmp_path / 'backups' / 'prod'}")
        made = run_backup("sentinel", "mymaster", backup_sources(groups[0], "replica"), store)
        download_shard(store, made, made.shards[0], tmp_path / "restore.rdb")
    finally:
        os.umask(old_umask)
    modes = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode) for p in tmp_path.rglob("*")}
    assert modes == {"backups": 0o700, "backups/prod": 0o700, f"backups/prod/{made.id}": 0o700,
                     f"backups/prod/{made.id}/shard-0.rdb.zst": 0o600, f"backups/prod/{made.id}/manifest.json": 0o600,
                     "restore.rdb": 0o600}
