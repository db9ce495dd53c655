"""Checks on who may connect and what they may run: auth, passwords, ACL users."""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence

from redisops.security.audit.acl import AclUser
from redisops.security.audit.model import Directive, Secret, Severity, Target
from redisops.security.audit.registry import NODES, SENTINEL, Hit, check

__all__ = ["KNOWN_DEFAULTS", "MIN_LENGTH", "MIN_ENTROPY_BITS", "OPERATOR_USERS", "entropy_bits"]

#: passwords from Redis's own docs and sample configs, and the usual suspects
KNOWN_DEFAULTS = frozenset({
    "foobared", "MySUPER--secret-0123passw0rd", "redis", "password", "123456", "12345678", "changeme",
    "admin", "secret", "root", "test", "default", "redispass", "redis123", "pass", "qwerty", "letmein",
    "bitnami", "sOmE_sEcUrE_pAsS", "yourpassword", "mypassword", "p@ssw0rd", "Passw0rd",
})
_KNOWN_DIGESTS = {hashlib.sha256(p.encode()).hexdigest(): p for p in KNOWN_DEFAULTS}
#: Redis answers ~100k AUTH a second per core: 32 characters is what ACL GENPASS's docs ask for
MIN_LENGTH = 32
#: below this a password is guessable however long it is ("aaaa…", "abcabc…")
MIN_ENTROPY_BITS = 80.0
#: users that run redisops, replication, sentinels or the exporter: their admin commands are their job
OPERATOR_USERS = ("admin", "root", "redisops", "sentinel", "replica", "repl", "exporter", "monitor")


def entropy_bits(password: str) -> float:
    """Shannon entropy of the password's own characters times its length: a rough upper bound."""
    counts = Counter(password)
    per_char = -sum(c / len(password) * math.log2(c / len(password)) for c in counts.values())
    return per_char * len(password)


def _at(target: Target, secret: Secret) -> Directive | None:
    name = secret.source.split()[0]
    return target.last(name) if name in ("requirepass", "masterauth", "sentinel") else _user_line(target, secret)


def _user_line(target: Target, secret: Secret) -> Directive | None:
    name = secret.source.removeprefix("user ")
    user = target.user(name)
    if user is None or user.line is None:
        return target.last("requirepass") if name == "default" else None
    return Directive("user", (name,), user.source, user.line)


def _distinct(target: Target) -> Iterator[Secret]:
    seen: set[str] = set()
    for secret in target.secrets:
        if secret.digest not in seen:
            seen.add(secret.digest)
            yield secret


@check("RA001", Severity.CRITICAL, "no authentication",
       explanation="The default user is on and needs no password: anyone who reaches the port can read, write "
                   "and reconfigure the server (and, with CONFIG SET dir, write files as the redis user).",
       fix="set `requirepass <32+ random chars>` (or `user default on >PASSWORD ...`); `redisops init` generates one")
def _no_auth(target: Target) -> Iterator[Hit]:
    user = target.user("default")
    if user is not None and user.enabled and user.nopass:
        yield Hit("the default user is on with nopass", target.last("requirepass") or _line_of(target, user))


def _line_of(target: Target, user: AclUser) -> Directive | None:
    return Directive("user", (user.name,), user.source, user.line) if user.line else None


@check("RA002", Severity.MEDIUM, "default user may run every command",
       explanation="With requirepass alone the default user keeps +@all: every client that knows the one shared "
                   "password may run FLUSHALL, CONFIG, DEBUG, MODULE. Give each role its own ACL user.",
       fix="`user default off` (or `-@dangerous`), and ACL users per role: admin, app (+@all -@dangerous), "
           "replication, sentinel, monitoring")
def _default_all(target: Target) -> Iterator[Hit]:
    user = target.user("default")
    if user is not None and user.enabled and not user.nopass and user.all_commands:
        yield Hit("the default user is on with +@all", _line_of(target, user) or target.last("requirepass"))


@check("RA003", Severity.CRITICAL, "known default password",
       explanation="A password from Redis's sample configs or a common list (foobared, password, ...) is the "
                   "first one every scanner tries.",
       fix="replace it with a random one: `openssl rand -base64 32` (or ACL GENPASS)", kinds=NODES)
def _known_default(target: Target) -> Iterator[Hit]:
    for secret in _distinct(target):
        if secret.digest in _KNOWN_DIGESTS:
            yield Hit(f"{secret.source} is a well-known default password", _at(target, secret))
    for user in target.users:
        for digest in user.digests:
            if digest in _KNOWN_DIGESTS and not any(s.digest == digest for s in target.secrets):
                yield Hit(f"user {user.name}'s password is a well-known default password", _line_of(target, user))


@check("RA004", Severity.HIGH, f"password shorter than {MIN_LENGTH} characters",
       explanation="Redis checks passwords fast (100k+ AUTH per second per connection pool), so a short "
                   "password falls to brute force; its docs ask for long random ones.",
       fix=f"use {MIN_LENGTH}+ random characters: `openssl rand -base64 32`", kinds=NODES)
def _short(target: Target) -> Iterator[Hit]:
    for secret in _distinct(target):
        if secret.plain is not None and secret.digest not in _KNOWN_DIGESTS and len(secret.plain) < MIN_LENGTH:
            yield Hit(f"{secret.source} has {len(secret.plain)} characters", _at(target, secret))


@check("RA005", Severity.MEDIUM, "low-entropy password",
       explanation=f"Repeated or patterned characters (aaaa..., abcabc...) leave under {MIN_ENTROPY_BITS:.0f} "
                   "bits to guess, whatever the length.",
       fix="use a random password: `openssl rand -base64 32`", kinds=NODES)
