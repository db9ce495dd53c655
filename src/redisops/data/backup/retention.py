"""``backup prune``: keep the last N backups plus the newest of each recent day and ISO week.

Pure: given the backups' creation times, return the ids to keep.  Days and
weeks are counted back from the newest backup, not from now, so a store whose
schedule stopped keeps its history instead of being emptied by the calendar.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = ["Keep", "to_keep"]


@dataclass(frozen=True)
class Keep:
    last: int = 24
    daily: int = 7
    weekly: int = 4


def to_keep(backups: Sequence[tuple[str, datetime]], keep: Keep) -> set[str]:
    newest_first = sorted(backups, key=lambda b: b[1], reverse=True)
    kept = {backup_id for backup_id, _ in newest_first[:keep.last]}
    kept |= _newest_per(newest_first, lambda t: t.date().isoformat(), keep.daily)
    kept |= _newest_per(newest_first, lambda t: f"{t.isocalendar()[0]}-W{t.isocalendar()[1]:02d}", keep.weekly)
    return kept


def _newest_per(newest_first: Sequence[tuple[str, datetime]], bucket: Callable[[datetime], str],
                count: int) -> set[str]:
    seen: dict[str, str] = {}
    for backup_id, created in newest_first:
        key = bucket(created)
        if key not in seen:
            if len(seen) == count:
                break
            seen[key] = backup_id
    return set(seen.values())
