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
-- a lease of a few seconds, renewed every second while the failover runs, so a
``redisops`` killed mid-failover leaves the old master paused for one lease at
most --, waits until the replicas have every byte of it (the replication offset
no longer moves while paused), and only then asks for the failover.  Writers
block instead of landing on a node about to be demoted.  As soon as a candidate
answers role master (Sentinel's ``REPLICAOF NO ONE``, some 0.2-0.3 s after the
request), :func:`_demote` points the old master at it (``REPLICAOF``, written to
its redis.conf with ``CONFIG REWRITE`` so that a restart keeps the role: exactly
what Sentinel would do 9 s later, so no ``+convert-to-slave`` follows), and the
pause ends (``CLIENT UNPAUSE``, in a ``finally``, also when the failover fails):
the held writes then get ``-READONLY``, which Sentinel-aware clients take as
"ask the sentinels again".

The pause must stay shorter than the group's ``down-after-milliseconds``
(:func:`pause_budget_ms`): a paused master holds Sentinel's hello ``PUBLISH``
(a write), and the ``PING`` queued behind it on the same connection, so a longer
pause makes the sentinels flag the old master ``+sdown`` in the middle of the
failover.  Should the promotion take longer than that budget, the pause lapses
and the result says so (``pause_lapsed``): writes in the rest of that window are
not protected.

``failover --to`` steers Sentinel with temporary ``replica-priority 0`` on the
other replicas, journaled (:mod:`redisops.runtime.temporary`): Sentinel's
``CONFIG REWRITE`` of those replicas writes the 0 into their files, so putting
the priorities back mends the files too, and a killed ``redisops`` has them
undone by the next ``up`` (or the next failover).
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
from redisops.runtime.temporary import Journal, temporary_config
from redisops.topology.model import Role
from redisops.topology.parse import parse_sentinel_master, parse_sentinel_replicas
from redisops.topology.sentinel_status import GroupStatus
from redisops.topology.status import collect_status_sync
from redisops.topology.targets import SentinelTarget

__all__ = ["FailoverError", "FailoverResult", "manual_failover", "pause_budget_ms"]

Progress = Callable[[str], None]
#: the replicas must hold every byte of the paused master within this long, else no failover is asked for
CAUGHT_UP_WITHIN_S = 5.0
#: writes are paused in leases this long, renewed every PAUSE_RENEW_S while the failover runs
PAUSE_LEASE_MS = 5000
PAUSE_RENEW_S = 1.0
#: the pause ends this much (at least) before down-after: a sentinel's timer ticks every ~100 ms
PAUSE_MARGIN_MS = 250
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
    #: how long writes were paused on the old master, and whether the pause ran out before the promotion
    paused_s: float = 0.0
    pause_lapsed: bool = False

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
            "writes_paused_s": round(self.paused_s, 3),
            "pause_lapsed": self.pause_lapsed,
            "timeline": [{"at": e.at, "event": e.event, "source": e.source, "detail": e.detail}
                         for e in self.timeline],
        }


def manual_failover(target: SentinelTarget, *, to: Address | None = None, timeout: float = 60.0,
                    clock: Clock | None = None, progress: Progress = lambda _msg: None,
                    journal: Journal | None = None) -> FailoverResult:
    """Fail ``target`` over (to the replica ``to`` when given) and wait until every sentinel agrees.

    ``journal`` keeps the temporary priorities of ``--to`` on disk until they are
    back (:mod:`redisops.runtime.temporary`); without one they live in memory only.
    """
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
    candidates = healthy if to is None else [to]
    with connect(leader, target.sentinel_password) as sentinel, _recorder(target, leader) as timeline:
        with _steer(target, sentinel, healthy, to, clock, progress, journal):
            budget_ms = pause_budget_ms(_timers_ms(sentinel, target.name))
            with _writes_paused(target, old, candidates, budget_ms, clock, progress) as pause:
                progress(f"asking sentinel {leader} to fail {target.name} over")
                try:
                    sentinel.execute_command("SENTINEL", "FAILOVER", target.name)
                except redis.ResponseError as exc:
                    raise FailoverError(target.name, f"sentinel {leader} refused: {exc}",
                                        hint="a failover may already be in progress; see `redisops status`",
                                        retryable=True) from exc
                promoted = _wait_promoted(target, old, candidates, clock, began + timeout)
                _demote(target, old, promoted, progress)
            new = _wait_done(target, old, clock, began + timeout, progress)
    if to is not None and new != to:
        raise FailoverError(target.name, f"promoted {new}, not the requested {to}")
    return FailoverResult(target.name, old, new, clock.now() - began, tuple(timeline), pause.seconds, pause.lapsed)


