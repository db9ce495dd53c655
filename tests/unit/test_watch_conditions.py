"""Poll conditions and the tracker that turns them into incidents, and the cycle sentence (pure, fake time).

Snapshots are frozen topology values as the probes build them; the verdict
functions are the real ones.
"""

from __future__ import annotations

from redisops.address import Address
from redisops.alerts import Incident, IncidentKind, Severity
from redisops.ha import Condition, Watcher, group_conditions, parse_event
from redisops.ha.conditions import Held, track
from redisops.spec.watch import WatchSpec
from redisops.topology import StatusReport
from redisops.topology.model import Failure, FailureKind, NodeInfo, ReplicaLink, Role, SentinelView
from redisops.topology.sentinel_status import GroupStatus, judge_group
from redisops.topology.targets import SentinelTarget

M, R1, R2 = 30400, 30401, 30402
SENTINELS = (30410, 30411, 30412)
REFUSED = Failure(FailureKind.UNREACHABLE, "connection refused")
CK_OK = "OK 3 usable Sentinels. Quorum and failover authorization can be reached"
SETTINGS = WatchSpec(split_brain_after_s=3, master_down_after_s=10, lag_bytes=1000, lag_seconds=5)


def A(port: int) -> Address:
    return Address("127.0.0.1", port)


TARGET = SentinelTarget("mymaster", tuple(A(p) for p in SENTINELS), (A(M), A(R1), A(R2)),
                        expected_replicas=2, expected_sentinels=3)


def master(port: int = M, replicas: tuple[int, ...] = (R1, R2), offset: int = 5000) -> NodeInfo:
    links = tuple(ReplicaLink(A(p), "online", offset, 0) for p in replicas)
    return NodeInfo(A(port), role=Role.MASTER, offset=offset, replicas=links)


def replica(port: int, of: int = M, link: bool = True, offset: int = 5000) -> NodeInfo:
    return NodeInfo(A(port), role=Role.REPLICA, master=A(of), link_up=link, offset=offset,
                    last_io_seconds=0 if link else None)


def view(port: int, names: int = M, ckquorum: bool = True) -> SentinelView:
    return SentinelView(A(port), master=A(names), flags=frozenset({"master"}), num_slaves=2, num_other_sentinels=2,
                        quorum=2, ckquorum_ok=ckquorum, ckquorum=CK_OK if ckquorum else "NOQUORUM 1 usable Sentinels")


def group(nodes: list[NodeInfo] | None = None, views: list[SentinelView] | None = None) -> GroupStatus:
    nodes = nodes if nodes is not None else [master(), replica(R1), replica(R2)]
    views = views if views is not None else [view(p) for p in SENTINELS]
    return judge_group(TARGET, views, nodes)


def kinds(status: GroupStatus) -> dict[str, IncidentKind]:
    return {c.key: c.kind for c in group_conditions(status, SETTINGS)}


def test_healthy_group_has_no_conditions() -> None:
    assert kinds(group()) == {}


def test_dead_replica_and_sentinel() -> None:
    status = group(nodes=[master(replicas=(R2,)), NodeInfo(A(R1), failure=REFUSED), replica(R2)],
                   views=[view(30410), view(30411), SentinelView(A(30412), failure=REFUSED)])
    assert kinds(status) == {"replica_down:mymaster:127.0.0.1:30401": IncidentKind.REPLICA_DOWN,
                             "sentinel_down:mymaster:127.0.0.1:30412": IncidentKind.SENTINEL_DOWN}


def test_quorum_lost_when_no_sentinel_passes_ckquorum() -> None:
    status = group(views=[view(30410, ckquorum=False), SentinelView(A(30411), failure=REFUSED),
                          SentinelView(A(30412), failure=REFUSED)])
    conditions = {c.key: c for c in group_conditions(status, SETTINGS)}
    lost = conditions["quorum_lost:mymaster"]
    assert lost.severity is Severity.CRITICAL and "NOQUORUM 1 usable Sentinels" in lost.title


def test_split_brain_two_masters_held() -> None:
    status = group(nodes=[master(replicas=(R2,)), master(R1, replicas=()), replica(R2)])
    (cond,) = [c for c in group_conditions(status, SETTINGS) if c.kind is IncidentKind.SPLIT_BRAIN]
    assert cond.severity is Severity.CRITICAL and cond.hold_s == 3
    assert cond.labels["masters"] == "127.0.0.1:30400,127.0.0.1:30401"


def test_split_brain_sentinels_disagree() -> None:
    status = group(views=[view(30410), view(30411), view(30412, names=R1)])
    assert "split_brain:mymaster" in kinds(status)


def test_link_down_and_lag() -> None:
    status = group(nodes=[master(), replica(R1, link=False), replica(R2, offset=2000)])
    conditions = {c.key: c for c in group_conditions(status, SETTINGS)}
    assert conditions["replica_link:mymaster:127.0.0.1:30401"].hold_s == 5
    assert "3000 bytes" in conditions["replica_lag:mymaster:127.0.0.1:30402"].title


