"""``redisops_alert_deliveries_total{channel,outcome}``, registered only where asked.

Outcomes: ``sent``; ``error`` (one failed attempt, a retry may follow);
``gave_up`` (retries exhausted or a permanent error: the delivery waits in the
outbox for the next start); ``rate_limited`` (dropped by the channel's limit;
the next message says how many); ``expired`` (older than ``outbox_max_age_s``
when replayed).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

__all__ = ["OUTCOMES", "DeliveryMetrics"]

OUTCOMES = ("sent", "error", "gave_up", "rate_limited", "expired")


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._deliveries = Counter("redisops_alert_deliveries", "Alert deliveries by channel and outcome.",
                                   ["channel", "outcome"], registry=registry)

    def count(self, channel: str, outcome: str) -> None:
        self._deliveries.labels(channel=channel, outcome=outcome).inc()

    def value(self, channel: str, outcome: str) -> float:
        """For tests and ``alerts test``: the counter's current value."""
        sample = self.registry.get_sample_value("redisops_alert_deliveries_total",
                                                {"channel": channel, "outcome": outcome})
        return sample or 0.0
