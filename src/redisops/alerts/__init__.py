"""Events to incidents to channels (Slack, Telegram, email, webhook, Alertmanager). Knows nothing of Redis.

The watcher builds :class:`Incident` values and hands them to an
:class:`AlertSink`; :func:`build_dispatcher` makes the real one.
"""

from redisops.alerts.dispatch import Dispatcher, build_dispatcher
from redisops.alerts.errors import ChannelConfigError, DeliveryError
from redisops.alerts.model import AlertSink, Incident, IncidentKind, Severity, TimelineEntry
from redisops.alerts.probe import ProbeResult, probe_channels, probe_incident

__all__ = [
    "AlertSink",
    "ChannelConfigError",
    "DeliveryError",
    "Dispatcher",
    "Incident",
    "IncidentKind",
    "ProbeResult",
    "Severity",
    "TimelineEntry",
    "build_dispatcher",
    "probe_channels",
    "probe_incident",
]
