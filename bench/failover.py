"""Benchmark: client write outage during a Sentinel failover, redisops writer vs redis-py at its best.

A Sentinel group (1 master, 2 replicas, 3 sentinels, down-after 1000 ms) on free loopback ports.  A round
is one failover: a contestant writes, the master is SIGKILLed, the round ends 0.5 s after the contestant
writes again, and `up` restarts the old node (it rejoins as a replica).  Rounds rotate through the
contestants (A, B, A, B ...) in one run, so load from other work on the machine hits every side alike.
`--together` runs all contestants through the same failovers instead (then they also share the GIL).

Every contestant does the same write at the same rate, tried once: MULTI, SET drill:<run>:<seq>,
INCR drill:<run>:counter:<seq % 100>, EXEC, paced by the same schedule (200/s by default; a failed
write is counted and the next one is due on the next tick, at once when behind).  No write is retried
inside the client: a MULTI/EXEC whose reply was lost may have been applied, and INCR twice is wrong.

  redisops   redisops.chaos.Writer: tries the replica the leader named in +selected-slave, then what the
             sentinels answer to GET-MASTER-ADDR-BY-NAME; writes only to a node answering ROLE master
  anchors    plain redis-py, set up as bench/failover_anchors.py says (--anchors tuned,old to race several):
             tuned          redis.sentinel.Sentinel(...).master_for(name) at its best settings (the default)
             tight-retry    the same with a Retry that sleeps 10 ms between 3 retries
             old            the settings this benchmark used until 2026-12-03
             addr-by-name   hand-written discovery: GET-MASTER-ADDR-BY-NAME, then ROLE

Outage = the longest gap between acknowledged writes from 1 s before the kill to the end of the round
(0.5 s after the contestant wrote again following a failed write and a sentinel published +switch-master).

Usage: .venv/bin/python bench/failover.py [--rounds 12] [--rate 200] [--anchors tuned] [--together]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import redis
from failover_anchors import ANCHORS, Anchor, AnchorWriter

from redisops.chaos.writer import WriteBook, Writer
from redisops.ha.listen import sentinel_events
from redisops.lifecycle import up, wait_healthy
from redisops.testing import Topology
from redisops.topology.status import collect_status_sync
from redisops.topology.targets import SentinelTarget, targets_from_plan


class Contestant(Protocol):
    book: WriteBook

    def start(self) -> None: ...
    def stop(self) -> WriteBook: ...
    def on_event(self, at: float, channel: str, data: str) -> None: ...


@dataclass(frozen=True)
class Outcome:
    """One contestant in one round; times in seconds after the kill."""

    contestant: str
    outage: float
    first_write: float | None
    switch: float | None  # first +switch-master any sentinel published
    failed: int


@dataclass
class Race:
    """Contestant name -> factory, and every outcome so far."""

    makers: dict[str, Callable[[SentinelTarget, str], Contestant]]
    outcomes: list[Outcome] = field(default_factory=list)

    def of(self, name: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.contestant == name]


def one_round(topo: Topology, race: Race, names: Sequence[str]) -> list[Outcome]:
    """Kill the master under ``names`` writing; return when each wrote again and the old node is back.

    The round lasts until +switch-master too, so a second stall when the sentinels switch would count.
    """
    dep = topo.deployment
    target = targets_from_plan(dep.plan, dep.secrets)[0][0]
    wait_healthy(dep, only="sentinel", timeout=120)
    old = collect_status_sync([target], []).groups[0].master
    victim = next(n for n in dep.plan.groups[0].redis if n.address == old)
    runners = {name: race.makers[name](target, f"bench-{name}-{time.time_ns()}") for name in names}
    switch: list[float] = []

    def on_event(at: float, channel: str, data: str) -> None:
        for runner in runners.values():
            runner.on_event(at, channel, data)
        if channel == "+switch-master":
            switch.append(at)

    with sentinel_events(target.sentinels, target.sentinel_password, on_event):
        for runner in runners.values():
            runner.start()
        time.sleep(1.0)
        at = time.time()
        last_before = {name: max(r.book.acked, default=-1) for name, r in runners.items()}
        dep.runtime.signal(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
                switch and all(_recovered(r.book, last_before[n]) for n, r in runners.items())):
            time.sleep(0.02)
        time.sleep(0.5)
        end = time.time()
        books = {name: runner.stop() for name, runner in runners.items()}
    up(dep, only="sentinel", timeout=120)
    first_switch = (min(switch) - at) if switch else None
    return [Outcome(name, book.longest_stall(at - 1, end), _since(_written_again(book, last_before[name]), at),
                    first_switch, len(book.failed)) for name, book in books.items()]


def _written_again(book: WriteBook, last_before: int) -> float | None:
    """When the first write after the first failed one (past ``last_before``) was acknowledged.

    (A write already on the wire when the signal lands may still be acknowledged after the kill.)
    """
    failed = [seq for seq in book.failed if seq > last_before]
    if not failed:
        return None
    first_failed = min(failed)
    return min((t for seq, t in list(book.acked.items()) if seq > first_failed), default=None)


def _recovered(book: WriteBook, last_before: int) -> bool:
    return _written_again(book, last_before) is not None


def _since(moment: float | None, at: float) -> float | None:
    return None if moment is None else moment - at


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest rank, as in the earlier runs of this benchmark."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _median(values: Sequence[float | None]) -> str:
    present = [v for v in values if v is not None]
    return f"{statistics.median(present):.3f}" if present else "-"


def _lead(rows: Sequence[Outcome]) -> str:
    """How long after (or, negative, before) the first +switch-master the contestant wrote again."""
    leads = [o.first_write - o.switch for o in rows if o.first_write is not None and o.switch is not None]
    if not leads:
        return "-"
    return f"{statistics.median(leads):+.3f} ({min(leads):+.3f} .. {max(leads):+.3f})"


def report(race: Race, labels: dict[str, str]) -> None:
    print("| client | rounds | outage p50 s | p95 s | min s | max s | writes again p50 s | "
          "first +switch-master p50 s | writes again − switch p50 (min .. max) s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, label in labels.items():
        rows = race.of(name)
        outages = [o.outage for o in rows]
        print(f"| {label} | {len(rows)} | {statistics.median(outages):.3f} | {percentile(outages, 0.95):.3f} | "
              f"{min(outages):.3f} | {max(outages):.3f} | {_median([o.first_write for o in rows])} | "
              f"{_median([o.switch for o in rows])} | {_lead(rows)} |")
    ours = [o.outage for o in race.of("redisops")]
    for name in labels:
        if name != "redisops":
            theirs = [o.outage for o in race.of(name)]
            print(f"\n{name} / redisops outage: {statistics.median(theirs) / statistics.median(ours):.2f}x (p50), "
                  f"{percentile(theirs, 0.95) / percentile(ours, 0.95):.2f}x (p95)")


def makers(anchors: Sequence[str], rate: float) -> dict[str, Callable[[SentinelTarget, str], Contestant]]:
    def ours(t: SentinelTarget, run: str) -> Contestant:
        return Writer(t.name, t.sentinels, password=t.password, sentinel_password=t.sentinel_password,
                      run_id=run, rate=rate)

    def theirs(anchor: Anchor) -> Callable[[SentinelTarget, str], Contestant]:
        return lambda t, run: AnchorWriter(anchor, t, run, rate)

    return {"redisops": ours, **{name: theirs(ANCHORS[name]) for name in anchors}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=12, help="failovers per contestant")
    parser.add_argument("--rate", type=float, default=200.0, help="writes per second, each contestant")
    parser.add_argument("--anchors", default="tuned", help=f"comma list of {', '.join(ANCHORS)}")
    parser.add_argument("--together", action="store_true", help="all contestants in every failover")
    args = parser.parse_args()
    anchors = [a.strip() for a in args.anchors.split(",") if a.strip()]
    unknown = [a for a in anchors if a not in ANCHORS]
    if unknown:
        parser.error(f"unknown anchor {', '.join(unknown)}: choose from {', '.join(ANCHORS)}")
    race = Race(makers(anchors, args.rate))
    names = list(race.makers)
    load_at_start = os.getloadavg()[0]
    print(f"redis-py {redis.__version__}; load average at start {load_at_start:.2f}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="redisops-bench-failover-") as tmp:
        with Topology.start(Path(tmp), cluster=False, down_after_ms=1000, failover_timeout_ms=10000) as topo:
            for index in range(args.rounds * (1 if args.together else len(names))):
                running = names if args.together else [names[index % len(names)]]
                outcomes = one_round(topo, race, running)
                race.outcomes.extend(outcomes)
                for o in outcomes:
                    print(f"round {index + 1}: {o.contestant} outage {o.outage:.3f} s, writes again "
                          f"{o.first_write if o.first_write is None else round(o.first_write, 3)} s, switch "
                          f"{o.switch if o.switch is None else round(o.switch, 3)} s, failed writes {o.failed}, "
                          f"load {os.getloadavg()[0]:.2f}", file=sys.stderr)
    labels = {"redisops": "redisops writer (`redisops.chaos.Writer`)", **{a: ANCHORS[a].label for a in anchors}}
    print(f"redis-py {redis.__version__}, {args.rounds} rounds per contestant, "
          f"{'together' if args.together else 'alternating'}, {args.rate:.0f} writes/s; "
          f"1-minute load average {load_at_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end\n")
    report(race, labels)


if __name__ == "__main__":
    main()
