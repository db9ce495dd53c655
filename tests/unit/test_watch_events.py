"""Sentinel events: parsing real payloads, and correlating them into incidents (pure, no I/O).

``FAILOVER`` was captured from three real redis-sentinel 7.0.15 while the master
(port 12500) was killed with SIGKILL (down-after 1000 ms) and later restarted by
``redisops up``: (seconds since the first message, sentinel port, channel, payload).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from redisops.address import Address
from redisops.alerts import Incident, IncidentKind, Severity
from redisops.ha import InstanceType, SentinelEvent, WatchState, parse_event, step

T0 = 1_795_629_370.0
A = "127.0.0.1"

FAILOVER = [
    (0.000, 12511, "+sdown", "master mymaster 127.0.0.1 12500"),
    (0.062, 12510, "+sdown", "master mymaster 127.0.0.1 12500"),
    (0.072, 12512, "+sdown", "master mymaster 127.0.0.1 12500"),
    (0.132, 12512, "+odown", "master mymaster 127.0.0.1 12500 #quorum 3/2"),
    (0.133, 12512, "+new-epoch", "1"),
    (0.133, 12512, "+try-failover", "master mymaster 127.0.0.1 12500"),
    (0.133, 12512, "+vote-for-leader", "6922c415551c5c77cd080e14083955223cc9c4d7 1"),
    (0.135, 12511, "+new-epoch", "1"),
    (0.135, 12511, "+vote-for-leader", "6922c415551c5c77cd080e14083955223cc9c4d7 1"),
    (0.136, 12510, "+new-epoch", "1"),
    (0.136, 12510, "+vote-for-leader", "6922c415551c5c77cd080e14083955223cc9c4d7 1"),
    (0.146, 12510, "+odown", "master mymaster 127.0.0.1 12500 #quorum 2/2"),
    (0.185, 12512, "+elected-leader", "master mymaster 127.0.0.1 12500"),
    (0.185, 12512, "+failover-state-select-slave", "master mymaster 127.0.0.1 12500"),
    (0.244, 12512, "+selected-slave", "slave 127.0.0.1:12502 127.0.0.1 12502 @ mymaster 127.0.0.1 12500"),
    (0.244, 12512, "+failover-state-send-slaveof-noone", "slave 127.0.0.1:12502 127.0.0.1 12502 @ mymaster 127.0.0.1 12500"),
    (0.327, 12512, "+failover-state-wait-promotion", "slave 127.0.0.1:12502 127.0.0.1 12502 @ mymaster 127.0.0.1 12500"),
    (1.107, 12511, "+odown", "master mymaster 127.0.0.1 12500 #quorum 3/2"),
    (1.107, 12511, "-role-change", "slave 127.0.0.1:12502 127.0.0.1 12502 @ mymaster 127.0.0.1 12500 new reported role is master"),
    (1.140, 12512, "-role-change", "slave 127.0.0.1:12502 127.0.0.1 12502 @ mymaster 127.0.0.1 12500 new reported role is master"),
    (1.140, 12512, "+promoted-slave", "slave 127.0.0.1:12502 127.0.0.1 12502 @ mymaster 127.0.0.1 12500"),
    (1.141, 12512, "+failover-state-reconf-slaves", "master mymaster 127.0.0.1 12500"),
    (1.192, 12512, "+slave-reconf-sent", "slave 127.0.0.1:12501 127.0.0.1 12501 @ mymaster 127.0.0.1 12500"),
    (1.196, 12510, "+config-update-from", "sentinel 6922c415551c5c77cd080e14083955223cc9c4d7 127.0.0.1 12512 @ mymaster 127.0.0.1 12500"),
    (1.196, 12510, "+switch-master", "mymaster 127.0.0.1 12500 127.0.0.1 12502"),
    (1.196, 12510, "+slave", "slave 127.0.0.1:12501 127.0.0.1 12501 @ mymaster 127.0.0.1 12502"),
    (1.196, 12510, "+slave", "slave 127.0.0.1:12500 127.0.0.1 12500 @ mymaster 127.0.0.1 12502"),
    (1.196, 12511, "+config-update-from", "sentinel 6922c415551c5c77cd080e14083955223cc9c4d7 127.0.0.1 12512 @ mymaster 127.0.0.1 12500"),
    (1.196, 12511, "+switch-master", "mymaster 127.0.0.1 12500 127.0.0.1 12502"),
    (1.196, 12511, "+slave", "slave 127.0.0.1:12501 127.0.0.1 12501 @ mymaster 127.0.0.1 12502"),
    (1.196, 12511, "+slave", "slave 127.0.0.1:12500 127.0.0.1 12500 @ mymaster 127.0.0.1 12502"),
    (2.174, 12512, "+slave-reconf-inprog", "slave 127.0.0.1:12501 127.0.0.1 12501 @ mymaster 127.0.0.1 12500"),
    (2.174, 12512, "+slave-reconf-done", "slave 127.0.0.1:12501 127.0.0.1 12501 @ mymaster 127.0.0.1 12500"),
    (2.207, 12510, "+sdown", "slave 127.0.0.1:12500 127.0.0.1 12500 @ mymaster 127.0.0.1 12502"),
    (2.244, 12511, "+sdown", "slave 127.0.0.1:12500 127.0.0.1 12500 @ mymaster 127.0.0.1 12502"),
    (2.248, 12512, "-odown", "master mymaster 127.0.0.1 12500"),
    (2.248, 12512, "+failover-end", "master mymaster 127.0.0.1 12500"),
    (2.248, 12512, "+switch-master", "mymaster 127.0.0.1 12500 127.0.0.1 12502"),
    (2.248, 12512, "+slave", "slave 127.0.0.1:12501 127.0.0.1 12501 @ mymaster 127.0.0.1 12502"),
    (2.248, 12512, "+slave", "slave 127.0.0.1:12500 127.0.0.1 12500 @ mymaster 127.0.0.1 12502"),
    (3.254, 12512, "+sdown", "slave 127.0.0.1:12500 127.0.0.1 12500 @ mymaster 127.0.0.1 12502"),
    (7.550, 12510, "-sdown", "slave 127.0.0.1:12500 127.0.0.1 12500 @ mymaster 127.0.0.1 12502"),
    (7.566, 12512, "-sdown", "slave 127.0.0.1:12500 127.0.0.1 12500 @ mymaster 127.0.0.1 12502"),
    (7.612, 12511, "-sdown", "slave 127.0.0.1:12500 127.0.0.1 12500 @ mymaster 127.0.0.1 12502"),
]


def event(channel: str, payload: str, port: int = 12510, t: float = 0.0) -> SentinelEvent:
    return parse_event(channel, payload, Address(A, port), T0 + t, default_group="mymaster")


def events(rows: list[tuple[float, int, str, str]]) -> list[SentinelEvent]:
    return [event(channel, payload, port, t) for t, port, channel, payload in rows]


# --- parsing ------------------------------------------------------------------------------------------


def test_master_event() -> None:
    e = event("+odown", "master mymaster 127.0.0.1 12500 #quorum 3/2")
    assert e.group == "mymaster" and e.about_master
    assert e.instance is not None and e.instance.type is InstanceType.MASTER
    assert e.master == Address(A, 12500) and e.extra == "#quorum 3/2"


def test_replica_event_names_its_master() -> None:
    e = event("+selected-slave", "slave 127.0.0.1:12502 127.0.0.1 12502 @ mymaster 127.0.0.1 12500")
    assert e.instance is not None and e.instance.type is InstanceType.REPLICA
    assert e.instance.address == Address(A, 12502) and e.master == Address(A, 12500) and not e.about_master
    role = event("-role-change", "slave 127.0.0.1:12502 127.0.0.1 12502 @ mymaster 127.0.0.1 12500 "
                 "new reported role is master")
    assert role.extra == "new reported role is master"


def test_sentinel_event_keeps_run_id_as_name() -> None:
    e = event("+config-update-from", "sentinel 6922c415551c5c77cd080e14083955223cc9c4d7 127.0.0.1 12512 "
              "@ mymaster 127.0.0.1 12500")
    assert e.instance is not None and e.instance.type is InstanceType.SENTINEL
    assert e.instance.name.startswith("6922c4") and e.instance.address == Address(A, 12512)


def test_switch_master() -> None:
    e = event("+switch-master", "mymaster 127.0.0.1 12500 127.0.0.1 12502")
    assert (e.group, e.master, e.new_master) == ("mymaster", Address(A, 12500), Address(A, 12502))


@pytest.mark.parametrize(("channel", "payload", "epoch"), [
    ("+new-epoch", "1", 1), ("+vote-for-leader", "6922c415551c5c77cd080e14083955223cc9c4d7 7", 7)])
def test_epochs(channel: str, payload: str, epoch: int) -> None:
    assert event(channel, payload).epoch == epoch


@pytest.mark.parametrize("payload", ["", "garbage", "master mymaster 127.0.0.1 notaport", "mymaster 1.2.3.4"])
def test_odd_payloads_keep_only_name(payload: str) -> None:
    for channel in ("+sdown", "+switch-master"):
        e = event(channel, payload)
        assert e.name == channel and e.payload == payload and e.instance is None and e.new_master is None


def test_tilt_has_no_master_so_takes_the_subscription_group() -> None:
    e = event("+tilt", "#tilt mode entered")
    assert e.group == "mymaster" and e.instance is None


def test_every_captured_payload_parses() -> None:
    for e in events(FAILOVER):
        assert e.group == "mymaster", e


# --- correlation ------------------------------------------------------------------------------------


class Events:
    """The watcher's reducer fed events only, one at a time, each at its own stamp."""

    def __init__(self) -> None:
        self.state = WatchState()

    def feed(self, e: SentinelEvent) -> list[Incident]:
        self.state, handed = step(self.state, e, e.at)
        return handed

    @property
    def open_incidents(self) -> tuple[Incident, ...]:
        return self.state.open_incidents


