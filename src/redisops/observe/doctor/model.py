"""What the doctor finds: findings with severity, explanation and fix, per node and for the host.

Severities are the log scanner's (:class:`~redisops.observe.logs.signatures.Severity`:
info, warning, error, critical), so ``--fail-on`` reads the same on ``logs scan`` and
``doctor``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from redisops.address import Address
from redisops.observe.logs.signatures import Severity

__all__ = ["DoctorReport", "Finding", "NodeReport", "Severity"]


@dataclass(frozen=True)
class Finding:
    id: str  # dotted, stable: "memory.fragmentation", "replication.link-down"
    severity: Severity
    title: str  # one line: what is wrong, with the figure
    explanation: str  # why it matters
    fix: str  # what to do: a command or a setting
    node: str | None = None  # None: the host
    details: dict[str, Any] = field(default_factory=dict)

    def on(self, node: str) -> Finding:
        return Finding(self.id, self.severity, self.title, self.explanation, self.fix, node, self.details)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "severity": str(self.severity), "node": self.node, "title": self.title,
                "explanation": self.explanation, "fix": self.fix, "details": self.details}


@dataclass
class NodeReport:
    """One node's examination: the figures read and what they mean."""

    name: str
    address: Address
    role: str = "unknown"
    #: a few INFO figures (memory, persistence, replication, stats), as Redis gives them
    figures: dict[str, Any] = field(default_factory=dict)
    #: the CONFIG GET values the rules read
    config: dict[str, str] = field(default_factory=dict)
    memory_doctor: str | None = None
    latency: dict[str, Any] = field(default_factory=dict)
    slowlog: dict[str, Any] = field(default_factory=dict)
    bigkeys: dict[str, Any] | None = None
    findings: list[Finding] = field(default_factory=list)
    #: why the node could not be examined (unreachable, refused), None when it was
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "address": str(self.address), "role": self.role, "error": self.error,
                "figures": self.figures, "config": self.config, "memory_doctor": self.memory_doctor,
                "latency": self.latency, "slowlog": self.slowlog, "bigkeys": self.bigkeys,
                "findings": [f.to_dict() for f in self.findings]}


@dataclass
class DoctorReport:
    nodes: list[NodeReport]
    host: list[Finding]
    #: host figures read (/proc, /sys), or why the host was not checked
    host_figures: dict[str, Any]
    fail_on: Severity
    #: what the start of the run undid (temporary settings a killed redisops left behind)
    recovered: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def findings(self) -> list[Finding]:
        found = [f for n in self.nodes for f in n.findings] + self.host
        return sorted(found, key=lambda f: (-f.severity, f.node or "", f.id))

    @property
    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)

    @property
    def exit_code(self) -> int:
        """3 when no node could be examined; else 1 on a finding at or above ``fail_on``."""
        if self.nodes and all(n.error is not None for n in self.nodes):
            return 3
        worst = self.worst
        return 1 if worst is not None and worst >= self.fail_on else 0

    def counts(self) -> dict[str, int]:
        found = self.findings
        return {str(s): sum(1 for f in found if f.severity is s) for s in Severity}

    def to_dict(self) -> dict[str, Any]:
        worst = self.worst
        return {"fail_on": str(self.fail_on), "worst": None if worst is None else str(worst),
                "counts": self.counts(), "exit_code": self.exit_code, "seconds": round(self.seconds, 3),
                "recovered": self.recovered, "findings": [f.to_dict() for f in self.findings],
                "host": self.host_figures, "nodes": [n.to_dict() for n in self.nodes]}