def test_master_down_is_held() -> None:
    status = group(nodes=[NodeInfo(A(M), failure=REFUSED), replica(R1, link=False), replica(R2, link=False)])
    cond = next(c for c in group_conditions(status, SETTINGS) if c.kind is IncidentKind.MASTER_DOWN)
    assert cond.hold_s == 10 and cond.severity is Severity.CRITICAL


# --- tracker ----------------------------------------------------------------------------------------


def cond(key: str, hold: float = 0.0) -> Condition:
    return Condition(key, IncidentKind.REPLICA_DOWN, Severity.WARNING, "mymaster", f"title {key}", hold)


class Tracked:
    """Polls' conditions through ``track``, one poll at a time."""

    def __init__(self) -> None:
        self.held = Held()

    def update(self, conditions: list[Condition], at: float) -> list[Incident]:
        self.held, handed = track(self.held, conditions, at)
        return handed


def test_one_message_each_way_not_one_per_poll() -> None:
    tracker = Tracked()
    handed = [i for t in range(5) for i in tracker.update([cond("a")], float(t))]
    handed += tracker.update([], 5.0) + tracker.update([], 6.0)
    assert [(i.key, i.resolved) for i in handed] == [("a", False), ("a", True)]
    assert handed[1].started_at == 0.0 and handed[1].resolved_at == 5.0


def test_hold_opens_only_after_it_held_and_blips_never_open() -> None:
    tracker = Tracked()
    assert tracker.update([cond("sb", 3)], 0.0) == []
    assert tracker.update([], 1.0) == []  # a blip: forgotten
    assert tracker.update([cond("sb", 3)], 2.0) == []
    assert tracker.update([cond("sb", 3)], 4.0) == []
    (opened,) = tracker.update([cond("sb", 3)], 5.0)
    assert opened.started_at == 2.0 and not opened.resolved


# --- the cycle sentence ------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.incidents: list[Incident] = []

    def notify(self, incident: Incident) -> None:
        self.incidents.append(incident)


def watcher() -> tuple[Watcher, Recorder]:
    sink = Recorder()
    return Watcher([TARGET], [], sink, settings=SETTINGS), sink


def test_sentence_when_all_is_well() -> None:
    w, sink = watcher()
    sentence = w.decide(StatusReport.of([group()], []), 100.0)
    assert sentence == "no action: mymaster 127.0.0.1:30400 master, 2/2 replicas in sync, 3/3 sentinels agree"
    assert sink.incidents == []


def test_sentence_names_what_was_alerted_and_resolved() -> None:
    w, sink = watcher()
    down = StatusReport.of([group(nodes=[master(replicas=(R2,)), NodeInfo(A(R1), failure=REFUSED), replica(R2)])], [])
    first = w.decide(down, 100.0)
    assert first.startswith("alerted mymaster: replica 127.0.0.1:30401 connection refused; now mymaster ")
    assert first.endswith("1/2 replicas in sync, 3/3 sentinels agree")
    assert w.decide(down, 102.0).startswith("no action: ")
    assert w.decide(StatusReport.of([group()], []), 104.0).startswith("resolved mymaster: replica")
    assert [(i.kind, i.resolved) for i in sink.incidents] == [(IncidentKind.REPLICA_DOWN, False),
                                                             (IncidentKind.REPLICA_DOWN, True)]
    assert w.metrics.registry.get_sample_value("redisops_incidents_total", {"kind": "replica_down"}) == 1


def test_poll_resolves_a_failover_whose_end_was_missed() -> None:
    w, sink = watcher()
    w.on_event(parse_event("+switch-master", "mymaster 127.0.0.1 30400 127.0.0.1 30401", A(30410), 50.0))
    after = group(nodes=[NodeInfo(A(M), failure=REFUSED), master(R1, replicas=(R2,)), replica(R2, of=R1)],
                  views=[view(p, names=R1) for p in SENTINELS])
    w.decide(StatusReport.of([after], []), 53.0)
    failovers = [i for i in sink.incidents if i.kind is IncidentKind.FAILOVER]
    assert [i.resolved for i in failovers] == [False, True]
    assert failovers[1].timeline[-1].detail == "new master serves, replicas follow"
    sample = w.metrics.registry.get_sample_value
    assert sample("redisops_failovers_total", {"group": "mymaster"}) == 1
    assert sample("redisops_master_info", {"group": "mymaster", "address": "127.0.0.1:30401"}) == 1
    assert sample("redisops_master_info", {"group": "mymaster", "address": "127.0.0.1:30400"}) is None


