"""One long-lived ``PSUBSCRIBE *`` per sentinel, reconnected with backoff, forever.

A sentinel that dies closes the socket (the read fails at once); one that is
restarted refuses connections until it listens again.  Either way the
subscription is retried after ``backoff.compute(failures)`` seconds (capped
exponential), and the failure count resets once a subscription succeeds.  A
sentinel that hangs (SIGSTOP, a stalled host) keeps its connection: its events
resume with it, and the watcher's poll reports it down meanwhile; TCP
keepalive ends a connection whose host vanished.  Messages that arrive while
nobody is subscribed are lost: that is what the watcher's polls are for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import redis.asyncio as aredis
from redis.asyncio.retry import Retry
from redis.backoff import AbstractBackoff, ExponentialBackoff, NoBackoff
from redis.exceptions import RedisError

from redisops.address import Address
from redisops.clock import Clock, SystemClock

__all__ = ["subscribe"]

log = logging.getLogger(__name__)

OnMessage = Callable[[str, str], None]
OnState = Callable[[bool], None]


async def subscribe(address: Address, password: str | None, on_message: OnMessage, *,
                    on_state: OnState = lambda _up: None, backoff: AbstractBackoff | None = None,
                    clock: Clock | None = None, timeout: float = 1.0) -> None:
    """Deliver ``(channel, payload)`` of every event ``address`` publishes until cancelled."""
    backoff = backoff or ExponentialBackoff(cap=2.0, base=0.1)
    clock = clock or SystemClock()
    failures = 0

    def state(up: bool) -> None:
        nonlocal failures
        if up:
            failures = 0
        on_state(up)

    while True:
        try:
            await _listen(address, password, on_message, state, timeout)
        except (RedisError, OSError) as exc:
            delay = backoff.compute(failures)
            failures += 1
            log.info("sentinel %s: %s; resubscribing in %.1f s", address, exc or type(exc).__name__, delay)
            await clock.asleep(delay)


async def _listen(address: Address, password: str | None, on_message: OnMessage, on_state: OnState,
                  timeout: float) -> None:
    client = aredis.Redis(host=address.host, port=address.port, password=password, decode_responses=True,
                          socket_connect_timeout=timeout, socket_keepalive=True,
                          retry=Retry(NoBackoff(), 0))  # reconnecting is ours to do
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    subscribed = False
    try:
        await pubsub.psubscribe("*")
        subscribed = True
        on_state(True)
        while True:
            message = await pubsub.get_message(timeout=timeout)
            if message is not None and message.get("type") == "pmessage":
                on_message(str(message["channel"]), str(message["data"]))
    finally:
        if subscribed:
            on_state(False)
        await asyncio.shield(_close(pubsub, client))


async def _close(pubsub: aredis.client.PubSub, client: aredis.Redis) -> None:
    try:
        await pubsub.aclose()
        await client.aclose()
    except (RedisError, OSError):
        pass

