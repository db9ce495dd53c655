"""Backup target, schedule and retention."""

from __future__ import annotations

from redisops.spec.base import SpecModel

__all__ = ["BackupSpec"]


class BackupSpec(SpecModel):
    """Backup target, schedule and retention."""
