"""Redis clients for operations: one attempt per command, bounded timeouts.

redis-py 8 retries a failed command 10 times with exponential backoff by
default.  That hides a dead node for seconds: a status probe, a failover or a
drill must see the failure at once and decide itself what to do next.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from redisops.address import Address
from redisops.auth import Credential, redis_kwargs

__all__ = ["connect", "make_client"]


def make_client(address: Address, credential: Credential, *, timeout: float = 3.0, decode: bool = True,
                **options: Any) -> redis.Redis:
    return redis.Redis(address.host, address.port, **redis_kwargs(credential), socket_timeout=timeout,
                       socket_connect_timeout=min(timeout, 2.0), retry=Retry(NoBackoff(), 0),
                       decode_responses=decode, **options)


@contextmanager
def connect(address: Address, credential: Credential, timeout: float = 3.0, *,
            decode: bool = True) -> Iterator[redis.Redis]:
    """A client closed when the block ends."""
    client = make_client(address, credential, timeout=timeout, decode=decode)
    try:
        yield client
    finally:
        client.close()
