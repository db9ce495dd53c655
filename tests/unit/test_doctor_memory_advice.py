"""`tune memory`'s arithmetic: the RAM divided among the spec's data nodes, minus what maxmemory does not count."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from redisops.address import Address
from redisops.errors import UsageError
from redisops.ha.memory import MIB, advise_memory, apply_memory, host_ram, set_in_conf
from redisops.runtime.plan import build_plan
from redisops.spec import load_text
from redisops.spec.edit import set_values
from redisops.spec.models import DataRole

GIB = 1024 * MIB
SPEC = """name: demo
sentinel:
  - name: mymaster
    port: 6400
    replicas: 2
    sentinel_port: 26400
cluster:
  name: main
  port: 7000
  masters: 3
  replicas_per_master: 1
  persistence: none
  role: cache
"""


def test_each_term_of_the_advice() -> None:
    plan = build_plan(load_text(SPEC)[0])
    group, cluster = advise_memory(plan, 16 * GIB, {})
    terms = group.terms
    assert terms.nodes_on_host == 9  # 3 group nodes + 6 cluster nodes, sentinels are in the OS reserve
    assert terms.os_reserve == int(16 * GIB * 0.10)
    assert terms.share == (16 * GIB - terms.os_reserve) // 9
    assert terms.backlog == MIB and terms.replica_buffers == 2 * 256 * MIB and terms.pubsub_buffers == 32 * MIB
    room = terms.share - MIB - 512 * MIB - 32 * MIB - 16 * MIB
    assert group.maxmemory == int(room / 1.5) // MIB * MIB  # persistence (and replicas): fork headroom of half
    assert (group.role, group.policy) == (DataRole.STORE, "noeviction")
    assert (cluster.role, cluster.policy) == (DataRole.CACHE, "allkeys-lfu")
    assert cluster.terms.replica_buffers == 256 * MIB and cluster.terms.cow_share == 0.5  # replicas still fork
    text = "\n".join(group.terms.explain())
    for word in ("host RAM", "OS reserve", "replication backlog", "replica output buffers", "pubsub",
                 "copy-on-write", "= maxmemory"):
        assert word in text


def test_live_buffer_limits_and_backlog_are_used_and_role_can_be_overridden() -> None:
    plan = build_plan(load_text(SPEC)[0])
    live = {Address("127.0.0.1", 6400): {"maxmemory": str(256 * MIB), "maxmemory-policy": "noeviction",
                                         "repl-backlog-size": str(64 * MIB),
                                         "client-output-buffer-limit": "normal 0 0 0 slave 536870912 67108864 60 "
                                                                       "pubsub 33554432 8388608 60"},
            Address("127.0.0.1", 6401): "not answering (refused)"}
    group, cluster = advise_memory(plan, 16 * GIB, live, role=DataRole.CACHE)
    assert group.terms.backlog == 64 * MIB and group.terms.replica_buffers == 2 * 512 * MIB
    assert group.policy == cluster.policy == "allkeys-lfu"
    first, second, third = group.nodes
    assert first.maxmemory == 256 * MIB and first.differs(group)
    assert second.maxmemory is None and second.error == "not answering (refused)" and not second.differs(group)
    assert third.error == "not asked"


def test_no_fork_no_headroom() -> None:
    spec, _ = load_text("name: x\ncluster: {masters: 3, replicas_per_master: 0, persistence: none}\n")
    [cluster] = advise_memory(build_plan(spec), 8 * GIB, {})
    assert cluster.terms.cow_share == 0 and cluster.terms.cow_headroom == 0
    assert cluster.maxmemory == (cluster.terms.share - MIB - 32 * MIB - 16 * MIB) // MIB * MIB


def test_too_little_ram_is_refused_before_anything_changes(tmp_path: Path) -> None:
    spec_file = tmp_path / "redisops.yaml"
    spec_file.write_text(SPEC)
    advice = advise_memory(build_plan(load_text(SPEC)[0]), 2 * GIB, {})
    assert not advice[0].feasible and advice[0].maxmemory == 0
    with pytest.raises(UsageError, match="below 16 MB"):
        apply_memory(advice, None, spec_file)
    assert spec_file.read_text() == SPEC


def test_host_ram_from_meminfo(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24684544 kB\nMemFree:        1 kB\n")
    assert host_ram(meminfo) == 24684544 * 1024
    with pytest.raises(UsageError, match="--ram"):
        host_ram(tmp_path / "missing")


def test_conf_lines_are_replaced_or_added_before_the_auth_include(tmp_path: Path) -> None:
    conf = tmp_path / "redis.conf"
    conf.write_text("port 7000\n# maxmemory 1gb\nmaxmemory 268435456\nappendonly yes\ninclude /x/auth.conf\n")
    conf.chmod(0o600)
    set_in_conf(conf, {"maxmemory": "1073741824", "maxmemory-policy": "allkeys-lfu"})
    assert conf.read_text() == ("port 7000\n# maxmemory 1gb\nmaxmemory 1073741824\nappendonly yes\n"
                                "maxmemory-policy allkeys-lfu\ninclude /x/auth.conf\n")
    assert conf.stat().st_mode & 0o777 == 0o600


def test_values_go_into_an_item_of_a_list_section() -> None:
    text = "name: x\nsentinel:\n  - name: a   # first\n    port: 6400\n  - name: b\n    port: 6500\n"
    out = set_values(text, "sentinel", {"maxmemory": "1gb", "port": 6501}, index=1)
    assert yaml.safe_load(out)["sentinel"] == [{"name": "a", "port": 6400},
                                               {"maxmemory": "1gb", "name": "b", "port": 6501}]
    assert "# first" in out
    with pytest.raises(UsageError, match=r"sentinel\[2\]"):
        set_values(text, "sentinel", {"port": 1}, index=2)


@pytest.mark.parametrize(("section", "role", "policy", "warned"), [
    ("cluster", "cache", "noeviction", "noeviction on a cache"),
    ("cluster", "store", "allkeys-lru", "allkeys-lru on a store"),
    ("cluster", "cache", "allkeys-lfu", None),
    ("cluster", "store", "volatile-lru", None),
    ("sentinel[0]", "cache", "noeviction", "noeviction on a cache"),
])
def test_the_policy_must_fit_the_role(section: str, role: str, policy: str, warned: str | None) -> None:
    body = f"role: {role}\n  maxmemory_policy: {policy}\n"
    text = (f"name: x\ncluster:\n  {body}" if section == "cluster"
            else f"name: x\nsentinel:\n- name: g\n  {body}")
    spec, problems = load_text(text)
    assert spec is not None
    found = [p for p in problems if p.path == f"{section}.maxmemory_policy"]
    if warned is None:
        assert found == []
    else:
        [problem] = found
        assert problem.severity == "warning" and warned in problem.message
