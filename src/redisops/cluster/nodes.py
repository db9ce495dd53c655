"""Changing membership: form a cluster from any list of nodes, add a node to a running one, remove one.

``create`` places masters and replicas with *anti-affinity by host*: masters
are taken round-robin over hosts, and each replica goes to a master on another
host when one exists, so losing one machine never takes a master together with
its replica.  Formation itself is :func:`redisops.cluster.create.form_cluster`.

``add-node`` refuses a node that holds keys or already knows other nodes (it
belongs to another cluster, and a MEET would merge the two), sends ``CLUSTER
MEET`` from the new node, waits until every node knows every other (gossip
carries the news; until then a ``REPLICATE`` or a move would race it), and
then makes it a replica when asked.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from itertools import chain, zip_longest
from pathlib import Path

import redis

from redisops.address import Address
from redisops.auth import Credential
from redisops.clients import make_client
from redisops.clock import Clock, SystemClock
from redisops.cluster.create import ClusterShape, form_cluster
from redisops.cluster.errors import PlanError
from redisops.cluster.journal import read_journal
from redisops.cluster.live import ClusterView, fetch_view, wait_converged
from redisops.cluster.mover import MoveProgress, MoveReport, MoverSettings, move_slots_sync
from redisops.cluster.planner import plan_rebalance
from redisops.errors import AuthError, ClusterFormationError, NodeUnreachableError, UsageError
from redisops.runtime.plan import slot_ranges
from redisops.runtime.temporary import Journal
from redisops.topology.parse import parse_cluster_nodes

__all__ = ["add_node", "create_cluster", "remove_node", "shape_for"]

#: fewer cannot survive losing a master: marking it failed and electing its replica both need a majority of masters
MIN_MASTERS = 3


def shape_for(nodes: Sequence[Address], replicas: int) -> ClusterShape:
    """Masters round-robin over hosts; replicas on other hosts than their master where possible."""
    if len(set(nodes)) != len(nodes):
        raise UsageError("a node is listed twice")
    masters_count = len(nodes) // (replicas + 1)
    if masters_count < MIN_MASTERS:
        raise UsageError(f"{len(nodes)} nodes with --replicas {replicas} make {masters_count} masters; "
                         f"a cluster needs at least {MIN_MASTERS}",
                         hint=f"give at least {MIN_MASTERS * (replicas + 1)} nodes")
    by_host: dict[str, list[Address]] = {}
    for node in nodes:
        by_host.setdefault(node.host, []).append(node)
    spread = [n for n in chain.from_iterable(zip_longest(*by_host.values())) if n is not None]
    masters, rest = spread[:masters_count], spread[masters_count:]
    replica_of: dict[Address, Address] = {}
    for round_start in range(0, masters_count * replicas, masters_count):
        replica_of.update(_pair(rest[round_start:round_start + masters_count], masters))
    ranges = slot_ranges(masters_count)
    return ClusterShape(tuple(masters), dict(zip(masters, ranges, strict=True)), replica_of)


def _pair(replicas: Sequence[Address], masters: Sequence[Address]) -> dict[Address, Address]:
    """One replica per master: the rotation of the masters that puts fewest replicas on their master's host."""
    def clashes(shift: int) -> int:
        return sum(r.host == masters[(i + shift) % len(masters)].host for i, r in enumerate(replicas))

    best = min(range(len(masters)), key=lambda shift: (clashes(shift), shift == 0))
    return {r: masters[(i + best) % len(masters)] for i, r in enumerate(replicas)}


def create_cluster(nodes: Sequence[Address], password: Credential, *, replicas: int = 1, force: bool = False,
                   clock: Clock | None = None, journal: Journal | None = None) -> str:
    shape = shape_for(nodes, replicas)
    return form_cluster(shape, password, clock=clock, allow_keys=force, journal=journal)


def add_node(seeds: Sequence[Address], new: Address, password: Credential, *, replica_of: str | None = None,
             clock: Clock | None = None, timeout: float = 30.0) -> str:
    """MEET ``new`` into the cluster of ``seeds``; make it a replica of ``replica_of`` when given."""
    clock = clock or SystemClock()
    view = asyncio.run(fetch_view(seeds, password))
    master = None
    if replica_of is not None:
        try:
            master = view.resolve(replica_of)
        except KeyError:
            raise PlanError(f"--replica-of {replica_of}: no single node of this cluster matches") from None
        if master not in view.masters:
            raise PlanError(f"--replica-of {replica_of} is not a master")
    client = make_client(new, password, timeout=5.0)
    try:
        _refuse_foreign(client, new)
        seed = next(p.node.address for p in view.reachable)
        client.execute_command("CLUSTER", "MEET", seed.host, seed.port)
        asyncio.run(wait_converged([seed, new], password, clock, timeout))
        if master is not None:
            client.execute_command("CLUSTER", "REPLICATE", master)
            asyncio.run(wait_converged([seed, new], password, clock, timeout))
            _wait_synced(client, new, clock, timeout)
    finally:
        client.close()
    role = f"replica of {view.address(master)}" if master is not None else "master without slots"
    hint = "" if master is not None else "; give it slots with `redisops cluster rebalance --use-empty-masters`"
    return f"added {new} as {role}{hint}"