def feed_all(correlator: Events, evs: list[SentinelEvent]) -> list[tuple[float, Incident]]:
    out: list[tuple[float, Incident]] = []
    for e in evs:
        out += [(e.at, i) for i in correlator.feed(e)]
    return out


def test_three_switch_masters_make_one_failover_handed_at_the_first() -> None:
    handed = feed_all(Events(), events(FAILOVER))
    assert len(handed) == 2  # opened once, resolved once
    (opened_at, opened), (resolved_at, resolved) = handed
    first_switch = next(T0 + t for t, _, c, _ in FAILOVER if c == "+switch-master")
    assert opened_at == first_switch
    assert opened.kind is IncidentKind.FAILOVER and not opened.resolved
    assert resolved.resolved and resolved.key == opened.key == "failover:mymaster:1"
    assert resolved.labels == {"group": "mymaster", "old_master": "127.0.0.1:12500",
                               "new_master": "127.0.0.1:12502", "epoch": "1"}
    assert resolved.title == "mymaster failed over from 127.0.0.1:12500 to 127.0.0.1:12502"


def test_failover_timeline_is_in_order_with_sources() -> None:
    correlator = Events()
    handed = [i for _, i in feed_all(correlator, events(FAILOVER))]
    timeline = handed[-1].timeline
    names = [e.event for e in timeline]
    assert [e.at for e in timeline] == sorted(e.at for e in timeline)
    order = ["+sdown", "+odown", "+try-failover", "+elected-leader", "+failover-state-select-slave",
             "+promoted-slave", "+switch-master", "+failover-end"]
    assert [names.index(n) for n in order] == sorted(names.index(n) for n in order)
    assert names.count("+sdown") == 3 and names.count("+switch-master") == 2  # the leader's comes after the end
    assert {e.source for e in timeline if e.event == "+sdown"} == {f"{A}:{p}" for p in (12510, 12511, 12512)}
    assert names[-1] == "+failover-end" or names[-2] == "+failover-end"
    assert "+slave" not in names and "+vote-for-leader" not in names


