"""The live layer: read running nodes in parallel and turn each into a :class:`Target`.

Each node costs one round trip: ``INFO``, ``CONFIG GET *`` and ``ACL LIST`` go
in one pipeline (a sentinel has no CONFIG: its settings come from its own
sentinel.conf when that file is on this machine, found through INFO's
``config_file``).  All nodes are probed at once on threads, so the audit takes
about as long as the slowest node, not the sum.

A node that answers NOPERM is reported with the ACL permission the audit
needs (``ACL SETUSER <user> +config|get``); a wrong password or a dead node
is reported too, and the rest are still audited.  On a node whose process
runs here, the audit also reads the process's listening ports from /proc and
the modes of its config file and data directory.
"""

from __future__ import annotations

import functools
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from redisops.address import Address
from redisops.auth import Credential, Login
from redisops.clients import make_client
from redisops.errors import UsageError
from redisops.runtime.host import is_local
from redisops.runtime.plan import NodeKind, build_plan
from redisops.security.audit.acl import AclUser, parse_user
from redisops.security.audit.conf import ConfigFileError, load_config, role_of, split_args
from redisops.security.audit.engine import NothingAudited, Report, TargetError, run_checks
from redisops.security.audit.host import listen_table, listening_ports, read_host
from redisops.security.audit.model import Directive, Kind, Layer, Secret, Severity, Target
from redisops.spec.secrets import Secrets

__all__ = ["LiveNode", "TlsClient", "audit_live", "nodes_from_seeds", "nodes_from_spec"]

#: what the audit needs to run, by command: the message for a NOPERM
_PERMISSION = {"info": "+info", "config": "+config|get", "acl": "+acl|list"}


@dataclass(frozen=True)
class TlsClient:
    """How to reach TLS-only nodes (``port 0`` + ``tls-port``): the CA that signed them, and a client
    certificate when they require one (``tls-auth-clients yes``, Redis's default).

    The server's certificate is verified against ``ca_file``; its host name is not, as nodes are
    addressed by IP and certificates rarely name every address.
    """

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def options(self) -> dict[str, Any]:
        return {"ssl": True, "ssl_ca_certs": self.ca_file, "ssl_certfile": self.cert_file,
                "ssl_keyfile": self.key_file, "ssl_check_hostname": False, "ssl_cert_reqs": "required"}


@dataclass(frozen=True)
class LiveNode:
    address: Address
    password: Credential = field(repr=False)
    username: str | None = None  # --user: an ACL user for a bare password
    kind: Kind | None = None  # None: ask the node (INFO's redis_mode)
    name: str | None = None
    expected_ports: frozenset[int] = frozenset()
    tls: TlsClient | None = None
    data_role: str | None = None  # the spec's `role:` of a data node

    @property
    def label(self) -> str:
        return f"{self.name} ({self.address})" if self.name else str(self.address)


def nodes_from_spec(spec: Any, secrets: Secrets) -> list[LiveNode]:
    """Every node of the spec, with the password the secrets file holds for its kind."""
    out = []
    roles = {g.name: g.role.value for g in spec.sentinel}
    for node in build_plan(spec).nodes:
        sentinel = node.kind is NodeKind.SENTINEL
        role = None if sentinel else spec.cluster.role.value if node.kind is NodeKind.CLUSTER else roles[node.group]
        out.append(LiveNode(node.address, secrets.sentinel if sentinel else secrets.admin,
                            kind=Kind.SENTINEL if sentinel else Kind.REDIS, name=node.name,
                            expected_ports=frozenset({node.address.port}), data_role=role))
    return out


def nodes_from_seeds(seeds: Sequence[str], password: str | None, username: str | None = None,
                     tls: TlsClient | None = None) -> list[LiveNode]:
    out = []
    for seed in seeds:
        try:
            address = Address.parse(seed)
        except ValueError as exc:
            raise UsageError(f"--seed {seed!r}: {exc}", hint="write it as host:port, e.g. 127.0.0.1:6379") from None
        out.append(LiveNode(address, password, username, tls=tls))
    return out


