"""The exporter's least-privilege ACL user on every node, kept across restarts.

redis_exporter 1.45 runs, per scrape (found by granting nothing and reading
``ACL LOG`` until it was empty):

- data nodes: ``CLIENT SETNAME``, ``INFO ALL``, ``CONFIG GET *``, ``CLUSTER INFO``
  (cluster nodes), ``SLOWLOG LEN``, ``SLOWLOG GET``, ``LATENCY LATEST``;
- sentinels: ``CLIENT SETNAME``, ``INFO ALL``, ``SENTINEL MASTERS``, and per master
  ``SENTINEL SENTINELS``, ``SENTINEL SLAVES``, ``SENTINEL CKQUORUM``.

Everything but ``CONFIG GET`` is granted, and nothing else: no keys, no
channels, no writes.  ``CONFIG GET *`` answers ``requirepass`` and
``masterauth`` in clear text, so granting it would make the exporter's password
as good as the admin password; without it the exporter logs the refusal once
and skips only ``redis_config_*`` (``maxmemory`` still comes from INFO as
``redis_memory_max_bytes``).  Each scrape then adds one ``NOPERM`` to the node's
error counters and bumps the count of one merged ``ACL LOG`` entry.

The user must survive a restart: ``ACL SETUSER`` lives in memory only, so the
data node persists it with ``CONFIG REWRITE`` (no aclfile is used, so Redis
writes every user as a ``user`` line of redis.conf, password hashed) and the
sentinel with ``SENTINEL FLUSHCONFIG`` (the same into sentinel.conf).  A node
created afresh later (its disk lost) gets the user at the next ``monitor up``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import redis

from redisops.address import Address
from redisops.auth import Credential
from redisops.clients import connect
from redisops.runtime.acl import DATA_EXPORTER_RULES, SENTINEL_EXPORTER_RULES
from redisops.runtime.plan import NodeKind

__all__ = ["DATA_NODE_RULES", "SENTINEL_RULES", "AclOutcome", "diagnose", "ensure_user"]

DATA_NODE_RULES = DATA_EXPORTER_RULES
SENTINEL_RULES = SENTINEL_EXPORTER_RULES


@dataclass(frozen=True)
class AclOutcome:
    """What happened on one node: ``created`` / ``updated`` / ``unchanged``, or ``failed`` with the reason."""

    address: Address
    action: str
    detail: str = ""


def rules_for(kind: NodeKind) -> tuple[str, ...]:
    return SENTINEL_RULES if kind is NodeKind.SENTINEL else DATA_NODE_RULES


def ensure_user(address: Address, kind: NodeKind, admin_password: Credential, user: str, password: str,
                timeout: float = 3.0) -> AclOutcome:
    """Make ``user`` exist on the node exactly as wanted and persisted; idempotent (no write when it already is)."""
    rules = rules_for(kind)
    try:
        with connect(address, admin_password, timeout) as client:
            current = client.acl_getuser(user)
            if current is not None and _same(current, password, rules):
                return AclOutcome(address, "unchanged")
            client.execute_command("ACL", "SETUSER", user, "reset", "on", f">{password}", "resetchannels",
                                   *rules)
            if kind is NodeKind.SENTINEL:
                client.execute_command("SENTINEL", "FLUSHCONFIG")
            else:
                client.execute_command("CONFIG", "REWRITE")
    except redis.AuthenticationError:
        return AclOutcome(address, "failed", "the admin password was refused")
    except (redis.ConnectionError, redis.TimeoutError):
        return AclOutcome(address, "failed", "the node does not answer")
    except redis.ResponseError as exc:
        return AclOutcome(address, "failed", str(exc).split("\n")[0][:200])
    return AclOutcome(address, "updated" if current is not None else "created")


def diagnose(address: Address, kind: NodeKind, admin_password: Credential, user: str, password: str,
             timeout: float = 2.0) -> str:
    """Why the exporter cannot read a node, in words.

    redis_exporter 1.45 reports every failed connection, a refused login
    included, as ``dial redis: unknown network redis``; asking the node
    ourselves tells a dead node from a missing or stale exporter user.
    """
    try:
        with connect(address, admin_password, timeout) as client:
            current = client.acl_getuser(user)
    except redis.AuthenticationError:
        return "the node refuses the admin password from the secrets file"
    except (redis.ConnectionError, redis.TimeoutError):
        return "the node does not answer (down?)"
    except redis.ResponseError as exc:
        return str(exc).split("\n")[0][:200]
    if current is None or not _same(current, password, rules_for(kind)):
        return f"the node's {user} user is missing or stale: run `redisops monitor up`"
    return "the exporter cannot log in, though the node and its user look right"


def _same(current: Mapping[str, object], password: str, rules: Sequence[str]) -> bool:
    """Does ``ACL GETUSER``'s reply already say: on, this password only, these commands, no keys, no channels?"""
    flags = {str(f) for f in _as_list(current.get("flags"))}
    passwords = [str(p) for p in _as_list(current.get("passwords"))]
    # redis-py splits Redis's "-@all +info ..." into categories and commands; raw replies keep them in one string
    commands = [str(c) for c in _as_list(current.get("commands")) + _as_list(current.get("categories"))]
    return ("on" in flags and passwords == [hashlib.sha256(password.encode()).hexdigest()]
            and set(commands) == set(rules) and not _as_list(current.get("keys"))
            and not _as_list(current.get("channels")) and not _as_list(current.get("selectors")))


def _as_list(value: object) -> list[object]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return list(str(value).split())
