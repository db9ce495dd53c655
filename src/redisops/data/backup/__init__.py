"""Backups: RDB over replication, zstd, sha256, a manifest written last, any fsspec store.

::

    from redisops.data.backup import BackupOptions, backup_sources, open_store, run_backup

    store = open_store("s3://bucket/redis", endpoint_url=None)
    manifest = run_backup("cluster", "main", backup_sources(cluster_target, "replica"), store)

Modules: ``rdb_fetch`` (the replication handshake), ``store`` (fsspec), ``manifest``,
``run``, ``check`` (verify), ``restore``, ``retention`` (prune), ``scratch``
(throw-away redis-server), ``private`` (0600 files, 0700 directories), ``errors``.
"""

from redisops.data.backup.check import ShardCheck, list_backups, load_manifest, verify_backup
from redisops.data.backup.errors import (
    BackupError,
    BackupNotFound,
    FetchError,
    IntegrityError,
    RestoreRefused,
    StorageError,
)
from redisops.data.backup.manifest import Manifest, ShardEntry
from redisops.data.backup.prune import PruneResult, prune_backups
from redisops.data.backup.rdb_fetch import FetchResult, fetch_rdb
from redisops.data.backup.restore import RestoreResult, restore_backup
from redisops.data.backup.retention import Keep, to_keep
from redisops.data.backup.run import BackupOptions, ShardSource, backup_sources, run_backup
from redisops.data.backup.store import Store, open_store

__all__ = [
    "BackupError",
    "BackupNotFound",
    "BackupOptions",
    "FetchError",
    "FetchResult",
    "IntegrityError",
    "Keep",
    "Manifest",
    "PruneResult",
    "RestoreRefused",
    "RestoreResult",
    "ShardCheck",
    "ShardEntry",
    "ShardSource",
    "StorageError",
    "Store",
    "backup_sources",
    "fetch_rdb",
    "list_backups",
    "load_manifest",
    "open_store",
    "prune_backups",
    "restore_backup",
    "run_backup",
    "to_keep",
    "verify_backup",
]
