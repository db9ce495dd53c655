"""The status verdict (what ``redisops up`` waits for) on snapshots built from real reply text.

Every snapshot goes through the real parsers: INFO lines and CLUSTER NODES
text as redis 7.0.15 printed them in the situation named by each test
(captured by killing, pausing and restarting nodes of a live deployment).
"""

from __future__ import annotations

import json

from captured_cluster import CLUSTER, HEALTHY, MASTER_FAILED, REFUSED, A, cluster_node, dead

from redisops.topology.cluster_status import judge_cluster
from redisops.topology.model import (
    ErrorReply,
    Failure,
    FailureKind,
    Health,
    NodeInfo,
    Role,
    SentinelView,
)
from redisops.topology.parse import data_node, keys_in_keyspace, parse_info, sentinel_view
from redisops.topology.sentinel_status import judge_group
from redisops.topology.targets import ClusterTarget, SentinelTarget

# --- Sentinel group: master 30400, replicas 30401/30402, sentinels 30410-30412 ---------------------------
M, R1, R2 = 30400, 30401, 30402
SENTINELS = (30410, 30411, 30412)
GROUP = SentinelTarget("mymaster", tuple(A(p) for p in SENTINELS), (A(M), A(R1), A(R2)),
                       expected_replicas=2, expected_sentinels=3)
CKQUORUM_OK = "OK 3 usable Sentinels. Quorum and failover authorization can be reached"


def master_info(*replicas: tuple[int, str, int], offset: int = 25598, keys: int = 2) -> str:
    links = "".join(f"slave{i}:ip=127.0.0.1,port={port},state={state},offset={off},lag=0\r\n"
                    for i, (port, state, off) in enumerate(replicas))
    return (f"# Replication\r\nrole:master\r\nconnected_slaves:{len(replicas)}\r\n{links}"
            f"master_failover_state:no-failover\r\nmaster_repl_offset:{offset}\r\n\r\n"
            f"# Keyspace\r\ndb0:keys={keys},expires=0,avg_ttl=0\r\n")


def replica_info(master: int, link: str = "up", offset: int = 25598) -> str:
    last_io = "0" if link == "up" else "-1"
    return (f"# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:{master}\r\n"
            f"master_link_status:{link}\r\nmaster_last_io_seconds_ago:{last_io}\r\nmaster_sync_in_progress:0\r\n"
            f"slave_read_repl_offset:{offset}\r\nslave_repl_offset:{offset}\r\nslave_priority:100\r\n\r\n"
            "# Keyspace\r\ndb0:keys=2,expires=0,avg_ttl=0\r\n")


def node(port: int, text: str) -> NodeInfo:
    info = parse_info(text)
    return data_node(A(port), info, keys_in_keyspace(info))


def sentinel(port: int, master: int = M, flags: str = "master", replicas: int = 2, others: int = 2,
             ckquorum: object = CKQUORUM_OK) -> SentinelView:
    """A sentinel's replies, fields in the order SENTINEL MASTER returns them."""
    reply = ["name", "mymaster", "ip", "127.0.0.1", "port", str(master), "flags", flags,
             "num-slaves", str(replicas), "num-other-sentinels", str(others), "quorum", "2"]
    return sentinel_view(A(port), "mymaster", [["127.0.0.1", str(master)], reply, ckquorum, []])


def healthy_nodes() -> list[NodeInfo]:
    return [node(M, master_info((R1, "online", 25464), (R2, "online", 25598))),
            node(R1, replica_info(M, offset=25464)), node(R2, replica_info(M))]


def healthy_views() -> list[SentinelView]:
    return [sentinel(p) for p in SENTINELS]


def test_healthy_group_is_ok_with_lag_per_replica() -> None:
    status = judge_group(GROUP, healthy_views(), healthy_nodes())
    assert (status.health, status.reasons, status.master) == (Health.OK, (), A(M))
    assert [n.address.port for n in status.nodes] == [M, R1, R2]  # master first
    assert status.lag(status.nodes[1]) == (134, 0) and status.lag(status.nodes[0]) == (None, None)
    data = json.loads(json.dumps(status.to_dict()))
    assert data["nodes"][1] == {"address": "127.0.0.1:30401", "reachable": True, "failure": None,
                                "role": "replica", "master": "127.0.0.1:30400", "link": "up", "keys": 2,
                                "offset": 25464, "lag_bytes": 134, "lag_seconds": 0}
    assert data["sentinels"][0]["ckquorum_ok"] is True and data["quorum"] == 2