def audit_live(nodes: Sequence[LiveNode], fail_on: Severity = Severity.HIGH, *, timeout: float = 3.0,
               sentinel_password: str | None = None,
               clock: Callable[[], float] = time.monotonic) -> Report:
    """Probe ``nodes`` in parallel, add the local host, run every live check."""
    if not nodes:
        raise UsageError("no node to audit", hint="pass -f SPEC, or --seed host:port")
    started = clock()
    with ThreadPoolExecutor(max_workers=min(32, len(nodes) + 1), thread_name_prefix="audit") as pool:
        host_future = pool.submit(read_host)
        sockets = listen_table()
        futures = [pool.submit(_probe, node, timeout, sentinel_password, sockets) for node in nodes]
        results = [f.result() for f in futures]
        host = host_future.result()
    targets = [r for r in results if isinstance(r, Target)]
    errors = [r for r in results if isinstance(r, TargetError)]
    if not targets:
        raise NothingAudited(errors)
    if any(t.local for t in targets):
        backlog = next((t.value("tcp-backlog") for t in targets if t.value("tcp-backlog")), "511")
        targets.append(Target(f"host {socket.gethostname()}", Kind.HOST, Layer.LIVE, host=host,
                              info={"tcp_backlog": backlog or "511"}))
    report = Report(Layer.LIVE, targets, run_checks(targets), fail_on, errors)
    report.seconds = clock() - started
    return report


def _probe(node: LiveNode, timeout: float, sentinel_password: str | None,
           sockets: dict[str, int] | None = None) -> Target | TargetError:
    """One node as a target; a seed of unknown kind that refuses the password is tried with the sentinels'.

    The sentinels' password is their default user's (``requirepass``): ``--user`` names the data nodes' ACL user."""
    as_sentinel = node.kind is Kind.SENTINEL and sentinel_password is not None
    first = sentinel_password if as_sentinel else node.password
    result = _probe_with(node, first, timeout, sockets, username=None if as_sentinel else node.username)
    retry = node.kind is None and sentinel_password is not None and sentinel_password != first
    if retry and isinstance(result, TargetError) and result.refused:
        return _probe_with(node, sentinel_password, timeout, sockets, username=None)
    return result


def _probe_with(node: LiveNode, password: Credential, timeout: float,
                sockets: dict[str, int] | None, *, username: str | None) -> Target | TargetError:
    tls = node.tls.options() if node.tls else {}
    if username and isinstance(password, str):
        password = Login(username, password)
    client = make_client(node.address, password, timeout=timeout, **tls, **_quiet_driver())
    try:
        pipe = client.pipeline(transaction=False)
        pipe.info()
        pipe.execute_command("CONFIG", "GET", "*")
        pipe.execute_command("ACL", "LIST")
        info, config, acl = pipe.execute(raise_on_error=False)
    except redis.AuthenticationError:
        return TargetError(node.label, "authentication failed: wrong or missing password (check the secrets "
                                       "file, or --password-env / --user)", refused=True)
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        return TargetError(node.label, f"unreachable ({exc})")
    finally:
        client.close()
    if isinstance(info, Exception):
        return _refused(node, "info", info)
    kind = node.kind or (Kind.SENTINEL if info.get("redis_mode") == "sentinel" else Kind.REDIS)
    if kind is Kind.REDIS and isinstance(config, Exception):
        return _refused(node, "config", config)
    if isinstance(acl, Exception):
        return _refused(node, "acl", acl)
    return _target(node, kind, info, None if kind is Kind.SENTINEL else config, acl, sockets)


@functools.cache
def _quiet_driver() -> dict[str, Any]:
    """No CLIENT SETINFO: redis-py would otherwise look its own version up in package metadata per client."""
    try:
        from redis.driver_info import DriverInfo
    except ImportError:  # an older redis-py: it sends what it sends
        return {}
    return {"driver_info": DriverInfo(name=None, lib_version=None)}


