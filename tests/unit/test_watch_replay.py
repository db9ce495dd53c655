"""Real failovers, recorded on the test harness, replayed through the watcher's reducer (pure, no Redis).

``tests/recorded/*.json`` hold every input a watcher was fed while a fault was injected on real redis-server /
redis-sentinel 7.0.15 (each sentinel's Pub/Sub messages, a poll every 0.5 s, the failover-timeout it read), with
their monotonic stamps; ``tests/recorded/record.py`` made them.  Each replay must give exactly the incidents the
scenario tests expect of a live watcher.  What the right answer is (the old master, the new one) comes from the
recorded polls, i.e. from the nodes themselves, never from the events under test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from redisops.alerts import Incident, IncidentKind, Severity
from redisops.ha import FailoverTimeout, Poll, SentinelEvent, WatchState, replay, step
from redisops.testing.recording import Recording, load, save
from redisops.topology import StatusReport

RECORDED = Path(__file__).parents[1] / "recorded"
Handed = list[tuple[float, Incident]]


def replayed(name: str) -> tuple[Recording, WatchState, Handed]:
    recording = load(RECORDED / f"{name}.json")
    state, handed = replay(recording.inputs, WatchState(settings=recording.settings))
    return recording, state, handed


def polls(recording: Recording) -> list[StatusReport]:
    return [item.report for _, item in recording.inputs if isinstance(item, Poll)]


def sentinel_masters(recording: Recording) -> tuple[str, str]:
    """The master of the first poll and of the last: what the group went from and to."""
    reports = polls(recording)
    return str(reports[0].groups[0].master), str(reports[-1].groups[0].master)


def of(handed: Handed, kind: IncidentKind) -> list[Incident]:
    return [i for _, i in handed if i.kind is kind]


def opened_then_resolved(incidents: list[Incident]) -> Incident:
    """One key, handed once firing and once resolved: the resolved one."""
    assert len({i.key for i in incidents}) == 1 and [i.resolved for i in incidents] == [False, True], incidents
    return incidents[1]


def in_order(incident: Incident, *names: str) -> list[str]:
    """The timeline is sorted by time, and the first of each of ``names`` comes in that order."""
    events = [e.event for e in incident.timeline]
    assert [e.at for e in incident.timeline] == sorted(e.at for e in incident.timeline), incident.timeline
    assert all(n in events for n in names), (names, events)
    assert [events.index(n) for n in names] == sorted(events.index(n) for n in names), events
    return events


def first_at(recording: Recording, channel: str) -> float:
    return next(at for at, item in recording.inputs if isinstance(item, SentinelEvent) and item.name == channel)


def summary(handed: Handed) -> list[tuple[str, bool]]:
    return [(i.key, i.resolved) for _, i in handed]


# --- Sentinel ---------------------------------------------------------------------------------------


def test_killed_master_is_one_failover_handed_at_the_first_switch() -> None:
    recording, state, handed = replayed("sentinel_kill")
    old, new = sentinel_masters(recording)
    assert old != new
    failover = opened_then_resolved(of(handed, IncidentKind.FAILOVER))
    assert (failover.labels["old_master"], failover.labels["new_master"]) == (old, new)
    assert handed[0] == (first_at(recording, "+switch-master"), of(handed, IncidentKind.FAILOVER)[0])
    in_order(failover, "+sdown", "+odown", "+try-failover", "+elected-leader", "+failover-state-select-slave",
             "+promoted-slave", "+switch-master")
    assert len({e.source for e in failover.timeline if e.event == "+sdown"}) >= 2
    # besides the failover: only the old master, a replica now, down until `up` restarted it
    assert opened_then_resolved(of(handed, IncidentKind.REPLICA_DOWN)).labels["replica"] == old
    assert {i.kind for _, i in handed} == {IncidentKind.FAILOVER, IncidentKind.REPLICA_DOWN}, summary(handed)
    assert state.open_incidents == ()


def test_paused_master_is_one_failover_and_its_demotion_when_it_wakes() -> None:
    """SIGSTOP: the failover as for a kill.  SIGCONT after it: the old master answers role master until
    Sentinel converts it (+convert-to-slave, 10 s later): the writes it took meanwhile are lost, said once
    (a warning).  Not the critical split brain: that was the failover's window."""
    recording, state, handed = replayed("sentinel_pause")
    old, new = sentinel_masters(recording)
    failover = opened_then_resolved(of(handed, IncidentKind.FAILOVER))
    assert (failover.labels["old_master"], failover.labels["new_master"]) == (old, new)
    in_order(failover, "+sdown", "+odown", "+elected-leader", "+switch-master")
    assert opened_then_resolved(of(handed, IncidentKind.REPLICA_DOWN)).labels["replica"] == old
    demoted = opened_then_resolved(of(handed, IncidentKind.SPLIT_BRAIN))
    assert demoted.key == f"split_brain:mymaster:{old}:convert-to-slave" and demoted.severity is Severity.WARNING
    assert {i.kind for _, i in handed} == {IncidentKind.FAILOVER, IncidentKind.REPLICA_DOWN,
                                           IncidentKind.SPLIT_BRAIN}, summary(handed)
    assert state.open_incidents == ()