def test_leader_only_connection_still_gets_one_failover() -> None:
    """Only the leader (12512) reachable: its +failover-end precedes its +switch-master."""
    only = [r for r in FAILOVER if r[1] == 12512]
    handed = [i for _, i in feed_all(Events(), events(only))]
    assert [i.resolved for i in handed] == [False, True]
    assert handed[0].key == handed[1].key


def test_a_second_failover_is_a_new_incident() -> None:
    correlator = Events()
    first = feed_all(correlator, events(FAILOVER))
    back = [(t + 100, p, c, p2.replace("12500", "X").replace("12502", "12500").replace("X", "12502"))
            for t, p, c, p2 in FAILOVER]
    back = [(t, p, c, "2" if c == "+new-epoch" else pl) for t, p, c, pl in back]
    second = feed_all(correlator, events(back))
    assert len(first) == len(second) == 2
    assert second[0][1].key == "failover:mymaster:2"
    assert second[0][1].labels["new_master"] == "127.0.0.1:12500"


def test_abort_is_critical_and_resolved_by_a_later_switch() -> None:
    correlator = Events()
    abort = [event("+sdown", "master mymaster 127.0.0.1 12500", t=0), event("+new-epoch", "3", t=0.1),
             event("-failover-abort-no-good-slave", "master mymaster 127.0.0.1 12500", 12512, t=0.2),
             event("-failover-abort-no-good-slave", "master mymaster 127.0.0.1 12500", 12512, t=5)]
    handed = [i for e in abort for i in correlator.feed(e)]
    assert len(handed) == 1
    aborted = handed[0]
    assert aborted.kind is IncidentKind.FAILOVER_ABORTED and aborted.severity is Severity.CRITICAL
    assert "no good slave" in aborted.title and [e.event for e in aborted.timeline][0] == "+sdown"
    later = correlator.feed(event("+switch-master", "mymaster 127.0.0.1 12500 127.0.0.1 12501", t=60))
    assert [(i.kind, i.resolved) for i in later] == [(IncidentKind.FAILOVER, False),
                                                     (IncidentKind.FAILOVER_ABORTED, True)]


