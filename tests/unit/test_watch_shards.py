"""Shard failovers from cluster polls: what a kill does not show (pure; real CLUSTER NODES text of redis 7.0.15,
masters 32000-32002 with replicas 32005->32000, 32003->32001, 32004->32002, edited as each change would print it).

A killed master, its replica promoted and the old master back as a replica is replayed from a real recording in
``test_watch_replay.py``.
"""

from __future__ import annotations

from captured_cluster import CLUSTER, HEALTHY, cluster_node

from redisops.alerts import IncidentKind
from redisops.ha import Poll, WatchState, replay
from redisops.topology import StatusReport
from redisops.topology.cluster_status import judge_cluster

M2, R4 = "73ed08d614d73f4d9031d5645cace71757af2621", "918ff62c7972e8438b6acb186c200f3464a32358"


def poll(text: str) -> Poll:
    return Poll(StatusReport.of([], [judge_cluster(CLUSTER, [cluster_node(p, text) for p in range(32000, 32006)])]))


def edited(*changes: tuple[str, str]) -> str:
    text = HEALTHY
    for port, line in changes:
        text = "\n".join(line if f"127.0.0.1:{port}@" in old else old for old in text.splitlines()) + "\n"
    return text


# CLUSTER FAILOVER asked of 32004: it owns 10923-16383 with a new epoch, 32002 replicates it
SWAPPED = edited(("32004", f"{R4} 127.0.0.1:32004@33004 master - 0 1795626900000 8 connected 10923-16383"),
                 ("32002", f"{M2} 127.0.0.1:32002@33002 slave {R4} 0 1795626900000 8 connected"))
# a resharding moved 10923-16383 from 32002 to 32000 (a master that was nobody's replica)
RESHARDED = edited(("32000", "06b31ff6cce5798f333cfb3155bf28e8b83f2956 127.0.0.1:32000@33000 master - 0 1795626900000 "
                             "9 connected 0-5460 10923-16383"),
                   ("32002", f"{M2} 127.0.0.1:32002@33002 master - 0 1795626900000 3 connected"))


def test_a_manual_cluster_failover_opens_and_resolves_in_one_poll() -> None:
    _, handed = replay([(100.0, poll(HEALTHY)), (102.0, poll(SWAPPED))])
    assert [(i.kind, i.resolved) for _, i in handed] == [(IncidentKind.SHARD_FAILOVER, False),
                                                         (IncidentKind.SHARD_FAILOVER, True)]
    opened, done = (i for _, i in handed)
    assert opened.title == "cluster main: shard 10923-16383 failed over from 127.0.0.1:32002 to 127.0.0.1:32004"
    assert opened.key == done.key == "shard_failover:main:127.0.0.1:32002->127.0.0.1:32004:8"
    assert [e.event for e in done.timeline] == ["promoted", "rejoined"]  # nothing was down: no lead-up


def test_slots_moved_to_another_master_are_a_resharding_not_a_failover() -> None:
    _, handed = replay([(100.0, poll(HEALTHY)), (102.0, poll(RESHARDED)), (104.0, poll(RESHARDED))])
    assert [i.kind for _, i in handed if i.kind is IncidentKind.SHARD_FAILOVER] == []


def test_a_watcher_that_starts_after_the_promotion_says_nothing_of_it() -> None:
    """No earlier poll: nobody knows whose slots they were."""
    _, handed = replay([(100.0, poll(SWAPPED)), (102.0, poll(SWAPPED))])
    assert handed == []


def test_the_same_state_twice_hands_nothing_twice() -> None:
    state, handed = replay([(100.0, poll(HEALTHY)), (102.0, poll(SWAPPED))], WatchState())
    assert len(handed) == 2
    assert replay([(104.0, poll(SWAPPED)), (106.0, poll(SWAPPED))], state)[1] == []
