"""Text shared by every channel: titles, timeline lines, and URLs reduced to their host.

Times are printed in UTC with milliseconds (``14:02:03.120``) because a
failover timeline is read in tenths of a second and people compare it with
sentinel logs from several machines.
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from urllib.parse import urlsplit

from redisops.alerts.model import Incident, TimelineEntry

__all__ = ["State", "clock_time", "heading", "redact_url", "scrub", "text_body", "timeline_lines", "utc_iso"]


class State(Enum):
    """What a message says about its incident."""

    FIRING = "firing"
    RESOLVED = "resolved"


def clock_time(at: float) -> str:
    """``14:02:03.120`` (UTC)."""
    return datetime.fromtimestamp(at, tz=timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def utc_iso(at: float) -> str:
    """RFC 3339 with milliseconds, as Alertmanager expects: ``2026-11-25T14:02:03.120Z``."""
    return datetime.fromtimestamp(at, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def timeline_line(entry: TimelineEntry) -> str:
    detail = f" {entry.detail}" if entry.detail else ""
    return f"{clock_time(entry.at)} {entry.event} ({entry.source}){detail}"


def timeline_lines(incident: Incident) -> list[str]:
    return [timeline_line(entry) for entry in incident.timeline]


def heading(incident: Incident, state: State) -> str:
    """``CRITICAL mymaster failed over ...`` or ``RESOLVED ...``: the first thing a pager shows."""
    word = "RESOLVED" if state is State.RESOLVED else incident.severity.value.upper()
    return f"{word} {incident.title}"


def text_body(incident: Incident, state: State) -> str:
    """Plain text: heading, summary, facts, timeline. Email uses it as is; others adapt it."""
    lines = [heading(incident, state)]
    if incident.summary:
        lines += ["", incident.summary]
    lines += ["", f"group: {incident.group}", f"kind: {incident.kind.value}",
              f"started: {utc_iso(incident.started_at)}"]
    if incident.resolved_at is not None:
        lines.append(f"resolved: {utc_iso(incident.resolved_at)}")
    lines += [f"{k}: {v}" for k, v in sorted(incident.labels.items())]
    if incident.timeline:
        lines += ["", "timeline (UTC):", *timeline_lines(incident)]
    lines += ["", f"incident key: {incident.key}"]
    return "\n".join(lines)


def redact_url(url: str) -> str:
    """``https://hooks.slack.com/…``: the host helps debugging, the path may be the secret."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme or 'http'}://{host}{port}/…"


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """Replace every secret (token, webhook URL, password) in ``text`` by ``***``."""
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
