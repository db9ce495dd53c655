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

It runs until its ``stop`` event is set, not only until it is cancelled:
redis-py can take a cancellation that lands as one of its read timeouts
expires for that timeout and read on, and a watcher waiting for its
subscriptions to end would then never stop (seen in the tests, about one
stop in twenty with a PING on every read).  The watcher sets ``stop`` and
cancels, and waits a bounded time.
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
from redisops.auth import Credential, redis_kwargs
from redisops.clock import Clock, SystemClock

__all__ = ["KEEPALIVE", "subscribe"]

log = logging.getLogger(__name__)

#: the longest a subscription keeps running after ``stop`` while it waits to reconnect
_SLICE_S = 0.5
_MIN_WAIT_S = 0.05

OnMessage = Callable[[str, str], None]
OnState = Callable[[bool], None]

#: TCP keepalive: first probe after 1 s idle, then every 1 s, give up after 3 (Linux names; others skipped)
KEEPALIVE: dict[int, int] = {
    option: value for name, value in (("TCP_KEEPIDLE", 1), ("TCP_KEEPINTVL", 1), ("TCP_KEEPCNT", 3))
    if (option := getattr(socket, name, None)) is not None
}


async def subscribe(address: Address, password: Credential, on_message: OnMessage, *,
                    stop: asyncio.Event | None = None, on_state: OnState = lambda _up: None,
                    backoff: AbstractBackoff | None = None, clock: Clock | None = None, timeout: float = 1.0,
                    health_s: float = 2.0) -> None:
    """Deliver ``(channel, payload)`` of every event ``address`` publishes until ``stop`` is set (or cancelled).

    ``on_state(True)`` once the sentinel confirmed the subscription, ``on_state(False)`` when it ends;
    ``health_s``: silence after which a PING is sent; ``timeout``: how long its reply may take (and the
    connect timeout).  ``stop`` ends it within about ``timeout`` even where cancelling alone does not: a
    cancellation that lands as one of redis-py's read timeouts expires can be taken for that timeout
    (seen on Python 3.11), and the loop would go on.
    """
    backoff = backoff or ExponentialBackoff(cap=2.0, base=0.1)
    clock = clock or SystemClock()
    stop = stop or asyncio.Event()
    failures = 0

    def state(up: bool) -> None:
        nonlocal failures
        if up and failures:
            log.info("sentinel %s: subscribed again (%d failed %s)", address, failures,
                     "attempt" if failures == 1 else "attempts")
        if up:
            failures = 0
        on_state(up)

    while not stop.is_set():
        try:
            await _listen(address, password, on_message, state, stop, clock, timeout, health_s)
        except (RedisError, OSError) as exc:
            if stop.is_set():
                return
            delay = backoff.compute(failures)
            failures += 1
            # the first failure says why; retries every reconnect_max_s would fill the log (debug shows them)
            log.log(logging.INFO if failures == 1 else logging.DEBUG, "sentinel %s: %s; resubscribing in %.1f s",
                    address, exc or type(exc).__name__, delay)
            await _rest(clock, delay, stop)


async def _rest(clock: Clock, seconds: float, stop: asyncio.Event) -> None:
    """Sleep ``seconds`` on ``clock``, in slices short enough to notice ``stop`` soon."""
    end = clock.now() + seconds
    while not stop.is_set() and (left := end - clock.now()) > 0:
        await clock.asleep(min(left, _SLICE_S))


async def _listen(address: Address, password: Credential, on_message: OnMessage, on_state: OnState,
                  stop: asyncio.Event, clock: Clock, timeout: float, health_s: float) -> None:
    # No socket_timeout: with one, redis-py sends through asyncio.wait_for, which on Python 3.11 loses a
    # cancellation that lands as the send completes, and the subscription outlives the watcher that stopped
    # it.  Replies are bounded by our own PING check instead (and a hung AUTH ends when the sentinel resumes).
    client = aredis.Redis(host=address.host, port=address.port, **redis_kwargs(password), decode_responses=True,
                          socket_connect_timeout=timeout, socket_keepalive=True, socket_keepalive_options=KEEPALIVE,
                          retry=Retry(NoBackoff(), 0))  # reconnecting is ours to do
    pubsub = client.pubsub()
    subscribed = False
    try:
        await pubsub.psubscribe("*")
        heard, pinged = clock.now(), None
        wait = max(_MIN_WAIT_S, min(timeout, health_s))  # never 0: redis-py's 0 means "do not wait at all"
        while not stop.is_set():
            message = await pubsub.get_message(timeout=wait)
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
