"""Data safety: consistency checks and backups.

::

    from redisops.data import VerifyOptions, verify_replicas, check_cluster

    reports = verify_replicas(groups, clusters, VerifyOptions(rate=20_000))
    [r.counts for r in reports]         # {"missing_on_target": 0, "extra_on_target": 0, "type": 0, ...}

Consistency: ``digest`` (server-side canonical digests), ``keyspace`` (one node or
a cluster routed by slot), ``verify`` (multi-round comparison), ``replicas``,
``cluster_check``, ``spaces`` (deployments for ``compare``), ``compare`` (pure
judging).  Backups live in :mod:`redisops.data.backup`.
"""

from redisops.data.cluster_check import ClusterCheck, Misplaced, check_cluster
from redisops.data.compare import Difference, DiffKind, PairReport, classify
from redisops.data.digest import DigestMode, KeyState, NodeReader
from redisops.data.replicas import verify_replicas
from redisops.data.spaces import open_space, resolve_target
from redisops.data.verify import VerifyOptions, compare_spaces, wait_caught_up

__all__ = [
    "ClusterCheck",
    "DiffKind",
    "Difference",
    "DigestMode",
    "KeyState",
    "Misplaced",
    "NodeReader",
    "PairReport",
    "VerifyOptions",
    "check_cluster",
    "classify",
    "compare_spaces",
    "open_space",
    "resolve_target",
    "verify_replicas",
    "wait_caught_up",
]
