"""Apply, remove and inspect a deployment's rules in the kernel, through ``nft`` or ``iptables-restore``.

Each step touches only the deployment's own table (nftables) or chain and its
jumps (iptables), never anyone else's rules:

- **apply** checks the file first (``nft -c -f`` / ``iptables-restore --test``),
  then loads it in one transaction: nothing half-applied if it fails, and the
  same result however often it runs.  Afterwards it reads the rules back and
  fails unless they are the spec's.
- **remove** deletes exactly what apply added (the table; or the jumps, then
  the chain), also in one transaction; removing twice is fine.
- **status** reads the live rules back and compares them with the spec's:
  ``applied`` (they match), ``stale`` (another spec's, or changed by hand) or
  ``absent``.

The kernel's rules do not survive a reboot unless saved: docs/firewall.md says how.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from redisops.errors import EnvironmentProblem, MissingBinaryError, RedisopsError
from redisops.security.firewall.render import DROP_NOTE, jump_rules, render_iptables, render_nftables
from redisops.security.firewall.rules import Ruleset, Service

__all__ = ["Backend", "Firewall", "FirewallError", "FirewallStatus", "NotRootError", "State"]

Runner = Callable[[Sequence[str], str | None], "subprocess.CompletedProcess[str]"]

#: a firewall tool answers in well under a second; 30 s means it hangs (a held xtables lock)
TOOL_TIMEOUT_S = 30.0
_PACKAGES = {"nft": "nftables", "iptables": "iptables", "iptables-restore": "iptables"}


class Backend(Enum):
    NFTABLES = "nftables"
    IPTABLES = "iptables"


class State(Enum):
    APPLIED = "applied"
    STALE = "stale"
    ABSENT = "absent"


class FirewallError(RedisopsError):
    """``nft`` or ``iptables-restore`` refused the rules, or the rules read back differ from those loaded."""


class NotRootError(EnvironmentProblem):
    def __init__(self, action: str) -> None:
        super().__init__(f"firewall {action} changes or reads the kernel's firewall, which needs root",
                         hint=f"run it as root: `sudo .venv/bin/redisops firewall {action}`")


@dataclass(frozen=True)
class FirewallStatus:
    backend: Backend
    state: State
    name: str  # the table or chain
    expected: str  # the spec's digest
    found: str | None  # the live rules' digest, when they carry one
    rules: int  # live rules (iptables: the chain's and INPUT's jumps)
    expected_rules: int

    @property
    def sentence(self) -> str:
        where = f"{self.backend.value} {self.name}"
        if self.state is State.ABSENT:
            return f"{where}: not applied (run `redisops firewall apply`)"
        if self.state is State.APPLIED:
            return f"{where}: applied, {self.rules} rules, the spec's ({self.expected})"
        return (f"{where}: stale, {self.rules} rules carrying {self.found or 'no tag'}, the spec's are "
                f"{self.expected_rules} rules carrying {self.expected} (run `redisops firewall apply`)")

    def to_data(self) -> dict[str, Any]:
        return {"backend": self.backend.value, "state": self.state.value, "name": self.name,
                "expected_digest": self.expected, "found_digest": self.found, "rules": self.rules,
                "expected_rules": self.expected_rules, "sentence": self.sentence}


class Firewall:
    """One backend's view of the kernel's rules.  ``run`` and ``euid`` are seams for tests."""

    def __init__(self, backend: Backend, *, run: Runner | None = None,
                 euid: Callable[[], int] = os.geteuid) -> None:
        self.backend = backend
        self._run = run or _run
        self._euid = euid

    def apply(self, rules: Ruleset) -> FirewallStatus:
        self._need_root("apply")
        if self.backend is Backend.NFTABLES:
            text = render_nftables(rules)
            self._tool(["nft", "-c", "-f", "-"], text, "checking")
            self._tool(["nft", "-f", "-"], text, "loading")
        else:
            text = render_iptables(rules, stale_jumps=self._jumps(rules))
            self._tool(["iptables-restore", "--test", "--noflush"], text, "checking")
            self._tool(["iptables-restore", "--noflush"], text, "loading")
        status = self.status(rules)
        if status.state is not State.APPLIED:
            raise FirewallError(f"the rules read back after loading are not the spec's: {status.sentence}",
                                hint="another program may be changing the firewall; run `redisops firewall "
                                     "status` to see it")
        return status

    def remove(self, rules: Ruleset) -> bool:
        """Delete what :meth:`apply` added; False when there was nothing."""
        self._need_root("remove")
        if self.backend is Backend.NFTABLES:
            if self._nft_table(rules) is None:
                return False
            self._tool(["nft", "delete", "table", "inet", rules.table], None, "deleting")
            return True
        lines = self._iptables_lines()
        jumps = _jumps(lines, rules.chain)
        exists = f"-N {rules.chain}" in lines
        if not jumps and not exists:
            return False
        body = [j.replace("-A INPUT ", "-D INPUT ", 1) for j in jumps]
        body += [f"-F {rules.chain}", f"-X {rules.chain}"] if exists else []
        self._tool(["iptables-restore", "--noflush"], "\n".join(["*filter", *body, "COMMIT", ""]), "deleting")
        return True

    def status(self, rules: Ruleset) -> FirewallStatus:
        self._need_root("status")
        if self.backend is Backend.NFTABLES:
            return self._nft_status(rules)
        return self._iptables_status(rules)

    # --- nftables --------------------------------------------------------------------
    def _nft_status(self, rules: Ruleset) -> FirewallStatus:
        wanted = [s.label for s in rules.services for _ in _families(s)] + [f"{rules.tag}: {DROP_NOTE}"]
        live = self._nft_table(rules)
        if live is None:
            return FirewallStatus(self.backend, State.ABSENT, f"inet {rules.table}", rules.digest, None, 0,
                                  len(wanted))
        comments = [r["rule"].get("comment", "") for r in live if "rule" in r]
        found = _digest(comments[-1] if comments else "", rules.deployment)
        return FirewallStatus(self.backend, State.APPLIED if comments == wanted else State.STALE,
                              f"inet {rules.table}", rules.digest, found, len(comments), len(wanted))

    def _nft_table(self, rules: Ruleset) -> list[dict[str, Any]] | None:
        done = self._run(["nft", "-j", "list", "table", "inet", rules.table], None)
        if done.returncode != 0:
            if "No such file" in done.stderr:
                return None
            raise FirewallError(f"nft could not list table inet {rules.table}: {_first(done.stderr)}")
        items: list[dict[str, Any]] = json.loads(done.stdout).get("nftables", [])
        return items

    # --- iptables --------------------------------------------------------------------
    def _iptables_status(self, rules: Ruleset) -> FirewallStatus:
        lines = self._iptables_lines()
        wanted_chain = [ln for ln in render_iptables(rules).splitlines() if ln.startswith(f"-A {rules.chain} ")]
        wanted_jumps = [f"-A {j}" for j in jump_rules(rules)]
        chain = [ln for ln in lines if ln.startswith(f"-A {rules.chain} ")]
        jumps = _jumps(lines, rules.chain)
        expected = len(wanted_chain) + len(wanted_jumps)
        if f"-N {rules.chain}" not in lines and not jumps:
            return FirewallStatus(self.backend, State.ABSENT, rules.chain, rules.digest, None, 0, expected)
        found = _digest(chain[-1] if chain else "", rules.deployment)
        matches = chain == wanted_chain and sorted(jumps) == sorted(wanted_jumps)
        return FirewallStatus(self.backend, State.APPLIED if matches else State.STALE, rules.chain, rules.digest,
                              found, len(chain) + len(jumps), expected)

    def _jumps(self, rules: Ruleset) -> list[str]:
        return _jumps(self._iptables_lines(), rules.chain)

    def _iptables_lines(self) -> list[str]:
        done = self._run(["iptables", "-w", "-S"], None)
        if done.returncode != 0:
            raise FirewallError(f"iptables could not list its rules: {_first(done.stderr)}")
        return done.stdout.splitlines()

    # --- both ------------------------------------------------------------------------
    def _need_root(self, action: str) -> None:
        if self._euid() != 0:
            raise NotRootError(action)

    def _tool(self, argv: list[str], text: str | None, doing: str) -> None:
        done = self._run(argv, text)
        if done.returncode != 0:
            raise FirewallError(f"{argv[0]} refused the rules while {doing} them: {_first(done.stderr)}",
                                hint="nothing was changed; `redisops firewall render` shows the file it loads")


def _run(argv: Sequence[str], text: str | None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(list(argv), input=text, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S,
                              check=False)
    except FileNotFoundError as exc:
        raise MissingBinaryError(argv[0], _PACKAGES.get(argv[0], argv[0])) from exc
    except subprocess.TimeoutExpired as exc:
        raise FirewallError(f"{argv[0]} did not answer within {TOOL_TIMEOUT_S:.0f} s",
                            hint="another program may hold the firewall's lock; try again") from exc


def _jumps(lines: Sequence[str], chain: str) -> list[str]:
    return [ln for ln in lines if ln.startswith("-A INPUT ") and ln.endswith(f"-j {chain}")]


def _families(service: Service) -> list[int]:
    return sorted({n.version for n in service.sources})


def _digest(comment: str, deployment: str) -> str | None:
    """``redisops <name> <digest>: ...`` (in quotes, in ``iptables -S``) -> the digest."""
    words = comment.replace('"', " ").replace(":", " ").split()
    for i, word in enumerate(words[:-2]):
        if word == "redisops" and words[i + 1] == deployment:
            return words[i + 2]
    return None


def _first(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else "no message"
