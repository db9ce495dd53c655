"""Telegram Bot API ``POST {api_base}/bot{token}/sendMessage``.

The token sits in the URL path, so every error shows only the host.  HTML is
the default parse mode: only ``<``, ``>`` and ``&`` need escaping, whereas
MarkdownV2 reserves eighteen characters that fill timelines (``-``, ``.``,
``(``, ``+``).  Messages are cut at Telegram's 4096-character limit.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from redisops.alerts.channels.base import HttpPoster, read_secret
from redisops.alerts.errors import ChannelConfigError
from redisops.alerts.model import Incident
from redisops.alerts.render import State, heading, text_body, timeline_lines
from redisops.spec.alerts import TelegramChannel

__all__ = ["Telegram", "telegram_text"]

_LIMIT = 4096
_MD_SPECIAL = re.compile(r"([_*\[\]()~`>#+\-=|{}.!\\])")


def _html(incident: Incident, state: State) -> str:
    parts = [f"<b>{html.escape(heading(incident, state), quote=False)}</b>"]
    if incident.summary:
        parts.append(html.escape(incident.summary, quote=False))
    facts = [f"group: {incident.group}", *(f"{k}: {v}" for k, v in sorted(incident.labels.items()))]
    parts.append(html.escape("\n".join(facts), quote=False))
    if incident.timeline:
        parts.append("<pre>" + html.escape("\n".join(timeline_lines(incident)), quote=False) + "</pre>")
    return "\n\n".join(parts)


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def _markdown(incident: Incident, state: State) -> str:
    parts = [f"*{_md(heading(incident, state))}*"]
    if incident.summary:
        parts.append(_md(incident.summary))
    parts.append(_md(f"group: {incident.group}"))
    if incident.timeline:
        code = "\n".join(timeline_lines(incident)).replace("\\", "\\\\").replace("`", "\\`")
        parts.append(f"```\n{code}\n```")
    return "\n\n".join(parts)


_FORMATS = {"HTML": _html, "MarkdownV2": _markdown, "none": text_body}


def telegram_text(incident: Incident, state: State, parse_mode: str) -> str:
    text = _FORMATS[parse_mode](incident, state)
    return text if len(text) <= _LIMIT else text[: _LIMIT - 1] + "…"


class Telegram:
    type = "telegram"

    def __init__(self, spec: TelegramChannel, base_dir: Path, timeout: float) -> None:
        self.name = spec.label
        token = read_secret(self.name, spec.bot_token_env, spec.bot_token_file, base_dir, "bot token")
        if any(ch.isspace() or ch == "/" for ch in token):
            raise ChannelConfigError(self.name, "the bot token contains spaces or '/' (expected 123456:ABC...)")
        self._url = f"{spec.api_base}/bot{token}/sendMessage"
        self._chat_id = spec.chat_id
        self._parse_mode = spec.parse_mode
        self._http = HttpPoster(self.name, timeout, (token,))

    def send(self, incident: Incident, state: State) -> None:
        body: dict[str, Any] = {"chat_id": self._chat_id, "text": telegram_text(incident, state, self._parse_mode),
                                "disable_web_page_preview": True}
        if self._parse_mode != "none":
            body["parse_mode"] = self._parse_mode
        self._http.post(self._url, json=body)

    def open(self) -> None:
        self._http.open()

    def close(self) -> None:
        self._http.close()
