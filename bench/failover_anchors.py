"""The redis-py anchors of bench/failover.py: how each is set up, and a writer paced exactly as redisops'.

What the failover benchmark races redisops against is a plain redis-py application at its best settings,
so every choice here says why it is the fastest that is still correct.  Two kinds:

  master_for     redis.sentinel.Sentinel(...).master_for(name): redis-py's own Sentinel client.  It finds
                 the master with SENTINEL MASTERS and skips a master flagged s_down / o_down; Sentinel keeps
                 the old address there until it publishes +switch-master, so no setting makes it write sooner.
  addr-by-name   not redis-py's Sentinel client but what a careful user can write on plain redis-py in 30
                 lines: SENTINEL GET-MASTER-ADDR-BY-NAME on each sentinel, then ROLE on the answer.  The
                 leader answers the promoted replica there as soon as it has seen it master (+promoted-slave).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import redis
from redis.backoff import ConstantBackoff, NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from redisops.auth import redis_kwargs
from redisops.chaos.writer import WriteBook, write_paced
from redisops.topology.targets import SentinelTarget

__all__ = ["ANCHORS", "Anchor", "AnchorWriter", "Settings"]


@dataclass(frozen=True)
class Settings:
    """redis-py connection settings, for the master's and the sentinels' connections alike; None = default."""

    socket_timeout: float | None
    connect_timeout: float | None  # redis-py 8.1 default: 5 s
    # None = no retry argument.  redis-py 8.1 then gives `Redis(host, port)` clients (the sentinels' here)
    # 10 retries, exponential 10 ms .. 1 s with jitter, but `master_for`'s pool connections Retry(NoBackoff(), 0).
    retry: Callable[[], Retry] | None

    def options(self) -> dict[str, Any]:
        chosen: dict[str, Any] = {"socket_timeout": self.socket_timeout, "socket_connect_timeout": self.connect_timeout}
        if self.retry is not None:
            chosen["retry"] = self.retry()  # a fresh Retry for each client
        return {key: value for key, value in chosen.items() if value is not None}


class Source(Protocol):
    """Where a writer gets its master client, and where it reports that a write failed."""

    def client(self) -> redis.Redis | None: ...
    def failed(self) -> None: ...
    def close(self) -> None: ...


class MasterFor:
    """redis-py's Sentinel client: one long-lived ``master_for`` client (a new one per write would be slower)."""

    def __init__(self, settings: Settings, target: SentinelTarget) -> None:
        sentinel = Sentinel([(a.host, a.port) for a in target.sentinels],
                            sentinel_kwargs={**redis_kwargs(target.sentinel_password), **settings.options()},
                            **redis_kwargs(target.password), **settings.options())
        self._client: redis.Redis = sentinel.master_for(target.name)

    def client(self) -> redis.Redis | None:
        return self._client

    def failed(self) -> None:
        """The pool drops the broken connection and asks the sentinels again on the next connect."""

    def close(self) -> None:
        self._client.close()


class AddrByName:
    """Plain redis-py, hand-written discovery: each sentinel's GET-MASTER-ADDR-BY-NAME, then ROLE master."""

    def __init__(self, settings: Settings, target: SentinelTarget) -> None:
        self.settings = settings
        self.target = target
        self._sentinels = [redis.Redis(a.host, a.port, **redis_kwargs(target.sentinel_password), **settings.options())
                           for a in target.sentinels]
        self._client: redis.Redis | None = None

    def client(self) -> redis.Redis | None:
        if self._client is None:
            self._client = self._discover()
        return self._client

    def failed(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    def close(self) -> None:
        self.failed()
        for sentinel in self._sentinels:
            sentinel.close()

    def _discover(self) -> redis.Redis | None:
        for sentinel in self._sentinels:
            try:
                reply = sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.target.name)
            except redis.RedisError:
                continue
            if not reply:
                continue
            host, port = (part.decode() if isinstance(part, bytes) else str(part) for part in reply)
            client = redis.Redis(host, int(port), **redis_kwargs(self.target.password), **self.settings.options())
            try:
                if client.execute_command("ROLE")[0] in (b"master", "master"):
                    return client
            except redis.RedisError:
                pass
            client.close()
        return None


@dataclass(frozen=True)
class Anchor:
    label: str
    settings: Settings
    source: Callable[[Settings, SentinelTarget], Source]


_FAST = Settings(0.2, 0.2, lambda: Retry(NoBackoff(), 0))

ANCHORS = {
    # The best a careful user of redis-py's Sentinel client writes: timeouts 0.2 s, and no retry hidden in
    # the client, so the application's loop tries again on its next 5 ms tick (a kill -9 on loopback makes
    # every connect fail at once with "connection refused", so nothing sleeps between tries).  Correct:
    # each MULTI/EXEC is sent once.  health_check_interval and check_connection only add PINGs.
    "tuned": Anchor("redis-py `master_for`, timeouts 0.2 s, `Retry(NoBackoff(), 0)`", _FAST, MasterFor),
    # The same with a tight retry inside redis-py, on connects and on commands.  Retrying a command can
    # apply a MULTI/EXEC twice (INCR!) when only the reply was lost: raced only to show it is no faster.
    "tight-retry": Anchor("redis-py `master_for`, timeouts 0.2 s, `Retry(ConstantBackoff(0.01), 3)`",
                          Settings(0.2, 0.2, lambda: Retry(ConstantBackoff(0.01), 3)), MasterFor),
    # What this benchmark raced until 2026-12-03: socket timeout 0.25 s, the rest redis-py's defaults.
    "old": Anchor("redis-py `master_for`, socket timeout 0.25 s, no `retry` argument", Settings(0.25, None, None),
                  MasterFor),
    "addr-by-name": Anchor("plain redis-py, hand-written GET-MASTER-ADDR-BY-NAME + ROLE, timeouts 0.2 s, "
                           "`Retry(NoBackoff(), 0)`", _FAST, AddrByName),
}


class AnchorWriter:
    """Writes like :class:`redisops.chaos.Writer` (same keys, same transaction, same pacing) through an anchor."""

    def __init__(self, anchor: Anchor, target: SentinelTarget, run_id: str, rate: float,
                 counters: int = 100, max_writes: int = 200_000) -> None:
        self.source = anchor.source(anchor.settings, target)
        self.run_id = run_id
        self.interval = 1.0 / rate
        self.counters = counters
        self.max_writes = max_writes
        self.book = WriteBook()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="anchor-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> WriteBook:
        self._stop.set()
        self._thread.join(timeout=30)
        self.source.close()
        return self.book

    def on_event(self, at: float, channel: str, data: str) -> None:
        """No anchor listens to sentinel events (redis-py's Sentinel client does not)."""

    def _run(self) -> None:
        write_paced(self._write, self.book, self.interval, self.max_writes, self._stop)

    def _write(self, seq: int) -> bool:
        client = self.source.client()
        if client is None:
            return False
        try:
            pipe = client.pipeline(transaction=True)
            pipe.set(f"drill:{self.run_id}:{seq}", seq)
            pipe.incr(f"drill:{self.run_id}:counter:{seq % self.counters}")
            pipe.execute()
            return True
        except redis.RedisError:
            self.source.failed()
            return False
