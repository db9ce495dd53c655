"""Errors of cluster operations, under :mod:`redisops.errors`' tree.

::

    RedisopsError
    ├── ClusterFormationError
    │   └── NotConvergedError      nodes disagree on the slot map or miss a peer (retry may help)
    ├── InputError
    │   ├── JournalMismatchError   a journal written against another cluster (exit 2)
    │   └── PlanError              a move plan that cannot work (unknown node, would uncover slots)
    └── SlotMigrationError         .slot .source .target: one slot could not be moved
        └── BusyKeyError           .keys: the target holds different values under the same names
"""

from __future__ import annotations

from collections.abc import Sequence

from redisops.errors import ClusterFormationError, InputError, RedisopsError

__all__ = ["BusyKeyError", "JournalMismatchError", "NotConvergedError", "PlanError", "SlotMigrationError"]


class NotConvergedError(ClusterFormationError):
    """Gossip has not settled: moving a slot now would race the cluster's own view of it."""

    retryable = True

    def __init__(self, reasons: Sequence[str], seconds: float) -> None:
        self.reasons = list(reasons)
        super().__init__(f"cluster has not converged after {seconds:.0f} s: {'; '.join(self.reasons[:3])}",
                         hint="run `redisops cluster check` and fix what it reports")


class JournalMismatchError(InputError):
    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        super().__init__(f"journal {path} belongs to another cluster ({detail}); cluster untouched",
                         hint="point --journal at this cluster's journal or delete the stale file")


class PlanError(InputError):
    pass


class SlotMigrationError(RedisopsError):
    """One slot failed to move; the journal still says where it was, so a resume continues it."""

    def __init__(self, slot: int, source: str, target: str, message: str, *, retryable: bool = True,
                 hint: str | None = None) -> None:
        self.slot = slot
        self.source = source
        self.target = target
        self.retryable = retryable
        super().__init__(f"slot {slot} ({source} -> {target}): {message}",
                         hint=hint or "run the same command again to resume from the journal")


class BusyKeyError(SlotMigrationError):
    def __init__(self, slot: int, source: str, target: str, keys: Sequence[bytes]) -> None:
        self.keys = list(keys)
        shown = ", ".join(k.decode(errors="replace") for k in self.keys[:3])
        super().__init__(slot, source, target, f"target already holds different values for {shown}",
                         retryable=False, hint="inspect those keys, or pass --replace to overwrite them")
