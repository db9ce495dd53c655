"""Parsers of INFO, SENTINEL and CLUSTER replies, fed with replies captured from redis 7.0.15."""

from __future__ import annotations

from typing import Any

import pytest
from redis import exceptions as rx

from redisops.address import Address
from redisops.topology.model import (
    ErrorReply,
    FailureKind,
    OpenSlot,
    Role,
    SentinelMaster,
    SentinelReplica,
    SlotMap,
    format_slots,
)
from redisops.topology.parse import (
    cluster_probe,
    data_node,
    keys_in_keyspace,
    parse_cluster_nodes,
    parse_cluster_slots,
    parse_info,
    parse_master_addr,
    parse_node_address,
    parse_open_slots,
    parse_sentinel_master,
    parse_sentinel_replicas,
    reply_pairs,
    sentinel_view,
)
from redisops.topology.probe import describe_failure

A = Address

# INFO replication + INFO keyspace of a master with two replicas (as redis-py returns them: CRLF).
MASTER_INFO = (
    "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n"
    "slave0:ip=127.0.0.1,port=30401,state=online,offset=19526,lag=1\r\n"
    "slave1:ip=127.0.0.1,port=30402,state=online,offset=19526,lag=1\r\n"
    "master_failover_state:no-failover\r\nmaster_replid:81a022205780bb8f2ee0480a52726092592cfba6\r\n"
    "master_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:19794\r\n"
    "second_repl_offset:-1\r\nrepl_backlog_active:1\r\nrepl_backlog_size:1048576\r\n"
    "repl_backlog_first_byte_offset:1\r\nrepl_backlog_histlen:19794\r\n\r\n"
    "# Keyspace\r\ndb0:keys=2,expires=0,avg_ttl=0\r\n"
)
REPLICA_INFO = (
    "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:30400\r\nmaster_link_status:up\r\n"
    "master_last_io_seconds_ago:0\r\nmaster_sync_in_progress:0\r\nslave_read_repl_offset:19794\r\n"
    "slave_repl_offset:19794\r\nslave_priority:100\r\nslave_read_only:1\r\nreplica_announced:1\r\n"
    "connected_slaves:0\r\nmaster_failover_state:no-failover\r\n"
    "master_replid:81a022205780bb8f2ee0480a52726092592cfba6\r\n"
    "master_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:19794\r\n"
    "second_repl_offset:-1\r\nrepl_backlog_active:1\r\nrepl_backlog_size:1048576\r\n"
    "repl_backlog_first_byte_offset:828\r\nrepl_backlog_histlen:18967\r\n\r\n"
    "# Keyspace\r\ndb0:keys=2,expires=0,avg_ttl=0\r\n"
)
# A replica whose master was just killed.
REPLICA_LINK_DOWN = (
    "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:32002\r\nmaster_link_status:down\r\n"
    "master_last_io_seconds_ago:-1\r\nmaster_sync_in_progress:0\r\nslave_read_repl_offset:659\r\n"
    "slave_repl_offset:659\r\nmaster_link_down_since_seconds:4\r\nslave_priority:100\r\nslave_read_only:1\r\n"
)

