"""Judging two key states: the kinds of difference and the report values.  Pure, no I/O."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from redisops.data.digest import KeyState

__all__ = ["DiffKind", "Difference", "PairReport", "classify", "key_text"]


class DiffKind(Enum):
    MISSING = "missing_on_target"  # the source has it, the target (replica, restored copy) does not
    EXTRA = "extra_on_target"  # the target has a key the source does not
    TYPE = "type"
    VALUE = "value"
    TTL = "ttl"


def classify(source: KeyState, target: KeyState, ttl_tolerance_ms: int) -> DiffKind | None:
    """The one difference that matters most, or None when the states agree.

    TTLs agree when neither expires, or both expire within ``ttl_tolerance_ms``
    of each other (absolute times: a replica has exactly the master's; a copy
    made with a relative TTL is off by the copy's latency).
    """
    if source.exists != target.exists:
        return DiffKind.MISSING if source.exists else DiffKind.EXTRA
    if not source.exists:
        return None
    if source.type != target.type:
        return DiffKind.TYPE
    if source.digest != target.digest:
        return DiffKind.VALUE
    if (source.expire_at < 0) != (target.expire_at < 0):
        return DiffKind.TTL
    if source.expire_at >= 0 and abs(source.expire_at - target.expire_at) > ttl_tolerance_ms:
        return DiffKind.TTL
    return None


def key_text(key: bytes) -> str:
    return key.decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class Difference:
    key: bytes
    kind: DiffKind
    source: KeyState
    target: KeyState

    def to_dict(self) -> dict[str, Any]:
        def side(s: KeyState) -> dict[str, Any]:
            return {"type": s.type, "expire_at_ms": s.expire_at, "digest": s.digest}

        return {"key": key_text(self.key), "kind": self.kind.value, "source": side(self.source),
                "target": side(self.target)}


@dataclass(frozen=True)
class PairReport:
    """One comparison: a master and one replica, or two whole deployments."""

    source: str
    target: str
    scanned: int = 0  # keys of the source (master) side checked
    rounds: int = 0
    mode: str = ""
    differences: tuple[Difference, ...] = ()
    error: str | None = None  # the pair could not be compared (a node down)
    notes: tuple[str, ...] = field(default=())

    @property
    def counts(self) -> Mapping[str, int]:
        counted = Counter(d.kind.value for d in self.differences)
        return {kind.value: counted.get(kind.value, 0) for kind in DiffKind}

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return 3
        return 1 if self.differences else 0

    def to_dict(self, first: int) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "scanned": self.scanned, "rounds": self.rounds,
                "mode": self.mode, "different": len(self.differences), "counts": dict(self.counts),
                "first": [d.to_dict() for d in self.differences[:first]], "error": self.error,
                "notes": list(self.notes)}


def worst_exit(reports: Iterable[PairReport]) -> int:
    return max((r.exit_code for r in reports), default=0)
