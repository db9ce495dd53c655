"""The on-disk outbox: a delivery is a file from before its first attempt until it succeeds.

Layout: ``<outbox_dir>/<channel>/<id>.json``, mode 0600 (an incident names
hosts and ports), written atomically (temp file, fsync, rename) so a crash
leaves either the whole delivery or none of it.  Ids sort by creation time, so
a replay after a restart sends in the original order.  A file that cannot be
parsed is renamed ``*.bad`` and reported, never silently deleted.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redisops.alerts.model import Incident
from redisops.alerts.render import State
from redisops.spec.secrets import write_private

__all__ = ["Delivery", "Outbox"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """One message for one channel."""

    id: str
    channel: str
    state: State
    incident: Incident
    created_at: float  # unix time: outlives the process, unlike a monotonic clock

    @classmethod
    def new(cls, channel: str, state: State, incident: Incident) -> Delivery:
        return cls(f"{time.time_ns():020d}-{secrets.token_hex(4)}", channel, state, incident, time.time())

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "channel": self.channel, "state": self.state.value,
                "created_at": self.created_at, "incident": self.incident.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Delivery:
        return cls(str(data["id"]), str(data["channel"]), State(data["state"]),
                   Incident.from_dict(data["incident"]), float(data["created_at"]))


class Outbox:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, delivery: Delivery) -> Path:
        return self.root / delivery.channel / f"{delivery.id}.json"

    def save(self, delivery: Delivery) -> Path:
        path = self.path(delivery)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(path, json.dumps(delivery.to_dict(), sort_keys=True))
        return path

    def remove(self, delivery: Delivery) -> None:
        self.path(delivery).unlink(missing_ok=True)

    def pending(self) -> list[Delivery]:
        """Every saved delivery, oldest first; unreadable files are set aside as ``*.bad``."""
        if not self.root.is_dir():
            return []
        found = []
        for path in sorted(self.root.glob("*/*.json"), key=lambda p: p.name):
            try:
                found.append(Delivery.from_dict(json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("outbox: %s is unreadable (%s); renamed to %s.bad", path, type(exc).__name__, path.name)
                path.rename(path.with_name(path.name + ".bad"))
        return found
