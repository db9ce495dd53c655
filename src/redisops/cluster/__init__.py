"""Cluster operations: formation, check, fix, add / remove node, and the journaled slot mover.

``move_slots_sync`` is the heart: waves of slots per source/target pair, large
MIGRATE batches, a JSONL journal so a killed run resumes (see ``mover.py``).
"""

from redisops.cluster.check import CheckReport, check_cluster, check_cluster_sync
from redisops.cluster.create import ClusterShape, form_cluster
from redisops.cluster.fix import fix_cluster_sync
from redisops.cluster.mover import MoverSettings, move_slots_sync
from redisops.cluster.nodes import add_node, create_cluster, remove_node

__all__ = [
    "CheckReport",
    "ClusterShape",
    "MoverSettings",
    "add_node",
    "check_cluster",
    "check_cluster_sync",
    "create_cluster",
    "fix_cluster_sync",
    "form_cluster",
    "move_slots_sync",
    "remove_node",
]
