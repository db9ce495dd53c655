"""Prometheus Alertmanager: ``POST {url}/api/v2/alerts`` with one alert per message.

Alertmanager then applies the user's routing, grouping, inhibition and
silences.  Labels identify the alert (``alertname=redisops_<kind>``, group,
severity, the incident key and the incident's own labels); a resolve sends the
same labels with ``endsAt``.  Alertmanager resolves an alert by itself after
``resolve_timeout`` (5 m by default) unless it is re-sent, which suits
point-in-time incidents such as a completed failover.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redisops.alerts.channels.base import HttpPoster
from redisops.alerts.model import Incident
from redisops.alerts.render import State, heading, text_body, utc_iso
from redisops.spec.alerts import AlertmanagerChannel

__all__ = ["Alertmanager", "alertmanager_alerts"]


def alertmanager_alerts(incident: Incident, state: State, extra: dict[str, str]) -> list[dict[str, Any]]:
    labels = {**extra, **incident.labels, "alertname": f"redisops_{incident.kind.value}", "group": incident.group,
              "severity": incident.severity.value, "incident": incident.key}
    alert: dict[str, Any] = {
        "labels": labels,
        "annotations": {"summary": incident.title, "description": text_body(incident, state),
                        "title": heading(incident, state)},
        "startsAt": utc_iso(incident.started_at),
    }
    if state is State.RESOLVED:
        alert["endsAt"] = utc_iso(incident.resolved_at if incident.resolved_at is not None else incident.started_at)
    return [alert]


class Alertmanager:
    type = "alertmanager"

    def __init__(self, spec: AlertmanagerChannel, base_dir: Path, timeout: float) -> None:
        del base_dir
        self.name = spec.label
        self._url = f"{spec.url}/api/v2/alerts"
        self._labels = dict(spec.labels)
        self._http = HttpPoster(self.name, timeout, ())

    def send(self, incident: Incident, state: State) -> None:
        self._http.post(self._url, json=alertmanager_alerts(incident, state, self._labels))

    def open(self) -> None:
        self._http.open()

    def close(self) -> None:
        self._http.close()
