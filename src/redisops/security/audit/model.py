"""What the audit works on: targets (one config or one node, as seen by one layer) and findings.

Both layers reduce what they read to the same :class:`Target`: the static layer
from a redis.conf / sentinel.conf (its ``include`` files followed), the live
layer from ``CONFIG GET *``, ``ACL LIST`` and ``INFO``.  A check therefore reads
one shape, and most checks run in both layers.

Passwords stay in memory: a :class:`Secret` keeps the plaintext when the layer
knows it (a config file, ``CONFIG GET requirepass``) for the strength checks,
and always a SHA-256 digest (what ``ACL LIST`` shows) to compare passwords
across nodes; neither is ever part of a finding.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from redisops.security.audit.acl import AclUser

__all__ = ["Directive", "Finding", "HostFacts", "Kind", "Layer", "Secret", "Severity", "Target"]


class Severity(Enum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls(text.strip().lower())
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown severity {text!r}: use one of {names}") from None


class Layer(Enum):
    STATIC = "static"
    LIVE = "live"

    def __str__(self) -> str:
        return self.value


class Kind(Enum):
    REDIS = "redis"
    SENTINEL = "sentinel"
    HOST = "host"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Directive:
    """One config line (static) or one ``CONFIG GET`` pair (live); ``name`` lower case."""

    name: str
    args: tuple[str, ...]
    file: str | None = None
    line: int | None = None

    @property
    def value(self) -> str:
        return " ".join(self.args)


@dataclass(frozen=True)
class Secret:
    """A password and the role it serves: ``app`` (requirepass, users), ``replication``, ``sentinel``."""

    role: str
    source: str  # where it was read: "requirepass", "user app", "sentinel auth-pass mymaster"
    digest: str  # sha256 hex, as ACL LIST shows a password
    plain: str | None = field(default=None, repr=False)

    @classmethod
    def of(cls, role: str, source: str, plain: str) -> Secret:
        return cls(role, source, hashlib.sha256(plain.encode()).hexdigest(), plain)

    def __repr__(self) -> str:  # never a password in a log line or traceback
        return f"Secret({self.role!r}, {self.source!r})"


@dataclass(frozen=True)
class HostFacts:
    """The local host, read from /proc and /sys (live layer only)."""

    overcommit_memory: int | None
    transparent_hugepage: str | None  # the selected mode: always, madvise, never
    somaxconn: int | None
    redis_package: str | None  # dpkg's version of redis-server, None when not installed by dpkg


@dataclass
class Target:
    """One thing audited: a config file, a live node, or the local host."""

    name: str
    kind: Kind
    layer: Layer
    directives: tuple[Directive, ...] = ()
    users: tuple[AclUser, ...] = ()
    secrets: tuple[Secret, ...] = ()
    #: files read to build it (the config, its includes and aclfile), for the mode checks
    files: tuple[Path, ...] = ()
    #: those of ``files`` that hold a password (requirepass, masterauth, user >pw, sentinel auth-pass, ACL file)
    secret_files: frozenset[str] = frozenset()
    info: Mapping[str, str] = field(default_factory=dict)
    #: ports the node's process listens on (live, local nodes); None when unknown
    listening: frozenset[int] | None = None
    #: the ports the spec expects this node on, beside its own config's (live with a spec)
    expected_ports: frozenset[int] = frozenset()
    host: HostFacts | None = None
    #: is the node's process on this machine (its files, /proc readable)
    local: bool = True
    #: what the spec says the node's data is (``store`` / ``cache``); None when unknown (a config file, a seed)
    data_role: str | None = None

    def all(self, name: str) -> list[Directive]:
        return [d for d in self.directives if d.name == name]

    def last(self, name: str) -> Directive | None:
        found = self.all(name)
        return found[-1] if found else None

    def value(self, name: str, default: str | None = None) -> str | None:
        found = self.last(name)
        return default if found is None else found.value

    def flag(self, name: str, default: str = "no") -> str:
        return (self.value(name, default) or default).strip().strip('"').lower()

    def number(self, name: str, default: int = 0) -> int:
        return parse_number(self.value(name), default)

    def user(self, name: str) -> AclUser | None:
        return next((u for u in self.users if u.name == name), None)


_UNITS = {"k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}


def parse_number(text: str | None, default: int = 0) -> int:
    """A Redis number: ``256mb``, ``1gb``, ``100``; ``default`` when absent or not a number."""
    if text is None:
        return default
    raw = text.strip().lower()
    for unit in sorted(_UNITS, key=len, reverse=True):
        if raw.endswith(unit) and raw[: -len(unit)].isdigit():
            return int(raw[: -len(unit)]) * _UNITS[unit]
    return int(raw) if raw.lstrip("-").isdigit() else default


@dataclass(frozen=True)
class Finding:
    """One check that failed on one target; ``message`` never holds a password."""

    check: str
    severity: Severity
    title: str
    target: str
    message: str
    fix: str
    layer: Layer
    file: str | None = None
    line: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {"id": self.check, "severity": str(self.severity), "title": self.title, "target": self.target,
                "message": self.message, "fix": self.fix, "layer": str(self.layer), "file": self.file,
                "line": self.line}
