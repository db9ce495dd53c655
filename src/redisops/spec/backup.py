"""Backup target, schedule and retention.

::

    backup:
      target: file://./backups          # or s3://bucket/prefix, gs://bucket/prefix
      s3_endpoint_url: http://127.0.0.1:9000   # S3-compatible stores (MinIO, Ceph); else AWS_ENDPOINT_URL
      source: replica                   # take the RDB from a replica (spares the master the fork)
      schedule: "0 * * * *"             # cron, for `redisops backup schedule`
      keep: {last: 24, daily: 7, weekly: 4}
"""

from __future__ import annotations

from enum import Enum

from pydantic import Field, field_validator

from redisops.spec.base import SpecModel

__all__ = ["BackupSource", "BackupSpec", "KeepSpec"]

SCHEMES = ("file", "s3", "gs")


class BackupSource(str, Enum):
    REPLICA = "replica"
    MASTER = "master"


class KeepSpec(SpecModel):
    """Retention for ``backup prune``: the last N, plus the newest of each of the recent days and weeks."""

    last: int = Field(default=24, ge=1, description="a day of hourly backups")
    daily: int = Field(default=7, ge=0)
    weekly: int = Field(default=4, ge=0)


class BackupSpec(SpecModel):
    """Backup target, schedule and retention."""

    target: str | None = Field(default=None, description="file://DIR (relative to the spec), s3://..., gs://...")
    s3_endpoint_url: str | None = None
    source: BackupSource = BackupSource.REPLICA
    schedule: str | None = Field(default=None, description="cron expression, e.g. '0 * * * *'")
    keep: KeepSpec = Field(default_factory=KeepSpec)
    #: zstd level 3 compresses RDBs 2-5x faster than a network delivers them; 19 is for cold archives
    zstd_level: int = Field(default=3, ge=1, le=19)

    @field_validator("target")
    @classmethod
    def _scheme(cls, target: str | None) -> str | None:
        if target is not None:
            scheme, sep, rest = target.partition("://")
            if not sep or scheme not in SCHEMES or not rest:
                raise ValueError(f"{target!r}: use file://DIR, s3://BUCKET/PREFIX or gs://BUCKET/PREFIX")
        return target

    @field_validator("schedule")
    @classmethod
    def _cron(cls, schedule: str | None) -> str | None:
        if schedule is not None:
            from croniter import croniter

            if not croniter.is_valid(schedule):
                raise ValueError(f"{schedule!r} is not a cron expression such as '0 * * * *'")
        return schedule
