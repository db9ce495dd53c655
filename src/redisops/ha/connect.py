"""Short-lived connections for one-off commands against sentinels and data nodes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from redisops.address import Address

__all__ = ["connect"]


@contextmanager
def connect(address: Address, password: str | None, timeout: float = 3.0) -> Iterator[redis.Redis]:
    """A decoded client that is closed when the block ends."""
    client = redis.Redis(address.host, address.port, password=password, socket_timeout=timeout,
                         socket_connect_timeout=min(timeout, 2.0), decode_responses=True)
    try:
        yield client
    finally:
        client.close()