SENTINEL_ADDR = ["127.0.0.1", "30400"]
SENTINEL_MASTER = [
    "name", "mymaster", "ip", "127.0.0.1", "port", "30400", "runid", "b8660d09ed6689884ac0a5cb05d5730502b2d5f5",
    "flags", "master", "link-pending-commands", "0", "link-refcount", "1", "last-ping-sent", "0",
    "last-ok-ping-reply", "769", "last-ping-reply", "769", "down-after-milliseconds", "2000",
    "info-refresh", "9919", "role-reported", "master", "role-reported-time", "100180", "config-epoch", "0",
    "num-slaves", "2", "num-other-sentinels", "2", "quorum", "2", "failover-timeout", "10000",
    "parallel-syncs", "1",
]
SENTINEL_CKQUORUM = "OK 3 usable Sentinels. Quorum and failover authorization can be reached"
SENTINEL_REPLICAS = [
    ["name", "127.0.0.1:30402", "ip", "127.0.0.1", "port", "30402", "runid",
     "c830b30b8334c20bff892557633e66143d27a682", "flags", "slave", "link-pending-commands", "0",
     "link-refcount", "1", "last-ping-sent", "0", "last-ok-ping-reply", "769", "last-ping-reply", "769",
     "down-after-milliseconds", "2000", "info-refresh", "4591", "role-reported", "slave",
     "role-reported-time", "100174", "master-link-down-time", "0", "master-link-status", "ok",
     "master-host", "127.0.0.1", "master-port", "30400", "slave-priority", "100", "slave-repl-offset",
     "18722", "replica-announced", "1"],
    ["name", "127.0.0.1:30401", "ip", "127.0.0.1", "port", "30401", "runid",
     "001d66c6fc30ad671bf458cee640914e5fe6c985", "flags", "s_down,slave,disconnected",
     "link-pending-commands", "0", "link-refcount", "1", "last-ping-sent", "0", "last-ok-ping-reply", "769",
     "last-ping-reply", "769", "down-after-milliseconds", "2000", "info-refresh", "4590", "role-reported",
     "slave", "role-reported-time", "100176", "master-link-down-time", "0", "master-link-status", "ok",
     "master-host", "127.0.0.1", "master-port", "30400", "slave-priority", "100", "slave-repl-offset",
     "18722", "replica-announced", "1"],
]
NOQUORUM = ("NOQUORUM 1 usable Sentinels. Not enough available Sentinels to reach the specified quorum for "
            "this master. Not enough available Sentinels to reach the majority and authorize a failover")

# CLUSTER NODES of 127.0.0.1:32000 while slot 100 migrates to 32001, after 32002 failed over to 32004.
CLUSTER_NODES_MIGRATING = """\
1e46587ebadefdf3b50c9815b0bbd90d3597c9f5 127.0.0.1:32001@33001 master - 0 1795626903307 2 connected 5461-10922
5c767ceab7f0de12e16e2d191b8c0a934dfb00dd 127.0.0.1:32003@33003 slave 1e46587ebadefdf3b50c9815b0bbd90d3597c9f5 \
0 1795626903106 2 connected
9a449bf7db213741ac44841e3525923b54621a9b 127.0.0.1:32005@33005 slave 06b31ff6cce5798f333cfb3155bf28e8b83f2956 \
0 1795626903307 1 connected
918ff62c7972e8438b6acb186c200f3464a32358 127.0.0.1:32004@33004 master - 0 1795626903307 7 connected 10923-16383
06b31ff6cce5798f333cfb3155bf28e8b83f2956 127.0.0.1:32000@33000 myself,master - 0 1795626903000 1 connected \
0-5460 [100->-1e46587ebadefdf3b50c9815b0bbd90d3597c9f5]
73ed08d614d73f4d9031d5645cace71757af2621 127.0.0.1:32002@33002 slave 918ff62c7972e8438b6acb186c200f3464a32358 \
0 1795626904010 7 connected
"""
# The same moment seen from 32001 (the importing side).
CLUSTER_NODES_IMPORTING = """\
06b31ff6cce5798f333cfb3155bf28e8b83f2956 127.0.0.1:32000@33000 master - 0 1795626903102 1 connected 0-5460
1e46587ebadefdf3b50c9815b0bbd90d3597c9f5 127.0.0.1:32001@33001 myself,master - 0 1795626903000 2 connected \
5461-10922 [100-<-06b31ff6cce5798f333cfb3155bf28e8b83f2956]
9a449bf7db213741ac44841e3525923b54621a9b 127.0.0.1:32005@33005 slave 06b31ff6cce5798f333cfb3155bf28e8b83f2956 \
0 1795626903303 1 connected
73ed08d614d73f4d9031d5645cace71757af2621 127.0.0.1:32002@33002 slave 918ff62c7972e8438b6acb186c200f3464a32358 \
0 1795626904005 7 connected
5c767ceab7f0de12e16e2d191b8c0a934dfb00dd 127.0.0.1:32003@33003 slave 1e46587ebadefdf3b50c9815b0bbd90d3597c9f5 \
0 1795626903303 2 connected
918ff62c7972e8438b6acb186c200f3464a32358 127.0.0.1:32004@33004 master - 0 1795626903303 7 connected 10923-16383
"""
FAILED_MASTER_LINE = ("73ed08d614d73f4d9031d5645cace71757af2621 127.0.0.1:32002@33002 master,fail - "
                      "1795626881211 1795626880207 3 disconnected 10923-16383")