def _wait_synced(client: redis.Redis, new: Address, clock: Clock, timeout: float) -> None:
    """Until the first full sync is done: before it, the new replica holds nothing and a failover to it loses all."""
    deadline = clock.now() + timeout
    while True:
        info = client.info("replication")
        if info.get("master_link_status") == "up" and not info.get("master_sync_in_progress"):
            return
        if clock.now() > deadline:
            raise ClusterFormationError(f"{new} has not finished its first sync from its master within "
                                        f"{timeout:.0f} s (master_link_status:{info.get('master_link_status')})",
                                        hint="check its log; a big dataset needs a longer --timeout")
        clock.sleep(0.05)


def _refuse_foreign(client: redis.Redis, new: Address) -> None:
    try:
        known = client.execute_command("CLUSTER", "NODES")
        keys = client.dbsize()
    except redis.AuthenticationError as exc:
        raise AuthError(str(new), "authentication failed", hint="check the password") from exc
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise NodeUnreachableError(str(new), f"unreachable ({exc})", hint="start it and check the address") from exc
    except redis.ResponseError as exc:
        raise ClusterFormationError(f"{new} is not a cluster node ({exc})",
                                    hint="start it with cluster-enabled yes") from exc
    others = [n for n in parse_cluster_nodes(str(known)) if not n.myself]
    if others:
        raise ClusterFormationError(f"{new} already belongs to a cluster (it knows {len(others)} other nodes)",
                                    hint="CLUSTER RESET it first if it is really free")
    if keys:
        raise ClusterFormationError(f"{new} holds {keys} keys", hint="flush it or use an empty node")


def remove_node(seeds: Sequence[Address], node: str, password: Credential, journal: Path, *,
                settings: MoverSettings | None = None, clock: Clock | None = None,
                progress: Callable[[MoveProgress], None] = lambda _p: None, stop: threading.Event | None = None,
                timeout: float = 30.0) -> str:
    """Drain ``node``'s slots, re-home its replicas, FORGET it everywhere, reset it.

    The order matters: a master's slots move first (journalled, resumable),
    its replicas then follow the master that has fewest, and only then every
    other node forgets it -- all within the 60 s in which FORGET bans the id
    from coming back through gossip.  ``CLUSTER RESET SOFT`` last, so the node
    does not MEET its way back.
    """
    clock = clock or SystemClock()
    view = asyncio.run(fetch_view(seeds, password))
    try:
        target = view.resolve(node)
    except KeyError:
        raise PlanError(f"{node}: no single node of this cluster matches") from None
    others = sorted(m for m in view.slot_map.owners if m != target and m in view.masters)
    if target in view.slot_map.owners and not others:
        raise PlanError(f"{node} is the last master that owns slots; removing it would lose them all")
    address = view.address(target)
    keep = [a for i, a in ((i, n.address) for i, n in view.nodes.items()) if i != target and a is not None]
    moved = _drain(keep, password, target, others, journal, settings, clock, progress, stop)
    if moved is not None and moved.stopped:
        return f"stopped while draining {address}; run the same command again to finish"
    view = asyncio.run(wait_converged(keep, password, clock, timeout))
    _rehome_replicas(view, target, password)
    _forget_everywhere(view, target, password)
    _reset(address, password)
    asyncio.run(wait_converged(keep, password, clock, timeout))
    return f"removed {address} ({target[:10]}) from the cluster" + (f"; {moved.sentence()}" if moved else "")


def _drain(seeds: Sequence[Address], password: Credential, target: str, others: list[str], journal: Path,
           settings: MoverSettings | None, clock: Clock, progress: Callable[[MoveProgress], None],
           stop: threading.Event | None) -> MoveReport | None:
    """Move every slot of ``target`` to the others (twice at most: an unfinished journal is finished first)."""
    report = None
    for _ in range(2):
        view = asyncio.run(fetch_view(seeds, password))
        previous = read_journal(journal)
        unfinished = previous is not None and not previous.finished
        if target not in view.slot_map.owners and not unfinished:
            return report
        moves = plan_rebalance(view.slot_map, others, threshold_pct=100.0) if not unfinished else ()
        report = move_slots_sync(seeds, password, moves, journal, settings=settings, clock=clock,
                                 progress=progress, stop=stop)
        if report.stopped:
            return report
    return report


def _rehome_replicas(view: ClusterView, target: str, password: Credential) -> None:
    masters = [m for m in view.slot_map.owners if m != target]
    followers = {m: sum(1 for n in view.nodes.values() if n.master_id == m) for m in masters}
    for node in view.nodes.values():
        if node.master_id == target and node.address is not None:
            master = min(masters, key=lambda m: followers[m])
            followers[master] += 1
            with _client(node.address, password) as client:
                client.execute_command("CLUSTER", "REPLICATE", master)


def _forget_everywhere(view: ClusterView, target: str, password: Credential) -> None:
    failures = []
    for node_id, node in view.nodes.items():
        if node_id == target or node.address is None:
            continue
        try:
            with _client(node.address, password) as client:
                client.execute_command("CLUSTER", "FORGET", target)
        except redis.RedisError as exc:
            failures.append(f"{node.address} {exc}")
    if failures:
        raise ClusterFormationError(f"CLUSTER FORGET failed on {'; '.join(failures)}",
                                    hint="run the command again within 60 s, before gossip brings the node back")


def _reset(address: Address, password: Credential) -> None:
    with suppress(redis.RedisError), _client(address, password) as client:
        client.execute_command("CLUSTER", "RESET", "SOFT")


@contextmanager
def _client(address: Address, password: Credential) -> Iterator[redis.Redis]:
    client = make_client(address, password, timeout=5.0)
    try:
        yield client
    finally:
        client.close()
