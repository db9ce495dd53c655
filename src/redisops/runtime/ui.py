"""Web UIs that rendered deployments can add (kept light: the CLI imports it at start-up)."""

from __future__ import annotations

from enum import Enum

__all__ = ["UI"]


class UI(str, Enum):
    """Optional web UI, started only with ``docker compose --profile ui up``."""

    REDISINSIGHT = "redisinsight"
    COMMANDER = "commander"
