"""The ACL users a hardened deployment runs, and the ``auth.conf`` lines that define them.

Every data node gets the same users, each limited to its role:

========================  =====================================================================
``default``               off, no password, no commands: a client must name a user
``admin``                 redisops and its operators: every command, key and channel
``app``                   applications: every key and channel, every command but ``@dangerous``
                          (FLUSHALL, CONFIG, DEBUG, KEYS, SHUTDOWN, REPLICAOF, ...), plus INFO and
                          ROLE, which client libraries ask at connect (ioredis' ready check, role
                          checks of Sentinel-aware clients)
``replication``           a replica's link to its master (``masteruser``): PSYNC, REPLCONF, PING
``sentinel``              Sentinel's own connections (``sentinel auth-user``): what Redis's ACL
                          docs list for it, and the hello channel alone
``redisops-exporter``     redis_exporter (the monitoring role), when the secrets file has its
                          password: see :mod:`redisops.observe.stack.acl`
========================  =====================================================================

Sentinels keep their own ``requirepass`` (``sentinel_password``): what clients and
redisops send to SENTINEL commands.  They reach the data nodes as ``sentinel``.

A user line stores its password as a SHA-256 digest (``#<hex>``) where the password
is known (the local runtime), or as ``>${VAR}`` where a shell puts it in at start
(Compose): either way the plain password lives only in the secrets file (or the
Compose env file) and in the two client-side lines that must send it, ``masterauth``
and ``sentinel auth-pass``, in the same 0600 file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

from redisops.runtime.plan import NodeKind, NodePlan
from redisops.spec.secrets import USERS, Secrets

__all__ = ["ACL_RULES", "DATA_EXPORTER_RULES", "EXPORTER_KEY", "EXPORTER_USER", "OWNED", "SENTINEL_EXPORTER_RULES",
           "AuthValues", "acl_auth_lines", "data_node_auth_lines", "env_name", "env_vars", "legacy_auth_lines",
           "local_values", "password_key", "shell_values", "user_rules"]

#: the exporter's user and the key of its password in the secrets file
EXPORTER_USER = "redisops-exporter"
EXPORTER_KEY = "exporter_password"

#: what each user may do (after ``reset on <password>``)
ACL_RULES: Mapping[str, str] = {
    "admin": "~* &* +@all",
    "app": "~* &* +@all -@dangerous +info +role",
    "replication": "+psync +replconf +ping",
    "sentinel": "&__sentinel__:hello +multi +exec +slaveof +replicaof +ping +subscribe +config|rewrite +role "
                "+publish +info +client|setname +client|kill +script|kill",
}
#: redis_exporter 1.45's needs, found by granting nothing and reading ACL LOG until it was empty; see
#: :mod:`redisops.observe.stack.acl` (CONFIG GET is left out: it would answer masterauth in clear text)
DATA_EXPORTER_RULES = ("-@all", "+client|setname", "+info", "+cluster|info", "+slowlog|len", "+slowlog|get",
                       "+latency|latest")
SENTINEL_EXPORTER_RULES = ("-@all", "+client|setname", "+info", "+sentinel|masters", "+sentinel|sentinels",
                           "+sentinel|slaves", "+sentinel|ckquorum")

#: directives of a node's main conf that belong to auth.conf whatever it holds now: a copy CONFIG REWRITE or
#: SENTINEL FLUSHCONFIG made there (of a password since rotated, or of the legacy requirepass after a migration
#: to ACL users) is dropped at the next start.  ``user default`` too: a rewrite spells requirepass that way, and
#: Redis applies ``user`` lines after every other line, so a stale copy would win over auth.conf's requirepass
OWNED = frozenset({"requirepass", "masterauth", "masteruser", "user default"})


class AuthValues:
    """How ``auth.conf`` spells each secret of the secrets file (by key, e.g. ``admin_password``).

    ``sent(key)``: as a client sends it (``masterauth``, ``sentinel auth-pass``);
    ``stored(key)``: as a user line holds it (``#<sha256>`` or ``>${VAR}``).
    """

    def __init__(self, sent: Callable[[str], str], stored: Callable[[str], str]) -> None:
        self.sent = sent
        self.stored = stored


def local_values(secrets: Secrets, extra: Mapping[str, str] | None = None) -> AuthValues:
    """The passwords themselves (the local runtime writes auth.conf itself, mode 0600); ``extra``: more keys
    than :class:`Secrets` holds (``exporter_password``)."""
    def sent(key: str) -> str:
        value = (extra or {}).get(key) or getattr(secrets, key, None)
        if not isinstance(value, str) or not value:
            raise KeyError(key)
        return value

    return AuthValues(sent, lambda key: "#" + hashlib.sha256(sent(key).encode()).hexdigest())


def env_name(key: str) -> str:
    """The Compose env file's variable for a key of the secrets file: ``APP_PASSWORD``; the admin's is
    ``REDIS_PASSWORD`` (beside ``REDIS_USERNAME=admin``), the names Redis Commander's image reads."""
    return "REDIS_PASSWORD" if key == USERS["admin"] else key.upper()


def env_vars(secrets: Secrets) -> dict[str, str]:
    """The Compose env file's variables (see :func:`env_name`)."""
    if not secrets.acl:
        assert secrets.redis_password is not None
        return {"REDIS_PASSWORD": secrets.redis_password, "SENTINEL_PASSWORD": secrets.sentinel_password}
    out = {"REDIS_USERNAME": "admin", "SENTINEL_PASSWORD": secrets.sentinel_password}
    out.update((env_name(key), getattr(secrets, key)) for key in USERS.values())
    return out


def shell_values() -> AuthValues:
    """Shell variables (:func:`env_name`), filled from Compose's env file at start."""
    return AuthValues(lambda key: f"${{{env_name(key)}}}", lambda key: f">${{{env_name(key)}}}")


def legacy_auth_lines(node: NodePlan, values: AuthValues) -> list[str]:
    """One shared requirepass for the default user (a deployment not migrated to ACL users yet)."""
    if node.kind is NodeKind.SENTINEL:
        return [f"requirepass {values.sent('sentinel_password')}",
                f"sentinel auth-pass {node.group} {values.sent('redis_password')}"]
    return [f"requirepass {values.sent('redis_password')}", f"masterauth {values.sent('redis_password')}"]


def user_rules(kind: NodeKind, *, exporter: bool = False) -> dict[str, str]:
    """User -> its ACL rules (after ``reset on <password>``) on a node of ``kind``: what auth.conf defines and
    what ``redisops acl apply`` sets live, from one table."""
    if kind is NodeKind.SENTINEL:
        return {EXPORTER_USER: " ".join(SENTINEL_EXPORTER_RULES)} if exporter else {}
    out = dict(ACL_RULES)
    if exporter:
        out[EXPORTER_USER] = " ".join(DATA_EXPORTER_RULES)
    return out


def password_key(user: str) -> str:
    """The secrets file's key of ``user``'s password."""
    return EXPORTER_KEY if user == EXPORTER_USER else USERS[user]


def acl_auth_lines(node: NodePlan, values: AuthValues, *, exporter: bool = False, migrating: bool = False) -> list[str]:
    """auth.conf of a hardened node; ``exporter``: with the exporter's user (its password is ``exporter_password``)."""
    if node.kind is NodeKind.SENTINEL:
        users = [f"user {user} reset on {values.stored(password_key(user))} {rules}"
                 for user, rules in user_rules(node.kind, exporter=exporter).items()]
        return [f"requirepass {values.sent('sentinel_password')}",
                f"sentinel auth-user {node.group} sentinel",
                f"sentinel auth-pass {node.group} {values.sent(USERS['sentinel'])}", *users]
    return data_node_auth_lines(values, exporter=exporter, migrating=migrating)


def data_node_auth_lines(values: AuthValues, *, exporter: bool = False, migrating: bool = False) -> list[str]:
    """auth.conf of a hardened data node (of a Sentinel group or a cluster: the same); ``migrating``: the default
    user keeps the shared password until ``redisops acl apply`` ends, so a node restarted meanwhile serves as the
    others do."""
    users = [f"user {user} reset on {values.stored(password_key(user))} {rules}"
             for user, rules in user_rules(NodeKind.REDIS, exporter=exporter).items()]
    default = (f"user default reset on {values.stored('redis_password')} {ACL_RULES['admin']}" if migrating
               else "user default reset")
    return [default, *users, "masteruser replication",
            f"masterauth {values.sent(USERS['replication'])}"]
