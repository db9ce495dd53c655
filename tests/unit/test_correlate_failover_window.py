"""A planned failover is not split brain; a real split brain still is (pure, fake time).

Sentinel promotes the replica first and converts the old master only about 9 s after
``+switch-master`` (measured on 7.0), so for a SENTINEL FAILOVER nobody paused, two nodes answer
role master for longer than ``split_brain_after_s``.  The failover window the group's events open covers that
transient; past the window, or with a master that is not the failover's, the rule holds as before.
Snapshots are frozen topology values; the verdict functions are the real ones.
"""

from __future__ import annotations

from redisops.address import Address
from redisops.alerts import Incident, IncidentKind
from redisops.ha import FailoverTimeout, Watcher, parse_event
from redisops.ha.correlate import DEFAULT_GRACE_S, MIN_GRACE_S, FailoverWindow
from redisops.spec.watch import WatchSpec
from redisops.topology import StatusReport
from redisops.topology.model import Failure, FailureKind, NodeInfo, ReplicaLink, Role, SentinelView
from redisops.topology.sentinel_status import GroupStatus, judge_group
from redisops.topology.targets import SentinelTarget

M, R1, R2 = 30400, 30401, 30402
SENTINELS = (30410, 30411, 30412)
CK_OK = "OK 3 usable Sentinels. Quorum and failover authorization can be reached"
SETTINGS = WatchSpec(split_brain_after_s=3, master_down_after_s=10)
REFUSED = Failure(FailureKind.UNREACHABLE, "connection refused")


def A(port: int) -> Address:
    return Address("127.0.0.1", port)


TARGET = SentinelTarget("mymaster", tuple(A(p) for p in SENTINELS), (A(M), A(R1), A(R2)),
                        expected_replicas=2, expected_sentinels=3)


def master(port: int, replicas: tuple[int, ...] = ()) -> NodeInfo:
    return NodeInfo(A(port), role=Role.MASTER, offset=5000,
                    replicas=tuple(ReplicaLink(A(p), "online", 5000, 0) for p in replicas))


def replica(port: int, of: int) -> NodeInfo:
    return NodeInfo(A(port), role=Role.REPLICA, master=A(of), link_up=True, offset=5000, last_io_seconds=0)


def view(port: int, names: int, flags: frozenset[str] = frozenset({"master"})) -> SentinelView:
    return SentinelView(A(port), master=A(names), flags=flags, num_slaves=2, num_other_sentinels=2, quorum=2,
                        ckquorum_ok=True, ckquorum=CK_OK)


def two_masters(names: int = R1) -> GroupStatus:
    """After the switch, before Sentinel converted the old master: it still answers role master."""
    return judge_group(TARGET, [view(p, names) for p in SENTINELS],
                       [master(M), master(R1, replicas=(R2,)), replica(R2, of=R1)])


def settled() -> GroupStatus:
    return judge_group(TARGET, [view(p, R1) for p in SENTINELS],
                       [replica(M, of=R1), master(R1, replicas=(M, R2)), replica(R2, of=R1)])


class Recorder:
    def __init__(self) -> None:
        self.incidents: list[Incident] = []

    def notify(self, incident: Incident) -> None:
        self.incidents.append(incident)

    def kinds(self) -> list[tuple[IncidentKind, bool]]:
        return [(i.kind, i.resolved) for i in self.incidents]


def watcher() -> tuple[Watcher, Recorder]:
    sink = Recorder()
    return Watcher([TARGET], [], sink, settings=SETTINGS), sink


def window(w: Watcher, at: float) -> FailoverWindow | None:
    return w.state.group("mymaster").events.failover_window(at)


def planned_failover(w: Watcher, at: float) -> None:
    """What the sentinels publish for SENTINEL FAILOVER: no +sdown / +odown of the master."""
    w.on_event(parse_event("+try-failover", "master mymaster 127.0.0.1 30400", A(30410), at))
    w.on_event(parse_event("+switch-master", "mymaster 127.0.0.1 30400 127.0.0.1 30401", A(30411), at + 1.1))
    w.on_event(parse_event("+failover-end", "master mymaster 127.0.0.1 30400", A(30410), at + 2.2))


def test_old_master_still_answering_during_a_planned_failover_is_not_split_brain() -> None:
    w, sink = watcher()
    planned_failover(w, 100.0)
    for t in range(101, 112):  # two masters for 10 s: longer than split_brain_after_s
        assert w.decide(StatusReport.of([two_masters()], []), float(t)).endswith(
            "failover from 127.0.0.1:30400 settling")
    convert = "slave 127.0.0.1:30400 127.0.0.1 30400 @ mymaster 127.0.0.1 30401"
    w.on_event(parse_event("+convert-to-slave", convert, A(30411), 111.3))  # Sentinel finishing the job
    w.decide(StatusReport.of([settled()], []), 112.0)
    # one failover, opened and resolved: no split brain, no "came back as a master ... writes lost"
    assert sink.kinds() == [(IncidentKind.FAILOVER, False), (IncidentKind.FAILOVER, True)]
    assert window(w, 112.5) is None  # the old master is a replica: over


