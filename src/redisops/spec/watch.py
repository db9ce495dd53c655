"""Settings of the `redisops watch` daemon (polling, thresholds, metrics)."""

from __future__ import annotations

from pydantic import Field

from redisops.spec.base import SpecModel

__all__ = ["WatchSpec"]


class WatchSpec(SpecModel):
    """Settings of the `redisops watch` daemon (polling, thresholds, metrics).

    Pub/Sub delivers failover events at once; polling catches what Pub/Sub
    cannot say (a replica or sentinel that died silently, lag, split brain) and
    what a watcher missed while a sentinel was unreachable.
    """

    #: 2 s: a dead replica or sentinel is reported within about one interval, and a
    #: poll of a 3+3 group costs one round trip per node.
    poll_interval_s: float = Field(default=2.0, gt=0, le=300)
    #: per-node connect and read timeout of a poll; below the interval so polls never pile up
    probe_timeout_s: float = Field(default=1.0, gt=0, le=30)
    #: a replica this many bytes behind its master is lagging (10 MB: seconds of a busy master's writes)
    lag_bytes: int = Field(default=10_000_000, ge=0)
    #: ... or whose last ACK is this old; 10 s is Redis's own min-replicas-max-lag default
    lag_seconds: int = Field(default=10, ge=1)
    #: two masters, or sentinels naming different masters, for this long is split brain (CRITICAL).
    #: A failover makes sentinels disagree for about a second, so 5 s avoids false alarms.
    split_brain_after_s: float = Field(default=5.0, ge=0)
    #: no master answering for this long without a failover finishing (CRITICAL); a normal
    #: failover finishes in down-after + ~2 s
    master_down_after_s: float = Field(default=15.0, ge=0)
    #: cluster_state not ok, or a master without a working replica, for this long is an incident: a node
    #: joining the cluster (scale out) says cluster_state fail for its rejoin delay (up to node-timeout), and
    #: a new master has no replica until one is assigned -- seconds, not an outage worth a page
    cluster_settle_s: float = Field(default=10.0, ge=0)
    #: /metrics on 127.0.0.1:<port> (9121 is redis_exporter's default, so use 9122); 0 disables
    metrics_port: int = Field(default=9122, ge=0, le=65535)
    #: upper bound of the backoff between reconnects to a sentinel that went away
    reconnect_max_s: float = Field(default=2.0, gt=0, le=60)
