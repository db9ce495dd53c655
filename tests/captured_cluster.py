"""Real CLUSTER NODES replies captured from redis 7.0.15 (masters 32000-32002; replicas 32005->32000,
32003->32001, 32004->32002) and helpers that turn them into probes as each node would answer.
Shared by the topology verdict tests and the watcher's cluster-condition tests."""

from __future__ import annotations

from redisops.address import Address
from redisops.topology.model import ClusterProbe, Failure, FailureKind, NodeInfo
from redisops.topology.parse import cluster_probe
from redisops.topology.targets import ClusterTarget


def A(port: int) -> Address:
    return Address("127.0.0.1", port)


REFUSED = Failure(FailureKind.UNREACHABLE, "connection refused")


# --- Cluster: masters 32000-32002, replicas 32005->32000, 32003->32001, 32004->32002 ---------------------
CLUSTER = ClusterTarget("main", tuple(A(p) for p in range(32000, 32006)), expected_masters=3,
                        expected_replicas_per_master=1)


HEALTHY = """\
1e46587ebadefdf3b50c9815b0bbd90d3597c9f5 127.0.0.1:32001@33001 master - 0 1795626827210 2 connected 5461-10922
5c767ceab7f0de12e16e2d191b8c0a934dfb00dd 127.0.0.1:32003@33003 slave 1e46587ebadefdf3b50c9815b0bbd90d3597c9f5 \
0 1795626827210 2 connected
9a449bf7db213741ac44841e3525923b54621a9b 127.0.0.1:32005@33005 slave 06b31ff6cce5798f333cfb3155bf28e8b83f2956 \
0 1795626827009 1 connected
918ff62c7972e8438b6acb186c200f3464a32358 127.0.0.1:32004@33004 slave 73ed08d614d73f4d9031d5645cace71757af2621 \
0 1795626827009 3 connected
06b31ff6cce5798f333cfb3155bf28e8b83f2956 127.0.0.1:32000@33000 myself,master - 0 1795626827000 1 connected 0-5460
73ed08d614d73f4d9031d5645cace71757af2621 127.0.0.1:32002@33002 master - 0 1795626827009 3 connected 10923-16383
"""


# 32002 SIGKILLed 3 s ago: flagged fail, its replica 32004 not yet promoted
MASTER_FAILED = """\
1e46587ebadefdf3b50c9815b0bbd90d3597c9f5 127.0.0.1:32001@33001 master - 0 1795626883221 2 connected 5461-10922
5c767ceab7f0de12e16e2d191b8c0a934dfb00dd 127.0.0.1:32003@33003 slave 1e46587ebadefdf3b50c9815b0bbd90d3597c9f5 \
0 1795626883422 2 connected
9a449bf7db213741ac44841e3525923b54621a9b 127.0.0.1:32005@33005 slave 06b31ff6cce5798f333cfb3155bf28e8b83f2956 \
0 1795626883221 1 connected
918ff62c7972e8438b6acb186c200f3464a32358 127.0.0.1:32004@33004 slave 73ed08d614d73f4d9031d5645cace71757af2621 \
0 1795626883221 3 connected
06b31ff6cce5798f333cfb3155bf28e8b83f2956 127.0.0.1:32000@33000 myself,master - 0 1795626883000 1 connected 0-5460
73ed08d614d73f4d9031d5645cace71757af2621 127.0.0.1:32002@33002 master,fail - 1795626881211 1795626880207 3 \
disconnected 10923-16383
"""


def seen_by(text: str, port: int) -> str:
    """The same CLUSTER NODES text as another node prints it: ``myself`` moves to its line."""
    lines = [line.replace("myself,", "") for line in text.splitlines()]
    return "\n".join(line.replace(" master", " myself,master", 1).replace(" slave", " myself,slave", 1)
                     if f":{port}@" in line else line for line in lines) + "\n"


def cluster_node(port: int, text: str, state: str = "ok", link: str = "up") -> ClusterProbe:
    """A probe of ``port`` from its CLUSTER NODES / CLUSTER INFO / DBSIZE / INFO replication replies."""
    view = seen_by(text, port)
    lines = {line.split()[0]: line.split() for line in view.splitlines()}
    me = next(parts for parts in lines.values() if f":{port}@" in parts[1])
    if "master" in me[2]:
        repl = "# Replication\r\nrole:master\r\nconnected_slaves:1\r\nmaster_repl_offset:776\r\n"
    else:
        master_port = lines[me[3]][1].split("@")[0].split(":")[1]
        repl = (f"# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:{master_port}\r\n"
                f"master_link_status:{link}\r\nslave_repl_offset:776\r\n")
    info = f"cluster_state:{state}\r\ncluster_slots_assigned:16384\r\ncluster_current_epoch:7\r\n"
    return cluster_probe(A(port), [view, info, 19, repl, "loading:0"])


def dead(port: int) -> ClusterProbe:
    return ClusterProbe(NodeInfo(A(port), REFUSED))
