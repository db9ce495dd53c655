"""Waiting while nodes load their dataset, instead of taking them for dead.

A redis-server listens before it has read its RDB / AOF, and a replica loads
again after every full sync.  Meanwhile it answers ``INFO`` and ``CONFIG`` but
``-LOADING`` to data and cluster commands.  With a few hundred thousand keys
that lasts seconds, with gigabytes minutes: no fixed timeout fits.  So the wait
has none while the load moves: it ends when every node is loaded, and fails
only when no node's ``loading_loaded_bytes`` grew for ``stall`` seconds, or
when ``check`` (the caller's "is the process still alive?") raises.  A node
that refuses connections is not loading: the caller that needs it says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis

from redisops.address import Address
from redisops.auth import Credential
from redisops.clients import connect
from redisops.clock import Clock, SystemClock
from redisops.errors import AuthError, NodeUnreachableError
from redisops.topology.model import Loading
from redisops.topology.parse import loading_state

__all__ = ["LoadWait", "loading_of", "wait_loaded"]

#: a load that makes no progress for this long is stuck (Redis reports progress every ~2 MB read)
STALL_S = 60.0
#: how often a new progress line may be printed while the percentages move
PROGRESS_EVERY_S = 1.0


@dataclass(frozen=True)
class LoadWait:
    """What :func:`wait_loaded` saw: the nodes that were loading and for how long it waited."""

    loaded: tuple[Address, ...]
    seconds: float


def loading_of(address: Address, password: Credential, timeout: float = 2.0) -> Loading | None:
    """The node's load progress, None once it serves (``INFO persistence`` answers even while loading)."""
    try:
        with connect(address, password, timeout) as client:
            return loading_state(client.info("persistence"))
    except redis.AuthenticationError as exc:
        raise AuthError(str(address), "authentication failed", hint="check the password") from exc


def wait_loaded(addresses: Sequence[Address], password: Credential, *, clock: Clock | None = None,
                progress: Callable[[str], None] = lambda _msg: None, check: Callable[[], None] = lambda: None,
                stall: float = STALL_S, name_of: Callable[[Address], str] = str) -> LoadWait:
    """Return once none of ``addresses`` is loading; say how far the loads are while they run."""
    clock = clock or SystemClock()
    began = clock.now()
    pending = list(addresses)
    seen: set[Address] = set()
    best: dict[Address, int] = {}
    moved_at = clock.now()
    said_at = -PROGRESS_EVERY_S
    slow: dict[Address, str] = {}
    while pending:
        check()
        states: dict[Address, Loading] = {}
        for address in pending:
            try:
                state = loading_of(address, password)
            except redis.TimeoutError as exc:  # a loading server answers between chunks: slow, not gone
                slow[address] = str(exc)
                states[address] = Loading(0.0, None, best.get(address, 0))
                continue
            except redis.ConnectionError:
                continue  # not loading as far as anyone can tell: whoever needs the node will say it is down
            slow.pop(address, None)
            if state is not None:
                states[address] = state
        pending = list(states)
        seen.update(a for a in pending if a not in slow)
        for address, state in states.items():
            if state.loaded_bytes > best.get(address, -1):
                best[address] = state.loaded_bytes
                moved_at = clock.now()
        if not pending:
            break
        if clock.now() - moved_at > stall:
            raise _stalled(pending, states, slow, stall, name_of)
        if clock.now() - said_at >= PROGRESS_EVERY_S:
            progress(_sentence(states, slow, name_of))
            said_at = clock.now()
        clock.sleep(0.1)
    return LoadWait(tuple(a for a in addresses if a in seen), clock.now() - began)


def _sentence(states: dict[Address, Loading], slow: dict[Address, str], name_of: Callable[[Address], str]) -> str:
    loading = {a: s for a, s in states.items() if a not in slow}
    parts = [f"{name_of(a)} {s.percent:.0f}%" + (f" (ETA {s.eta_seconds} s)" if s.eta_seconds else "")
             for a, s in sorted(loading.items(), key=lambda item: item[1].percent)]
    waiting = [name_of(a) for a in slow]
    text = f"loading data: {', '.join(parts[:4])}{' ...' if len(parts) > 4 else ''}" if parts else ""
    if waiting:
        text += ("; " if text else "") + f"waiting for {', '.join(waiting[:4])} to answer"
    return text


def _stalled(pending: Sequence[Address], states: dict[Address, Loading], slow: dict[Address, str],
             stall: float, name_of: Callable[[Address], str]) -> NodeUnreachableError:
    first = pending[0]
    if first in slow:
        return NodeUnreachableError(name_of(first), f"does not answer after {stall:.0f} s ({slow[first]})",
                                    hint="see its log under .redisops/ and `redisops status`")
    return NodeUnreachableError(name_of(first), f"stopped loading its dataset at {states[first].percent:.0f}% "
                                f"(no progress for {stall:.0f} s)", hint="see its log under .redisops/")
