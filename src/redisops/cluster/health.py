"""``cluster health``: one row per node -- ping latency, role, link, memory, replication offset.

Latency is the round trip of a ``PING`` on an open connection (connect and
AUTH excluded), the figure a client sees per command.  Rows feed the watcher's
node-down alerts: a node that does not answer is a row with its failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio.connection import Connection

from redisops.address import Address
from redisops.auth import Credential, connection_kwargs, tls_of
from redisops.clients import AsyncTlsConnection
from redisops.cluster.live import fetch_view
from redisops.topology.model import Health
from redisops.topology.parse import parse_info
from redisops.topology.probe import describe_failure

__all__ = ["NodeHealth", "cluster_health", "cluster_health_sync"]


@dataclass(frozen=True)
class NodeHealth:
    address: Address
    node_id: str | None
    role: str  # master / replica / unknown
    link: str  # master: connected / disconnected as peers see it; replica: its link to its master
    latency_ms: float | None
    used_memory: int | None
    offset: int | None
    problem: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"address": str(self.address), "id": self.node_id, "role": self.role, "link": self.link,
                "latency_ms": self.latency_ms, "used_memory": self.used_memory, "offset": self.offset,
                "problem": self.problem}


def cluster_health_sync(seeds: Sequence[Address], password: Credential) -> tuple[Health, tuple[NodeHealth, ...]]:
    return asyncio.run(cluster_health(seeds, password))


async def cluster_health(seeds: Sequence[Address], password: Credential,
                         timeout: float = 2.0) -> tuple[Health, tuple[NodeHealth, ...]]:
    view = await fetch_view(seeds, password, timeout)
    rows = []
    for probe in view.probes:
        me = probe.myself
        peers_link = {n.link_state for p in view.reachable for n in p.nodes if me is not None and n.id == me.id
                      and not n.myself}
        link = "disconnected" if "disconnected" in peers_link else "connected"
        if probe.node.link_up is not None:
            link = "up" if probe.node.link_up else "down"
        rows.append((probe, me.id if me else None, link))
    measured = await asyncio.gather(*(_ping(p.node.address, password, timeout) for p, _, _ in rows))
    out = tuple(NodeHealth(p.node.address, node_id, p.node.role.value, link, latency, memory, p.node.offset,
                           problem or (str(p.node.failure) if p.node.failure else None))
                for (p, node_id, link), (latency, memory, problem) in zip(rows, measured, strict=True))
    bad = [r for r in out if r.problem or r.link in ("down", "disconnected")]
    health = Health.OK if not bad else (Health.DOWN if len(bad) == len(out) else Health.DEGRADED)
    return health, out


async def _ping(address: Address, password: Credential, timeout: float) -> tuple[float | None, int | None,
                                                                                str | None]:
    kind = AsyncTlsConnection if tls_of(password) else Connection
    conn = kind(host=address.host, port=address.port, **connection_kwargs(password), socket_timeout=timeout,
                socket_connect_timeout=timeout, decode_responses=True)
    try:
        await conn.connect()
        start = time.perf_counter()
        await conn.send_command("PING")
        await conn.read_response()
        latency = (time.perf_counter() - start) * 1000
        await conn.send_command("INFO", "memory")
        memory = parse_info(str(await conn.read_response())).get("used_memory")
        return round(latency, 3), int(memory) if memory else None, None
    except Exception as exc:
        return None, None, str(describe_failure(exc, password))
    finally:
        await conn.disconnect()