def test_killed_replica_degrades_and_is_named() -> None:
    # sentinels still count 2 replicas: they remember a dead one (flagged s_down,slave,disconnected)
    nodes = [node(M, master_info((R1, "online", 25464))), node(R1, replica_info(M)), NodeInfo(A(R2), REFUSED)]
    status = judge_group(GROUP, healthy_views(), nodes)
    assert status.health is Health.DEGRADED
    assert status.reasons == ("mymaster: replica 127.0.0.1:30402 unreachable (connection refused)",)


def test_one_sentinel_down_degrades() -> None:
    views = [sentinel(30410, others=2, ckquorum="OK 2 usable Sentinels. Quorum and failover authorization "
                                                "can be reached"),
             SentinelView(A(30411), REFUSED), sentinel(30412)]
    status = judge_group(GROUP, views, healthy_nodes())
    assert status.health is Health.DEGRADED
    assert status.reasons == ("mymaster: sentinel 127.0.0.1:30411 unreachable (connection refused)",)


def test_sentinels_that_disagree_are_counted() -> None:
    views = [sentinel(30410), sentinel(30411), sentinel(30412, master=R1)]
    status = judge_group(GROUP, views, healthy_nodes())
    assert status.health is Health.DEGRADED and status.master == A(M)
    assert status.reasons == ("mymaster: sentinels disagree on the master "
                              "(127.0.0.1:30400 by 2, 127.0.0.1:30401 by 1)",)


def test_dead_master_the_sentinels_still_name_is_down() -> None:
    # captured 2 s after SIGKILL of the master: s_down/o_down, failover in progress, 30401 just promoted
    views = [sentinel(30410, flags="s_down,o_down,master,disconnected"),
             sentinel(30411, flags="s_down,o_down,master,disconnected,failover_in_progress"),
             sentinel(30412, flags="s_down,master,disconnected")]
    nodes = [NodeInfo(A(M), REFUSED), node(R1, master_info()), node(R2, replica_info(M, link="down"))]
    status = judge_group(GROUP, views, nodes)
    assert status.health is Health.DOWN
    assert status.reasons[0] == "mymaster: master 127.0.0.1:30400 unreachable (connection refused)"
    assert "mymaster: master 127.0.0.1:30400 flagged o_down,s_down by sentinels 127.0.0.1:30410, " \
           "127.0.0.1:30411" in status.reasons
    assert "mymaster: replica 127.0.0.1:30402 link down" in status.reasons


def test_old_master_back_as_master_is_split_brain() -> None:
    # captured 0.2 s after restarting the old master, before the sentinels reconfigured it
    views = [sentinel(p, master=R1) for p in SENTINELS]
    nodes = [node(M, master_info()), node(R1, master_info((R2, "online", 29951))), node(R2, replica_info(R1))]
    status = judge_group(GROUP, views, nodes)
    assert status.health is Health.DOWN
    assert status.reasons[0] == "mymaster: split brain: 127.0.0.1:30400, 127.0.0.1:30401 all answer role master"


def test_old_master_resyncing_after_failover_degrades() -> None:
    # captured 12 s later: demoted, waiting for the full sync (state wait_bgsave, link down)
    views = [sentinel(p, master=R1) for p in SENTINELS]
    nodes = [node(M, replica_info(R1, link="down", offset=0)),
             node(R1, master_info((R2, "online", 32391), (M, "wait_bgsave", 0), offset=32391)),
             node(R2, replica_info(R1, offset=32391))]
    status = judge_group(GROUP, views, nodes)
    assert status.health is Health.DEGRADED and status.master == A(R1)
    assert status.reasons == ("mymaster: replica 127.0.0.1:30400 link down",)


def test_no_quorum_on_any_sentinel_is_down() -> None:
    noquorum = ("NOQUORUM 1 usable Sentinels. Not enough available Sentinels to reach the specified quorum "
                "for this master. Not enough available Sentinels to reach the majority and authorize a failover")
    views = [sentinel(30410, ckquorum=ErrorReply(noquorum)), SentinelView(A(30411), REFUSED),
             SentinelView(A(30412), REFUSED)]
    status = judge_group(GROUP, views, healthy_nodes())
    assert status.health is Health.DOWN
    assert status.reasons[0] == "mymaster: no sentinel passes CKQUORUM: a failover could not be authorized"
    assert "mymaster: CKQUORUM fails on sentinel 127.0.0.1:30410: NOQUORUM 1 usable Sentinels" in status.reasons
    assert "mymaster: sentinels 127.0.0.1:30411, 127.0.0.1:30412 unreachable (connection refused)" \
        in status.reasons