CLUSTER_INFO_FAIL = (
    "cluster_state:fail\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:10923\r\ncluster_slots_pfail:0\r\n"
    "cluster_slots_fail:5461\r\ncluster_known_nodes:6\r\ncluster_size:3\r\ncluster_current_epoch:6\r\n"
    "cluster_my_epoch:1\r\n"
)


def test_info_of_a_master_lists_its_replica_links() -> None:
    info = parse_info(MASTER_INFO)
    node = data_node(A("127.0.0.1", 30400), info, keys_in_keyspace(info))
    assert node.role is Role.MASTER and node.reachable
    assert (node.keys, node.offset, node.master, node.link_up) == (2, 19794, None, None)
    assert [(str(r.address), r.state, r.offset, r.lag_seconds) for r in node.replicas] == [
        ("127.0.0.1:30401", "online", 19526, 1), ("127.0.0.1:30402", "online", 19526, 1)]
    assert node.link_to(A("127.0.0.1", 30402)) == node.replicas[1]


def test_info_of_a_replica_names_its_master_and_link() -> None:
    info = parse_info(REPLICA_INFO)
    node = data_node(A("127.0.0.1", 30401), info, keys_in_keyspace(info))
    assert node.role is Role.REPLICA
    assert (node.master, node.link_up, node.offset, node.last_io_seconds, node.syncing) == (
        A("127.0.0.1", 30400), True, 19794, 0, False)


def test_replica_with_link_down_has_no_last_io() -> None:
    node = data_node(A("127.0.0.1", 32004), parse_info(REPLICA_LINK_DOWN))
    assert (node.link_up, node.last_io_seconds, node.keys) == (False, None, None)


def test_keyspace_sums_every_db_and_is_zero_when_empty() -> None:
    assert keys_in_keyspace(parse_info("# Keyspace\r\n")) == 0
    text = "# Keyspace\r\ndb0:keys=2,expires=0,avg_ttl=0\r\ndb3:keys=5,expires=1,avg_ttl=10\r\n"
    assert keys_in_keyspace(parse_info(text)) == 7


def test_sentinel_replies_make_a_view() -> None:
    view = sentinel_view(A("127.0.0.1", 30410), "mymaster",
                         [SENTINEL_ADDR, SENTINEL_MASTER, SENTINEL_CKQUORUM, SENTINEL_REPLICAS])
    assert view.reachable and view.master == A("127.0.0.1", 30400)
    assert view.flags == {"master"}
    assert (view.num_slaves, view.num_other_sentinels, view.quorum, view.ckquorum_ok) == (2, 2, 2, True)
    assert view.replicas == (A("127.0.0.1", 30402), A("127.0.0.1", 30401))


def test_sentinel_noquorum_error_reply_keeps_the_rest_of_the_view() -> None:
    master = [*SENTINEL_MASTER]
    master[master.index("flags") + 1] = "s_down,o_down,master,disconnected"  # as captured mid-failover
    view = sentinel_view(A("127.0.0.1", 30410), "mymaster",
                         [SENTINEL_ADDR, master, ErrorReply(NOQUORUM), SENTINEL_REPLICAS])
    assert view.reachable and view.ckquorum_ok is False and view.ckquorum.startswith("NOQUORUM 1 usable")
    assert view.flags == {"s_down", "o_down", "master", "disconnected"}


def test_sentinel_that_does_not_monitor_the_name_is_a_failure() -> None:
    error = ErrorReply("No such master with that name")
    view = sentinel_view(A("127.0.0.1", 30410), "nosuch", [None, error, error, error])
    assert view.failure is not None and view.failure.kind is FailureKind.ERROR
    assert view.failure.detail == "does not monitor nosuch"


