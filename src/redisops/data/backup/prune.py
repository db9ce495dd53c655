"""Applying the retention rule to a store: delete what :func:`to_keep` does not keep."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redisops.data.backup.check import list_backups
from redisops.data.backup.retention import Keep, to_keep
from redisops.data.backup.store import Store

__all__ = ["PruneResult", "prune_backups"]


@dataclass(frozen=True)
class PruneResult:
    kept: tuple[str, ...]
    removed: tuple[str, ...]
    dry_run: bool

    def to_dict(self) -> dict[str, Any]:
        return {"kept": list(self.kept), "removed": list(self.removed), "dry_run": self.dry_run}


def prune_backups(store: Store, keep: Keep, *, source: str | None = None, dry_run: bool = False) -> PruneResult:
    """Retention is applied per source (group or cluster), so one busy set cannot push out another."""
    manifests = [m for m in list_backups(store) if source is None or m.source == source]
    kept: set[str] = set()
    for name in {m.source for m in manifests}:
        kept |= to_keep([(m.id, datetime.fromisoformat(m.created.replace("Z", "+00:00")))
                         for m in manifests if m.source == name], keep)
    removed = tuple(m.id for m in manifests if m.id not in kept)
    if not dry_run:
        for backup_id in removed:
            store.remove(backup_id)
    return PruneResult(tuple(sorted(kept)), removed, dry_run)
