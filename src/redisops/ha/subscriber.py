"""One long-lived ``PSUBSCRIBE *`` per sentinel, checked by PING, reconnected with backoff, forever.

A sentinel that dies closes the socket (the read fails at once); one that is
restarted refuses connections until it listens again.  A sentinel that hangs
(SIGSTOP, a stalled VM) or a host that vanished says nothing at all: the
socket stays open and, for a hung process, the kernel still ACKs, so neither
a read nor TCP keepalive ever fails.  Hence an application-level health
check: after ``health_s`` of silence the subscriber sends ``PING`` on the
Pub/Sub connection, and no reply (a pong or any message) within ``timeout``
ends the subscription.  A quiet sentinel publishes nothing for hours, so
silence alone proves nothing; an unanswered PING does.  TCP keepalive (idle
1 s, then 3 probes 1 s apart, where the platform lets us set them) is the
backstop that closes a connection whose host is gone.

Either way the subscription is retried after ``backoff.compute(failures)``
seconds (capped exponential), and the failure count resets once a
subscription is confirmed.  The first failure is logged (INFO), the retries
only at DEBUG, and the success that ends them again (INFO): a sentinel down
for a day is two lines, not one per retry.  Messages that arrive while nobody
is subscribed are lost: that is what the watcher's polls are for.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

import redis.asyncio as aredis
from redis.asyncio.retry import Retry
from redis.backoff import AbstractBackoff, ExponentialBackoff, NoBackoff
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from redisops.address import Address
from redisops.clock import Clock, SystemClock

__all__ = ["KEEPALIVE", "subscribe"]

log = logging.getLogger(__name__)

OnMessage = Callable[[str, str], None]
OnState = Callable[[bool], None]

#: TCP keepalive: first probe after 1 s idle, then every 1 s, give up after 3 (Linux names; others skipped)
KEEPALIVE: dict[int, int] = {
    option: value for name, value in (("TCP_KEEPIDLE", 1), ("TCP_KEEPINTVL", 1), ("TCP_KEEPCNT", 3))
    if (option := getattr(socket, name, None)) is not None
}


async def subscribe(address: Address, password: str | None, on_message: OnMessage, *,
                    on_state: OnState = lambda _up: None, backoff: AbstractBackoff | None = None,
                    clock: Clock | None = None, timeout: float = 1.0, health_s: float = 2.0) -> None:
    """Deliver ``(channel, payload)`` of every event ``address`` publishes until cancelled.

    ``on_state(True)`` once the sentinel confirmed the subscription, ``on_state(False)`` when it ends;
    ``health_s``: silence after which a PING is sent; ``timeout``: how long its reply may take (and the
    connect and AUTH timeout).
    """
    backoff = backoff or ExponentialBackoff(cap=2.0, base=0.1)
    clock = clock or SystemClock()
    failures = 0

    def state(up: bool) -> None:
        nonlocal failures
        if up and failures:
            log.info("sentinel %s: subscribed again (%d failed %s)", address, failures,
                     "attempt" if failures == 1 else "attempts")
        if up:
            failures = 0
        on_state(up)

    while True:
        try:
            await _listen(address, password, on_message, state, clock, timeout, health_s)
        except (RedisError, OSError) as exc:
            delay = backoff.compute(failures)
            failures += 1
            # the first failure says why; retries every reconnect_max_s would fill the log (debug shows them)
            log.log(logging.INFO if failures == 1 else logging.DEBUG, "sentinel %s: %s; resubscribing in %.1f s",
                    address, exc or type(exc).__name__, delay)
            await clock.asleep(delay)


async def _listen(address: Address, password: str | None, on_message: OnMessage, on_state: OnState,
                  clock: Clock, timeout: float, health_s: float) -> None:
    client = aredis.Redis(host=address.host, port=address.port, password=password, decode_responses=True,
                          socket_connect_timeout=timeout, socket_timeout=timeout, socket_keepalive=True,
                          socket_keepalive_options=KEEPALIVE, retry=Retry(NoBackoff(), 0))  # reconnecting is ours
    pubsub = client.pubsub()
    subscribed = False
    try:
        await pubsub.psubscribe("*")
        heard, pinged = clock.now(), None
        while True:
            message = await pubsub.get_message(timeout=min(timeout, health_s))
            now = clock.now()
            if message is not None:
                heard, pinged = now, None
                if message.get("type") == "pmessage":
                    on_message(str(message["channel"]), str(message["data"]))
                elif message.get("type") == "psubscribe" and not subscribed:
                    subscribed = True
                    on_state(True)
            elif pinged is not None and now - pinged >= timeout:
                raise RedisTimeoutError(f"no reply to PING within {timeout:g} s (hung or unreachable)")
            elif pinged is None and now - heard >= health_s:
                await pubsub.ping()
                pinged = now
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
