"""Where things are in a Compose project: file names, container paths, the network and its static addresses.

Why static addresses: Sentinel and Cluster remember peers by IP and announce the
address they were given (``sentinel announce-ip``, ``replica-announce-ip``,
``cluster-announce-ip``).  With Docker's dynamic addresses a restarted container
comes back under another IP and its peers keep calling the old one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path

from redisops.address import Address
from redisops.errors import UsageError
from redisops.runtime.conf import Placement
from redisops.runtime.plan import Plan

__all__ = [
    "AUTH_FILE",
    "COMPOSE_FILE",
    "CONF_DIR",
    "DATA_DIR",
    "ENV_FILE",
    "FIRST_HOST",
    "INIT_SCRIPT",
    "INIT_SERVICE",
    "MARKER_FILE",
    "NETWORK",
    "TLS_COPY_DIR",
    "compose_placement",
    "static_ips",
]

COMPOSE_FILE = "docker-compose.yml"
ENV_FILE = "redisops.env"
INIT_SCRIPT = "cluster-init.sh"
INIT_SERVICE = "cluster-init"
MARKER_FILE = ".redisops-compose.json"
NETWORK = "redisops"
#: Container paths; the rendered conf is mounted read-only and copied into /data once.
CONF_DIR = "/etc/redisops"
DATA_DIR = "/data"
AUTH_FILE = f"{DATA_DIR}/auth.conf"
#: a TLS node's copies of its certificates, owned by the redis user (:mod:`redisops.runtime.compose.tls`)
TLS_COPY_DIR = f"{DATA_DIR}/tls"
#: Node k of ``plan.nodes`` gets host number FIRST_HOST + k; .1 is Docker's gateway.
FIRST_HOST = 10


def static_ips(plan: Plan, extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Service name -> IPv4 address: nodes in plan order, then ``extra`` services.

    Static addresses use the lower half of ``compose.subnet``; the upper half is the
    network's ``ip_range`` for containers Compose places dynamically (``compose run``),
    so those can never take a node's address.
    """
    net = ipaddress.ip_network(plan.spec.compose.subnet)
    names = [n.name for n in plan.nodes] + list(extra)
    room = net.num_addresses // 2 - FIRST_HOST
    if len(names) > room:
        raise UsageError(
            f"compose.subnet {net} has room for {room} static addresses; the plan needs {len(names)}",
            hint=f"use a larger subnet such as {net.supernet(new_prefix=max(net.prefixlen - 2, 8))}")
    return {name: str(net.network_address + FIRST_HOST + k) for k, name in enumerate(names)}


def compose_placement(ips: Mapping[str, str], *, tls: bool = False) -> Placement:
    """Where a node runs in Compose: its own network namespace, data in the volume, logs on stdout.

    ``bind <its static address> 127.0.0.1``: the project network and the healthcheck,
    named, rather than ``0.0.0.0``: a container connected to a second network later
    (``docker network connect``) does not start listening there unasked.  ``tls``: the node's certificates are
    its copies in ``/data/tls`` (:mod:`redisops.runtime.compose.tls`).
    """
    return Placement(bind=lambda node: f"{ips[node.name]} 127.0.0.1", dir=DATA_DIR, logfile="", auth_file=AUTH_FILE,
                     address_of=lambda node: Address(ips[node.name], node.address.port),
                     tls_dir=Path(TLS_COPY_DIR) if tls else None)
