"""Sentinel operations: the watcher (events -> incidents, polls -> conditions), its metrics,
manual failover (``failover``) and settings review (``tune``).

::

    from redisops.ha import Watcher, WatchMetrics

    metrics = WatchMetrics()                       # one registry, shared with the alert dispatcher
    watcher = Watcher(groups, clusters, sink, settings=spec.watch, metrics=metrics)
    await watcher.run(stop)

    state, incidents = step(state, event_or_poll, now)   # the watcher's logic: one pure reducer
    state, handed = replay(recorded_inputs)              # ... so recorded inputs replay to the same incidents

Modules: ``incidents`` (the reducer: :func:`step` over a frozen :class:`WatchState`), and
its parts: ``events`` (Pub/Sub payload -> :class:`SentinelEvent`), ``correlate``
(events of all sentinels -> one incident per failover), ``conditions`` (a
status report -> conditions held -> incidents), ``shards`` (cluster polls -> shard
failovers); then ``subscriber`` (PSUBSCRIBE, a PING when quiet, reconnects),
``metrics`` (Prometheus), ``watcher`` (the loop: reads inputs, feeds the reducer).
``ha`` hands incidents to an :class:`~redisops.alerts.AlertSink`; it never
notifies anyone itself.
"""

from redisops.ha.conditions import Condition, cluster_conditions, group_conditions
from redisops.ha.events import Instance, InstanceType, SentinelEvent, parse_event
from redisops.ha.failover import FailoverError, FailoverResult, manual_failover
from redisops.ha.incidents import FailoverTimeout, Poll, WatchInput, WatchState, replay, step
from redisops.ha.metrics import MetricsServer, WatchMetrics
from redisops.ha.tune import Finding, apply_fixes, read_live, review
from redisops.ha.watcher import Watcher, describe_report

__all__ = [
    "Condition",
    "FailoverError",
    "FailoverResult",
    "FailoverTimeout",
    "Finding",
    "Instance",
    "InstanceType",
    "MetricsServer",
    "Poll",
    "SentinelEvent",
    "WatchInput",
    "WatchMetrics",
    "WatchState",
    "Watcher",
    "apply_fixes",
    "cluster_conditions",
    "describe_report",
    "group_conditions",
    "manual_failover",
    "parse_event",
    "read_live",
    "replay",
    "review",
    "step",
]