def test_planned_failover_is_one_failover_and_no_split_brain() -> None:
    """SENTINEL FAILOVER: nothing goes down, the old master answers role master for seconds after the switch."""
    recording, state, handed = replayed("sentinel_planned")
    old, new = sentinel_masters(recording)
    failover = opened_then_resolved(of(handed, IncidentKind.FAILOVER))
    assert (failover.labels["old_master"], failover.labels["new_master"]) == (old, new)
    events = in_order(failover, "+try-failover", "+elected-leader", "+promoted-slave", "+switch-master")
    assert "+sdown" not in events and "+odown" not in events
    assert summary(handed) == [(failover.key, False), (failover.key, True)]
    assert state.open_incidents == ()


def test_chained_failover_is_one_outage_naming_the_last_master() -> None:
    """The master killed, then the replica it went to, as the sentinels named it: Sentinel fails over again (two
    sentinels split the first vote, both abort "not elected", the next epoch elects one).  One failover
    incident, resolved once clients reach the last master; the lost election round is in its timeline."""
    recording, state, handed = replayed("sentinel_chained")
    old, new = sentinel_masters(recording)
    failover = opened_then_resolved(of(handed, IncidentKind.FAILOVER))
    assert (failover.labels["old_master"], failover.labels["new_master"]) == (old, new)
    events = in_order(failover, "+sdown", "+odown", "+elected-leader", "+switch-master",
                      "-failover-abort-not-elected")
    assert events.count("+elected-leader") == 2
    second = next(e.detail for e in failover.timeline if e.event == "+switch-master")
    assert second.startswith(old) and not second.endswith(new)  # the first switch went to the replica killed next
    assert of(handed, IncidentKind.FAILOVER_ABORTED) == []
    assert not [i for _, i in handed if i.severity is Severity.CRITICAL], summary(handed)
    assert {i.kind for _, i in handed} <= {IncidentKind.FAILOVER, IncidentKind.REPLICA_DOWN, IncidentKind.REPLICA_LAG}
    assert state.open_incidents == ()


# --- Cluster ----------------------------------------------------------------------------------------


