"""Run the registry over targets and decide the verdict.

:func:`audit_files` is the static layer (config files, no server); the live
layer (:mod:`redisops.security.audit.live`) builds targets from running nodes
and hands them to :func:`run_checks` the same way.  A node the live layer
could not read is a :class:`TargetError` in the report, not an exception: the
other nodes are still audited, and the exit code says the audit is incomplete.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from redisops.errors import EXIT_DEGRADED, EXIT_DOWN, EXIT_INPUT, EXIT_OK, RedisopsError
from redisops.security.audit.conf import load_config
from redisops.security.audit.model import Finding, Layer, Severity, Target
from redisops.security.audit.registry import Check, all_checks

__all__ = ["NothingAudited", "Report", "TargetError", "audit_files", "run_checks"]


class NothingAudited(RedisopsError):
    """Not one node could be read: every node's reason in one message."""

    def __init__(self, errors: Sequence[TargetError]) -> None:
        self.errors = list(errors)
        self.exit_code = EXIT_INPUT if all(e.refused for e in errors) else EXIT_DOWN
        self.retryable = not all(e.refused for e in errors)
        super().__init__("no node could be audited: " + "; ".join(f"{e.target}: {e.message}" for e in errors))


@dataclass(frozen=True)
class TargetError:
    """A node the live layer could not audit, and why (one line, with what to change)."""

    target: str
    message: str
    #: the user can fix it (a password, an ACL permission) rather than wait for the node
    refused: bool = False

    def to_dict(self) -> dict[str, str]:
        return {"target": self.target, "message": self.message}


@dataclass
class Report:
    layer: Layer
    targets: list[Target]
    findings: list[Finding]
    fail_on: Severity
    errors: list[TargetError] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failing(self) -> list[Finding]:
        return [f for f in self.findings if f.severity.rank >= self.fail_on.rank]

    @property
    def exit_code(self) -> int:
        if self.errors:
            return EXIT_DOWN
        return EXIT_DEGRADED if self.failing else EXIT_OK

    def counts(self) -> dict[str, int]:
        return {str(s): sum(1 for f in self.findings if f.severity is s) for s in reversed(Severity)}

    def checks(self) -> list[Check]:
        """The checks of this layer (what a SARIF / JUnit report lists)."""
        return [c for c in all_checks() if self.layer in c.layers]

    def to_dict(self) -> dict[str, object]:
        return {
            "layer": str(self.layer),
            "targets": [{"name": t.name, "kind": str(t.kind)} for t in self.targets],
            "findings": [f.to_dict() for f in self.findings],
            "errors": [e.to_dict() for e in self.errors],
            "counts": self.counts(),
            "fail_on": str(self.fail_on),
            "failing": len(self.failing),
            "seconds": round(self.seconds, 3),
            "exit_code": self.exit_code,
        }


def run_checks(targets: Sequence[Target], checks: Iterable[Check] | None = None) -> list[Finding]:
    """Every finding of ``checks`` (default: the whole registry) on ``targets``, worst first."""
    findings: list[Finding] = []
    for chk in checks if checks is not None else all_checks():
        for target, hit in chk.hits(targets):
            at = hit.at
            findings.append(Finding(chk.id, chk.severity, chk.title, target.name, hit.message, chk.fix,
                                    target.layer, at.file if at else None, at.line if at else None))
    findings.sort(key=lambda f: (-f.severity.rank, f.target, f.check))
    return findings


def audit_files(paths: Sequence[Path], fail_on: Severity = Severity.HIGH) -> Report:
    """The static layer: parse every file (all of them first, so a bad one fails before any output), check."""
    started = time.monotonic()
    targets = [load_config(Path(p)) for p in paths]
    report = Report(Layer.STATIC, targets, run_checks(targets), fail_on)
    report.seconds = time.monotonic() - started
    return report
