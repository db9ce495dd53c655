"""Opening a deployment as a :class:`~redisops.data.keyspace.KeySpace`, for ``verify compare``.

A deployment is named by a spec file (``redisops.yaml``, or ``redisops.yaml#mymaster`` /
``redisops.yaml#cluster`` when it has both kinds) or by a seed ``host:port``.
A Sentinel group is read on its current master; a cluster on its masters,
keys routed by slot, so a 3-shard source compares against a 4-shard target.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from redisops.address import Address
from redisops.auth import Credential
from redisops.data.keyspace import KeySpace, Sharded, Single, open_reader
from redisops.data.replicas import agreed_master
from redisops.errors import NodeUnreachableError, UsageError
from redisops.topology.model import Role
from redisops.topology.probe import probe_cluster, probe_cluster_node
from redisops.topology.status import probe_sentinel_group
from redisops.topology.targets import ClusterTarget, SentinelTarget, targets_from_plan

__all__ = ["open_space", "resolve_target"]

Target = SentinelTarget | ClusterTarget | Address


def resolve_target(name: str) -> tuple[Target, Credential]:
    """``spec.yaml[#group|#cluster]`` -> its target and password; ``h:p`` -> the address (password: caller's)."""
    from redisops.runtime.plan import build_plan
    from redisops.runtime.tls import open_secrets
    from redisops.spec.load import load

    path_text, _, part = name.partition("#")
    path = Path(path_text)
    if not path.is_file():
        try:
            return Address.parse(name), None
        except ValueError:
            raise UsageError(f"{name!r} is neither a spec file nor host:port") from None
    spec = load(path)
    groups, clusters = targets_from_plan(build_plan(spec), open_secrets(spec, path))
    choices: dict[str, Target] = {g.name: g for g in groups}
    choices.update(("cluster", c) for c in clusters)
    if not part and len(choices) == 1:
        part = next(iter(choices))
    if part not in choices:
        raise UsageError(f"{name}: say which data set to read",
                         hint=f"use {path}#NAME with NAME one of {', '.join(choices) or 'none'}")
    target = choices[part]
    return target, target.password if not isinstance(target, Address) else None


def open_space(target: Target, password: Credential, timeout: float = 2.0) -> KeySpace:
    if isinstance(target, SentinelTarget):
        return _group_space(target, timeout)
    if isinstance(target, ClusterTarget):
        return _cluster_space(target, timeout)
    probe = asyncio.run(probe_cluster_node(target, password, timeout))
    if probe.node.failure is not None and probe.node.failure.detail == "not a cluster node":
        return Single(target, open_reader(target, password))
    if probe.node.failure is not None:
        raise NodeUnreachableError(str(target), probe.node.failure.detail)
    return _cluster_space(ClusterTarget(str(target), (target,), password), timeout)


def _group_space(target: SentinelTarget, timeout: float) -> KeySpace:
    views, nodes = asyncio.run(probe_sentinel_group(target, timeout))
    master = agreed_master([v.master for v in views if v.master is not None],
                            [n for n in nodes if n.role is Role.MASTER])
    if master is None:
        raise NodeUnreachableError(target.name, "no reachable master")
    return Single(master.address, open_reader(master.address, target.password))


def _cluster_space(target: ClusterTarget, timeout: float) -> KeySpace:
    probes = asyncio.run(probe_cluster(target, timeout))
    shards = []
    for probe in probes:
        me = probe.myself
        if probe.reachable and me is not None and me.role is Role.MASTER and me.slots:
            shards.append((probe.node.address, open_reader(probe.node.address, target.password),
                           me.slots))
    if not shards:
        raise NodeUnreachableError(target.name, "no reachable master owning slots")
    return Sharded(f"cluster {target.name}", tuple(sorted(shards, key=lambda s: s[0])))
