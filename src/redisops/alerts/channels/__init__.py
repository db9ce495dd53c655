"""One module per channel; :func:`build_channel` picks the class by the spec's ``type``.

A channel that cannot be built (missing env var or file) becomes a
:class:`Broken` channel: every delivery fails with the config reason and
stays in the outbox, so the watcher keeps serving the other channels and the
alert goes out once the config is fixed and redisops restarts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from redisops.alerts.channels.alertmanager import Alertmanager
from redisops.alerts.channels.base import Channel
from redisops.alerts.channels.slack import Slack
from redisops.alerts.channels.smtp import Email
from redisops.alerts.channels.telegram import Telegram
from redisops.alerts.channels.webhook import Webhook
from redisops.alerts.errors import ChannelConfigError, DeliveryError
from redisops.alerts.model import Incident
from redisops.alerts.render import State
from redisops.spec.alerts import AnyChannel

__all__ = ["Broken", "Channel", "build_channel"]

_BUILDERS: dict[str, Callable[[Any, Path, float], Channel]] = {
    "slack": Slack, "telegram": Telegram, "email": Email, "webhook": Webhook, "alertmanager": Alertmanager,
}


class Broken:
    """Stands in for a channel whose configuration failed; never retried (a restart is needed)."""

    def __init__(self, name: str, type_: str, problem: ChannelConfigError) -> None:
        self.name = name
        self.type = type_
        self.problem = problem

    def open(self) -> None:
        """Nothing to prepare."""

    def send(self, incident: Incident, state: State) -> None:
        del incident, state
        raise DeliveryError(self.name, self.problem.reason, retryable=False)

    def close(self) -> None:
        """Nothing to release."""


def build_channel(spec: AnyChannel, base_dir: Path, timeout: float) -> Channel:
    """The channel for ``spec``; raises :class:`ChannelConfigError` when a secret is missing."""
    return _BUILDERS[spec.type](spec, base_dir, timeout)
