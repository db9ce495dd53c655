"""gs:// backups for real: gcsfs against gcp-storage-emulator (the GCS JSON API) on 127.0.0.1.

A Sentinel group through the CLI and the cluster through the library: back up, list, verify, flush,
restore, compare every key and TTL; then a missing bucket and an unreachable endpoint, each one line.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cli_json
import pytest
import redis
from redis.cluster import RedisCluster

from redisops.data.backup import (
    StorageError,
    backup_sources,
    list_backups,
    open_store,
    restore_backup,
    run_backup,
    verify_backup,
)
from redisops.data.compare import classify
from redisops.data.digest import KeyState
from redisops.data.keyspace import KeySpace
from redisops.data.spaces import open_space
from redisops.testing import Topology
from redisops.topology import targets_from_plan

pytest.importorskip("gcsfs")
pytest.importorskip("gcp_storage_emulator")

REDISOPS = str(Path(sys.executable).parent / "redisops")
KEYS = 1_200
Snapshot = dict[bytes, KeyState]


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    with Topology.start(tmp_path_factory.mktemp("backup-gcs"), replicas=1) as topo:
        yield topo


def fill(client: redis.Redis | RedisCluster, n: int) -> None:
    """Every type, a third with TTLs, a few hashes big enough to be hashtables."""
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        key, kind = f"gkey:{i}", i % 6
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
    pipe.execute()


def snapshot(space: KeySpace) -> Snapshot:
    out: Snapshot = {}
    for reader, keys in space.scan_batches(500):
        out.update(zip(keys, reader.states(keys), strict=True))
    return out


def assert_same(before: Snapshot, after: Snapshot) -> None:
    assert len(before) == len(after) == KEYS
    missing = KeyState("none", -2, "")
    assert [(k, kind) for k in before if (kind := classify(before[k], after.get(k, missing), 1500))] == []
    assert sum(1 for s in after.values() if s.expire_at >= 0) == len(range(0, KEYS, 3))


def cli(topo: Topology, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([REDISOPS, "backup", *args, "-f", str(topo.spec_file), "--to", url, "--json"],
                          capture_output=True, text=True, timeout=120)


def test_sentinel_group_to_gcs_through_the_cli(topo: Topology, gcs_emulator: str) -> None:
    master = topo.client("mymaster-0")
    master.flushall()
    fill(master, KEYS)
    groups, _ = targets_from_plan(topo.plan, topo.secrets)
    space = open_space(groups[0], topo.secrets.admin)
    before = snapshot(space)
    url = "gs://backups/redis/sentinel"

    made = cli(topo, url, "run", "--set", "mymaster")
    assert made.returncode == 0, made.stderr
    backup = cli_json.data(made.stdout)[0]
    assert backup["keys"] == KEYS and backup["kind"] == "sentinel"
    assert [b["id"] for b in cli_json.data(cli(topo, url, "list").stdout)] == [backup["id"]]
    checked = cli(topo, url, "verify", backup["id"])
    assert checked.returncode == 0 and cli_json.data(checked.stdout)["shards"][0]["digest_ok"], checked.stderr
    refused = cli(topo, url, "restore", backup["id"])
    assert refused.returncode == 2 and "not empty" in cli_json.error(refused)["message"]
    master.flushall()
    master.wait(1, 5000)
    restored = cli(topo, url, "restore", backup["id"])
    assert restored.returncode == 0, restored.stderr
    assert cli_json.data(restored.stdout)["keys"] == KEYS
    assert_same(before, snapshot(space))
    space.close()
    # gcsfs found the emulator by itself and needed no credentials: nothing on stderr but progress
    assert "Traceback" not in made.stderr + checked.stderr + restored.stderr
    assert "credentials" not in made.stderr + checked.stderr + restored.stderr


def test_cluster_to_gcs(topo: Topology, gcs_emulator: str, tmp_path: Path) -> None:
    node = topo.node("main-0").address
    cluster = RedisCluster(node.host, node.port, username="admin", password=topo.secrets.admin_password)
    cluster.flushall()
    fill(cluster, KEYS)
    _, clusters = targets_from_plan(topo.plan, topo.secrets)
    space = open_space(clusters[0], topo.secrets.admin)
    before = snapshot(space)
    store = open_store("gs://backups/redis/prod")
    manifest = run_backup("cluster", "main", backup_sources(clusters[0], "replica"), store)
    assert len(manifest.shards) == 3 and manifest.keys == KEYS
    # what landed in the bucket: one object per shard and the manifest, nothing else
    names = sorted(p.rsplit("/", 1)[-1] for p in store.fs.find(f"backups/redis/prod/{manifest.id}"))
    assert names == sorted([*(s.file for s in manifest.shards), "manifest.json"])
    assert [m.id for m in list_backups(store)] == [manifest.id]
    assert [c.digest_ok for c in verify_backup(store, manifest.id, tmp_path)] == [True] * 3
    cluster.flushall()
    assert restore_backup(store, manifest.id, space).keys == KEYS
    assert_same(before, snapshot(space))
    space.close()
    cluster.close()


def test_objects_without_a_manifest_never_list_and_are_discarded(gcs_emulator: str) -> None:
    store = open_store("gs://backups/partial")
    with store.writer("half", "shard-0.rdb.zst") as out:
        out.write(b"rdb bytes")
    store.write_text("{}", "whole", "manifest.json")
    assert store.backup_ids() == ["whole"]
    store.discard("half")
    store.remove("whole")
    assert store.fs.find("backups/partial") == []
    assert store.backup_ids() == []


def test_missing_bucket_is_one_line(topo: Topology, gcs_emulator: str) -> None:
    with pytest.raises(StorageError, match=r"^backup store gs://nobucket/x: list: not found "
                                           r"\(is there a bucket named 'nobucket'\?\)$"):
        open_store("gs://nobucket/x").backup_ids()
    with pytest.raises(StorageError, match=r"^backup store gs://nobucket/y: write nobucket/y/id/manifest.json: "
                                           r"not found \(is there a bucket named 'nobucket'\?\)$"):
        open_store("gs://nobucket/y").write_text("{}", "id", "manifest.json")
    for args in (("list",), ("run", "--set", "mymaster")):
        failed = subprocess.run([REDISOPS, "backup", *args, "-f", str(topo.spec_file), "--to", "gs://nobucket/x"],
                                capture_output=True, text=True, timeout=60)
        assert failed.returncode == 3, failed.stdout + failed.stderr
        assert failed.stderr.startswith("error: backup store gs://nobucket/x: "), failed.stderr
        assert "Traceback" not in failed.stderr and "bucket named 'nobucket'" in failed.stderr


def test_unreachable_emulator_is_one_line(topo: Topology, monkeypatch: pytest.MonkeyPatch) -> None:
    """gcsfs retries a refused connection for ~30 s (its fixed backoff) before the one line."""
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    failed = subprocess.run([REDISOPS, "backup", "list", "-f", str(topo.spec_file), "--to", "gs://backups/x"],
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode == 3, failed.stdout + failed.stderr
    lines = failed.stderr.strip().splitlines()
    assert lines[0].startswith("error: backup store gs://backups/x: list: ") and "Connect call failed" in lines[0]
    assert "Traceback" not in failed.stderr and len(lines) <= 2, failed.stderr  # the error, maybe a hint
