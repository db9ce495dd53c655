"""Alert channels (Slack, Telegram, email, webhook, Alertmanager) and delivery settings."""

from __future__ import annotations

from redisops.spec.base import SpecModel

__all__ = ["AlertsSpec"]


class AlertsSpec(SpecModel):
    """Alert channels (Slack, Telegram, email, webhook, Alertmanager) and delivery settings."""
