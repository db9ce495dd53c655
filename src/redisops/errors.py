"""One exception tree for redisops.

::

    RedisopsError                      exit_code 3 unless a subclass says otherwise
    ├── InputError                     exit 2: the user can fix it by changing input
    │   ├── SpecError                  .problems: every problem of a spec at once
    │   ├── SecretsError               secrets file missing, unreadable or incomplete
    │   └── UsageError                 a flag or argument that cannot work
    ├── EnvironmentProblem             exit 2: the machine is not ready
    │   ├── MissingBinaryError         redis-server / redis-sentinel not installed
    │   ├── PortInUseError             .address: a port taken by a process we did not start
    │   └── StateDirError              .path: state directory not writable
    ├── NodeError                      .address: talking to one node failed
    │   ├── NodeUnreachableError       refused / timed out (retry may help)
    │   └── AuthError                  wrong or missing password (exit 2)
    ├── StartupError                   .node, .log_tail: a process died while starting
    ├── ClusterFormationError          cluster nodes cannot be joined into one cluster
    └── HealthTimeout                  .reasons: the deployment did not become healthy in time

Subclasses that belong to one area live next to it and hang from this tree:

    InputError      ← alerts.errors.ChannelConfigError, cluster.errors.JournalMismatchError, PlanError,
                      data.backup.errors.BackupNotFound, RestoreRefused
    EnvironmentProblem ← security.firewall.NotRootError
    RedisopsError   ← alerts.errors.DeliveryError, ha.failover.FailoverError, chaos.drill.DrillError,
                      cluster.errors.SlotMigrationError (← BusyKeyError),
                      data.backup.errors.BackupError (← StorageError, IntegrityError, FetchError),
                      security.firewall.FirewallError
    ClusterFormationError ← cluster.errors.NotConvergedError

Errors carry data, wrap their cause with ``raise ... from exc`` and say whether
retrying can help (``retryable``).  Only ``redisops.cli`` turns them into one line
of text and an exit code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "AuthError",
    "ClusterFormationError",
    "EnvironmentProblem",
    "HealthTimeout",
    "InputError",
    "MissingBinaryError",
    "NodeError",
    "NodeUnreachableError",
    "PortInUseError",
    "Problem",
    "RedisopsError",
    "SecretsError",
    "SpecError",
    "StartupError",
    "StateDirError",
    "UsageError",
]

EXIT_OK = 0
EXIT_DEGRADED = 1
EXIT_INPUT = 2
EXIT_DOWN = 3


class RedisopsError(Exception):
    """Root of every error redisops raises on purpose."""

    exit_code: int = EXIT_DOWN
    retryable: bool = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}: {self.hint}" if self.hint else self.message


class InputError(RedisopsError):
    exit_code = EXIT_INPUT


@dataclass(frozen=True)
class Problem:
    """One problem found in a spec: ``path`` is like ``sentinel[0].quorum``."""

    path: str
    message: str
    line: int | None = None
    column: int | None = None
    severity: str = "error"  # "error" or "warning"

    def render(self, filename: str | None = None) -> str:
        where = ""
        if filename and self.line is not None:
            where = f"{filename}:{self.line}:{self.column or 1}: "
        elif filename:
            where = f"{filename}: "
        label = f"{self.path}: " if self.path else ""
        return f"{where}{label}{self.message}"


class SpecError(InputError):
    def __init__(self, filename: str, problems: Sequence[Problem]) -> None:
        self.filename = filename
        self.problems = list(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        first = errors[0].render(filename) if errors else filename
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        super().__init__(f"{first}{more}", hint="run `redisops config validate` to list them all")


class SecretsError(InputError):
    pass


class UsageError(InputError):
    pass


class EnvironmentProblem(RedisopsError):
    exit_code = EXIT_INPUT


class MissingBinaryError(EnvironmentProblem):
    def __init__(self, binary: str, package: str) -> None:
        self.binary = binary
        self.package = package
        super().__init__(
            f"{binary} not found on PATH",
            hint=f"install it with `sudo apt-get install -y {package}` (or `make up`)",
        )


class PortInUseError(EnvironmentProblem):
    def __init__(self, address: str, node: str, owner: str | None, spec_path: str) -> None:
        self.address = address
        self.node = node
        self.owner = owner
        who = f" by {owner}" if owner else " by another process"
        super().__init__(
            f"{address} (node {node}) is already in use{who} that redisops did not start",
            hint=f"stop that process or change {spec_path} in the spec",
        )


class StateDirError(EnvironmentProblem):
    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(
            f"state directory {path} is not usable ({reason})",
            hint="make it writable or run redisops from a directory you own",
        )


class NodeError(RedisopsError):
    def __init__(self, address: str, message: str, *, hint: str | None = None) -> None:
        self.address = address
        super().__init__(f"{address}: {message}", hint=hint)


class NodeUnreachableError(NodeError):
    retryable = True


class AuthError(NodeError):
    exit_code = EXIT_INPUT


class StartupError(RedisopsError):
    def __init__(self, node: str, message: str, log_tail: str = "") -> None:
        self.node = node
        self.log_tail = log_tail
        last = log_tail.strip().splitlines()[-1].strip() if log_tail.strip() else ""
        detail = f" (log: {last})" if last else ""
        super().__init__(f"node {node} {message}{detail}")


class ClusterFormationError(RedisopsError):
    pass


class HealthTimeout(RedisopsError):
    retryable = True

    def __init__(self, what: str, seconds: float, reasons: Sequence[str]) -> None:
        self.reasons = list(reasons)
        why = "; ".join(self.reasons[:4]) or "no reason recorded"
        super().__init__(
            f"{what} not healthy after {seconds:.0f} s: {why}",
            hint="run `redisops status` for details",
        )