def test_no_sentinel_reachable_is_down_even_with_a_live_master() -> None:
    views = [SentinelView(A(p), REFUSED) for p in SENTINELS]
    status = judge_group(GROUP, views, healthy_nodes())
    assert status.health is Health.DOWN
    assert status.reasons == ("mymaster: all 3 sentinels unreachable (connection refused)",)
    assert status.answered and status.master == A(M)


def test_sentinel_counts_must_match_the_spec() -> None:
    views = [sentinel(30410, others=1, replicas=1), sentinel(30411, others=1), sentinel(30412)]
    status = judge_group(GROUP, views, healthy_nodes())
    assert status.health is Health.DEGRADED
    assert set(status.reasons) == {
        "mymaster: replicas counted by sentinel 127.0.0.1:30410: 1, expected 2",
        "mymaster: other sentinels known to sentinels 127.0.0.1:30410, 127.0.0.1:30411: 1, expected 2",
    }


def test_named_master_answering_as_replica_is_down() -> None:
    nodes = [node(M, replica_info(R1)), node(R1, replica_info(M)), node(R2, replica_info(M))]
    status = judge_group(GROUP, healthy_views(), nodes)
    assert status.health is Health.DOWN
    assert "mymaster: master 127.0.0.1:30400 answers role replica, not master" in status.reasons


def test_wrong_password_on_a_replica_is_reported() -> None:
    nodes = [*healthy_nodes()[:2], NodeInfo(A(R2), Failure(FailureKind.AUTH, "wrong password"))]
    status = judge_group(GROUP, healthy_views(), nodes)
    assert status.reasons == ("mymaster: replica 127.0.0.1:30402: wrong password",)
    assert status.failures == ((A(R2), Failure(FailureKind.AUTH, "wrong password")),)


def test_sentinels_that_do_not_monitor_the_name_are_down() -> None:
    remote = SentinelTarget("nosuch", tuple(A(p) for p in SENTINELS))
    views = [SentinelView(A(p), Failure(FailureKind.ERROR, "does not monitor nosuch")) for p in SENTINELS]
    status = judge_group(remote, views, [])
    assert (status.health, status.reasons) == (Health.DOWN, ("nosuch: all 3 sentinels: does not monitor nosuch",))
    assert status.answered  # they did answer: not a reachability problem


def test_remote_group_expects_what_it_discovered() -> None:
    remote = SentinelTarget("mymaster", tuple(A(p) for p in SENTINELS))
    status = judge_group(remote, healthy_views(), healthy_nodes())
    assert (status.health, status.expected_replicas, status.expected_sentinels) == (Health.OK, 2, 3)


# 4 s later: 32004 took over the slots (epoch 7); 32002 is still dead
FAILED_OVER = """\
1e46587ebadefdf3b50c9815b0bbd90d3597c9f5 127.0.0.1:32001@33001 master - 0 1795626888244 2 connected 5461-10922
5c767ceab7f0de12e16e2d191b8c0a934dfb00dd 127.0.0.1:32003@33003 slave 1e46587ebadefdf3b50c9815b0bbd90d3597c9f5 \
0 1795626888044 2 connected
9a449bf7db213741ac44841e3525923b54621a9b 127.0.0.1:32005@33005 slave 06b31ff6cce5798f333cfb3155bf28e8b83f2956 \
0 1795626888244 1 connected
918ff62c7972e8438b6acb186c200f3464a32358 127.0.0.1:32004@33004 master - 0 1795626888244 7 connected 10923-16383
06b31ff6cce5798f333cfb3155bf28e8b83f2956 127.0.0.1:32000@33000 myself,master - 0 1795626888000 1 connected 0-5460
73ed08d614d73f4d9031d5645cace71757af2621 127.0.0.1:32002@33002 master,fail - 1795626881211 1795626880207 3 \
disconnected
"""


