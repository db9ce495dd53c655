"""The check registry: every check with its id, severity, title, explanation, fix and layers.

A check is a function of one :class:`Target` yielding :class:`Hit` (what is
wrong there, and the config line when there is one); a *group* check sees every
target of the run at once (a password reused between a node and a sentinel).
Checks register themselves with :func:`check`; :func:`all_checks` lists them by id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from redisops.security.audit.model import Directive, Kind, Layer, Severity, Target

__all__ = ["BOTH", "LIVE", "STATIC", "Check", "Hit", "all_checks", "check", "get"]

STATIC = frozenset({Layer.STATIC})
LIVE = frozenset({Layer.LIVE})
BOTH = frozenset({Layer.STATIC, Layer.LIVE})


@dataclass(frozen=True)
class Hit:
    message: str
    at: Directive | None = None
    #: the target to report on, for a group check (default: the one checked)
    target: Target | None = None


TargetCheck = Callable[[Target], Iterable[Hit]]
GroupCheck = Callable[[Sequence[Target]], Iterable[Hit]]


@dataclass(frozen=True)
class Check:
    id: str
    severity: Severity
    title: str
    explanation: str
    fix: str
    layers: frozenset[Layer]
    kinds: frozenset[Kind]
    run: TargetCheck | None = None
    run_group: GroupCheck | None = None

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "severity": str(self.severity), "title": self.title,
                "explanation": self.explanation, "fix": self.fix,
                "layers": sorted(str(layer) for layer in self.layers),
                "kinds": sorted(str(kind) for kind in self.kinds)}

    def applies(self, target: Target) -> bool:
        return target.layer in self.layers and target.kind in self.kinds

    def hits(self, targets: Sequence[Target]) -> Iterator[tuple[Target, Hit]]:
        """Every hit of this check on ``targets`` (the ones it applies to), with the target it belongs to."""
        mine = [t for t in targets if self.applies(t)]
        if self.run_group is not None and mine:
            for hit in self.run_group(mine):
                yield (hit.target or mine[0]), hit
        if self.run is not None:
            for target in mine:
                for hit in self.run(target):
                    yield target, hit


_CHECKS: dict[str, Check] = {}
REDIS = frozenset({Kind.REDIS})
SENTINEL = frozenset({Kind.SENTINEL})
NODES = frozenset({Kind.REDIS, Kind.SENTINEL})
HOST = frozenset({Kind.HOST})


def check(id: str, severity: Severity, title: str, *, explanation: str, fix: str,
          layers: frozenset[Layer] = BOTH, kinds: frozenset[Kind] = REDIS,
          group: bool = False) -> Callable[[Callable[..., Iterable[Hit]]], Callable[..., Iterable[Hit]]]:
    """Register the decorated function as check ``id``."""

    def register(func: Callable[..., Iterable[Hit]]) -> Callable[..., Iterable[Hit]]:
        if id in _CHECKS:
            raise ValueError(f"check {id} registered twice")
        _CHECKS[id] = Check(id, severity, title, " ".join(explanation.split()), fix, layers, kinds,
                            None if group else func, func if group else None)
        return func

    return register


def all_checks() -> list[Check]:
    _load()
    return [_CHECKS[k] for k in sorted(_CHECKS)]


def get(id: str) -> Check:
    _load()
    return _CHECKS[id]


def _load() -> None:
    import redisops.security.audit.checks_access
    import redisops.security.audit.checks_config
    import redisops.security.audit.checks_host  # noqa: F401  (importing them registers their checks)
