"""What a benchmark runs against: a Sentinel group's current master, or the cluster.

The master is asked of the group's sentinels (``SENTINEL GET-MASTER-ADDR-BY-NAME``),
the first that answers wins, and the node itself must confirm it is a master
(``ROLE``): benchmarking a replica that a sentinel still names during a
failover would record numbers for the wrong node.  For the cluster, the first
node of the spec that answers is the seed ``redis-benchmark --cluster`` starts
from; it reaches every master the seed's ``CLUSTER NODES`` lists.  Every
node's failure is folded into one message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from redisops.address import Address
from redisops.auth import Credential
from redisops.clients import connect
from redisops.errors import AuthError, NodeUnreachableError, UsageError
from redisops.lifecycle import Deployment
from redisops.topology.model import Role
from redisops.topology.parse import parse_cluster_nodes, parse_master_addr

__all__ = ["BenchTarget", "find_target", "group_target", "remote_target"]


@dataclass(frozen=True)
class BenchTarget:
    kind: str  # "sentinel" or "cluster"
    name: str  # the group's master name or the cluster's name
    address: Address  # the master, or the cluster seed
    #: every node redis-benchmark will talk to: the master, or every cluster master
    nodes: tuple[Address, ...]
    password: Credential = field(default=None, repr=False)

    @property
    def cluster(self) -> bool:
        return self.kind == "cluster"

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "name": self.name, "address": str(self.address),
                "nodes": [str(n) for n in self.nodes]}


def find_target(dep: Deployment, *, group: str | None = None, cluster: bool = False,
                timeout: float = 3.0) -> BenchTarget:
    """The group's master (``group``, or the spec's only group) or, with ``cluster``, the spec's cluster."""
    if cluster:
        if group is not None:
            raise UsageError("--group and --cluster exclude each other", hint="pick one target per run")
        if dep.plan.cluster is None:
            raise UsageError(f"{dep.spec_file} has no cluster", hint="add a `cluster:` section or use --group")
        seeds = [n.address for n in dep.plan.cluster.nodes]
        return _cluster_target(dep.plan.cluster.spec.name, seeds, dep.secrets.admin, timeout)
    layouts = dep.plan.groups
    if not layouts:
        hint = "use --cluster" if dep.plan.cluster is not None else "add a `sentinel:` section"
        raise UsageError(f"{dep.spec_file} has no Sentinel group", hint=hint)
    if group is None and len(layouts) > 1:
        names = ", ".join(layout.spec.name for layout in layouts)
        raise UsageError(f"the spec has several Sentinel groups ({names})", hint="choose one with --group NAME")
    layout = next((lay for lay in layouts if group in (None, lay.spec.name)), None)
    if layout is None:
        names = ", ".join(lay.spec.name for lay in layouts)
        raise UsageError(f"no Sentinel group {group!r} in the spec", hint=f"use one of: {names}")
    return group_target(layout.spec.name, [s.address for s in layout.sentinels], dep.secrets.admin,
                        dep.secrets.sentinel, timeout)


def remote_target(*, sentinels: Sequence[Address] = (), master: str | None = None, seeds: Sequence[Address] = (),
                  password: Credential = None, sentinel_password: Credential = None,
                  timeout: float = 3.0) -> BenchTarget:
    """Nodes no spec describes: a group's master through ``sentinels`` (``--sentinel``/``--master``), or the
    cluster of ``seeds`` (``--seed``)."""
    if seeds:
        return _cluster_target("remote", seeds, password, timeout)
    assert master is not None
    return group_target(master, sentinels, password, sentinel_password, timeout)


def group_target(name: str, sentinels: Sequence[Address], password: Credential, sentinel_password: Credential,
                 timeout: float) -> BenchTarget:
    master = _master(name, sentinels, sentinel_password, timeout)
    _confirm_master(master, password, timeout)
    return BenchTarget("sentinel", name, master, (master,), password)


def _master(name: str, sentinels: Sequence[Address], password: Credential, timeout: float) -> Address:
    problems = []
    for sentinel in sentinels:
        try:
            with connect(sentinel, password, timeout) as client:
                address = parse_master_addr(client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name))
        except redis.AuthenticationError as exc:
            raise AuthError(str(sentinel), f"the sentinel refused the password ({exc})",
                            hint="check sentinel_password in the secrets file") from exc
        except redis.RedisError as exc:
            problems.append(f"{sentinel} {_reason(exc)}")
            continue
        if address is not None:
            return address
        problems.append(f"{sentinel} knows no master {name!r}")
    raise NodeUnreachableError(name, f"no sentinel named a master: {'; '.join(problems)}",
                               hint="start the group with `redisops up`, then check `redisops status`")


def _confirm_master(address: Address, password: Credential, timeout: float) -> None:
    role = _ask(address, password, timeout, lambda client: client.execute_command("ROLE"))
    if not role or str(role[0]) != Role.MASTER.value:
        raise NodeUnreachableError(str(address), f"the sentinels name it the master but it is a {role[0]}",
                                   hint="a failover is under way: wait for it (`redisops status`), then rerun")


def _cluster_target(name: str, seeds: Sequence[Address], password: Credential, timeout: float) -> BenchTarget:
    problems = []
    for seed in seeds:
        try:
            text = _ask(seed, password, timeout, lambda client: client.execute_command("CLUSTER", "NODES"))
        except NodeUnreachableError as exc:
            problems.append(exc.message)
            continue
        masters = tuple(n.address for n in parse_cluster_nodes(str(text))
                        if n.role is Role.MASTER and n.slots and n.address is not None
                        and not {"fail", "fail?"} & n.flags)
        if masters:
            return BenchTarget("cluster", name, seed, masters, password)
        problems.append(f"{seed} knows no master serving slots")
    raise NodeUnreachableError(name, f"no cluster node answered: {'; '.join(problems)}",
                               hint="start the cluster with `redisops up`, then check `redisops status`")


def _ask(address: Address, password: Credential, timeout: float, question: Callable[[redis.Redis], Any]) -> Any:
    try:
        with connect(address, password, timeout) as client:
            return question(client)
    except redis.AuthenticationError as exc:
        raise AuthError(str(address), f"the node refused the password ({exc})",
                        hint="check admin_password (or redis_password) in the secrets file") from exc
    except redis.RedisError as exc:
        raise NodeUnreachableError(str(address), _reason(exc),
                                   hint="start it with `redisops up`, then check `redisops status`") from exc


def _reason(exc: Exception) -> str:
    """``refused`` / ``timed out`` for the common failures (one message folds several nodes'), else the error."""
    if isinstance(exc, redis.TimeoutError):
        return "timed out"
    if isinstance(exc, redis.ConnectionError) and "refused" in str(exc).lower():
        return "refused"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
