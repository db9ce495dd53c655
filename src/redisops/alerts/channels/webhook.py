"""A generic JSON webhook: the incident as data, optionally signed.

With ``secret_env`` the raw body is signed with HMAC-SHA256 and sent as
``X-Redisops-Signature: sha256=<hex>`` (the scheme GitHub uses), so the
receiver can verify the sender without TLS client certificates::

    hmac.compare_digest(header, "sha256=" + hmac.new(secret, body, sha256).hexdigest())
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from redisops.alerts.channels.base import HttpPoster, read_secret
from redisops.alerts.model import Incident
from redisops.alerts.render import State, heading
from redisops.spec.alerts import WebhookChannel

__all__ = ["Webhook", "sign", "webhook_body"]

SIGNATURE_HEADER = "X-Redisops-Signature"


def webhook_body(incident: Incident, state: State) -> bytes:
    payload: dict[str, Any] = {"version": "1", "source": "redisops", "state": state.value,
                               "text": heading(incident, state), "incident": incident.to_dict()}
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Webhook:
    type = "webhook"

    def __init__(self, spec: WebhookChannel, base_dir: Path, timeout: float) -> None:
        self.name = spec.label
        self._url = spec.url
        self._secret = read_secret(self.name, spec.secret_env, None, base_dir, "signing secret") \
            if spec.secret_env else None
        self._http = HttpPoster(self.name, timeout, (self._secret,) if self._secret else ())

    def send(self, incident: Incident, state: State) -> None:
        body = webhook_body(incident, state)
        headers = {"Content-Type": "application/json", "X-Redisops-Event": state.value}
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, body)
        self._http.post(self._url, content=body, headers=headers)

    def open(self) -> None:
        self._http.open()

    def close(self) -> None:
        self._http.close()
