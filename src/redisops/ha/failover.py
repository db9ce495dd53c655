"""Manual failover of a Sentinel group: ``SENTINEL FAILOVER``, steered and watched.

Sentinel picks the replica to promote itself (lowest ``replica-priority``, then
highest offset).  To promote a chosen replica we give every other healthy
replica priority 0 ("never promote") and wait until the sentinel that will
lead has *seen* the new priorities: it reads them from the replicas' INFO,
which it polls only every 10 s, so sending the failover earlier could promote
the wrong node.  The original priorities are restored whatever happens.

``SENTINEL FAILOVER`` needs no agreement from the other sentinels: the one we
ask becomes leader at once.  We listen to its Pub/Sub meanwhile and return the
timeline (``+try-failover`` ... ``+switch-master`` ... ``+failover-end``).

A planned failover loses no acknowledged write.  Sentinel promotes the replica
without touching the old master, which keeps answering role master and
acknowledging writes until Sentinel converts it into a replica: measured on
7.0, about 9 s after ``+switch-master`` (Sentinel waits 8 s after a "replica"
reports role master before it sends ``REPLICAOF``), 10 s after the request.
Every write it takes in that window is discarded by the resync.  So
:func:`_writes_paused` first sends ``CLIENT PAUSE <ms> WRITE`` to the old master
-- a lease of a few seconds, renewed every second while the failover runs and
never beyond the group's failover-timeout, so a ``redisops`` killed mid-failover
leaves the old master paused for one lease at most --, waits until the replicas
have every byte of it (the replication offset no longer moves while paused),
and only then asks for the failover.  Writers block instead of landing on a
node about to be demoted.  As soon as a sentinel names the promoted replica
and it answers role master, :func:`_demote` points the old master at it
(``REPLICAOF``: exactly what Sentinel would do 9 s later, so no ``+convert-to-slave``
follows), and the pause ends (``CLIENT UNPAUSE``, in a ``finally``, also when the
failover fails): the held writes then get ``-READONLY``, which Sentinel-aware
clients take as "ask the sentinels again".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import redis

from redisops.address import Address
from redisops.alerts.model import TimelineEntry
from redisops.clients import connect
from redisops.clock import Clock, SystemClock
from redisops.errors import RedisopsError, UsageError
from redisops.ha.listen import sentinel_events
from redisops.topology.model import Role
from redisops.topology.sentinel_status import GroupStatus
from redisops.topology.status import collect_status_sync
from redisops.topology.targets import SentinelTarget

__all__ = ["FailoverError", "FailoverResult", "manual_failover"]

Progress = Callable[[str], None]
#: the replicas must hold every byte of the paused master within this long, else no failover is asked for
CAUGHT_UP_WITHIN_S = 5.0
#: writes are paused in leases this long, renewed every PAUSE_RENEW_S while the failover runs
PAUSE_LEASE_MS = 5000
PAUSE_RENEW_S = 1.0
#: Sentinel refreshes a replica's INFO (and so its priority) every 10 s; allow one round and a bit.
PRIORITY_SEEN_WITHIN_S = 12.0


class FailoverError(RedisopsError):
    """The failover could not start or did not finish; ``group`` names the Sentinel group."""

    def __init__(self, group: str, message: str, *, hint: str | None = None, retryable: bool = False) -> None:
        self.group = group
        self.retryable = retryable
        super().__init__(f"{group}: {message}", hint=hint)


@dataclass(frozen=True)
class FailoverResult:
    group: str
    old_master: Address
    new_master: Address
    seconds: float
    timeline: tuple[TimelineEntry, ...]

    @property
    def sentence(self) -> str:
        if self.old_master == self.new_master:
            return f"{self.group}: {self.new_master} is already the master; nothing to do"
        return f"{self.group}: failed over from {self.old_master} to {self.new_master} in {self.seconds:.1f} s"

    def to_dict(self) -> dict[str, object]:
        return {
            "group": self.group,
            "old_master": str(self.old_master),
            "new_master": str(self.new_master),
            "seconds": round(self.seconds, 3),
            "timeline": [{"at": e.at, "event": e.event, "source": e.source, "detail": e.detail}
                         for e in self.timeline],
        }


def manual_failover(target: SentinelTarget, *, to: Address | None = None, timeout: float = 60.0,
                    clock: Clock | None = None, progress: Progress = lambda _msg: None) -> FailoverResult:
    """Fail ``target`` over (to the replica ``to`` when given) and wait until every sentinel agrees."""
    clock = clock or SystemClock()
    group = collect_status_sync([target], [], timeout=1.0).groups[0]
    old = _current_master(group)
    healthy = _healthy_replicas(group, old)
    if to == old:
        return FailoverResult(target.name, old, old, 0.0, ())
    if to is not None and to not in healthy:
        raise UsageError(f"{to} is not a healthy replica of {target.name}",
                         hint=f"healthy replicas: {', '.join(map(str, healthy)) or 'none'}")
    leader = _reachable_sentinel(group)
    began = clock.now()
    with connect(leader, target.sentinel_password) as sentinel, _recorder(target, leader) as timeline:
        with _steer(target, sentinel, healthy, to, clock, progress):
            pause_ms = _failover_timeout_ms(sentinel, target.name)
            with _writes_paused(target, old, healthy if to is None else [to], pause_ms, clock, progress):
                progress(f"asking sentinel {leader} to fail {target.name} over")
                try:
                    sentinel.execute_command("SENTINEL", "FAILOVER", target.name)
                except redis.ResponseError as exc:
                    raise FailoverError(target.name, f"sentinel {leader} refused: {exc}",
                                        hint="a failover may already be in progress; see `redisops status`",
                                        retryable=True) from exc
                promoted = _wait_promoted(target, old, clock, began + timeout)
                _demote(target, old, promoted, progress)
            new = _wait_done(target, old, clock, began + timeout, progress)
    if to is not None and new != to:
        raise FailoverError(target.name, f"promoted {new}, not the requested {to}")
    return FailoverResult(target.name, old, new, clock.now() - began, tuple(timeline))


def _current_master(group: GroupStatus) -> Address:
    if group.master is None:
        raise FailoverError(group.name, "the sentinels name no master", hint="run `redisops status`")
    return group.master


def _healthy_replicas(group: GroupStatus, master: Address) -> list[Address]:
    healthy = [n.address for n in group.nodes
               if n.reachable and n.role is Role.REPLICA and n.master == master and n.link_up]
    if not healthy:
        raise FailoverError(group.name, "no healthy replica to promote (none reachable with its link up)",
                            hint="bring a replica back first: `redisops up`, then `redisops status`")
    return healthy


def _reachable_sentinel(group: GroupStatus) -> Address:
    for view in group.sentinels:
        if view.reachable and view.master is not None:
            return view.address
    raise FailoverError(group.name, "no sentinel answers", hint="start the sentinels: `redisops up`")


@contextmanager
def _recorder(target: SentinelTarget, address: Address) -> Iterator[list[TimelineEntry]]:
    """Collect the leader's Pub/Sub events while the block runs (its hello gossip left out)."""
    events: list[TimelineEntry] = []

    def record(at: float, channel: str, data: str) -> None:
        if not channel.startswith("__sentinel__"):
            events.append(TimelineEntry(at, channel, str(address), data))

    with sentinel_events([address], target.sentinel_password, record):
        yield events