def _resp3(flat: list[str]) -> dict[str, str]:
    """The same reply as redis-py 8 returns it by default (RESP3: a map)."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _raw(flat: list[str]) -> list[bytes]:
    """The same reply undecoded (``decode_responses=False``, or the mover's hiredis pipe)."""
    return [item.encode() for item in flat]


@pytest.mark.parametrize("shape", [list, _resp3, _raw], ids=["resp2", "resp3", "bytes"])
def test_field_replies_read_the_same_in_every_protocol_shape(shape: Any) -> None:
    assert reply_pairs(shape(SENTINEL_MASTER)) == reply_pairs(SENTINEL_MASTER)
    assert reply_pairs(SENTINEL_MASTER)["failover-timeout"] == "10000"
    master = parse_sentinel_master("mymaster", shape(SENTINEL_MASTER))
    assert master == SentinelMaster("mymaster", A("127.0.0.1", 30400), frozenset({"master"}), config_epoch=0,
                                    num_slaves=2, num_other_sentinels=2, quorum=2, down_after_ms=2000,
                                    failover_timeout_ms=10000, parallel_syncs=1)
    assert master.setting("down-after-milliseconds") == 2000 and master.setting("parallel-syncs") == 1
    replicas = parse_sentinel_replicas([shape(r) for r in SENTINEL_REPLICAS])
    assert replicas == (SentinelReplica(A("127.0.0.1", 30402), frozenset({"slave"}), 100),
                        SentinelReplica(A("127.0.0.1", 30401), frozenset({"s_down", "slave", "disconnected"}), 100))


def test_replies_that_say_nothing_parse_to_nothing() -> None:
    assert reply_pairs(ErrorReply("ERR No such master with that name")) == {} and reply_pairs(None) == {}
    assert parse_sentinel_replicas(ErrorReply("ERR No such master with that name")) == ()
    assert parse_sentinel_master("x", []) == SentinelMaster("x")
    priority_zero = [*SENTINEL_REPLICAS[0]]
    priority_zero[priority_zero.index("slave-priority") + 1] = "0"
    assert parse_sentinel_replicas([priority_zero])[0].priority == 0


@pytest.mark.parametrize(("reply", "address"), [
    (SENTINEL_ADDR, A("127.0.0.1", 30400)),
    ((b"127.0.0.1", b"30400"), A("127.0.0.1", 30400)),
    (None, None),  # the name is not monitored
    (ErrorReply("ERR unknown"), None),
    (["127.0.0.1", "0"], None),
])
def test_master_address_by_name(reply: Any, address: Address | None) -> None:
    assert parse_master_addr(reply) == address


def test_open_slot_markers_are_kept_on_the_line_that_prints_them() -> None:
    me = next(n for n in parse_cluster_nodes(CLUSTER_NODES_MIGRATING) if n.myself)
    importing = "1e46587ebadefdf3b50c9815b0bbd90d3597c9f5"
    assert me.open_slots == (OpenSlot(me.id, 100, "migrating", importing),)
    assert parse_open_slots(CLUSTER_NODES_MIGRATING) == me.open_slots
    assert parse_open_slots(CLUSTER_NODES_IMPORTING) == (OpenSlot(importing, 100, "importing", me.id),)
    assert all(not n.open_slots for n in parse_cluster_nodes(CLUSTER_NODES_MIGRATING) if not n.myself)


# CLUSTER SLOTS of a 3-master cluster (redis 7.0.15), in the order the node sent it, ids as the hiredis pipe has them.
CLUSTER_SLOTS = [
    [10922, 16383, [b"127.0.0.1", 19772, b"36c6bf1875eb3559e3925a1b4f3d2288a63969cb", []],
     [b"127.0.0.1", 19775, b"175ac64680e224f21034ba207093827942d15c90", []]],
    [0, 5460, [b"127.0.0.1", 19770, b"08b6995531c209de521df29d1e241f465f5774df", []]],
    [5461, 10921, [b"127.0.0.1", 19771, b"795062d3270fbc863e2fb9193c0391d3da35a6a0", []]],
]


def test_cluster_slots_reply_is_a_slot_map() -> None:
    slots = parse_cluster_slots(CLUSTER_SLOTS)
    assert slots.covered == 16384 and slots.owner(0) == "08b6995531c209de521df29d1e241f465f5774df"
    assert slots.owner(16383) == "36c6bf1875eb3559e3925a1b4f3d2288a63969cb"
    assert parse_cluster_slots([[0, 5, ["127.0.0.1", 7000]]]) == SlotMap()  # no id: not ownership we can name
    assert parse_cluster_slots(ErrorReply("CLUSTERDOWN")) == SlotMap()


def test_cluster_nodes_lines_skip_migration_markers() -> None:
    nodes = {n.address.port: n for n in parse_cluster_nodes(CLUSTER_NODES_MIGRATING) if n.address}
    me = nodes[32000]
    assert me.myself and me.role is Role.MASTER and me.slots == ((0, 5460),) and me.config_epoch == 1
    replica = nodes[32002]
    assert replica.role is Role.REPLICA and replica.master_id == "918ff62c7972e8438b6acb186c200f3464a32358"
    assert replica.link_state == "connected" and replica.problems == frozenset()


def test_failure_flags_are_named_as_redis_documents_them() -> None:
    (failed,) = parse_cluster_nodes(FAILED_MASTER_LINE)
    assert failed.problems == {"fail"} and failed.link_state == "disconnected"
    (pfail,) = parse_cluster_nodes(FAILED_MASTER_LINE.replace("master,fail", "master,fail?"))
    assert pfail.problems == {"pfail"}


@pytest.mark.parametrize(("text", "address"), [
    ("127.0.0.1:32001@33001", A("127.0.0.1", 32001)),
    ("10.0.0.5:7000@17000,redis-0.example", A("10.0.0.5", 7000)),
    ("::1:7000@17000", A("::1", 7000)),
    (":0@0", None),  # noaddr
    (":7000@17000", None),  # a lone node that has not learned its address yet
])
def test_node_addresses(text: str, address: Address | None) -> None:
    assert parse_node_address(text) == address


def test_slot_map_ignores_markers_so_both_sides_of_a_migration_agree() -> None:
    migrating = SlotMap.from_cluster_nodes(CLUSTER_NODES_MIGRATING)
    importing = SlotMap.from_cluster_nodes(CLUSTER_NODES_IMPORTING)
    assert migrating == importing and migrating.covered == 16384 and len(migrating.owners) == 3
    assert migrating.owner(100) == "06b31ff6cce5798f333cfb3155bf28e8b83f2956"
    assert migrating.owner(16383) == "918ff62c7972e8438b6acb186c200f3464a32358"


def test_slot_map_merges_adjacent_ranges_and_finds_gaps() -> None:
    text = ("aaaa 127.0.0.1:1@2 master - 0 0 1 connected 0-99 100-200 300\n"
            "bbbb 127.0.0.1:3@4 master - 0 0 2 connected 201-299\n")
    slots = SlotMap.from_cluster_nodes(text)
    assert slots.ranges == ((0, 200, "aaaa"), (201, 299, "bbbb"), (300, 300, "aaaa"))
    assert slots.covered == 301 and slots.owner(301) is None and slots.owner(250) == "bbbb"
    assert format_slots(slots.ranges_of("aaaa")) == "0-200,300"


def test_cluster_probe_from_replies_of_a_failing_cluster() -> None:
    probe = cluster_probe(A("127.0.0.1", 32004), [FAILED_MASTER_LINE, CLUSTER_INFO_FAIL, 13, REPLICA_LINK_DOWN, "loading:0"])
    assert (probe.state, probe.current_epoch, probe.slots_assigned) == ("fail", 6, 16384)
    assert (probe.node.keys, probe.node.role, probe.node.link_up) == (13, Role.REPLICA, False)
    assert probe.myself is None and probe.slot_map.covered == 5461


@pytest.mark.parametrize(("error", "password", "kind", "detail"), [
    # the messages redis-py 8 raises against redis 7.0.15
    (rx.AuthenticationError("invalid username-password pair or user is disabled."), "x", "auth",
     "wrong password"),
    (rx.AuthenticationError("Authentication required."), None, "auth", "password required"),
    (rx.AuthenticationError("AUTH <password> called without any password configured for the default user. "
                            "Are you sure your configuration is correct?"), "x", "auth",
     "password given but the node has none"),
    (rx.ConnectionError("Error 111 connecting to 127.0.0.1:30999. Connect call failed ('127.0.0.1', 30999)."),
     None, "unreachable", "connection refused"),
    (rx.ConnectionError("Error -2 connecting to nosuchhost.invalid:30402. Name or service not known."),
     None, "unreachable", "unknown host"),
    (rx.TimeoutError("Timeout reading from 127.0.0.1:30402"), None, "unreachable", "timed out"),
    (rx.InvalidResponse('Protocol error, got "H" as reply type byte'), None, "error",
     "not a Redis server (protocol error)"),
    (rx.BusyLoadingError("Redis is loading the dataset in memory"), None, "error", "loading its dataset"),
])
def test_failures_say_what_to_do(error: Exception, password: str | None, kind: str, detail: str) -> None:
    failure = describe_failure(error, password)
    assert (failure.kind.value, failure.detail) == (kind, detail)