def pause_budget_ms(timers: tuple[int, int]) -> int:
    """How long writes may stay paused: below down-after by :data:`PAUSE_MARGIN_MS` (or a tenth of it, if more),
    and never beyond the failover-timeout.  ``timers`` is ``(down-after, failover-timeout)`` in ms."""
    down_after, failover_timeout = timers
    return max(0, min(failover_timeout, down_after - max(PAUSE_MARGIN_MS, down_after // 10)))


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
           clock: Clock, progress: Progress, journal: Journal | None) -> Iterator[None]:
    """With ``to``: every other healthy replica gets priority 0 until the block ends (a temporary setting)."""
    others = [a for a in healthy if a != to] if to is not None else []
    with temporary_config(journal, target.password, f"failover --to {to}", rewrite=True) as temp:
        for address in others:
            temp.set(address, "replica-priority", 0)
        if others:
            progress(f"waiting for sentinel to see {to} as the only candidate (it re-reads priorities every 10 s)")
            _wait_priorities_seen(target, sentinel, {a: 0 for a in others}, clock)
        yield


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
    replicas = parse_sentinel_replicas(sentinel.execute_command("SENTINEL", "REPLICAS", name))
    return {r.address: r.priority for r in replicas}


def _timers_ms(sentinel: redis.Redis, name: str) -> tuple[int, int]:
    """``(down-after-milliseconds, failover-timeout)`` of the group, as the sentinel has them."""
    master = parse_sentinel_master(name, sentinel.execute_command("SENTINEL", "MASTER", name))
    down_after, timeout = master.down_after_ms, master.failover_timeout_ms
    return (30_000 if down_after is None else down_after), (180_000 if timeout is None else timeout)


@dataclass
class _Pause:
    """How the write pause went: its length once it ended, and whether it ran out before the promotion."""

    began: float
    budget_s: float
    seconds: float = 0.0
    lapsed: bool = False


@contextmanager
def _writes_paused(target: SentinelTarget, master: Address, replicas: Sequence[Address], budget_ms: int,
                   clock: Clock, progress: Progress) -> Iterator[_Pause]:
    """``CLIENT PAUSE ... WRITE`` on ``master`` until the block ends or ``budget_ms`` is spent, entered once
    ``replicas`` (the candidates for promotion) hold its whole replication stream.

    The pause is a lease (:data:`PAUSE_LEASE_MS`, or the budget if shorter) that a
    thread renews every :data:`PAUSE_RENEW_S` on its own connection, never past
    the budget: a renewal only moves the end later, and when this process dies
    the renewals stop, so the old master takes writes again within one lease.
    """
    lease = min(budget_ms, PAUSE_LEASE_MS)
    with connect(master, target.password) as node:
        progress(f"pausing writes on {master} (at most {budget_ms} ms) so none lands on the old master")
        node.execute_command("CLIENT", "PAUSE", lease, "WRITE")
        pause = _Pause(clock.now(), budget_ms / 1000)
        done = threading.Event()
        renewer = threading.Thread(target=_renew_pause, args=(target, master, lease, budget_ms, done),
                                   name="failover-pause", daemon=True)
        renewer.start()
        try:
            _wait_caught_up(target, node, replicas, clock)
            yield pause
        finally:
            done.set()
            renewer.join(timeout=5)
            with suppress(redis.RedisError):
                node.execute_command("CLIENT", "UNPAUSE")
            pause.seconds = min(clock.now() - pause.began, pause.budget_s)
            pause.lapsed = clock.now() - pause.began > pause.budget_s
            if pause.lapsed:
                progress(f"the write pause on {master} ended after {budget_ms} ms, before the promotion "
                         "(kept below down-after); writes it took meanwhile may be lost")


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


def _wait_promoted(target: SentinelTarget, old: Address, candidates: Sequence[Address], clock: Clock,
                   deadline: float) -> Address:
    """The replica Sentinel promoted: the first candidate answering role master (Sentinel's ``REPLICAOF NO ONE``
    lands there well before any sentinel names it), else one a sentinel names that answers role master."""
    next_status = clock.now()
    while True:
        for address in candidates:
            if _role(target, address) == "master":
                return address
        if clock.now() >= next_status:  # a candidate list gone stale (a replica that vanished meanwhile)
            group = collect_status_sync([target], [], timeout=1.0).groups[0]
            named = {v.master for v in group.sentinels if v.reachable and v.master not in (None, old)}
            for node in group.nodes:
                if node.address in named and node.reachable and node.role is Role.MASTER:
                    return node.address
            next_status = clock.now() + 1.0
        if clock.now() > deadline:
            raise FailoverError(target.name, "no sentinel named a promoted replica in time",
                                hint="see `redisops status`; Sentinel retries after 2 x failover-timeout",
                                retryable=True)
        clock.sleep(0.02)


def _role(target: SentinelTarget, address: Address) -> str | None:
    with suppress(redis.RedisError), connect(address, target.password, 0.5) as node:
        return str(node.execute_command("ROLE")[0])
    return None


def _demote(target: SentinelTarget, old: Address, new: Address, progress: Progress) -> None:
    """Point the old master at the promoted one, as Sentinel would 8-10 s later (``+convert-to-slave``),
    and write that into its redis.conf (as Sentinel does): a restart must not bring back a second master."""
    progress(f"{new} promoted; making {old} its replica")
    with suppress(redis.RedisError), connect(old, target.password) as node:
        node.execute_command("REPLICAOF", new.host, str(new.port))
        node.execute_command("CONFIG", "REWRITE")


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