def test_tilt_opens_per_sentinel_and_untilt_resolves() -> None:
    correlator = Events()
    opened = correlator.feed(event("+tilt", "#tilt mode entered", 12510))
    assert correlator.feed(event("+tilt", "#tilt mode entered", 12510, t=1)) == []
    resolved = correlator.feed(event("-tilt", "#tilt mode exited", 12510, t=31))
    assert opened[0].kind is IncidentKind.TILT and opened[0].labels["sentinel"] == f"{A}:12510"
    assert resolved[0].key == opened[0].key and resolved[0].resolved_at == T0 + 31


def test_reboot_and_convert_once_per_instance_however_many_sentinels() -> None:
    correlator = Events()
    payload = "slave 127.0.0.1:12500 127.0.0.1 12500 @ mymaster 127.0.0.1 12502"
    handed = [i for p in (12510, 12511, 12512) for i in correlator.feed(event("+convert-to-slave", payload, p))]
    handed += [i for p in (12510, 12511) for i in correlator.feed(event("+reboot", payload, p))]
    assert [(i.kind, i.severity) for i in handed] == [(IncidentKind.SPLIT_BRAIN, Severity.WARNING),
                                                      (IncidentKind.REPLICA_DOWN, Severity.WARNING)]
    assert handed[0].labels["instance"] == f"{A}:12500"
    assert len(correlator.open_incidents) == 2


def test_notices_during_a_failover_join_its_timeline() -> None:
    correlator = Events()
    opening = [r for r in FAILOVER if r[2] != "+failover-end"][:25]
    feed_all(correlator, events(opening))
    late = event("-slave-reconf-sent-timeout", "slave 127.0.0.1:12501 127.0.0.1 12501 @ mymaster 127.0.0.1 12500",
                 12512, t=30)
    assert correlator.feed(late) == []
    (failover,) = correlator.open_incidents
    assert failover.timeline[-1].event == "-slave-reconf-sent-timeout"


def test_stale_lead_up_is_dropped() -> None:
    correlator = Events()  # lead-up older than 120 s at the switch is dropped
    correlator.feed(event("+sdown", "master mymaster 127.0.0.1 12500", t=0))
    correlator.feed(event("-sdown", "master mymaster 127.0.0.1 12500", t=1))
    (incident,) = correlator.feed(event("+switch-master", "mymaster 127.0.0.1 12500 127.0.0.1 12501", t=500))
    assert [e.event for e in incident.timeline] == ["+switch-master"]
    assert incident.key == "failover:mymaster:127.0.0.1:12500->127.0.0.1:12501"
    assert replace(incident, timeline=()).started_at == T0 + 500


def test_rival_leaders_promoting_different_replicas_are_one_failover() -> None:
    """Epoch 1 promotes 12501, epoch 2 promotes 12502, a third sentinel then adopts epoch 2: one incident."""
    correlator = Events()
    rows = [event("+sdown", "master mymaster 127.0.0.1 12500", 12510, t=0.0),
            event("+new-epoch", "1", 12510, t=1.0), event("+new-epoch", "2", 12511, t=1.01),
            event("+switch-master", "mymaster 127.0.0.1 12500 127.0.0.1 12501", 12510, t=1.5),
            event("+switch-master", "mymaster 127.0.0.1 12500 127.0.0.1 12502", 12511, t=1.6),
            event("+switch-master", "mymaster 127.0.0.1 12501 127.0.0.1 12502", 12512, t=2.0),
            event("+failover-end", "master mymaster 127.0.0.1 12500", 12511, t=3.0)]
    handed = [i for e in rows for i in correlator.feed(e)]
    assert [i.resolved for i in handed] == [False, True]
    assert handed[0].key == handed[1].key
    assert handed[1].labels["new_master"] == "127.0.0.1:12502"
    assert [e.event for e in handed[1].timeline].count("+switch-master") == 3