def test_reboot_of_a_replica_the_poll_saw_down_is_not_a_second_incident() -> None:
    w, sink = watcher()
    w.decide(StatusReport.of([group(nodes=[master(replicas=(R2,)), NodeInfo(A(R1), failure=REFUSED),
                                           replica(R2)])], []), 100.0)
    w.decide(StatusReport.of([group()], []), 104.0)
    reboot = "slave 127.0.0.1:30401 127.0.0.1 30401 @ mymaster 127.0.0.1 30400"
    w.on_event(parse_event("+reboot", reboot, A(30410), 110.0))
    assert [(i.key, i.resolved) for i in sink.incidents] == [("replica_down:mymaster:127.0.0.1:30401", False),
                                                             ("replica_down:mymaster:127.0.0.1:30401", True)]
    w.on_event(parse_event("+reboot", reboot, A(30410), 200.0))  # a restart no poll saw: reported
    assert sink.incidents[-1].key == "replica_down:mymaster:127.0.0.1:30401:reboot"


def test_late_failover_end_after_the_poll_resolved_does_not_leak_into_the_next_failover() -> None:
    w, sink = watcher()
    w.on_event(parse_event("+switch-master", "mymaster 127.0.0.1 30400 127.0.0.1 30401", A(30410), 50.0))
    after = group(nodes=[NodeInfo(A(M), failure=REFUSED), master(R1, replicas=(R2,)), replica(R2, of=R1)],
                  views=[view(p, names=R1) for p in SENTINELS])
    w.decide(StatusReport.of([after], []), 51.0)
    w.on_event(parse_event("+failover-end", "master mymaster 127.0.0.1 30400", A(30412), 52.0))
    w.on_event(parse_event("+switch-master", "mymaster 127.0.0.1 30401 127.0.0.1 30402", A(30410), 60.0))
    failovers = [(i.labels["new_master"], i.resolved) for i in sink.incidents if i.kind is IncidentKind.FAILOVER]
    assert failovers == [("127.0.0.1:30401", False), ("127.0.0.1:30401", True), ("127.0.0.1:30402", False)]


TIMED_OUT = Failure(FailureKind.UNREACHABLE, "timed out")


def test_a_timeout_needs_a_second_poll_a_refusal_does_not() -> None:
    slow = group(nodes=[master(replicas=(R2,)), NodeInfo(A(R1), failure=TIMED_OUT), replica(R2)],
                 views=[SentinelView(A(p), failure=TIMED_OUT) for p in SENTINELS])
    polls = {c.key: c.polls for c in group_conditions(slow, SETTINGS)}
    assert polls == {"replica_down:mymaster:127.0.0.1:30401": 2, "sentinel_down:mymaster:127.0.0.1:30410": 2,
                     "sentinel_down:mymaster:127.0.0.1:30411": 2, "sentinel_down:mymaster:127.0.0.1:30412": 2,
                     "quorum_lost:mymaster": 2}
    dead = group(nodes=[master(replicas=(R2,)), NodeInfo(A(R1), failure=REFUSED), replica(R2)],
                 views=[SentinelView(A(30410), failure=TIMED_OUT), *(SentinelView(A(p), failure=REFUSED)
                                                                   for p in SENTINELS[1:])])
    polls = {c.key: c.polls for c in group_conditions(dead, SETTINGS)}
    assert polls["replica_down:mymaster:127.0.0.1:30401"] == 1 and polls["quorum_lost:mymaster"] == 1


def test_one_stalled_poll_is_not_an_incident_two_are() -> None:
    w, sink = watcher()
    stalled = StatusReport.of([group(nodes=[NodeInfo(A(p), failure=TIMED_OUT) for p in (M, R1, R2)],
                                     views=[SentinelView(A(p), failure=TIMED_OUT) for p in SENTINELS])], [])
    w.decide(stalled, 100.0)
    w.decide(StatusReport.of([group()], []), 102.0)
    assert sink.incidents == []
    w.decide(StatusReport.of([group(nodes=[master(replicas=(R2,)), NodeInfo(A(R1), failure=TIMED_OUT),
                                           replica(R2)])], []), 104.0)
    assert sink.incidents == []
    w.decide(StatusReport.of([group(nodes=[master(replicas=(R2,)), NodeInfo(A(R1), failure=TIMED_OUT),
                                           replica(R2)])], []), 106.0)
    assert [(i.key, i.started_at) for i in sink.incidents] == [("replica_down:mymaster:127.0.0.1:30401", 104.0)]


def test_a_refused_login_needs_a_second_poll_too() -> None:
    """A password rotated a moment ago (the watcher reads the secrets file after each poll) is not an outage."""
    refused = Failure(FailureKind.AUTH, "wrong password")
    status = group(nodes=[master(replicas=(R2,)), NodeInfo(A(R1), failure=refused), replica(R2)])
    assert {c.key: c.polls for c in group_conditions(status, SETTINGS)} == {"replica_down:mymaster:127.0.0.1:30401": 2}


def test_a_connection_the_node_closed_needs_a_second_poll() -> None:
    """Sentinel kills every normal client of the replica it promotes: a probe caught in it is not an outage."""
    closed = Failure(FailureKind.UNREACHABLE, "connection closed")
    status = group(nodes=[master(replicas=(R2,)), NodeInfo(A(R1), failure=closed), replica(R2)])
    assert {c.key: c.polls for c in group_conditions(status, SETTINGS)} == {"replica_down:mymaster:127.0.0.1:30401": 2}
