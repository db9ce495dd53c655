"""Pure parts of ``cluster check``: open-slot markers, convergence reasons, stray-key findings, key groups."""

from __future__ import annotations

import asyncio
import socket

from redisops.address import Address
from redisops.cluster.check import _count, stray_key_findings
from redisops.cluster.live import ClusterView, OpenSlot, converged, parse_open_slots
from redisops.cluster.migrate import groups
from redisops.cluster.mover import MoverSettings
from redisops.topology.model import ClusterProbe, NodeInfo, Role
from redisops.topology.parse import parse_cluster_nodes

A, B = "a" * 40, "b" * 40
NODES_A = (f"{A} 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-8191 [8192->-{B}] [100-<-{B}]\n"
           f"{B} 127.0.0.1:7001@17001 master - 0 0 2 connected 8192-16383\n")
NODES_B = (f"{A} 127.0.0.1:7000@17000 master - 0 0 1 connected 0-8191\n"
           f"{B} 127.0.0.1:7001@17001 myself,master - 0 0 2 connected 8192-16383 [8192-<-{A}]\n")


def probe(port: int, text: str) -> ClusterProbe:
    return ClusterProbe(NodeInfo(Address("127.0.0.1", port), role=Role.MASTER), parse_cluster_nodes(text), "ok")


def test_open_slot_markers_of_the_answering_node_only() -> None:
    assert parse_open_slots(NODES_A) == (OpenSlot(A, 8192, "migrating", B), OpenSlot(A, 100, "importing", B))
    assert parse_open_slots(NODES_B) == (OpenSlot(B, 8192, "importing", A),)


def test_converged_when_maps_agree_and_everyone_knows_everyone() -> None:
    assert converged(ClusterView((probe(7000, NODES_A), probe(7001, NODES_B)))) == []


def test_not_converged_while_a_new_master_still_says_fail() -> None:
    joining = ClusterProbe(NodeInfo(Address("127.0.0.1", 7001), role=Role.MASTER), parse_cluster_nodes(NODES_B),
                           "fail")
    assert converged(ClusterView((probe(7000, NODES_A), joining))) == ["127.0.0.1:7001 says cluster_state:fail"]


def test_not_converged_when_a_node_lags() -> None:
    lagging = f"{B} 127.0.0.1:7001@17001 myself,master - 0 0 2 connected 8192-16383\n"
    reasons = converged(ClusterView((probe(7000, NODES_A), probe(7001, lagging))))
    assert any("knows 1 of 2 nodes" in r for r in reasons)
    assert any("different slot maps" in r for r in reasons)


def test_stray_keys_are_one_finding_per_node() -> None:
    assert stray_key_findings("127.0.0.1:7000", [(5, 0), (6, 0)]) == []
    (finding,) = stray_key_findings("127.0.0.1:7000", [(5, 2), (9, 1), (10, 0)])
    assert finding == "127.0.0.1:7000 holds 3 keys in 2 slots it does not own (5, 9)"


def test_big_keys_move_alone_and_no_migrate_exceeds_the_byte_cap() -> None:
    settings = MoverSettings(big_key_bytes=1000, max_migrate_bytes=250, migrate_timeout_ms=1, big_key_timeout_ms=9)
    keys = [b"a", b"big", b"b", b"c", b"d"]
    sizes = {b"a": 100, b"big": 5000, b"b": 100, b"c": 100, b"d": 10}
    assert groups(keys, sizes, settings) == [([b"big"], 9), ([b"a", b"b"], 1), ([b"c", b"d"], 1)]


def test_a_node_that_stops_answering_while_its_stray_keys_are_counted_is_a_finding_not_a_crash() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    found = asyncio.run(_count(Address("127.0.0.1", port), None, [1, 2, 3], 0.5, "127.0.0.1:7000"))
    assert found == ["127.0.0.1:7000: stray keys not counted (connection refused)"]
