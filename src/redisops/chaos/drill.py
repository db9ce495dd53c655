"""Failover drills: fault the master under a steady writer, count what was lost.

One round: wait for a healthy group, start the :class:`~redisops.chaos.writer.Writer`,
fault the master (SIGKILL, SIGSTOP, or ``DEBUG SLEEP``), wait for the sentinels
to promote a replica and for the writer to write there, bring the old master
back (``up`` restarts a killed node as a replica of the elected master; a paused
one is resumed), check it rejoins as a replica with its link up, then read back
every write.  Timings come from the sentinels' own Pub/Sub events.

``safe`` sets ``min-replicas-to-write 1`` on every data node for the drill and
acknowledges a write only after ``WAIT 1``: the promoted replica (the one with
the highest offset) then holds every acknowledged write, so none may be lost.

After the last round the group is verified as ``redisops verify replicas`` does
(:func:`~redisops.data.replicas.verify_replicas`): every replica, the rejoined
old master included, against the master key by key, lag-aware.  The report's
``replicas`` (:class:`ReplicaCheck`) says whether they are consistent and how
many keys differ: a failover that leaves a replica diverged is a failed drill.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from enum import Enum

import redis
from prometheus_client import CollectorRegistry

from redisops.address import Address
from redisops.alerts.model import Incident, IncidentKind
from redisops.auth import Credential
from redisops.chaos.writer import WriteBook, Writer
from redisops.clients import connect
from redisops.data.compare import PairReport
from redisops.data.replicas import verify_replicas
from redisops.data.verify import VerifyOptions
from redisops.errors import RedisopsError, UsageError
from redisops.ha.listen import sentinel_events
from redisops.ha.metrics import WatchMetrics
from redisops.ha.watcher import Watcher
from redisops.lifecycle import Deployment, up, wait_healthy
from redisops.runtime.plan import GroupLayout, NodePlan
from redisops.runtime.temporary import temporary_config
from redisops.spec.watch import WatchSpec
from redisops.topology.model import Role
from redisops.topology.status import collect_status_sync
from redisops.topology.targets import SentinelTarget, targets_from_plan

__all__ = ["DrillError", "DrillReport", "Fault", "ReplicaCheck", "RoundResult", "drill_failover"]

Progress = Callable[[str], None]


class Fault(Enum):
    KILL = "kill"
    PAUSE = "pause"
    SLEEP = "sleep"


class DrillError(RedisopsError):
    pass


@dataclass(frozen=True)
class RoundResult:
    round: int
    fault: Fault
    old_master: str
    new_master: str | None
    detection_s: float | None  # fault -> first +sdown on the master
    odown_s: float | None
    promotion_s: float | None  # fault -> +promoted-slave
    switch_s: float | None  # fault -> first +switch-master
    outage_s: float  # longest stall between acknowledged writes around the fault
    recovery_s: float | None  # fault -> first acknowledged write after it
    acked: int
    unacked: int
    lost_acked: int
    unacked_applied: int
    lost_increments: int
    #: restore begins (restart / SIGCONT / DEBUG SLEEP over) -> old master replicating the new one, link up
    rejoined_s: float | None
    alert_s: float | None = None  # fault -> the watcher's failover incident (None: no alert came)
    lost_sample: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReplicaCheck:
    """``verify replicas`` of the group after the drill: one comparison per replica against the master."""

    pairs: tuple[PairReport, ...]
    expected: int  # replicas the spec has: each one must have been compared

    @property
    def differences(self) -> int:
        return sum(len(p.differences) for p in self.pairs)

    @property
    def problems(self) -> tuple[str, ...]:
        """Replicas that could not be compared (down, not replicating the master), with the reason."""
        out = [f"{p.target}: {p.error}" for p in self.pairs if p.error is not None]
        if len(self.pairs) < self.expected:
            out.append(f"only {len(self.pairs)} of {self.expected} replicas replicate the master")
        return tuple(out)

    @property
    def consistent(self) -> bool:
        return not self.problems and self.differences == 0

    @property
    def summary(self) -> str:
        compared = sum(1 for p in self.pairs if p.error is None)
        if self.consistent:
            return f"consistent: {compared}/{self.expected} replicas equal to the master"
        differ = f"{self.differences} key differs" if self.differences == 1 else f"{self.differences} keys differ"
        parts = [differ if self.differences else "", *self.problems]
        return "NOT consistent: " + "; ".join(p for p in parts if p)

    def to_dict(self) -> dict[str, object]:
        return {"consistent": self.consistent, "differences": self.differences, "problems": list(self.problems),
                "pairs": [p.to_dict(10) for p in self.pairs]}


@dataclass(frozen=True)
class DrillReport:
    group: str
    fault: Fault
    safe: bool
    rounds: tuple[RoundResult, ...]
    replicas: ReplicaCheck | None = None  # None: not verified

    def percentiles(self, attr: str) -> dict[str, float | None]:
        values = sorted(v for r in self.rounds if (v := getattr(r, attr)) is not None)
        if not values:
            return {"p50": None, "p95": None}
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        return {"p50": round(statistics.median(values), 3), "p95": round(p95, 3)}

    @property
    def lost_acked(self) -> int:
        return sum(r.lost_acked + r.lost_increments for r in self.rounds)

    def to_dict(self) -> dict[str, object]:
        timings = ("detection_s", "promotion_s", "switch_s", "outage_s", "recovery_s", "rejoined_s", "alert_s")
        return {
            "group": self.group, "fault": self.fault.value, "safe": self.safe,
            "overall": {**{t: self.percentiles(t) for t in timings},
                        "acked": sum(r.acked for r in self.rounds), "lost_acked": self.lost_acked,
                        "unacked_applied": sum(r.unacked_applied for r in self.rounds),
                        "rejoined": all(r.rejoined_s is not None for r in self.rounds),
                        "alerted": all(r.alert_s is not None for r in self.rounds),
                        "replicas_consistent": None if self.replicas is None else self.replicas.consistent,
                        "replica_differences": None if self.replicas is None else self.replicas.differences},
            "rounds": [{**r.__dict__, "fault": r.fault.value} for r in self.rounds],
            "replicas": None if self.replicas is None else self.replicas.to_dict(),
        }


def drill_failover(dep: Deployment, *, group: str | None = None, rounds: int = 1, fault: Fault = Fault.KILL,
                   safe: bool = False, rate: float = 200.0, progress: Progress = lambda _msg: None) -> DrillReport:
    layout, target = _group(dep, group)
    if not layout.replicas:
        raise UsageError(f"{layout.spec.name} has no replicas to fail over to")
    results = []
    with _safe_mode(dep, target, layout, safe):
        for index in range(1, rounds + 1):
            progress(f"round {index}/{rounds}: waiting for a healthy group")
            wait_healthy(dep, only="sentinel", timeout=120, progress=progress)
            results.append(_round(dep, layout, target, index, fault, safe, rate, progress))
    return DrillReport(layout.spec.name, fault, safe, tuple(results), _verify(dep, layout, target, progress))


def _verify(dep: Deployment, layout: GroupLayout, target: SentinelTarget, progress: Progress) -> ReplicaCheck:
    """Every replica against the master, once the group is healthy again (or after a minute, as it is)."""
    progress(f"verifying the replicas of {target.name} against the master")
    with suppress(RedisopsError):  # an unhealthy group still gets verified: the check then says what is off
        wait_healthy(dep, only="sentinel", timeout=60, progress=progress)
    pairs = verify_replicas([target], [], VerifyOptions(interval=0.5, lag_timeout=15.0))
    return ReplicaCheck(tuple(pairs), expected=len(layout.replicas))


def _group(dep: Deployment, name: str | None) -> tuple[GroupLayout, SentinelTarget]:
    targets, _ = targets_from_plan(dep.plan, dep.secrets)
    names = [g.spec.name for g in dep.plan.groups]
    if not names:
        raise UsageError("the spec has no sentinel group to drill")
    if name is None and len(names) > 1:
        raise UsageError("the spec has several sentinel groups", hint=f"choose one with --group ({', '.join(names)})")
    chosen = name or names[0]
    if chosen not in names:
        raise UsageError(f"unknown group {chosen!r}", hint=f"groups: {', '.join(names)}")
    return dep.plan.groups[names.index(chosen)], targets[names.index(chosen)]


@contextmanager
def _safe_mode(dep: Deployment, target: SentinelTarget, layout: GroupLayout, safe: bool) -> Iterator[None]:
    """min-replicas-to-write 1 on every data node while the drill runs; the old values come back after.

    A temporary setting, journaled (:mod:`redisops.runtime.temporary`): Sentinel
    rewrites a node's config when it reconfigures it during a failover, which
    saves the drill's 1 there, so putting the values back mends the files too;
    a drill killed half way has them undone by the next ``redisops up``.
    """
    if not safe:
        yield
        return
    with temporary_config(dep.journal, target.password, "drill --safe", rewrite=True) as temp:
        for node in layout.redis:
            temp.set(node.address, "min-replicas-to-write", 1)
        yield


def _round(dep: Deployment, layout: GroupLayout, target: SentinelTarget, index: int, fault: Fault, safe: bool,
           rate: float, progress: Progress) -> RoundResult:
    """One fault and its accounting; the round's keys are removed whatever happens."""
    group = collect_status_sync([target], []).groups[0]
    if group.master is None:
        raise DrillError(f"{target.name}: the sentinels name no master")
    old = group.master
    victim = next(n for n in layout.redis if n.address == old)
    writer = Writer(target.name, target.sentinels, password=target.password,
                    sentinel_password=target.sentinel_password, run_id=f"{index}-{uuid.uuid4().hex[:8]}",
                    rate=rate, safe=safe)
    try:
        return _run_round(dep, layout, target, index, fault, rate, progress, old, victim, writer)
    finally:
        writer.stop()
        _cleanup_round(target, writer)


