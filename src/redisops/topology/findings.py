"""Collecting the reasons behind a verdict.

A verdict is the worst of its findings: one *critical* finding (nobody can
write, or two nodes take writes) makes a part DOWN, any other *problem* makes it
DEGRADED.  Every finding is one short sentence prefixed with the part's name,
e.g. ``mymaster: replica 127.0.0.1:6402 link down``, because ``redisops up``
prints the first one while it waits and ``status`` prints them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from redisops.address import Address
from redisops.topology.model import Failure, FailureKind, Health

__all__ = ["Findings", "describe", "who"]


@dataclass
class Findings:
    name: str
    critical: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def down(self, text: str) -> None:
        self.critical.append(f"{self.name}: {text}")

    def degraded(self, text: str) -> None:
        self.problems.append(f"{self.name}: {text}")

    @property
    def health(self) -> Health:
        if self.critical:
            return Health.DOWN
        return Health.DEGRADED if self.problems else Health.OK

    @property
    def reasons(self) -> tuple[str, ...]:
        """Critical findings first: they are what an operator must read."""
        return (*self.critical, *self.problems)


def describe(subject: str, failure: Failure) -> str:
    """``replica 127.0.0.1:6402 unreachable (connection refused)``, ``sentinel ...: wrong password``."""
    if failure.kind is FailureKind.UNREACHABLE:
        return f"{subject} unreachable ({failure.detail})"
    return f"{subject}: {failure.detail}"


def who(kind: str, addresses: Sequence[Address], of: int) -> str:
    """``all 3 sentinels`` / ``sentinel 127.0.0.1:26400`` / ``sentinels a, b``."""
    if len(addresses) == of and of > 1:
        return f"all {of} {kind}s"
    plural = "s" if len(addresses) > 1 else ""
    return f"{kind}{plural} {', '.join(str(a) for a in addresses)}"
