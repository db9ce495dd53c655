"""Slack incoming webhooks: a ``text`` fallback for notifications plus Block Kit blocks.

The webhook URL is the secret (anyone holding it can post), so it comes from an
environment variable or file and errors show only ``https://hooks.slack.com/…``.
Slack's mrkdwn needs ``&``, ``<`` and ``>`` escaped; the timeline goes in a code
block so its columns line up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from redisops.alerts.channels.base import HttpPoster, read_url_secret
from redisops.alerts.model import Incident, Severity
from redisops.alerts.render import State, heading, timeline_lines, utc_iso
from redisops.spec.alerts import SlackChannel

__all__ = ["Slack", "slack_payload"]

_ICONS = {Severity.CRITICAL: ":red_circle:", Severity.WARNING: ":warning:", Severity.INFO: ":information_source:"}
_MAX_TIMELINE = 2900  # a section's text is limited to 3000 characters


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(incident: Incident, state: State) -> dict[str, Any]:
    icon = ":white_check_mark:" if state is State.RESOLVED else _ICONS[incident.severity]
    title = f"{icon} {_escape(heading(incident, state))}"
    facts = [f"*group* {_escape(incident.group)}", f"*kind* {incident.kind.value}",
             f"*started* {utc_iso(incident.started_at)}"]
    if incident.resolved_at is not None:
        facts.append(f"*resolved* {utc_iso(incident.resolved_at)}")
    facts += [f"*{_escape(k)}* {_escape(v)}" for k, v in sorted(incident.labels.items())]
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*"}}]
    if incident.summary:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _escape(incident.summary)}})
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": " · ".join(facts)}})
    if incident.timeline:
        lines = "\n".join(_escape(line) for line in timeline_lines(incident))[:_MAX_TIMELINE]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Timeline (UTC)*\n```{lines}```"}})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"redisops · {_escape(incident.key)}"}]})
    fallback = title + (f"\n{_escape(incident.summary)}" if incident.summary else "")
    return {"text": fallback, "blocks": blocks}


class Slack:
    type = "slack"

    def __init__(self, spec: SlackChannel, base_dir: Path, timeout: float) -> None:
        self.name = spec.label
        self._url = read_url_secret(self.name, spec.webhook_url_env, spec.webhook_url_file, base_dir, "webhook URL")
        path = urlsplit(self._url).path  # the token is the path: a server may echo it without the host
        self._http = HttpPoster(self.name, timeout, (self._url, path) if len(path) > 8 else (self._url,))

    def send(self, incident: Incident, state: State) -> None:
        self._http.post(self._url, json=slack_payload(incident, state))

    def open(self) -> None:
        self._http.open()

    def close(self) -> None:
        self._http.close()