def _low_entropy(target: Target) -> Iterator[Hit]:
    for secret in _distinct(target):
        plain = secret.plain
        if (plain is not None and secret.digest not in _KNOWN_DIGESTS and len(plain) >= MIN_LENGTH
                and entropy_bits(plain) < MIN_ENTROPY_BITS):
            yield Hit(f"{secret.source} has about {entropy_bits(plain):.0f} bits of entropy", _at(target, secret))


@check("RA006", Severity.MEDIUM, "one password for several roles",
       explanation="The same password for applications, replication (masterauth) and sentinels means a leaked "
                   "application config also opens replication and failover control.",
       fix="give app, replication and sentinel their own passwords (ACL users: `user replica on >P2 +psync "
           "+replconf +ping`)", kinds=NODES, group=True)
def _reused(targets: Sequence[Target]) -> Iterator[Hit]:
    """A target is blamed for a password it uses in two roles itself, or one that is also a sentinel's password.

    A sentinel's ``auth-pass`` is the data nodes' password by design: it is not
    blamed for the nodes using that password for replication too (they are).
    """
    roles: dict[str, set[str]] = defaultdict(set)
    for target in targets:
        for secret in target.secrets:
            roles[secret.digest].add(secret.role)
    for target in targets:
        for digest in dict.fromkeys(s.digest for s in target.secrets):
            mine = [s for s in target.secrets if s.digest == digest]
            own = {s.role for s in mine}
            if len(own) > 1 or ("sentinel" in roles[digest] and len(roles[digest]) > 1):
                where = ", ".join(f"{s.role} ({s.source})" for s in mine)
                others = sorted(roles[digest] - own)
                also = f"; also the {', '.join(others)} password elsewhere" if others else ""
                yield Hit(f"one password serves {where}{also}", _at(target, mine[-1]), target)


def _is_operator(user: AclUser) -> bool:
    return any(user.name.lower().startswith(prefix) for prefix in OPERATOR_USERS)


@check("RA009", Severity.HIGH, "dangerous commands open to an application user",
       explanation="An application user that may run FLUSHALL, CONFIG, DEBUG, MODULE, KEYS, SHUTDOWN, "
                   "REPLICAOF... turns one bug or leaked credential into data loss or takeover.",
       fix="`ACL SETUSER <user> -@dangerous` (or grant only the categories the app uses: +@read +@write ...)")
def _dangerous(target: Target) -> Iterator[Hit]:
    for user in target.users:
        if user.name == "default" or not user.enabled or _is_operator(user):
            continue
        commands = list(dict.fromkeys(user.dangerous()))
        if commands:
            shown = ", ".join(c.upper() for c in commands[:6]) + (", ..." if len(commands) > 6 else "")
            yield Hit(f"user {user.name} may run {shown}", _line_of(target, user))


@check("RA037", Severity.HIGH, "ACL user without a password",
       explanation="An enabled ACL user with `nopass` lets anyone who names it in AUTH in.",
       fix="`ACL SETUSER <user> resetpass >PASSWORD` (or `off` if unused)", kinds=NODES)
def _user_nopass(target: Target) -> Iterator[Hit]:
    for user in target.users:
        if user.name != "default" and user.enabled and user.nopass:
            yield Hit(f"user {user.name} is on with nopass", _line_of(target, user))


@check("RA019", Severity.HIGH, "sentinel without authentication",
       explanation="A sentinel without requirepass accepts SENTINEL SET / FAILOVER / REMOVE from anyone who "
                   "reaches it: it can hand the master role to an attacker's server.",
       fix="set `requirepass <32+ random chars>` in sentinel.conf (clients then pass it as sentinel_kwargs)",
       kinds=SENTINEL)
def _sentinel_open(target: Target) -> Iterator[Hit]:
    user = target.user("default")
    if user is not None and user.enabled and user.nopass:
        yield Hit("the sentinel's default user needs no password", target.last("requirepass"))


@check("RA020", Severity.MEDIUM, "masterauth missing",
       explanation="The node needs a password but has no masterauth: as a replica (after any failover) it "
                   "cannot authenticate to its master, so it never syncs.",
       fix="set `masterauth <the replication password>` (and `masteruser <user>` with ACL users)")
def _masterauth(target: Target) -> Iterator[Hit]:
    user = target.user("default")
    protected = user is not None and not user.nopass
    if protected and not target.value("masterauth") and not target.value("masteruser"):
        what = "requirepass is set" if target.value("requirepass") else "its users need passwords"
        yield Hit(f"{what} but masterauth is not", target.last("replicaof") or target.last("slaveof"))


@check("RA021", Severity.MEDIUM, "sentinel has no auth-pass for its master",
       explanation="A sentinel monitoring a password-protected master without `sentinel auth-pass` sees it as "
                   "down and cannot fail over.",
       fix="add `sentinel auth-pass <master-name> <password>` (or auth-user/auth-pass with an ACL user)",
       kinds=SENTINEL)
def _auth_pass(target: Target) -> Iterator[Hit]:
    monitored = [d for d in target.all("sentinel") if d.args[:1] == ("monitor",) and len(d.args) >= 2]
    authed = {d.args[1] for d in target.all("sentinel") if d.args[:1] == ("auth-pass",) and len(d.args) >= 3}
    for d in monitored:
        if d.args[1] not in authed:
            yield Hit(f"master {d.args[1]} has no auth-pass", d)
