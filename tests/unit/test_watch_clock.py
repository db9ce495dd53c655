"""Holds and failover windows run on the monotonic clock; only the times people read are wall-clock (pure).

A fake monotonic clock moves one second per poll while a fake wall clock steps an hour back or forward in the
middle, as NTP correcting a wrong clock or a VM resumed from a snapshot would make it.  Snapshots are frozen
topology values; the verdict functions and the watcher are the real ones.
"""

from __future__ import annotations

from redisops.address import Address
from redisops.alerts import Incident, IncidentKind
from redisops.clock import FakeClock
from redisops.ha import Watcher
from redisops.ha.timebase import Timebase
from redisops.spec.watch import WatchSpec
from redisops.topology import StatusReport
from redisops.topology.model import NodeInfo, ReplicaLink, Role, SentinelView
from redisops.topology.sentinel_status import judge_group
from redisops.topology.targets import SentinelTarget

M, R1, R2 = 30400, 30401, 30402
SENTINELS = (30410, 30411, 30412)
CK_OK = "OK 3 usable Sentinels. Quorum and failover authorization can be reached"
SETTINGS = WatchSpec(split_brain_after_s=3, master_down_after_s=10)
HOUR = 3600.0
START = 1_800_000_000.0  # the wall clock when the test begins


def A(port: int) -> Address:
    return Address("127.0.0.1", port)


TARGET = SentinelTarget("mymaster", tuple(A(p) for p in SENTINELS), (A(M), A(R1), A(R2)),
                        expected_replicas=2, expected_sentinels=3)


def view(port: int, names: int) -> SentinelView:
    return SentinelView(A(port), master=A(names), flags=frozenset({"master"}), num_slaves=2, num_other_sentinels=2,
                        quorum=2, ckquorum_ok=True, ckquorum=CK_OK)


def two_masters(names: int = M) -> StatusReport:
    """M and R1 both answer role master (R2 follows R1)."""
    nodes = [NodeInfo(A(M), role=Role.MASTER, offset=5000),
             NodeInfo(A(R1), role=Role.MASTER, offset=5000, replicas=(ReplicaLink(A(R2), "online", 5000, 0),)),
             NodeInfo(A(R2), role=Role.REPLICA, master=A(R1), link_up=True, offset=5000, last_io_seconds=0)]
    return StatusReport.of([judge_group(TARGET, [view(p, names) for p in SENTINELS], nodes)], [])


class Wall:
    """A wall clock that runs with the fake monotonic clock until someone steps it."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.offset = START

    def __call__(self) -> float:
        return self.clock.t + self.offset

    def step(self, seconds: float) -> None:
        self.offset += seconds


class Recorder:
    def __init__(self) -> None:
        self.incidents: list[Incident] = []

    def notify(self, incident: Incident) -> None:
        self.incidents.append(incident)

    def of(self, kind: IncidentKind) -> list[Incident]:
        return [i for i in self.incidents if i.kind is kind]


def watcher() -> tuple[Watcher, Recorder, FakeClock, Wall]:
    clock = FakeClock()
    wall = Wall(clock)
    sink = Recorder()
    return Watcher([TARGET], [], sink, settings=SETTINGS, clock=clock, wall=wall), sink, clock, wall


def polls(w: Watcher, clock: FakeClock, report: StatusReport, seconds: int) -> None:
    """One poll per second of the monotonic clock, ``seconds`` times."""
    for _ in range(seconds):
        clock.t += 1.0
        w.decide(report)


def test_split_brain_opens_after_its_hold_though_the_wall_clock_stepped_back_an_hour() -> None:
    w, sink, clock, wall = watcher()
    w.decide(two_masters())  # first seen at wall START
    wall.step(-HOUR)
    polls(w, clock, two_masters(), 2)
    assert sink.incidents == []  # held 2 s of 3
    polls(w, clock, two_masters(), 1)
    (brain,) = sink.of(IncidentKind.SPLIT_BRAIN)
    assert not brain.resolved
    assert brain.started_at == START  # people read the wall time it was first seen
    assert brain.timeline[-1].at == START - HOUR + 3.0  # ... and the wall time it opened, after the step


def test_a_wall_clock_stepping_forward_does_not_cut_a_hold_short() -> None:
    w, sink, clock, wall = watcher()
    w.decide(two_masters())
    wall.step(HOUR)
    polls(w, clock, two_masters(), 1)
    assert sink.incidents == []  # 1 s of monotonic time, though the wall clock says an hour
    polls(w, clock, two_masters(), 2)
    assert [i.kind for i in sink.incidents] == [IncidentKind.SPLIT_BRAIN]


def test_a_failover_window_outlives_a_forward_step_of_the_wall_clock() -> None:
    """SENTINEL FAILOVER: the old master answers role master for ~9 s; that is the failover, not split brain."""
    w, sink, clock, wall = watcher()
    w.on_message(A(30410), "+try-failover", "master mymaster 127.0.0.1 30400")
    clock.t += 1.1
    w.on_message(A(30411), "+switch-master", "mymaster 127.0.0.1 30400 127.0.0.1 30401")
    wall.step(HOUR)  # on the wall clock the window (failover-timeout after the switch) is long over
    polls(w, clock, two_masters(names=R1), 10)
    assert [i.kind for i in sink.incidents] == [IncidentKind.FAILOVER]
    (failover,) = sink.incidents
    assert failover.started_at == START and failover.timeline[-1].at == START + 1.1


def test_stamps_convert_with_the_offset_of_their_moment() -> None:
    clock = FakeClock()
    wall = Wall(clock)
    time = Timebase(clock, wall)
    before = time.now()
    clock.t += 5.0
    wall.step(-HOUR)
    after = time.now()
    assert after - before == 5.0  # durations: monotonic
    assert time.to_wall(before) == START and time.to_wall(after) == START + 5.0 - HOUR
    assert Timebase(clock, wall).to_wall(42.0) == 42.0  # never stamped: a replay's own times pass through
