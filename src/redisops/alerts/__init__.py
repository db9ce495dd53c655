"""Events to incidents to channels (Slack, Telegram, email, webhook, Alertmanager). Knows nothing of Redis."""

from redisops.alerts.model import AlertSink, Incident, IncidentKind, Severity, TimelineEntry

__all__ = ["AlertSink", "Incident", "IncidentKind", "Severity", "TimelineEntry"]
