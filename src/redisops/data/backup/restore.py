"""``backup restore``: put a backup's keys back into a live master or cluster.

Why not copy the RDB into the node's data directory: that needs file access and
a restart, and on a cluster the slots may have moved since the backup.  Instead
each shard's RDB is checked (:func:`~redisops.data.backup.check.download_shard`),
loaded into a throw-away local redis-server, and its keys are copied with
``DUMP`` / ``RESTORE ... ABSTTL`` (pipelined, the absolute expiry from ``PEXPIRETIME`` kept exactly) into whichever
node owns each key's slot now.  Replicas follow through ordinary replication, so
a Sentinel group needs no resync step.  Keys that expired since the backup stay
expired.

Refusals, before anything is written: a target that holds keys (unless
``force``, which replaces keys of the same name), a backup of another kind or
shard count (unless ``reshape``: keys are routed by slot, so that works, but it
should be a choice).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from redisops.data.backup.check import download_shard, load_manifest
from redisops.data.backup.errors import BackupError, RestoreRefused
from redisops.data.backup.manifest import Manifest
from redisops.data.backup.private import private_workdir
from redisops.data.backup.scratch import ScratchServer
from redisops.data.backup.store import Store
from redisops.data.digest import NodeReader
from redisops.data.keyspace import KeySpace, Sharded

__all__ = ["RestoreResult", "restore_backup"]

BATCH = 500
Progress = Callable[[str], None]


@dataclass(frozen=True)
class RestoreResult:
    backup_id: str
    target: str
    keys: int
    expired: int  # keys whose TTL ran out between backup and restore

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def restore_backup(store: Store, backup_id: str, target: KeySpace, *, force: bool = False,
                   reshape: bool = False, progress: Progress | None = None,
                   scratch_dir: Path | None = None) -> RestoreResult:
    manifest = load_manifest(store, backup_id)
    _check_shape(manifest, target, reshape)
    if not force:
        _check_empty(target)
    restored = expired = 0
    with private_workdir("redisops-restore-", scratch_dir) as workdir:
        for shard in manifest.shards:
            raw_path = workdir / f"{shard.name}.rdb"
            download_shard(store, manifest, shard, raw_path)
            if progress:
                progress(f"{shard.name}: copying keys into {target.label}")
            with ScratchServer(raw_path) as server:
                client = server.client()
                try:
                    done, gone = _copy_keys(client, target, replace=force)
                finally:
                    client.close()
            raw_path.unlink()
            restored += done
            expired += gone
    return RestoreResult(backup_id, target.label, restored, expired)


def _check_shape(manifest: Manifest, target: KeySpace, reshape: bool) -> None:
    shards = len(target.readers)
    target_kind = "cluster" if isinstance(target, Sharded) else "sentinel"
    if reshape or (manifest.kind == target_kind and len(manifest.shards) == shards):
        return
    have = f"{manifest.kind} backup with {len(manifest.shards)} shard(s)"
    raise RestoreRefused(
        f"{manifest.id} is a {have}, the target is a {target_kind} with {shards} master(s)",
        hint="either restore into a deployment of the same shape (e.g. a new cluster with "
             f"{len(manifest.shards)} masters), or pass --reshape to copy every key to the node that owns "
             "its slot now")


def _check_empty(target: KeySpace) -> None:
    busy = [f"{r.client.connection_pool.connection_kwargs.get('port')}: {n} keys"
            for r in target.readers if (n := int(r.client.dbsize())) > 0]
    if busy:
        raise RestoreRefused(f"target {target.label} is not empty ({'; '.join(busy)})",
                             hint="flush it first, or pass --force to overwrite keys of the same name")


def _copy_keys(source: redis.Redis, target: KeySpace, *, replace: bool) -> tuple[int, int]:
    copied = expired = 0
    cursor = 0
    while True:
        cursor, found = source.scan(cursor, count=BATCH)
        keys = [k for k in found if isinstance(k, bytes)]
        if keys:
            done, gone = _copy_batch(source, target, keys, replace)
            copied += done
            expired += gone
        if cursor == 0:
            return copied, expired


def _copy_batch(source: redis.Redis, target: KeySpace, keys: Sequence[bytes], replace: bool) -> tuple[int, int]:
    pipe = source.pipeline(transaction=False)
    for key in keys:
        pipe.execute_command("PEXPIRETIME", key)
        pipe.dump(key)
    replies = pipe.execute()
    now_ms = int(time.time() * 1000)
    by_node: dict[int, tuple[NodeReader, Any]] = {}
    copied = expired = 0
    for key, expire_at, payload in zip(keys, replies[0::2], replies[1::2], strict=True):
        reader = target.owner(key)
        if reader is None:
            raise BackupError(f"no master of {target.label} owns the slot of {key!r}",
                              hint="run `redisops verify cluster` and fix slot coverage first")
        if payload is None or expire_at == -2 or 0 <= expire_at <= now_ms:
            expired += 1
            continue
        entry = by_node.setdefault(id(reader), (reader, reader.client.pipeline(transaction=False)))
        ttl: list[Any] = [expire_at, payload, "ABSTTL"] if expire_at > 0 else [0, payload]
        entry[1].execute_command("RESTORE", key, *ttl, *(["REPLACE"] if replace else []))
        copied += 1
    for _, node_pipe in by_node.values():
        node_pipe.execute()
    return copied, expired