@contextmanager
def _steer(target: SentinelTarget, sentinel: redis.Redis, healthy: Sequence[Address], to: Address | None,
           clock: Clock, progress: Progress) -> Iterator[None]:
    """With ``to``: every other healthy replica gets priority 0 until the block ends."""
    others = [a for a in healthy if a != to] if to is not None else []
    original: dict[Address, str] = {}
    try:
        for address in others:
            with connect(address, target.password) as node:
                original[address] = str(node.config_get("replica-priority")["replica-priority"])
                node.config_set("replica-priority", 0)
        if others:
            progress(f"waiting for sentinel to see {to} as the only candidate (it re-reads priorities every 10 s)")
            _wait_priorities_seen(target, sentinel, {a: 0 for a in others}, clock)
        yield
    finally:
        for address, value in original.items():
            with suppress(redis.RedisError), connect(address, target.password) as node:
                node.config_set("replica-priority", value)


def _wait_priorities_seen(target: SentinelTarget, sentinel: redis.Redis, wanted: dict[Address, int],
                          clock: Clock) -> None:
    deadline = clock.now() + PRIORITY_SEEN_WITHIN_S
    while True:
        seen = _replica_priorities(sentinel, target.name)
        if all(seen.get(address) == value for address, value in wanted.items()):
            return
        if clock.now() > deadline:
            raise FailoverError(target.name, "the sentinel did not pick up the new replica priorities in time",
                                retryable=True)
        clock.sleep(0.2)


def _replica_priorities(sentinel: redis.Redis, name: str) -> dict[Address, int]:
    """``slave-priority`` of each replica as the sentinel last read it (SENTINEL REPLICAS)."""
    replies = sentinel.execute_command("SENTINEL", "REPLICAS", name)
    out: dict[Address, int] = {}
    for reply in replies:
        fields = reply if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2], strict=False))
        out[Address(str(fields["ip"]), int(fields["port"]))] = int(fields.get("slave-priority", 100))
    return out


def _failover_timeout_ms(sentinel: redis.Redis, name: str) -> int:
    reply = sentinel.execute_command("SENTINEL", "MASTER", name)
    fields = reply if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2], strict=False))
    return int(fields.get("failover-timeout", 180_000))


