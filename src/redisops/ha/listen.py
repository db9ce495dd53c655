"""Listening to sentinels' Pub/Sub from threads, for synchronous callers (failover, drills, benchmarks).

The watcher, which is asyncio, has its own subscriber (:mod:`redisops.ha.subscriber`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress

import redis

from redisops.address import Address
from redisops.auth import Credential
from redisops.clients import make_client

__all__ = ["OnEvent", "sentinel_events"]

OnEvent = Callable[[float, str, str], None]  # (unix time, channel, payload)


@contextmanager
def sentinel_events(sentinels: Sequence[Address], password: Credential, on_event: OnEvent) -> Iterator[None]:
    """Call ``on_event`` for every message any of ``sentinels`` publishes while the block runs.

    A sentinel that dies is retried every 0.2 s until the block ends.
    """
    stop = threading.Event()
    threads = [threading.Thread(target=_listen, args=(a, password, on_event, stop), daemon=True,
                                name=f"sentinel-events-{a}") for a in sentinels]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=2)


def _listen(address: Address, password: Credential, on_event: OnEvent, stop: threading.Event) -> None:
    while not stop.is_set():
        client = make_client(address, password, timeout=1.0)
        try:
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            pubsub.psubscribe("*")
            while not stop.is_set():
                with suppress(redis.TimeoutError):
                    message = pubsub.get_message(timeout=0.1)
                    if message:
                        on_event(time.time(), str(message["channel"]), str(message["data"]))
        except (redis.RedisError, OSError):
            stop.wait(0.2)
        finally:
            client.close()