def test_split_brain_right_after_a_finished_failover_is_raised() -> None:
    w, sink = watcher()
    planned_failover(w, 100.0)
    w.decide(StatusReport.of([settled()], []), 103.0)  # the old master was demoted: the window is over
    for t in (110.0, 112.0, 113.0):  # someone made the old master a master again
        w.decide(StatusReport.of([two_masters()], []), t)
    assert (IncidentKind.SPLIT_BRAIN, False) in sink.kinds()


def test_split_brain_lasting_past_the_grace_is_raised_with_its_real_start() -> None:
    w, sink = watcher()
    planned_failover(w, 100.0)
    assert w.state.group("mymaster").events.grace_s == DEFAULT_GRACE_S  # none read: Sentinel's default
    until = window(w, 101.0)
    assert until is not None and until.planned and until.masters == {"127.0.0.1:30400", "127.0.0.1:30401"}
    t = 101.0
    while t <= until.until:
        w.decide(StatusReport.of([two_masters()], []), t)
        t += 5.0
    assert [k for k, _ in sink.kinds()].count(IncidentKind.SPLIT_BRAIN) == 0
    w.decide(StatusReport.of([two_masters()], []), until.until + 0.5)
    (brain,) = [i for i in sink.incidents if i.kind is IncidentKind.SPLIT_BRAIN]
    assert brain.started_at == 101.0 and not brain.resolved


def test_split_brain_without_a_failover_is_raised_after_the_hold() -> None:
    w, sink = watcher()
    for t in (100.0, 102.0):
        w.decide(StatusReport.of([two_masters(names=M)], []), t)
    assert sink.incidents == []
    w.decide(StatusReport.of([two_masters(names=M)], []), 103.0)
    assert sink.kinds() == [(IncidentKind.SPLIT_BRAIN, False)]


def test_a_third_master_during_a_failover_is_split_brain() -> None:
    w, sink = watcher()
    planned_failover(w, 100.0)
    three = judge_group(TARGET, [view(p, R1) for p in SENTINELS], [master(M), master(R1), master(R2)])
    for t in (101.0, 103.0, 104.5):
        w.decide(StatusReport.of([three], []), t)
    assert (IncidentKind.SPLIT_BRAIN, False) in sink.kinds()


def test_grace_is_the_failover_timeout_but_never_under_sentinels_conversion_delay() -> None:
    w, _ = watcher()
    w.feed(FailoverTimeout("mymaster", 5.0), 99.0)  # the sentinels' failover-timeout: 5 s
    planned_failover(w, 100.0)
    settling = window(w, 101.0)
    assert settling is not None and settling.until == 101.1 + MIN_GRACE_S  # from its last step, the switch
    assert window(w, settling.until + 0.1) is None


def test_restarted_old_master_of_a_crash_failover_still_reports_lost_writes() -> None:
    w, sink = watcher()
    w.on_event(parse_event("+odown", "master mymaster 127.0.0.1 30400 #quorum 2/2", A(30410), 99.0))
    planned_failover(w, 100.0)
    settling = window(w, 101.0)
    assert settling is not None and not settling.planned
    convert = "slave 127.0.0.1:30400 127.0.0.1 30400 @ mymaster 127.0.0.1 30401"
    w.on_event(parse_event("+convert-to-slave", convert, A(30411), 130.0))
    assert sink.incidents[-1].key == "split_brain:mymaster:127.0.0.1:30400:convert-to-slave"


def test_a_dead_master_is_not_no_action() -> None:
    w, sink = watcher()
    down = judge_group(TARGET, [view(p, M, frozenset({"master", "s_down", "o_down", "failover_in_progress"}))
                                for p in SENTINELS],
                       [NodeInfo(A(M), failure=REFUSED), replica(R1, of=M), replica(R2, of=M)])
    sentence = w.decide(StatusReport.of([down], []), 100.0)
    assert sentence.startswith("waiting: mymaster master 127.0.0.1:30400 not answering "
                               "(sentinels: sdown, odown, failover in progress)"), sentence
    assert "master_down incident after 10 s" in sentence and sink.incidents == []


def test_a_master_down_already_alerted_says_so() -> None:
    w, sink = watcher()
    down = judge_group(TARGET, [view(p, M, frozenset({"master", "s_down"})) for p in SENTINELS],
                       [NodeInfo(A(M), failure=REFUSED), replica(R1, of=M), replica(R2, of=M)])
    w.decide(StatusReport.of([down], []), 100.0)
    assert w.decide(StatusReport.of([down], []), 110.0).startswith("alerted mymaster: no master answers")
    assert w.decide(StatusReport.of([down], []), 112.0).endswith("master_down alerted, no master yet")
    assert [i.kind for i in sink.incidents] == [IncidentKind.MASTER_DOWN]
