"""The topology spec (``redisops.yaml``) as pydantic models.

Field-level limits live here; rules that relate several fields (quorum vs
sentinels, port overlaps, timeouts) live in :mod:`redisops.spec.rules` so they
can be read in one place and report every problem at once.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from redisops.spec.alerts import AlertsSpec
from redisops.spec.backup import BackupSpec
from redisops.spec.base import SpecModel as _Model
from redisops.spec.firewall import FirewallSpec
from redisops.spec.monitor import MonitorSpec
from redisops.spec.watch import WatchSpec

__all__ = [
    "OwnTls",
    "TlsSpec",
    "AuthSpec",
    "ClusterSpec",
    "ComposeSpec",
    "DataRole",
    "MaxmemoryPolicy",
    "Persistence",
    "RedisSpec",
    "SentinelGroup",
    "Spec",
    "parse_bytes",
]

_NAME = r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}


def parse_bytes(value: Any) -> int:
    """Redis memory notation (``256mb``, ``1gb``, ``0``) to bytes, as redis.conf reads it."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 256mb")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must not be negative")
        return value
    match = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", str(value))
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"{value!r} is not a size (use bytes or a unit: 100mb, 2gb)")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


ByteSize = Annotated[int, BeforeValidator(parse_bytes)]


class Persistence(str, Enum):
    """What survives a restart. ``both``: AOF (everysec) plus RDB snapshots."""

    NONE = "none"
    RDB = "rdb"
    AOF = "aof"
    BOTH = "both"


class MaxmemoryPolicy(str, Enum):
    NOEVICTION = "noeviction"
    ALLKEYS_LRU = "allkeys-lru"
    ALLKEYS_LFU = "allkeys-lfu"
    ALLKEYS_RANDOM = "allkeys-random"
    VOLATILE_LRU = "volatile-lru"
    VOLATILE_LFU = "volatile-lfu"
    VOLATILE_RANDOM = "volatile-random"
    VOLATILE_TTL = "volatile-ttl"


class DataRole(str, Enum):
    """What the data is: a ``store`` keeps every key (noeviction: full means -OOM, alerts warn before);
    a ``cache`` may lose any key (allkeys-lfu evicts the least used).  ``redisops tune memory`` picks the
    eviction policy from it."""

    STORE = "store"
    CACHE = "cache"


class _NodeSettings(_Model):
    hosts: list[str] = Field(default_factory=lambda: ["127.0.0.1"], min_length=1)
    persistence: Persistence = Persistence.BOTH
    maxmemory: ByteSize = Field(default=256 * 1024**2, description="0 means no limit")
    maxmemory_policy: MaxmemoryPolicy = MaxmemoryPolicy.NOEVICTION
    role: DataRole = DataRole.STORE

    @field_validator("hosts")
    @classmethod
    def _hosts_unique(cls, hosts: list[str]) -> list[str]:
        if len(set(hosts)) != len(hosts):
            raise ValueError("hosts must not repeat")
        for host in hosts:
            if not re.fullmatch(r"[A-Za-z0-9.:_-]+", host):
                raise ValueError(f"{host!r} is not a host name or IP address")
        return hosts