def test_late_switch_after_a_rival_epoch_joins_the_resolved_failover() -> None:
    """Seen in CI: a sentinel that lost the epoch-1 election announced epoch 2, then the leader's own
    +switch-master (same pair) arrived after +failover-end: still one failover, not a second alert."""
    correlator = Events()
    rows = [r for r in FAILOVER if not (r[1] == 12512 and r[2] == "+switch-master")]
    first = feed_all(correlator, events(rows))
    assert [i.resolved for _, i in first] == [False, True]
    late = events([(2.30, 12511, "+new-epoch", "2"),
                   (2.40, 12512, "+switch-master", "mymaster 127.0.0.1 12500 127.0.0.1 12502")])
    assert feed_all(correlator, late) == []
    # the same pair long after it settled (a failback in between was missed) is a new failover
    again = events([(600.0, 12512, "+switch-master", "mymaster 127.0.0.1 12500 127.0.0.1 12502")])
    assert [(i.key, i.resolved) for _, i in feed_all(correlator, again)] == [("failover:mymaster:2", False)]


def test_new_master_down_before_the_end_folds_the_next_failover_in() -> None:
    """Seen in CI (7.0, down-after 1 s): a sentinel found the just-promoted 12502 down 3 ms before the leader's
    +failover-end, and failed it over to 12501 a second later.  One outage: one incident, resolved at the
    second +failover-end and naming the master clients end up on."""
    correlator = Events()
    rows = [r for r in FAILOVER if r[0] < 2.248]
    rows += [(2.245, 12511, "+sdown", "master mymaster 127.0.0.1 12502"),
             (2.245, 12511, "+odown", "master mymaster 127.0.0.1 12502 #quorum 3/2"),
             *[r for r in FAILOVER if r[0] >= 2.248],
             (2.900, 12511, "+new-epoch", "2"),
             (2.900, 12511, "+elected-leader", "master mymaster 127.0.0.1 12502"),
             (3.500, 12511, "+switch-master", "mymaster 127.0.0.1 12502 127.0.0.1 12501"),
             (3.600, 12510, "+switch-master", "mymaster 127.0.0.1 12502 127.0.0.1 12501"),
             (4.100, 12511, "+failover-end", "master mymaster 127.0.0.1 12502")]
    handed = [i for _, i in feed_all(correlator, events(rows))]
    assert [i.resolved for i in handed] == [False, True]
    opened, done = handed
    assert opened.key == done.key and done.labels["new_master"] == "127.0.0.1:12501"
    assert done.resolved_at == T0 + 4.1
    assert [e.event for e in done.timeline].count("+failover-end") == 2


def test_a_sdown_cleared_by_a_switch_does_not_hold_a_later_failover() -> None:
    """12502 was a master once and went +sdown, then the group moved away from it: when 12502 is promoted
    again later, that old report must not keep the new failover open."""
    correlator = Events()
    feed_all(correlator, events([(-50.0, 12510, "+sdown", "master mymaster 127.0.0.1 12502"),
                                 (-49.0, 12510, "+switch-master", "mymaster 127.0.0.1 12502 127.0.0.1 12500"),
                                 (-48.0, 12510, "+failover-end", "master mymaster 127.0.0.1 12502")]))
    handed = feed_all(correlator, events(FAILOVER))
    assert [i.resolved for _, i in handed] == [False, True]


def test_a_split_vote_before_the_first_failover_is_in_its_timeline_not_a_page() -> None:
    """Two sentinels ask for votes at once, neither gets a majority, both publish -failover-abort-not-elected
    and Sentinel tries again later (recorded in tests/recorded/sentinel_chained.json).  A lost election round
    is not a failover given up: no critical "aborted" incident; the failover that follows shows it."""
    correlator = Events()
    rows = [(0.0, 12510, "+sdown", "master mymaster 127.0.0.1 12500"),
            (0.1, 12510, "+new-epoch", "1"), (0.1, 12510, "+try-failover", "master mymaster 127.0.0.1 12500"),
            (0.1, 12512, "+new-epoch", "1"), (0.1, 12512, "+try-failover", "master mymaster 127.0.0.1 12500"),
            (5.3, 12510, "-failover-abort-not-elected", "master mymaster 127.0.0.1 12500"),
            (5.6, 12512, "-failover-abort-not-elected", "master mymaster 127.0.0.1 12500"),
            (10.4, 12512, "+new-epoch", "2"), (10.4, 12512, "+elected-leader", "master mymaster 127.0.0.1 12500"),
            (11.5, 12511, "+switch-master", "mymaster 127.0.0.1 12500 127.0.0.1 12502"),
            (12.4, 12512, "+failover-end", "master mymaster 127.0.0.1 12500")]
    handed = [i for _, i in feed_all(correlator, events(rows))]
    assert [(i.kind, i.resolved) for i in handed] == [(IncidentKind.FAILOVER, False), (IncidentKind.FAILOVER, True)]
    names = [e.event for e in handed[-1].timeline]
    assert names.count("-failover-abort-not-elected") == 2 and handed[-1].key == "failover:mymaster:2"