@contextmanager
def _writes_paused(target: SentinelTarget, master: Address, replicas: Sequence[Address], pause_ms: int,
                   clock: Clock, progress: Progress) -> Iterator[None]:
    """``CLIENT PAUSE ... WRITE`` on ``master`` until the block ends (at most ``pause_ms``), entered once
    ``replicas`` (the candidates for promotion) hold its whole replication stream.

    The pause is a lease (:data:`PAUSE_LEASE_MS`) that a thread renews every
    :data:`PAUSE_RENEW_S` on its own connection: a renewal only moves the end
    later, and when this process dies the renewals stop, so the old master
    takes writes again within one lease instead of a whole failover-timeout.
    """
    lease = min(pause_ms, PAUSE_LEASE_MS)
    with connect(master, target.password) as node:
        progress(f"pausing writes on {master} (at most {pause_ms} ms) so none lands on the old master")
        node.execute_command("CLIENT", "PAUSE", lease, "WRITE")
        done = threading.Event()
        renewer = threading.Thread(target=_renew_pause, args=(target, master, lease, pause_ms, done),
                                   name="failover-pause", daemon=True)
        renewer.start()
        try:
            _wait_caught_up(target, node, replicas, clock)
            yield
        finally:
            done.set()
            renewer.join(timeout=5)
            with suppress(redis.RedisError):
                node.execute_command("CLIENT", "UNPAUSE")


def _renew_pause(target: SentinelTarget, master: Address, lease_ms: int, total_ms: int,
                 done: threading.Event) -> None:
    """Extend the write pause by ``lease_ms`` every :data:`PAUSE_RENEW_S` until ``done`` or ``total_ms``."""
    until = time.monotonic() + total_ms / 1000
    # a lost connection ends the renewals: the lease then runs out, which is the safe direction
    with suppress(Exception), connect(master, target.password) as node:
        while not done.wait(PAUSE_RENEW_S):
            left_ms = int((until - time.monotonic()) * 1000)
            if left_ms <= 0:
                return
            node.execute_command("CLIENT", "PAUSE", min(lease_ms, left_ms), "WRITE")


def _wait_caught_up(target: SentinelTarget, master: redis.Redis, replicas: Sequence[Address], clock: Clock) -> None:
    """Until every replica in ``replicas`` has processed the paused master's whole stream: the one
    Sentinel promotes then holds every write the master acknowledged."""
    offset = int(master.info("replication")["master_repl_offset"])
    deadline = clock.now() + CAUGHT_UP_WITHIN_S
    behind = list(replicas)
    while behind:
        behind = [a for a in behind if _replica_offset(target, a) < offset]
        if behind and clock.now() > deadline:
            raise FailoverError(target.name, f"{', '.join(map(str, behind))} did not catch up with the paused "
                                f"master (offset {offset}) within {CAUGHT_UP_WITHIN_S:.0f} s", retryable=True,
                                hint="check replica links with `redisops status`")
        if behind:
            clock.sleep(0.02)


def _replica_offset(target: SentinelTarget, address: Address) -> int:
    with suppress(redis.RedisError, KeyError, ValueError), connect(address, target.password, 1.0) as node:
        return int(node.info("replication")["slave_repl_offset"])
    return -1


def _wait_promoted(target: SentinelTarget, old: Address, clock: Clock, deadline: float) -> Address:
    """The replica Sentinel promoted, once a sentinel names it and it answers role master."""
    while True:
        group = collect_status_sync([target], [], timeout=1.0).groups[0]
        named = {v.master for v in group.sentinels if v.reachable and v.master not in (None, old)}
        for node in group.nodes:
            if node.address in named and node.reachable and node.role is Role.MASTER:
                return node.address
        if clock.now() > deadline:
            raise FailoverError(target.name, "no sentinel named a promoted replica in time",
                                hint="see `redisops status`; Sentinel retries after 2 x failover-timeout",
                                retryable=True)
        clock.sleep(0.05)


def _demote(target: SentinelTarget, old: Address, new: Address, progress: Progress) -> None:
    """Point the old master at the promoted one, as Sentinel would 8-10 s later (``+convert-to-slave``)."""
    progress(f"{new} promoted; making {old} its replica")
    with suppress(redis.RedisError), connect(old, target.password) as node:
        node.execute_command("REPLICAOF", new.host, str(new.port))


def _wait_done(target: SentinelTarget, old: Address, clock: Clock, deadline: float, progress: Progress) -> Address:
    """Until every reachable sentinel names one new master, it answers role master, and every
    other reachable data node (the old master included) replicates it with its link up: no
    second master left and every copy current again."""
    last = ""
    while True:
        group = collect_status_sync([target], [], timeout=1.0).groups[0]
        views = {v.master for v in group.sentinels if v.reachable}
        new = group.master
        node = next((n for n in group.nodes if n.address == new), None)
        demoted = all(n.role is Role.REPLICA and n.master == new and n.link_up for n in group.nodes
                      if n.reachable and n.address != new)
        done = (new is not None and new != old and views == {new} and node is not None
                and node.role is Role.MASTER and demoted
                and not any("failover_in_progress" in v.flags for v in group.sentinels))
        if done and new is not None:
            return new
        state = f"sentinels name {', '.join(sorted(str(v) for v in views if v))}"
        if state != last:
            progress(f"waiting for the failover: {state}")
            last = state
        if clock.now() > deadline:
            raise FailoverError(target.name, f"failover not finished in time ({state})",
                                hint="see `redisops status`; Sentinel retries after 2 x failover-timeout",
                                retryable=True)
        clock.sleep(0.1)
