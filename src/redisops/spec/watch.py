"""Settings of the `redisops watch` daemon (polling, thresholds, metrics)."""

from __future__ import annotations

from redisops.spec.base import SpecModel

__all__ = ["WatchSpec"]


class WatchSpec(SpecModel):
    """Settings of the `redisops watch` daemon (polling, thresholds, metrics)."""
