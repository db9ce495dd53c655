"""Errors of backups and restores, in the one tree of :mod:`redisops.errors`.

::

    RedisopsError
    ├── BackupError                 exit 3: a backup, verify or restore failed
    │   ├── StorageError            .url: the store refused, is unreachable or full (retry may help)
    │   ├── IntegrityError          .backup_id, .file: checksum, truncation, redis-check-rdb, key count
    │   └── FetchError              .address: the RDB transfer over replication failed (retry may help)
    └── InputError
        ├── BackupNotFound          .backup_id: no complete backup of that id
        └── RestoreRefused          non-empty target, other shape, other topology: says which option to use
"""

from __future__ import annotations

from redisops.errors import InputError, RedisopsError

__all__ = ["BackupError", "BackupNotFound", "FetchError", "IntegrityError", "RestoreRefused", "StorageError"]


class BackupError(RedisopsError):
    pass


class StorageError(BackupError):
    retryable = True

    def __init__(self, url: str, message: str, *, hint: str | None = None) -> None:
        self.url = url
        super().__init__(f"backup store {url}: {message}", hint=hint)


class IntegrityError(BackupError):
    def __init__(self, backup_id: str, file: str, message: str) -> None:
        self.backup_id = backup_id
        self.file = file
        super().__init__(f"backup {backup_id}: {file}: {message}",
                         hint="this copy cannot be trusted; restore an older backup (`redisops backup list`)")


class FetchError(BackupError):
    retryable = True

    def __init__(self, address: str, message: str) -> None:
        self.address = address
        super().__init__(f"{address}: RDB transfer failed: {message}", hint="nothing was kept; run it again")


class BackupNotFound(InputError):
    def __init__(self, backup_id: str, url: str) -> None:
        self.backup_id = backup_id
        super().__init__(f"no complete backup {backup_id!r} in {url}", hint="see `redisops backup list`")


class RestoreRefused(InputError):
    pass
