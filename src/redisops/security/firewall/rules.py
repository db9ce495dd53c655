"""Who may reach which port of a deployment: the firewall as data, before any syntax.

Every Sentinel group and the cluster open three kinds of port, and each kind
has its own audience:

- **data ports** (a group's redis nodes, the cluster's nodes): the client
  networks (``firewall.clients``), and the members of the same group or
  cluster (replication runs over the data port, sentinels monitor it);
- **sentinel ports**: the client networks (clients ask sentinels where the
  master is) and the group's members (sentinels talk to each other);
- **cluster bus ports** (port + 10000): the cluster's members only.

Anything else that arrives at one of these ports is dropped; every other port
of the machine is left alone.  Members are the group's or cluster's ``hosts``
as single addresses.  The rules match the source address and the destination
port, never an interface, so loopback traffic is filtered the same as any
other (a base ruleset's ``iif lo accept`` in another table does not open
these ports: a drop in any base chain is final).

Pure: a :class:`Ruleset` is built from the plan and compared by its
:attr:`Ruleset.digest`, which the rendered rules carry, so ``firewall status``
can tell an applied ruleset that matches the spec from a stale one.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from redisops.errors import InputError
from redisops.runtime.plan import NodePlan, Plan

__all__ = ["CHAIN_MAX", "Network", "PortRange", "Role", "Ruleset", "Service", "build_ruleset", "port_ranges"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str], Sequence[str]]

#: iptables' longest chain name (XT_EXTENSION_MAXNAMELEN 29, with its NUL)
CHAIN_MAX = 28
#: the cluster bus listens on the data port + 10000 (Redis' default ``cluster-port``)
BUS_OFFSET = 10000


class Role(Enum):
    REDIS = "redis"
    SENTINEL = "sentinel"
    CLUSTER = "cluster"
    CLUSTER_BUS = "cluster-bus"


@dataclass(frozen=True, order=True)
class PortRange:
    low: int
    high: int

    def __str__(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


@dataclass(frozen=True)
class Service:
    """One kind of port of one group (or of the cluster), and who may reach it."""

    group: str
    role: Role
    ports: tuple[PortRange, ...]
    clients: tuple[Network, ...]  # the client networks allowed (none for the cluster bus)
    members: tuple[Network, ...]  # the group's own addresses, one /32 or /128 each

    @property
    def label(self) -> str:
        return f"{self.group} {self.role.value}"

    @property
    def sources(self) -> tuple[Network, ...]:
        """Clients and members, IPv4 first, a member inside a client network left out (it is already allowed)."""
        return _collapse([*self.clients, *self.members])

    def to_data(self) -> dict[str, Any]:
        return {"group": self.group, "role": self.role.value, "ports": [str(p) for p in self.ports],
                "clients": [str(n) for n in self.clients], "members": [str(n) for n in self.members],
                "sources": [str(n) for n in self.sources]}


@dataclass(frozen=True)
class Ruleset:
    deployment: str
    services: tuple[Service, ...]

    @property
    def table(self) -> str:
        """The nftables table of its own (family inet): ``redisops_<name>``."""
        return "redisops_" + self.deployment.replace("-", "_")

    @property
    def chain(self) -> str:
        """The iptables chain of its own: ``REDISOPS-<NAME>``, shortened with a hash past 28 characters."""
        chain = "REDISOPS-" + self.deployment.upper()
        if len(chain) <= CHAIN_MAX:
            return chain
        tag = hashlib.sha1(self.deployment.encode()).hexdigest()[:8].upper()
        return f"REDISOPS-{self.deployment[:CHAIN_MAX - 18].upper().rstrip('-')}-{tag}"

    @property
    def ports(self) -> tuple[PortRange, ...]:
        """Every port the rules guard: the only ports dropped for everyone else."""
        return port_ranges(p for s in self.services for r in s.ports for p in range(r.low, r.high + 1))

    @property
    def digest(self) -> str:
        """16 hex digits over the rules; the rendered rules carry it, ``status`` compares it."""
        text = json.dumps([s.to_data() for s in self.services], sort_keys=True)
        return hashlib.sha256(f"{self.deployment}\n{text}".encode()).hexdigest()[:16]

    @property
    def tag(self) -> str:
        """The mark on the applied rules: ``redisops <name> <digest>``."""
        return f"redisops {self.deployment} {self.digest}"

    def to_data(self) -> dict[str, Any]:
        return {"deployment": self.deployment, "table": f"inet {self.table}", "chain": self.chain,
                "digest": self.digest, "ports": [str(p) for p in self.ports],
                "services": [s.to_data() for s in self.services]}


def build_ruleset(plan: Plan, *, resolve: Resolver | None = None) -> Ruleset:
    """The rules for ``plan``'s nodes and ``plan.spec.firewall.clients``.

    ``resolve`` turns a host name in ``hosts`` into addresses (default: the
    system's resolver); IP addresses are taken as they are.
    """
    resolve = resolve or _resolve
    clients = tuple(ipaddress.ip_network(c) for c in plan.spec.firewall.clients)
    services: list[Service] = []
    for group in plan.groups:
        members = _members([*group.redis, *group.sentinels], resolve)
        services.append(Service(group.spec.name, Role.REDIS, _ports(group.redis), clients, members))
        services.append(Service(group.spec.name, Role.SENTINEL, _ports(group.sentinels), clients, members))
    if plan.cluster is not None:
        nodes = plan.cluster.nodes
        members = _members(nodes, resolve)
        name = plan.cluster.spec.name
        services.append(Service(name, Role.CLUSTER, _ports(nodes), clients, members))
        services.append(Service(name, Role.CLUSTER_BUS, _ports(nodes, BUS_OFFSET), (), members))
    return Ruleset(plan.spec.name, tuple(services))


def port_ranges(ports: Iterable[int]) -> tuple[PortRange, ...]:
    """Sorted ports as the fewest contiguous ranges: 7000..7005 is one range."""
    out: list[PortRange] = []
    for port in sorted(set(ports)):
        if out and out[-1].high == port - 1:
            out[-1] = PortRange(out[-1].low, port)
        else:
            out.append(PortRange(port, port))
    return tuple(out)


def _ports(nodes: Sequence[NodePlan], offset: int = 0) -> tuple[PortRange, ...]:
    return port_ranges(n.address.port + offset for n in nodes)


def _members(nodes: Sequence[NodePlan], resolve: Resolver) -> tuple[Network, ...]:
    addresses: set[Network] = set()
    for host in sorted({n.address.host for n in nodes}):
        for address in _addresses(host, resolve):
            addresses.add(ipaddress.ip_network(address))
    return _collapse(addresses)


def _addresses(host: str, resolve: Resolver) -> Sequence[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    if host == "localhost":
        return ["127.0.0.1", "::1"]
    found = resolve(host)
    if not found:
        raise InputError(f"host {host!r} does not resolve to an address, so no firewall rule can name it",
                         hint="write the member's IP address in the spec's hosts")
    return found


def _resolve(host: str) -> Sequence[str]:
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return sorted({str(info[4][0]) for info in infos})


def _collapse(networks: Iterable[Network]) -> tuple[Network, ...]:
    """Sorted, IPv4 first, without a network inside another (nft refuses overlapping elements of a set).

    Neighbours are kept apart (10.0.1.2 and 10.0.1.3 stay two members, not one /31), so the rules read like the spec.
    """
    kept: list[Network] = []
    for network in sorted(set(networks), key=lambda n: (n.version, n.prefixlen, n.network_address)):
        if not any(network.version == k.version and network.subnet_of(k) for k in kept):  # type: ignore[arg-type]
            kept.append(network)
    return tuple(sorted(kept, key=lambda n: (n.version, n.network_address, n.prefixlen)))