class SentinelGroup(_NodeSettings):
    """One replicated master watched by Sentinels.

    Ports: data nodes use ``port .. port+replicas``, sentinels use
    ``sentinel_port .. sentinel_port+sentinels-1``; nodes are placed round-robin
    over ``hosts`` (several loopback addresses simulate several hosts).
    """

    name: str = Field(default="mymaster", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    port: int = Field(default=6400, ge=1, le=65535)
    replicas: int = Field(default=2, ge=1, le=32)
    sentinels: int = Field(default=3, ge=3, le=15)
    sentinel_port: int = Field(default=26400, ge=1, le=65535)
    quorum: int = Field(default=2, ge=1, description="default: a majority of the sentinels")
    down_after_ms: int = Field(default=5000, ge=100, le=3_600_000)
    failover_timeout_ms: int = Field(default=60000, ge=1000, le=86_400_000)
    parallel_syncs: int = Field(default=1, ge=1)
    min_replicas_to_write: int = Field(default=0, ge=0)
    min_replicas_max_lag: int = Field(default=10, ge=1, description="seconds")

    @model_validator(mode="before")
    @classmethod
    def _default_quorum(cls, data: Any) -> Any:
        if isinstance(data, dict) and "quorum" not in data:
            sentinels = data.get("sentinels", 3)
            if isinstance(sentinels, int) and not isinstance(sentinels, bool):
                data = {**data, "quorum": max(1, sentinels // 2 + 1)}
        return data

    @property
    def majority(self) -> int:
        return self.sentinels // 2 + 1


class ClusterSpec(_NodeSettings):
    """A Redis Cluster: ``masters`` shards, each with ``replicas_per_master`` replicas.

    Ports ``port .. port+masters*(1+replicas_per_master)-1``; each node's cluster
    bus listens on its port + 10000.
    """

    name: str = Field(default="main", pattern=_NAME)
    port: int = Field(default=7000, ge=1, le=55535)
    masters: int = Field(default=3, ge=3, le=100)
    replicas_per_master: int = Field(default=1, ge=0, le=5)
    node_timeout_ms: int = Field(default=5000, ge=100, le=3_600_000)
    require_full_coverage: bool = True

    @property
    def size(self) -> int:
        return self.masters * (1 + self.replicas_per_master)


class AuthSpec(_Model):
    """Passwords are generated by ``redisops init`` into ``secrets_file`` (mode 0600),
    relative to the spec file, and never printed."""

    secrets_file: str = "redisops.secrets.yaml"


class OwnTls(_Model):
    """Certificates you issued yourself, used instead of generated ones (paths relative to the spec file).
    ``{node}`` in ``cert_file`` / ``key_file`` stands for a node's name (``pki/{node}.crt``: one per node);
    without it every node shares one certificate, which then names every node's host."""

    ca_file: str = Field(description="the CA certificate (or bundle) that signed them: what nodes and clients trust")
    cert_file: str = Field(description="a node's certificate (serverAuth + clientAuth), chain after it")
    key_file: str = Field(description="its private key")
    client_cert_file: str | None = Field(default=None, description="what redisops presents (clientAuth); "
                                                                   "default: the shared cert_file")
    client_key_file: str | None = None

    @model_validator(mode="after")
    def _client(self) -> OwnTls:
        per_node = "{node}" in self.cert_file or "{node}" in self.key_file
        if ("{node}" in self.cert_file) != ("{node}" in self.key_file):
            raise ValueError("cert_file and key_file must both use {node}, or neither")
        if (self.client_cert_file is None) != (self.client_key_file is None):
            raise ValueError("give client_cert_file and client_key_file together")
        if per_node and self.client_cert_file is None:
            raise ValueError("with one certificate per node ({node}), give client_cert_file and client_key_file: "
                             "the certificate redisops logs in with")
        return self

    def node_files(self, node: str) -> tuple[str, str]:
        return self.cert_file.replace("{node}", node), self.key_file.replace("{node}", node)

    def client_files(self) -> tuple[str, str]:
        return self.client_cert_file or self.cert_file, self.client_key_file or self.key_file


class TlsSpec(_Model):
    """TLS for every connection: ``port 0`` (no plaintext port), ``tls-port`` on the spec's ports, replication,
    the cluster bus and the sentinels over TLS, clients with certificates (``tls-auth-clients yes``).  ``up``
    generates a CA and a certificate per node and for redisops into ``.redisops/<name>/tls``; ``render compose``
    one per container into the project (see docs/tls.md).  Changed for a deployment that exists by
    ``down`` + ``up``: every node switches as it starts."""

    enabled: bool | Literal["auto"] = Field(
        default="auto", description="auto: TLS wherever a node listens beyond loopback (every Compose project; "
                                    "the local runtime only on a non-loopback host), true: always, false: never")

    @field_validator("enabled", mode="before")
    @classmethod
    def _tri_state(cls, value: Any) -> bool | str:
        if isinstance(value, bool) or value == "auto":
            return value  # type: ignore[no-any-return]
        raise ValueError(f"{value!r} is not one of true, false, auto")

    own: OwnTls | None = Field(default=None, description="your own certificates instead of generated ones")

    def on(self, *, exposed: bool) -> bool:
        """Whether nodes that do (``exposed``) or do not listen beyond loopback run TLS."""
        return exposed if self.enabled == "auto" else bool(self.enabled)


class RedisSpec(_Model):
    image: str = Field(default="redis:7.0.15", description="pinned image for Compose / Kubernetes")

    @field_validator("image")
    @classmethod
    def _pinned(cls, image: str) -> str:
        name, _, tag = image.rpartition(":")
        if not name or "/" in tag or not tag or tag == "latest":
            raise ValueError(f"{image!r} is not pinned: give a version tag such as redis:7.0.15")
        return image


class ComposeSpec(_Model):
    subnet: str = Field(default="172.28.0.0/24", description="static addresses keep Sentinel and Cluster stable")

    @field_validator("subnet")
    @classmethod
    def _subnet(cls, subnet: str) -> str:
        import ipaddress

        try:
            net = ipaddress.ip_network(subnet, strict=True)
        except ValueError as exc:
            raise ValueError(f"{subnet!r} is not a network such as 172.28.0.0/24") from exc
        if net.num_addresses < 64:
            raise ValueError("needs at least a /26 (64 addresses)")
        return subnet


class Spec(_Model):
    name: str = Field(default="demo", pattern=_NAME)
    redis: RedisSpec = Field(default_factory=RedisSpec)
    auth: AuthSpec = Field(default_factory=AuthSpec)
    tls: TlsSpec = Field(default_factory=TlsSpec)
    sentinel: list[SentinelGroup] = Field(default_factory=list)
    cluster: ClusterSpec | None = None
    compose: ComposeSpec = Field(default_factory=ComposeSpec)
    alerts: AlertsSpec = Field(default_factory=AlertsSpec)
    watch: WatchSpec = Field(default_factory=WatchSpec)
    backup: BackupSpec = Field(default_factory=BackupSpec)
    monitor: MonitorSpec = Field(default_factory=MonitorSpec)
    firewall: FirewallSpec = Field(default_factory=FirewallSpec)

    def group(self, name: str) -> SentinelGroup:
        for group in self.sentinel:
            if group.name == name:
                return group
        known = ", ".join(g.name for g in self.sentinel) or "none"
        raise KeyError(f"no sentinel group {name!r} (groups: {known})")
