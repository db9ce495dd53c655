"""``redisops firewall apply`` for real, on loopback aliases: nodes on 127.0.0.1-3 (the members), a client network
127.0.0.50/32, a stranger at 127.0.0.99.  Connections are made from a chosen source address (a socket bound to it
before connecting), so the kernel's rules see exactly the address a remote host would have.

The firewall is the machine's, shared with the other tests running beside these ones: each run takes its own
deployment name (so its own nftables table and iptables chain) and the ports of its own harness block, and the
rules are removed after each test, also when it fails (the ``rules`` fixture), by the same names.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cli_json
import pytest
import yaml

from redisops.address import Address
from redisops.auth import Credential, auth_args
from redisops.lifecycle import Deployment
from redisops.runtime.plan import NodeKind
from redisops.security.firewall import Backend, Firewall, Ruleset, State, build_ruleset
from redisops.testing import Topology, assert_eventually


def _why_not() -> str | None:
    """Why this machine cannot load firewall rules, or None."""
    if os.geteuid() != 0:
        return "loading firewall rules needs root"
    if not (shutil.which("nft") and shutil.which("iptables-restore")):
        return "nft and iptables-restore are not installed (`make apt` installs them)"
    done = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        return f"the kernel's firewall cannot be read here (no CAP_NET_ADMIN?): {done.stderr.strip()[:200]}"
    return None


WHY_NOT = _why_not()
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")

MEMBER, CLIENT, STRANGER = "127.0.0.2", "127.0.0.50", "127.0.0.99"
HOSTS = ("127.0.0.1", MEMBER, "127.0.0.3")
#: a dropped SYN is never answered: a connect that has not succeeded after this long was dropped
PROBE_TIMEOUT_S = 1.5
BIN = Path(sys.executable).parent / "redisops"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    spec_file = Topology.write_spec(tmp_path_factory.mktemp("firewall"), hosts=HOSTS, replicas=1, masters=3,
                                    replicas_per_master=1)
    data = yaml.safe_load(spec_file.read_text())
    data["name"] = f"fw-{uuid.uuid4().hex[:10]}"  # its own table and chain, whatever else runs beside it
    data["firewall"] = {"clients": [f"{CLIENT}/32"]}
    spec_file.write_text(yaml.safe_dump(data, sort_keys=False))
    topo = Topology(Deployment.open(spec_file))
    try:
        topo.up()
        yield topo
    finally:
        topo.stop()


@pytest.fixture
def rules(topo: Topology) -> Iterator[Ruleset]:
    ruleset = build_ruleset(topo.plan)
    try:
        yield ruleset
    finally:
        for backend in Backend:
            Firewall(backend).remove(ruleset)


def resp(*args: str) -> bytes:
    """One command in RESP."""
    return (f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)).encode()


def probe(source: str, address: Address, password: Credential = None) -> str:
    """``answers`` (AUTH + PING answered), ``open`` (connected, no password given), ``dropped`` or ``refused``."""
    with socket.socket() as sock:
        sock.settimeout(PROBE_TIMEOUT_S)
        sock.bind((source, 0))
        try:
            sock.connect((address.host, address.port))
        except TimeoutError:
            return "dropped"
        except ConnectionRefusedError:
            return "refused"
        if password is None:
            return "open"
        sock.sendall(resp("AUTH", *auth_args(password)) + resp("PING"))
        reply = b""
        while b"PONG" not in reply and len(reply) < 200:
            chunk = sock.recv(200)
            if not chunk:
                break
            reply += chunk
        return "answers" if reply == b"+OK\r\n+PONG\r\n" else f"replied {reply!r}"


def probes(topo: Topology, cases: dict[tuple[str, str], str]) -> dict[tuple[str, str], str]:
    """Run every (source, target) probe at once; targets: ``redis``, ``sentinel``, ``cluster``, ``bus``."""
    group = topo.plan.groups[0]
    node = topo.plan.cluster.nodes[1]
    targets = {
        "redis": (group.redis[1].address, topo.secrets.admin),
        "sentinel": (group.sentinels[1].address, topo.secrets.sentinel_password),
        "cluster": (node.address, topo.secrets.admin),
        "bus": (Address(node.address.host, node.address.port + 10000), None),
    }
    with ThreadPoolExecutor(len(cases)) as pool:
        futures = {case: pool.submit(probe, case[0], *targets[case[1]]) for case in cases}
        return {case: future.result() for case, future in futures.items()}


def check(topo: Topology, expected: dict[tuple[str, str], str]) -> None:
    assert probes(topo, expected) == expected


def nft_tables() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, timeout=30, check=True).stdout


def iptables_rules() -> list[str]:
    done = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True, timeout=30, check=True)
    return done.stdout.splitlines()


def healthy(topo: Topology) -> None:
    with topo.client(topo.plan.cluster.nodes[0].name) as client:
        assert client.cluster("INFO")["cluster_state"] == "ok"
    with topo.client(topo.plan.groups[0].sentinels[0].name) as sentinel:
        master = sentinel.sentinel_master(topo.plan.groups[0].spec.name)
        assert master["num-slaves"] == 1 and master["num-other-sentinels"] == 2


def test_nftables_lets_members_and_clients_in_and_drops_a_stranger_until_removed(topo: Topology,
                                                                                    rules: Ruleset) -> None:
    spec = str(topo.spec_file)
    before = {(STRANGER, "bus"): "open", (STRANGER, "cluster"): "answers"}
    check(topo, before)  # what the rules will change: without them a stranger gets everywhere

    done = cli("firewall", "apply", "-f", spec, "--json")
    assert done.returncode == 0, done.stderr
    assert cli_json.data(done.stdout, "firewall.apply")["state"] == "applied"
    assert f"table inet {rules.table}" in nft_tables()
    allowed = {
        (MEMBER, "redis"): "answers", (MEMBER, "sentinel"): "answers", (MEMBER, "cluster"): "answers",
        (MEMBER, "bus"): "open",
        (CLIENT, "redis"): "answers", (CLIENT, "sentinel"): "answers", (CLIENT, "cluster"): "answers",
        (CLIENT, "bus"): "dropped",  # the cluster bus is for members only
        (STRANGER, "redis"): "dropped", (STRANGER, "sentinel"): "dropped", (STRANGER, "cluster"): "dropped",
        (STRANGER, "bus"): "dropped",
    }
    check(topo, allowed)
    healthy(topo)

    # the nodes restart behind the rules (members only talk to each other) and come back whole
    topo.stop()
    topo.up()
    assert_eventually(lambda: healthy(topo), within=30)
    check(topo, {(STRANGER, "cluster"): "dropped", (MEMBER, "bus"): "open"})

    nft = Firewall(Backend.NFTABLES)
    assert nft.apply(rules).state is State.APPLIED  # idempotent: the table is replaced, not doubled
    assert nft_tables().count(f"table inet {rules.table}\n") == 1

    listing = subprocess.run(["nft", "-a", "list", "chain", "inet", rules.table, "input"], capture_output=True,
                             text=True, timeout=30, check=True).stdout
    handle = next(ln.rsplit("# handle ", 1)[1] for ln in listing.splitlines() if "cluster-bus" in ln)
    subprocess.run(["nft", "delete", "rule", "inet", rules.table, "input", "handle", handle], check=True, timeout=30)
    stale = cli("firewall", "status", "-f", spec, "--json")  # a rule deleted by hand is seen
    assert stale.returncode == 1 and cli_json.data(stale.stdout, "firewall.status")["state"] == "stale"

    removed = cli("firewall", "remove", "-f", spec, "--json")
    assert removed.returncode == 0 and cli_json.data(removed.stdout, "firewall.remove")["removed"] is True
    assert rules.table not in nft_tables()
    check(topo, before)
    assert nft.status(rules).state is State.ABSENT


def test_iptables_chain_does_the_same_and_leaves_nothing_behind(topo: Topology, rules: Ruleset) -> None:
    spec = str(topo.spec_file)
    done = cli("firewall", "apply", "-f", spec, "--format", "iptables")
    assert done.returncode == 0, done.stderr
    # again: the chain and its jump are replaced, nothing doubles
    assert Firewall(Backend.IPTABLES).apply(rules).state is State.APPLIED
    lines = iptables_rules()
    assert len([ln for ln in lines if ln.startswith("-A INPUT ") and ln.endswith(f"-j {rules.chain}")]) == 1
    check(topo, {
        (MEMBER, "bus"): "open", (MEMBER, "cluster"): "answers", (CLIENT, "sentinel"): "answers",
        (CLIENT, "bus"): "dropped", (STRANGER, "redis"): "dropped", (STRANGER, "bus"): "dropped",
    })
    healthy(topo)

    done = cli("firewall", "remove", "-f", spec, "--format", "iptables")
    assert done.returncode == 0, done.stderr
    assert not [ln for ln in iptables_rules() if rules.chain in ln]
    assert rules.table not in nft_tables()
    check(topo, {(STRANGER, "bus"): "open"})


def test_every_node_kind_is_guarded(topo: Topology, rules: Ruleset) -> None:
    """Each node's port (and each cluster node's bus port) is inside the ports the rules drop for strangers."""
    guarded = {p for r in rules.ports for p in range(r.low, r.high + 1)}
    for node in topo.plan.nodes:
        assert node.address.port in guarded, node
        if node.kind is NodeKind.CLUSTER:
            assert node.address.port + 10000 in guarded, node