def test_killed_cluster_master_is_a_shard_failover_naming_the_new_master() -> None:
    recording, state, handed = replayed("cluster_kill")
    reports = polls(recording)
    before, after = reports[0].clusters[0], reports[-1].clusters[0]
    first = before.slot_map.ranges[0][0]
    old_row, new_row = before.row(before.slot_map.owner(first)), after.row(after.slot_map.owner(first))
    assert old_row is not None and new_row is not None and old_row.id != new_row.id
    old, new = str(old_row.address), str(new_row.address)
    failover = opened_then_resolved(of(handed, IncidentKind.SHARD_FAILOVER))
    assert (failover.labels["old_master"], failover.labels["new_master"]) == (old, new)
    slots = "-".join(map(str, before.slot_map.ranges_of(old_row.id or "")[0]))
    assert failover.title == f"cluster main: shard {slots} failed over from {old} to {new}"
    events = in_order(failover, "down", "fail", "promoted", "rejoined")
    assert events[-1] == "rejoined" and failover.timeline[-1].detail == f"{old} is back as a replica of {new}"
    assert opened_then_resolved(of(handed, IncidentKind.CLUSTER_NODE_DOWN)).labels["node"] == old
    assert {i.kind for _, i in handed} == {IncidentKind.SHARD_FAILOVER, IncidentKind.CLUSTER_NODE_DOWN}
    assert state.open_incidents == ()


def test_a_cluster_master_that_stays_away_ends_its_shard_failover_after_the_grace() -> None:
    """The recording cut before the old master came back, its last poll repeated: the incident ends
    ``shard_grace_s`` after the promotion, saying the old master is still away; its node-down stays open, and
    the new master without a replica is an incident of its own."""
    recording = load(RECORDED / "cluster_kill.json")
    state, handed = WatchState(settings=recording.settings, shard_grace_s=30.0), []
    for at, item in recording.inputs:
        state, out = step(state, item, at)
        handed += out
        if any(i.kind is IncidentKind.SHARD_FAILOVER for i in out):
            promoted_at, away = at, item
            break
    assert isinstance(away, Poll)
    for t in range(1, 40):
        state, out = step(state, away, promoted_at + t)
        handed += out
    failovers = [i for i in handed if i.kind is IncidentKind.SHARD_FAILOVER]
    failover = opened_then_resolved(failovers)
    assert failover.resolved_at == promoted_at + 30 and failover.timeline[-1].event == "gone"
    assert "still away" in failover.summary
    # what is left is said by the conditions: the old master down, its shard without a replica
    assert sorted(i.key for i in state.open_incidents) == [f"cluster_no_replica:main:{failover.labels['new_master']}",
                                                           f"cluster_node_down:main:{failover.labels['old_master']}"]


# --- the reducer ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sentinel_kill", "sentinel_pause", "sentinel_planned", "sentinel_chained",
                                  "cluster_kill"])
def test_a_replay_is_a_function_of_its_inputs(name: str) -> None:
    """Same inputs, same incidents; stepping from a state never changes that state (it is a value)."""
    recording = load(RECORDED / f"{name}.json")
    start = WatchState(settings=recording.settings)
    middle, first = replay(recording.inputs[: len(recording.inputs) // 2], start)
    kept = repr(middle)
    _, rest = replay(recording.inputs[len(recording.inputs) // 2:], middle)
    assert repr(middle) == kept
    assert replay(recording.inputs, start)[1] == first + rest
    assert start == WatchState(settings=recording.settings)


def test_every_recording_reads_the_failover_timeout_first() -> None:
    """The grace of the failover window comes from the sentinels (5 s here, so MIN_GRACE_S), not the default."""
    for name in ("sentinel_kill", "sentinel_pause", "sentinel_planned", "sentinel_chained"):
        recording = load(RECORDED / f"{name}.json")
        assert isinstance(recording.inputs[0][1], FailoverTimeout), name
        state, _ = replay(recording.inputs[:1], WatchState(settings=recording.settings))
        assert state.group("mymaster").events.grace_s == 20.0


@pytest.mark.parametrize("name", ["sentinel_kill", "cluster_kill"])
def test_a_recording_reads_back_to_the_same_values(name: str, tmp_path: Path) -> None:
    """Every report field survives the file: written again from what was read, the text is the same."""
    recording = load(RECORDED / f"{name}.json")
    save(recording, tmp_path / "again.json")
    assert (tmp_path / "again.json").read_text() == (RECORDED / f"{name}.json").read_text()
    assert load(tmp_path / "again.json") == recording