def _run_round(dep: Deployment, layout: GroupLayout, target: SentinelTarget, index: int, fault: Fault, rate: float,
               progress: Progress, old: Address, victim: NodePlan, writer: Writer) -> RoundResult:
    with _watching(target, dep.spec.watch) as alerts, _events(target, writer) as events:
        writer.start()
        _wait(lambda: writer.acked_count() >= rate // 2, 10, f"{target.name}: the writer cannot write")
        progress(f"round {index}: {fault.value} {victim.name} ({old}) under {rate:.0f} writes/s")
        at = _inject(dep, victim, fault, target, layout)
        new = _wait_new_master(target, old, dep.spec.group(target.name).failover_timeout_ms / 1000 + 30)
        _wait(lambda: writer.book.first_ack_after(at) is not None, 30, f"{target.name}: no write reached {new}")
        progress(f"round {index}: {new} promoted; bringing {victim.name} back")
        with _restoring(dep, victim, fault, at, layout) as restored:
            rejoined = _rejoin_time(target, victim.address, new, restored)
        _wait(lambda: len([t for t in writer.book.acked.values() if t > time.time() - 0.5]) > 0, 10, "writer idle")
        book = writer.stop()
    alert = next((t for t, i in alerts if i.kind is IncidentKind.FAILOVER and not i.resolved), None)
    return replace(_account(index, fault, old, new, at, book, events, writer, target, rejoined),
                   alert_s=_since(alert, at))


def _inject(dep: Deployment, victim: NodePlan, fault: Fault, target: SentinelTarget, layout: GroupLayout) -> float:
    at = time.time()
    if fault is Fault.KILL:
        dep.runtime.signal(victim, signal.SIGKILL)
    elif fault is Fault.PAUSE:
        dep.runtime.signal(victim, signal.SIGSTOP)
    else:
        seconds = max(3, int(layout.spec.down_after_ms / 1000 * 3) + 2)
        with connect(victim.address, target.password) as client:
            try:
                client.execute_command("DEBUG", "HELP")
            except redis.ResponseError as exc:
                raise UsageError(f"{victim.address} refuses DEBUG ({exc})",
                                 hint="set enable-debug-command local on the nodes, or use --fault kill|pause") from exc
        threading.Thread(target=_debug_sleep, args=(victim.address, target.password, seconds), daemon=True).start()
    return at


def _debug_sleep(address: Address, password: Credential, seconds: int) -> None:
    with suppress(redis.RedisError), connect(address, password, timeout=seconds + 5) as client:
        client.execute_command("DEBUG", "SLEEP", seconds)


@contextmanager
def _restoring(dep: Deployment, victim: NodePlan, fault: Fault, at: float, layout: GroupLayout) -> Iterator[float]:
    """Bring the old master back; yield the moment that began, where the rejoin clock starts.

    The block runs while the restore does: for ``kill``, ``up`` first waits until no sentinel is still
    failing over (the restarted node must follow the elected master), restarts the node, then waits
    until the whole group is healthy; so it runs in a thread, the clock starts when the new process
    exists (its pid file names a live process), and the block measures the rejoin meanwhile.  A clock
    started after ``up`` returned measured only the last poll (``rejoined after 0.004s``).  The block's
    end waits for ``up``.
    """
    if fault is Fault.KILL:
        failures: list[BaseException] = []

        def restart() -> None:
            try:
                up(dep, only="sentinel", timeout=120)
            except BaseException as exc:  # re-raised in the drill's thread below
                failures.append(exc)

        thread = threading.Thread(target=restart, daemon=True, name="drill-restore")
        thread.start()
        try:
            while dep.runtime.pid(victim) is None and thread.is_alive():
                time.sleep(0.01)
            yield time.time()
        finally:
            thread.join(130)
        if failures:
            raise failures[0]
        return
    if fault is Fault.PAUSE:
        began = time.time()
        dep.runtime.signal(victim, signal.SIGCONT)
    else:
        seconds = max(3, int(layout.spec.down_after_ms / 1000 * 3) + 2)
        time.sleep(max(0.0, at + seconds - time.time()))
        began = time.time()  # DEBUG SLEEP is over: the node answers again from now
    yield began


def _wait_new_master(target: SentinelTarget, old: Address, timeout: float) -> Address:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        group = collect_status_sync([target], [], timeout=0.5).groups[0]
        views = {v.master for v in group.sentinels if v.reachable}
        if len(views) == 1 and group.master not in (None, old):
            assert group.master is not None
            return group.master
        time.sleep(0.05)
    raise DrillError(f"{target.name}: no failover within {timeout:.0f} s", hint="check `redisops status`")


def _rejoin_time(target: SentinelTarget, old: Address, new: Address, since: float) -> float | None:
    """Until the old master replicates the group's master with its link up.  Usually that is ``new``; when the
    sentinels failed over once more meanwhile (a loaded host with a short down-after), the one they agree on now."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        group = collect_status_sync([target], [], timeout=0.5).groups[0]
        node = next((n for n in group.nodes if n.address == old), None)
        if node is not None and node.role is Role.REPLICA and node.master in (new, group.master) and node.link_up:
            return time.time() - since
        time.sleep(0.1)
    return None


def _wait(check: Callable[[], bool], timeout: float, failure: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise DrillError(failure)
        time.sleep(0.02)


@dataclass
class _EventLog:
    entries: list[tuple[float, str, str]] = field(default_factory=list)  # (time, channel, payload)

    def first(self, channel: str, contains: str = "") -> float | None:
        return min((t for t, c, d in self.entries if c == channel and contains in d), default=None)


@contextmanager
def _watching(target: SentinelTarget, settings: WatchSpec) -> Iterator[list[tuple[float, Incident]]]:
    """The real watcher, in-process on its own event loop, handing incidents to a list: did the
    failover alert come, and when?  (Delivery to channels is the dispatcher's part, tested apart.)"""
    seen: list[tuple[float, Incident]] = []

    class Recorder:
        def notify(self, incident: Incident) -> None:
            seen.append((time.time(), incident))

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop_box: list[asyncio.Event] = []

    async def main() -> None:
        stop_box.append(asyncio.Event())
        ready.set()
        watcher = Watcher([target], [], Recorder(), settings=settings, metrics=WatchMetrics(CollectorRegistry()))
        await watcher.run(stop_box[0])

    quiet = logging.getLogger("redisops.watch")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the drill reports the incidents itself
    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True, name="drill-watcher")
    thread.start()
    ready.wait(5)
    try:
        yield seen
    finally:
        if stop_box:
            loop.call_soon_threadsafe(stop_box[0].set)
        thread.join(10)
        loop.close()
        quiet.setLevel(level)


@contextmanager
def _events(target: SentinelTarget, writer: Writer) -> Iterator[_EventLog]:
    """Every sentinel's events, logged for the timings and fed to the writer so it follows the promotion."""
    log = _EventLog()

    def on_event(at: float, channel: str, data: str) -> None:
        log.entries.append((at, channel, data))
        writer.on_event(at, channel, data)

    with sentinel_events(target.sentinels, target.sentinel_password, on_event):
        yield log


def _account(index: int, fault: Fault, old: Address, new: Address, at: float, book: WriteBook, events: _EventLog,
             writer: Writer, target: SentinelTarget, rejoined: float | None) -> RoundResult:
    acked, unacked = sorted(book.acked), sorted(book.failed)
    with connect(_master_now(target) or new, target.password, timeout=10) as client:
        present = _existing(client, [writer.key(s) for s in acked + unacked])
        values = [int(v or 0) for v in client.mget([writer.counter(i) for i in range(writer.counters)])]
    expected = [0] * writer.counters
    for seq in acked:
        expected[seq % writer.counters] += 1
    lost = [writer.key(s) for s in acked if writer.key(s) not in present]
    master_tag = f"master {target.name} {old.host} {old.port}"
    end = max(book.acked.values(), default=at)
    first = book.first_ack_after(at)
    return RoundResult(
        round=index, fault=fault, old_master=str(old), new_master=str(new),
        detection_s=_since(events.first("+sdown", master_tag), at),
        odown_s=_since(events.first("+odown", master_tag), at),
        promotion_s=_since(events.first("+promoted-slave", f"@ {target.name} {old.host} {old.port}"), at),
        switch_s=_since(events.first("+switch-master", f"{target.name} {old.host} {old.port}"), at),
        outage_s=round(book.longest_stall(at - 1.0, end), 3), recovery_s=_since(first, at),
        acked=len(acked), unacked=len(unacked), lost_acked=len(lost),
        unacked_applied=sum(1 for s in unacked if writer.key(s) in present),
        lost_increments=sum(max(0, e - v) for e, v in zip(expected, values, strict=True)),
        rejoined_s=None if rejoined is None else round(rejoined, 3), lost_sample=tuple(lost[:10]))


def _since(moment: float | None, at: float) -> float | None:
    return None if moment is None else round(moment - at, 3)


def _existing(client: redis.Redis, keys: Sequence[str]) -> set[str]:
    present: set[str] = set()
    for start in range(0, len(keys), 1000):
        chunk = keys[start:start + 1000]
        present.update(k for k, v in zip(chunk, client.mget(chunk), strict=True) if v is not None)
    return present


def _master_now(target: SentinelTarget) -> Address | None:
    """The master the sentinels name now (the round's new master may have moved on)."""
    return collect_status_sync([target], [], timeout=1.0).groups[0].master


def _cleanup_round(target: SentinelTarget, writer: Writer) -> None:
    """Remove the round's keys from whichever node is master now."""
    master = _master_now(target)
    if master is None:
        return
    keys = [writer.key(s) for s in (*writer.book.acked, *writer.book.failed)]
    keys += [writer.counter(i) for i in range(writer.counters)]
    with suppress(redis.RedisError), connect(master, target.password, timeout=10) as client:
        for start in range(0, len(keys), 1000):
            client.unlink(*keys[start:start + 1000])
