"""ACL users as Redis 7.0 reads them: ``user NAME rule...`` lines and ``ACL LIST`` replies.

Only what the audit asks is modelled: is the user on, does it need a password,
which passwords (plaintext from a config's ``>pw``, digests from ``#hash``), and
may it run a given command.  Command rules are applied in order, as Redis
does: ``+@all`` / ``allcommands``, ``-@all`` / ``nocommands``, ``+@cat`` /
``-@cat``, ``+cmd`` / ``-cmd``, ``+cmd|sub``, ``reset``.  Categories come from
Redis 7.0's ``COMMAND INFO`` for the commands the audit cares about
(:data:`DANGEROUS`); a container command (CONFIG, MODULE, ACL) stands for its
writing subcommand (``config|set``, ``module|load``, ``acl|setuser``), so
``+config|get`` is not reported while ``+config`` is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

__all__ = ["DANGEROUS", "AclUser", "default_user", "parse_user"]

#: dangerous commands an application never needs -> their ACL categories (Redis 7.0 COMMAND INFO)
DANGEROUS: dict[str, frozenset[str]] = {
    name: frozenset(cats.split()) for name, cats in {
        "flushall": "dangerous keyspace slow write",
        "flushdb": "dangerous keyspace slow write",
        "config|set": "admin dangerous slow",
        "debug": "admin dangerous slow",
        "module|load": "admin dangerous slow",
        "keys": "dangerous keyspace read slow",
        "shutdown": "admin dangerous slow",
        "monitor": "admin dangerous slow",
        "replicaof": "admin dangerous slow",
        "slaveof": "admin dangerous slow",
        "migrate": "dangerous keyspace slow write",
        "restore": "dangerous keyspace slow write",
        "acl|setuser": "admin dangerous slow",
        "save": "admin dangerous slow",
        "bgsave": "admin dangerous slow",
        "failover": "admin dangerous slow",
        "swapdb": "dangerous fast keyspace write",
    }.items()
}


@dataclass(frozen=True)
class AclUser:
    name: str
    enabled: bool
    nopass: bool
    passwords: tuple[str, ...] = field(default=(), repr=False)  # plaintext, from a config's >pw
    digests: tuple[str, ...] = field(default=(), repr=False)  # sha256 hex: #hash, and of every >pw
    rules: tuple[str, ...] = ()  # command rules, in order
    source: str | None = None
    line: int | None = None

    def __repr__(self) -> str:
        return f"AclUser({self.name!r}, enabled={self.enabled}, nopass={self.nopass}, rules={self.rules!r})"

    @property
    def has_password(self) -> bool:
        return self.nopass or bool(self.digests)

    def may_run(self, command: str) -> bool:
        """Would Redis let this user run ``command`` (a key of :data:`DANGEROUS`, or any name)."""
        categories = DANGEROUS.get(command, frozenset())
        parent = command.split("|")[0]
        allowed = False
        for rule in self.rules:
            sign, body = rule[0], rule[1:].lower()
            if rule in ("allcommands", "+@all"):
                allowed = True
            elif rule in ("nocommands", "-@all"):
                allowed = False
            elif sign in "+-" and body.startswith("@"):
                if body[1:] in categories:
                    allowed = sign == "+"
            elif sign in "+-" and body in (command, parent):
                allowed = sign == "+"
        return allowed

    def dangerous(self) -> list[str]:
        """The :data:`DANGEROUS` commands this user may run, their container names shortened."""
        return [name.split("|")[0] for name in DANGEROUS if self.may_run(name)]

    @property
    def all_commands(self) -> bool:
        """``+@all`` (or ``allcommands``) with nothing taken away after it."""
        grant = max((i for i, r in enumerate(self.rules) if r in ("allcommands", "+@all")), default=-1)
        return grant >= 0 and not any(r.startswith("-") or r == "nocommands" for r in self.rules[grant + 1:])


def parse_user(name: str, rules: list[str], *, source: str | None = None, line: int | None = None,
               base: AclUser | None = None) -> AclUser:
    """Apply ACL ``rules`` to a new user (or to ``base``, as ``ACL SETUSER`` would)."""
    enabled = base.enabled if base else False
    nopass = base.nopass if base else False
    passwords = list(base.passwords) if base else []
    digests = list(base.digests) if base else []
    commands = list(base.rules) if base else []
    for rule in rules:
        low = rule.lower()
        if low == "on":
            enabled = True
        elif low == "off":
            enabled = False
        elif low == "nopass":
            nopass, passwords, digests = True, [], []
        elif low == "resetpass":
            nopass, passwords, digests = False, [], []
        elif low == "reset":
            enabled, nopass, passwords, digests, commands = False, False, [], [], []
        elif rule.startswith(">"):
            passwords.append(rule[1:])
            digests.append(hashlib.sha256(rule[1:].encode()).hexdigest())
            nopass = False
        elif rule.startswith("#"):
            digests.append(rule[1:].lower())
            nopass = False
        elif rule.startswith("<"):
            digests = [d for d in digests if d != hashlib.sha256(rule[1:].encode()).hexdigest()]
            passwords = [p for p in passwords if p != rule[1:]]
        elif low in ("allcommands", "nocommands") or rule[:1] in "+-":
            commands.append(low if low in ("allcommands", "nocommands") else rule[0] + rule[1:].lower())
    return AclUser(name, enabled, nopass, tuple(passwords), tuple(digests), tuple(commands), source, line)


def default_user() -> AclUser:
    """Redis's default user before any config: ``user default on nopass ~* &* +@all``."""
    return parse_user("default", ["on", "nopass", "~*", "&*", "+@all"])
