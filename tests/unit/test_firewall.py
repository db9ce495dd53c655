"""Firewall rules from the spec (no rule is loaded here): who may reach which port, the nftables and iptables
texts, the spec section, and the refusals (not root, a bad network, a host that does not resolve)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from redisops.errors import EXIT_INPUT, EnvironmentProblem, InputError, RedisopsError
from redisops.runtime.plan import build_plan
from redisops.security.firewall import (
    Backend,
    Firewall,
    NotRootError,
    Role,
    Ruleset,
    build_ruleset,
    render_iptables,
    render_nftables,
)
from redisops.security.firewall.rules import CHAIN_MAX
from redisops.spec.load import load_text
from redisops.spec.models import Spec

SPEC = """
name: demo
sentinel:
  - {name: mymaster, port: 6400, replicas: 2, sentinels: 3, sentinel_port: 26400, hosts: [10.0.0.1, 10.0.0.2, 10.0.0.3]}
cluster: {name: main, port: 7000, masters: 3, replicas_per_master: 1, hosts: [10.0.1.1, 10.0.1.2, 10.0.1.3]}
firewall: {clients: [192.0.2.0/24, "2001:db8::/64"]}
"""


def spec(text: str = SPEC) -> Spec:
    loaded, problems = load_text(text)
    assert loaded is not None and not [p for p in problems if p.severity == "error"], problems
    return loaded


def ruleset(text: str = SPEC) -> Ruleset:
    return build_ruleset(build_plan(spec(text)))


def by_role(rules: Ruleset) -> dict[Role, list[str]]:
    return {s.role: [str(n) for n in s.sources] for s in rules.services}


def test_clients_reach_data_and_sentinel_ports_and_only_members_the_bus() -> None:
    rules = ruleset()
    assert {(s.group, s.role, tuple(str(p) for p in s.ports)) for s in rules.services} == {
        ("mymaster", Role.REDIS, ("6400-6402",)), ("mymaster", Role.SENTINEL, ("26400-26402",)),
        ("main", Role.CLUSTER, ("7000-7005",)), ("main", Role.CLUSTER_BUS, ("17000-17005",))}
    sources = by_role(rules)
    assert sources[Role.REDIS] == ["10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32", "192.0.2.0/24", "2001:db8::/64"]
    assert sources[Role.SENTINEL] == sources[Role.REDIS]
    assert sources[Role.CLUSTER] == ["10.0.1.1/32", "10.0.1.2/32", "10.0.1.3/32", "192.0.2.0/24", "2001:db8::/64"]
    assert sources[Role.CLUSTER_BUS] == ["10.0.1.1/32", "10.0.1.2/32", "10.0.1.3/32"]  # no client, no group node
    assert [str(p) for p in rules.ports] == ["6400-6402", "7000-7005", "17000-17005", "26400-26402"]


def test_the_default_is_loopback_only_and_a_member_inside_a_client_network_is_not_listed_twice() -> None:
    rules = ruleset("name: demo\nsentinel: [{name: mymaster}]\n")
    assert by_role(rules)[Role.REDIS] == ["127.0.0.0/8", "::1/128"]
    text = render_nftables(rules)
    assert "ip saddr 127.0.0.0/8 accept" in text  # 127.0.0.1 folded in: nft refuses overlapping set elements


def test_nftables_replaces_its_own_table_in_one_file_and_drops_the_rest_of_those_ports() -> None:
    rules = ruleset()
    text = render_nftables(rules)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert lines[:3] == ["table inet redisops_demo", "delete table inet redisops_demo", "table inet redisops_demo {"]
    assert "flush ruleset" not in text and "iif" not in text  # only its own table; source and port, any interface
    assert ("tcp dport 17000-17005 ip saddr { 10.0.1.1, 10.0.1.2, 10.0.1.3 } accept comment \"main cluster-bus\""
            in lines)
    assert 'tcp dport 6400-6402 ip6 saddr 2001:db8::/64 accept comment "mymaster redis"' in lines
    assert lines[-3] == (f'tcp dport {{ 6400-6402, 7000-7005, 17000-17005, 26400-26402 }} drop comment '
                         f'"redisops demo {rules.digest}: everything else to these ports"')
    assert "policy accept" in text  # every other port of the machine is left alone


def test_iptables_uses_a_chain_of_its_own_jumped_to_for_exactly_its_ports() -> None:
    rules = ruleset()
    text = render_iptables(rules)
    lines = text.splitlines()
    body = lines[lines.index("*filter") + 1:lines.index("COMMIT")]
    assert body[0] == ":REDISOPS-DEMO - [0:0]"
    assert [ln for ln in body if "INPUT" in ln] == [
        "-I INPUT -p tcp -m multiport --dports 6400:6402,7000:7005,17000:17005,26400:26402 "
        f'-m comment --comment "redisops demo {rules.digest}" -j REDISOPS-DEMO']
    assert ('-A REDISOPS-DEMO -s 10.0.1.2/32 -p tcp -m multiport --dports 17000:17005 -m comment '
            '--comment "main cluster-bus" -j ACCEPT') in body
    assert not any("192.0.2.0/24" in ln and "17000" in ln for ln in body)
    assert body[-2].endswith("-j DROP") and "-F" not in text.split()
    assert "2001:db8::/64 left out" in text and "2001:db8" not in "\n".join(body)


def test_stale_jumps_are_deleted_in_the_same_transaction() -> None:
    old = '-A INPUT -p tcp -m multiport --dports 6400:6401 -m comment --comment "redisops demo 0" -j REDISOPS-DEMO'
    lines = render_iptables(ruleset(), stale_jumps=[old]).splitlines()
    assert lines.index(old.replace("-A INPUT", "-D INPUT")) < lines.index("COMMIT")


def test_many_groups_split_multiport_matches_at_seven_ranges() -> None:
    groups = "\n".join(f"  - {{name: g{i}, port: {6400 + 100 * i}, sentinel_port: {26400 + 100 * i}}}"
                       for i in range(5))
    rules = ruleset(f"name: big\nsentinel:\n{groups}\n")
    jumps = [ln for ln in render_iptables(rules).splitlines() if ln.startswith("-I INPUT")]
    assert len(rules.ports) == 10 and len(jumps) == 2
    assert all(len(ln.split("--dports ")[1].split()[0].split(",")) <= 7 for ln in jumps)


def test_rendering_is_deterministic_and_the_digest_follows_the_rules() -> None:
    assert render_nftables(ruleset()) == render_nftables(ruleset())
    assert render_iptables(ruleset()) == render_iptables(ruleset())
    other = ruleset(SPEC.replace("192.0.2.0/24", "198.51.100.0/24"))
    assert other.digest != ruleset().digest
    data = ruleset().to_data()
    assert data["table"] == "inet redisops_demo" and data["chain"] == "REDISOPS-DEMO"
    assert data["services"][3] == {"group": "main", "role": "cluster-bus", "ports": ["17000-17005"], "clients": [],
                                   "members": ["10.0.1.1/32", "10.0.1.2/32", "10.0.1.3/32"],
                                   "sources": ["10.0.1.1/32", "10.0.1.2/32", "10.0.1.3/32"]}


def test_names_fit_nftables_and_iptables() -> None:
    long = "a-very-long-deployment-name-of-forty-ch"
    rules = ruleset(f"name: {long}\nsentinel: [{{name: mymaster}}]\n")
    assert rules.table == "redisops_" + long.replace("-", "_")
    assert len(rules.chain) <= CHAIN_MAX and rules.chain.startswith("REDISOPS-A-VERY")
    twin = ruleset(f"name: {long}x\nsentinel: [{{name: mymaster}}]\n")
    assert twin.chain != rules.chain


@pytest.mark.parametrize(("network", "message"), [
    ("10.0.0.1/24", "'10.0.0.1/24' has host bits set: write the network 10.0.0.0/24, or the one address 10.0.0.1/32"),
    ("ten", "'ten' is not a network"),
])
def test_a_bad_client_network_is_a_spec_problem_that_says_what_to_write(network: str, message: str) -> None:
    _, problems = load_text(f"name: demo\nfirewall: {{clients: [{network!r}]}}\n")
    assert len(problems) == 1 and problems[0].path.startswith("firewall.clients")
    assert message in problems[0].message


def test_a_host_name_is_resolved_and_one_that_does_not_resolve_is_input_error() -> None:
    text = "name: demo\ncluster: {hosts: [db-1, db-2, db-3]}\n"
    plan = build_plan(spec(text))
    table = {"db-1": ["10.9.0.1"], "db-2": ["10.9.0.2"], "db-3": ["10.9.0.3", "2001:db8::3"]}
    rules = build_ruleset(plan, resolve=lambda host: table[host])
    assert by_role(rules)[Role.CLUSTER_BUS] == ["10.9.0.1/32", "10.9.0.2/32", "10.9.0.3/32", "2001:db8::3/128"]
    with pytest.raises(InputError, match="'db-2' does not resolve") as caught:
        build_ruleset(plan, resolve=lambda host: [] if host == "db-2" else table[host])
    assert caught.value.exit_code == EXIT_INPUT and "IP address" in str(caught.value)


@pytest.mark.parametrize("action", ["apply", "remove", "status"])
def test_not_root_is_refused_before_any_tool_runs(action: str) -> None:
    def never(argv: object, text: object) -> subprocess.CompletedProcess[str]:
        raise AssertionError(f"ran {argv}")

    firewall = Firewall(Backend.NFTABLES, run=never, euid=lambda: 1000)
    with pytest.raises(NotRootError) as caught:
        getattr(firewall, action)(ruleset())
    assert caught.value.exit_code == EXIT_INPUT and f"sudo .venv/bin/redisops firewall {action}" in str(caught.value)


ROOT = os.geteuid() == 0


def _netfilter() -> bool:
    """Root, and a kernel firewall this process may read (a container without CAP_NET_ADMIN may not)."""
    if not (ROOT and shutil.which("nft")):
        return False
    return subprocess.run(["nft", "list", "tables"], capture_output=True, timeout=30).returncode == 0


NETFILTER = _netfilter()


def test_the_cli_says_one_line_and_exits_2_for_a_user_who_is_not_root(tmp_path: Path) -> None:
    spec_file = tmp_path / "redisops.yaml"
    spec_file.write_text(SPEC)
    # the process's effective uid, as the library reads it, is not 0: the one seam this test changes
    code = ("import os, sys; os.geteuid = lambda: 1000; from redisops.cli.main import main; "
            f"sys.argv = ['redisops', 'firewall', 'apply', '-f', {str(spec_file)!r}]; main()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == EXIT_INPUT, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: firewall apply changes or reads the kernel's firewall, which needs root: run it as root: "
        "`sudo .venv/bin/redisops firewall apply`"]


@pytest.mark.skipif(not NETFILTER, reason="nft -c needs root, nftables installed and the kernel's firewall readable")
def test_nft_accepts_the_rendered_file_without_loading_it() -> None:
    done = subprocess.run(["nft", "-c", "-f", "-"], input=render_nftables(ruleset()), capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(not (NETFILTER and shutil.which("iptables-restore")),
                    reason="iptables-restore --test needs root, iptables installed and the kernel's firewall readable")
def test_iptables_restore_accepts_the_rendered_file_without_loading_it() -> None:
    done = subprocess.run(["iptables-restore", "--test", "--noflush"], input=render_iptables(ruleset()),
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_the_public_names_are_pinned() -> None:
    import redisops.security.firewall as firewall

    assert sorted(firewall.__all__) == ["Backend", "Firewall", "FirewallError", "FirewallStatus", "NotRootError",
                                        "PortRange", "Role", "Ruleset", "Service", "State", "build_ruleset", "render",
                                        "render_iptables", "render_nftables"]
    for name in firewall.__all__:
        getattr(firewall, name)
    assert issubclass(firewall.FirewallError, RedisopsError) and firewall.FirewallError.exit_code == 3
    assert issubclass(firewall.NotRootError, EnvironmentProblem) and firewall.NotRootError.exit_code == 2
