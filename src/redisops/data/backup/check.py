"""``backup verify`` and the download half of ``restore``: prove a stored copy is whole.

Each shard file is streamed from the store through sha256 (must equal the
manifest's ``stored_sha256``) and zstd into a local raw RDB (sha256 must equal
``raw_sha256``), then ``redis-check-rdb`` reads it, then a throw-away
redis-server loads it and its key count and digest must equal the manifest's.
Any mismatch raises :class:`IntegrityError` naming the backup and the file.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zstandard

from redisops.data.backup.errors import BackupNotFound, IntegrityError, StorageError
from redisops.data.backup.manifest import Manifest, ShardEntry
from redisops.data.backup.private import open_private
from redisops.data.backup.scratch import ScratchServer, dataset_digest
from redisops.data.backup.store import MANIFEST, Store

__all__ = ["ShardCheck", "download_shard", "list_backups", "load_manifest", "verify_backup"]

CHUNK = 1 << 20


def load_manifest(store: Store, backup_id: str) -> Manifest:
    if backup_id not in store.backup_ids():
        raise BackupNotFound(backup_id, store.url)
    try:
        return Manifest.from_json(store.read_text(backup_id, MANIFEST))
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(backup_id, MANIFEST, f"unreadable manifest ({exc})") from exc


def list_backups(store: Store) -> list[Manifest]:
    """Complete backups, oldest first; a manifest that does not parse is skipped (verify names it)."""
    out = []
    for backup_id in store.backup_ids():
        try:
            out.append(Manifest.from_json(store.read_text(backup_id, MANIFEST)))
        except (ValueError, KeyError, TypeError, StorageError):
            continue
    return sorted(out, key=lambda m: (m.created, m.id))


def download_shard(store: Store, manifest: Manifest, shard: ShardEntry, raw_path: Path) -> None:
    """Stored file -> checked raw RDB at ``raw_path``."""
    stored = hashlib.sha256()
    raw = hashlib.sha256()
    decompressor = zstandard.ZstdDecompressor().decompressobj()
    try:
        with store.reader(manifest.id, shard.file) as src, open_private(raw_path) as out:
            while chunk := src.read(CHUNK):
                stored.update(chunk)
                data = decompressor.decompress(chunk)
                raw.update(data)
                out.write(data)
    except zstandard.ZstdError as exc:
        raise IntegrityError(manifest.id, shard.file, f"not a valid zstd stream ({exc})") from exc
    if stored.hexdigest() != shard.stored_sha256:
        raise IntegrityError(manifest.id, shard.file, "sha256 of the stored file does not match the manifest "
                                                      "(truncated or altered)")
    if raw.hexdigest() != shard.raw_sha256:
        raise IntegrityError(manifest.id, shard.file, "sha256 of the RDB does not match the manifest")


@dataclass(frozen=True)
class ShardCheck:
    shard: str
    checksum: bool
    check_rdb: str  # "ok" or "skipped"
    keys: int | None
    digest_ok: bool | None

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def verify_backup(store: Store, backup_id: str, workdir: Path, *, load: bool = True) -> list[ShardCheck]:
    manifest = load_manifest(store, backup_id)
    return [_verify_shard(store, manifest, shard, workdir, load) for shard in manifest.shards]


def _verify_shard(store: Store, manifest: Manifest, shard: ShardEntry, workdir: Path, load: bool) -> ShardCheck:
    raw_path = workdir / f"{shard.name}.rdb"
    try:
        download_shard(store, manifest, shard, raw_path)
        checked = _check_rdb(manifest.id, shard, raw_path)
        if not load or shard.digest is None:
            return ShardCheck(shard.name, True, checked, None, None)
        with ScratchServer(raw_path) as server:
            client = server.client()
            try:
                keys, digest = dataset_digest(client)
            finally:
                client.close()
        if keys != shard.keys:
            raise IntegrityError(manifest.id, shard.file, f"loads {keys} keys, manifest says {shard.keys}")
        if digest != shard.digest:
            raise IntegrityError(manifest.id, shard.file, "loaded data does not match the manifest's digest")
        return ShardCheck(shard.name, True, checked, keys, True)
    finally:
        raw_path.unlink(missing_ok=True)


def _check_rdb(backup_id: str, shard: ShardEntry, raw_path: Path) -> str:
    binary = shutil.which("redis-check-rdb")
    if binary is None:
        return "skipped (redis-check-rdb not installed)"
    done = subprocess.run([binary, str(raw_path)], capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0 or "RDB looks OK" not in done.stdout:
        last = (done.stdout + done.stderr).strip().splitlines()
        raise IntegrityError(backup_id, shard.file, f"redis-check-rdb: {last[-1] if last else 'failed'}")
    return "ok"
