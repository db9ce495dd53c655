"""``redisops alerts test``: one TEST incident to each channel, synchronously, with a result each.

Unlike the dispatcher this bypasses dedup, rate limits, retries and the
outbox: the point is to see at once whether each channel works and, if not,
why.  A channel that cannot be built (missing env var) is a failed result,
and the other channels still run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from redisops.alerts.channels import build_channel
from redisops.alerts.errors import ChannelConfigError, DeliveryError
from redisops.alerts.model import Incident, IncidentKind, Severity, TimelineEntry
from redisops.alerts.render import State
from redisops.clock import Clock, SystemClock
from redisops.spec.alerts import AlertsSpec, AnyChannel

__all__ = ["ProbeResult", "probe_channels", "probe_incident"]


@dataclass(frozen=True)
class ProbeResult:
    channel: str
    type: str
    ok: bool
    reason: str  # "delivered" or why not; never holds a secret
    latency_ms: float


def probe_incident(now: float | None = None) -> Incident:
    """A clearly labelled incident with a one-line timeline, so the message format is visible too."""
    at = time.time() if now is None else now
    return Incident(
        key=f"test:{int(at * 1000)}", kind=IncidentKind.TEST, severity=Severity.INFO, group="redisops",
        title="redisops test alert: this channel works", started_at=at,
        summary="Sent by `redisops alerts test`; no action needed.",
        timeline=(TimelineEntry(at, "test", "redisops alerts test", "delivery check"),),
    )


def probe_channels(alerts: AlertsSpec, base_dir: Path, *, only: str | None = None,
                   clock: Clock | None = None) -> list[ProbeResult]:
    """Send a test incident to each channel (or only the one named); raises ``KeyError`` for an unknown name."""
    clock = clock or SystemClock()
    channels = [alerts.channel(only)] if only is not None else list(alerts.channels)
    incident = probe_incident()
    return [_probe(spec, base_dir, alerts.retry.timeout_s, incident, clock) for spec in channels]


def _probe(spec: AnyChannel, base_dir: Path, timeout: float, incident: Incident, clock: Clock) -> ProbeResult:
    started = clock.now()
    try:
        channel = build_channel(spec, base_dir, timeout)
        try:
            channel.send(incident, State.FIRING)
        finally:
            channel.close()
    except (ChannelConfigError, DeliveryError) as exc:
        return ProbeResult(spec.label, spec.type, False, exc.reason, _ms(clock, started))
    return ProbeResult(spec.label, spec.type, True, "delivered", _ms(clock, started))


def _ms(clock: Clock, started: float) -> float:
    return round((clock.now() - started) * 1000, 1)
