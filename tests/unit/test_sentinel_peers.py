"""Finding a group's other sentinels (``SENTINEL SENTINELS``) and what the group is expected to count.

The replies are as redis-sentinel 7.0.15 printed them: sentinel 17160 asked while its peer 17162 had been
SIGKILLed 6.5 s earlier (down-after 5000 ms), so that peer is flagged ``s_down`` and still listed.
"""

from __future__ import annotations

from captured_cluster import REFUSED, A

from redisops.address import Address
from redisops.topology.model import ErrorReply, Health, SentinelView
from redisops.topology.parse import sentinel_view
from redisops.topology.sentinel_status import expected_sentinels, judge_group
from redisops.topology.status import SentinelPeer, SentinelProbe, new_peers, parse_sentinel_peers
from redisops.topology.targets import SentinelTarget

ID_60, ID_61, ID_62 = "eaa4d972aa8442366c01c00ce534523c3468b9e6", "97c7eac3c940c5de7e81fb479d6c3349d1d258f0", \
    "6922c415551c5c77cd080e14083955223cc9c4d7"

PEERS_OF_17160 = [
    ["name", ID_62, "ip", "127.0.0.1", "port", "17162", "runid", ID_62, "flags", "s_down,sentinel,disconnected",
     "link-pending-commands", "2", "link-refcount", "1", "last-ping-sent", "6494", "last-ok-ping-reply", "7452",
     "last-ping-reply", "7452", "s-down-time", "1467", "down-after-milliseconds", "5000",
     "last-hello-message", "7433", "voted-leader", "?", "voted-leader-epoch", "0"],
    ["name", ID_61, "ip", "127.0.0.1", "port", "17161", "runid", ID_61, "flags", "sentinel",
     "link-pending-commands", "0", "link-refcount", "1", "last-ping-sent", "0", "last-ok-ping-reply", "235",
     "last-ping-reply", "235", "down-after-milliseconds", "5000", "last-hello-message", "1332",
     "voted-leader", "?", "voted-leader-epoch", "0"],
]


def view(port: int, others: int = 2) -> SentinelView:
    master = ["name", "mymaster", "ip", "127.0.0.1", "port", "17150", "flags", "master", "num-slaves", "2",
              "num-other-sentinels", str(others), "quorum", "2"]
    return sentinel_view(A(port), "mymaster", [["127.0.0.1", "17150"], master, "OK 3 usable Sentinels", []])


def probe(address: Address, run_id: str | None, *peers: tuple[int, str]) -> SentinelProbe:
    return SentinelProbe(SentinelView(address), run_id,
                         tuple(SentinelPeer(A(p), rid, frozenset({"sentinel"})) for p, rid in peers))


def test_peers_flagged_down_are_still_peers() -> None:
    peers = parse_sentinel_peers(PEERS_OF_17160)
    assert [(p.address, p.run_id) for p in peers] == [(A(17162), ID_62), (A(17161), ID_61)]
    assert peers[0].flags == frozenset({"s_down", "sentinel", "disconnected"})


def test_an_invalidated_address_and_an_error_reply_name_no_peer() -> None:
    # port 0: Sentinel's mark on the old entry of an address a sentinel with a new run id took over
    invalid = ["name", "x", "ip", "127.0.0.1", "port", "0", "runid", "x", "flags", "sentinel"]
    assert parse_sentinel_peers([invalid]) == ()
    assert parse_sentinel_peers(ErrorReply("ERR No such master with that name")) == ()


def test_one_listed_sentinel_names_the_two_others() -> None:
    listed = probe(A(17160), ID_60, (17162, ID_62), (17161, ID_61))
    assert new_peers([listed]) == [A(17161), A(17162)]


def test_a_peer_already_asked_by_another_name_is_not_asked_again() -> None:
    # listed as localhost: its peers know it as 127.0.0.1, with the run id it answered SENTINEL MYID with
    listed = probe(Address("localhost", 17160), ID_60, (17162, ID_62), (17161, ID_61))
    peer = probe(A(17161), ID_61, (17160, ID_60), (17162, ID_62))
    assert new_peers([listed, peer]) == [A(17162)]


def test_peers_named_by_several_sentinels_are_asked_once() -> None:
    probes = [probe(A(17160), ID_60, (17162, ID_62)), probe(A(17161), ID_61, (17162, ID_62))]
    assert new_peers(probes) == [A(17162)]
    assert new_peers([*probes, probe(A(17162), ID_62, (17160, ID_60), (17161, ID_61))]) == []


def test_a_sentinel_that_did_not_answer_names_no_one() -> None:
    assert new_peers([SentinelProbe(SentinelView(A(17160), REFUSED))]) == []


def test_with_sentinels_appends_the_new_ones_in_order() -> None:
    target = SentinelTarget("mymaster", (A(17160),), password="p")
    grown = target.with_sentinels([A(17160), A(17162), A(17161), A(17162)])
    assert grown.sentinels == (A(17160), A(17162), A(17161)) and grown.password == "p"
    assert grown.with_sentinels([A(17161)]) is grown


def test_remote_group_expects_what_its_sentinels_count() -> None:
    remote = SentinelTarget("mymaster", (A(17160),))
    # every sentinel seen (a dead one included), or more when one counts a peer nobody could name
    assert expected_sentinels(remote, [view(17160), view(17161), SentinelView(A(17162), REFUSED)]) == 3
    assert expected_sentinels(remote, [view(17160, others=3)]) == 4
    assert expected_sentinels(remote, []) == 0


def test_remote_group_with_a_dead_peer_is_degraded_not_smaller() -> None:
    remote = SentinelTarget("mymaster", (A(17160),))
    views = [view(17160), view(17161), SentinelView(A(17162), REFUSED)]
    status = judge_group(remote, views, [])
    assert status.expected_sentinels == 3 and status.quorum == 2
    assert status.health is not Health.OK
    assert "mymaster: sentinel 127.0.0.1:17162 unreachable (connection refused)" in status.reasons


def test_spec_count_stands_when_a_stranger_sentinel_shows_up() -> None:
    spec = SentinelTarget("mymaster", (A(17160), A(17161), A(17162)), expected_sentinels=3)
    views = [view(p, others=3) for p in (17160, 17161, 17162, 17163)]
    status = judge_group(spec, views, [])
    assert status.expected_sentinels == 3
    assert any("other sentinels known to all 4 sentinels: 3, expected 2" in r for r in status.reasons), \
        status.reasons
