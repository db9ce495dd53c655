"""Cluster operations: formation (and, later, check / fix / scale / rebalance)."""

from redisops.cluster.create import ClusterShape, form_cluster

__all__ = ["ClusterShape", "form_cluster"]