def _refused(node: LiveNode, command: str, exc: Exception) -> TargetError:
    text = str(exc)
    if isinstance(exc, redis.exceptions.NoPermissionError) or text.startswith("NOPERM") or "no permissions" in text:
        user = node.username or "default"
        perm = _PERMISSION[command]
        return TargetError(node.label, f"user {user} may not run {command.upper()} "
                                       f"({'CONFIG GET' if command == 'config' else command.upper()} needs "
                                       f"{perm}): grant it with `ACL SETUSER {user} {perm}`, or audit as an "
                                       f"admin user", refused=True)
    if isinstance(exc, redis.AuthenticationError) or "NOAUTH" in text:
        return TargetError(node.label, "authentication required: pass the password (secrets file, "
                                       "--password-env)", refused=True)
    return TargetError(node.label, f"{command.upper()} failed: {text}")


def _target(node: LiveNode, kind: Kind, info: dict[str, Any], config: Any, acl: list[Any],
            sockets: dict[str, int] | None) -> Target:
    info_text = {k: str(v) for k, v in info.items() if not isinstance(v, dict)}
    users = tuple(_user(line) for line in acl)
    local = is_local(node.address.host)
    pid = int(info_text.get("process_id", "0") or 0)
    listening = listening_ports(pid, sockets) if local and pid else None
    if listening is not None and node.address.port not in listening:
        listening, local = None, False  # the pid is not this node's process (another host, a container)
    conf_file = info_text.get("config_file") or ""
    on_disk = _on_disk(conf_file) if local and conf_file else None
    if kind is Kind.SENTINEL:
        directives = on_disk.directives if on_disk else (Directive("port", (info_text.get("tcp_port", "26379"),)),)
    else:
        directives = tuple(_directive(k, v) for k, v in _pairs(config))
    secrets = tuple(_secrets(kind, directives, users))
    modules = [v for k, v in info.items() if k.startswith("module") and v]
    return Target(node.label, kind, Layer.LIVE, directives, users, secrets, on_disk.files if on_disk else (),
                  on_disk.secret_files if on_disk else frozenset(),
                  {**info_text, **({"module": ", ".join(map(str, modules))} if modules else {})},
                  listening, node.expected_ports, local=local, data_role=node.data_role)


def _pairs(config: Any) -> list[tuple[str, str]]:
    if isinstance(config, dict):
        return [(str(k), str(v)) for k, v in config.items()]
    items = list(config)
    return [(str(items[i]), str(items[i + 1])) for i in range(0, len(items) - 1, 2)]


def _directive(name: str, value: str) -> Directive:
    return Directive(name.lower(), tuple(value.split(" ")) if value else ("",))


def _user(line: str) -> AclUser:
    parts = split_args(str(line))
    return parse_user(parts[1], parts[2:]) if len(parts) >= 2 else parse_user("?", [])


def _secrets(kind: Kind, directives: Sequence[Directive], users: Sequence[AclUser]) -> list[Secret]:
    out: list[Secret] = []
    values = {d.name: d.value for d in directives}
    own = "sentinel" if kind is Kind.SENTINEL else "app"
    if values.get("requirepass"):
        out.append(Secret.of(own, "requirepass", values["requirepass"]))
    if kind is Kind.REDIS and values.get("masterauth"):
        out.append(Secret.of("replication", "masterauth", values["masterauth"]))
    for user in users:
        for digest in user.digests:
            if not any(s.digest == digest for s in out):
                out.append(Secret(role_of(kind, user.name), f"user {user.name}", digest))
    for d in directives:
        if d.name == "sentinel" and len(d.args) == 3 and d.args[0].lower() == "auth-pass" and d.args[2]:
            out.append(Secret.of("app", f"sentinel auth-pass {d.args[1]}", d.args[2]))
    return out


def _on_disk(conf_file: str) -> Target | None:
    """The node's config file as the static layer reads it (its includes followed), when it is here.

    A sentinel's settings come only from there (Sentinel has no CONFIG GET); for any
    node it says which files hold passwords, for the file-mode check.
    """
    try:
        return load_config(Path(conf_file))
    except ConfigFileError:
        return None