def test_healthy_cluster_is_ok_masters_followed_by_replicas() -> None:
    status = judge_cluster(CLUSTER, [cluster_node(p, HEALTHY) for p in range(32000, 32006)])
    assert (status.health, status.reasons) == (Health.OK, ())
    assert [r.address.port for r in status.rows if r.address] == [32000, 32005, 32001, 32003, 32002, 32004]
    assert (status.slots_covered, status.views, status.views_agreeing, status.current_epoch) == (16384, 6, 6, 7)
    first = json.loads(json.dumps(status.to_dict()))["nodes"][0]
    assert first == {"id": "06b31ff6cce5798f333cfb3155bf28e8b83f2956", "address": "127.0.0.1:32000",
                     "reachable": True, "failure": None, "role": "master", "master_id": None,
                     "slots": "0-5460", "keys": 19, "flags": [], "link_state": "connected", "config_epoch": 1,
                     "cluster_state": "ok", "link": None}
    assert status.rows[1].role is Role.REPLICA and status.rows[1].link_up is True


def test_killed_master_before_failover_is_down() -> None:
    probes = [cluster_node(p, MASTER_FAILED, state="fail", link="down" if p == 32004 else "up")
              for p in (32000, 32001, 32003, 32004, 32005)]
    status = judge_cluster(CLUSTER, [*probes, dead(32002)])
    assert status.health is Health.DOWN
    assert status.reasons == (
        "main: cluster_state fail on every reachable node",
        "main: node 127.0.0.1:32002 unreachable (connection refused); flagged fail",
        "main: master 127.0.0.1:32002 (10923-16383) has 0 of 1 replicas linked",
    )


def test_after_failover_the_lost_replica_degrades() -> None:
    probes = [cluster_node(p, FAILED_OVER) for p in (32000, 32001, 32003, 32004, 32005)]
    status = judge_cluster(CLUSTER, [*probes, dead(32002)])
    assert status.health is Health.DEGRADED
    assert status.reasons == (
        "main: node 127.0.0.1:32002 unreachable (connection refused); flagged fail",
        "main: master 127.0.0.1:32004 (10923-16383) has 0 of 1 replicas linked",
    )
    assert status.rows[-1].address == A(32002) and status.rows[-1].slots == ()  # slotless masters last


def test_views_that_disagree_on_the_slot_map_degrade() -> None:
    probes = [cluster_node(p, FAILED_OVER) for p in (32000, 32003, 32004, 32005)]
    stale = cluster_node(32001, MASTER_FAILED)
    status = judge_cluster(CLUSTER, [*probes, stale, dead(32002)])
    assert "main: nodes disagree on the slot map (4 of 5 hold the same)" in status.reasons
    assert (status.views, status.views_agreeing) == (5, 4)


def test_pfail_flag_degrades() -> None:
    text = HEALTHY.replace("127.0.0.1:32003@33003 slave", "127.0.0.1:32003@33003 slave,fail?")
    probes = [cluster_node(p, text if p != 32003 else HEALTHY) for p in range(32000, 32006)]
    status = judge_cluster(CLUSTER, probes)
    assert status.health is Health.DEGRADED
    assert status.reasons == ("main: node 127.0.0.1:32003 flagged pfail",
                              "main: master 127.0.0.1:32001 (5461-10922) has 0 of 1 replicas linked")


def test_master_count_must_match_the_spec() -> None:
    target = ClusterTarget("main", CLUSTER.seeds, expected_masters=4, expected_replicas_per_master=1)
    status = judge_cluster(target, [cluster_node(p, HEALTHY) for p in range(32000, 32006)])
    assert status.reasons == ("main: 3 masters own slots, expected 4",)


def test_nothing_reachable_is_down() -> None:
    status = judge_cluster(CLUSTER, [dead(p) for p in range(32000, 32006)])
    assert status.health is Health.DOWN and not status.answered
    assert status.reasons[0] == "main: no node reachable"
    assert len(status.failures) == 6


def test_remote_cluster_without_expectations_wants_every_known_replica_linked() -> None:
    remote = ClusterTarget("cluster", (A(32000),))
    probes = [cluster_node(p, HEALTHY, link="down" if p == 32004 else "up") for p in range(32000, 32006)]
    status = judge_cluster(remote, probes)
    assert status.reasons == ("cluster: master 127.0.0.1:32002 (10923-16383) has 0 of 1 replicas linked",)
