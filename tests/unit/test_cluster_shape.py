"""``cluster create`` placement: masters spread over hosts, replicas never on their master's host when avoidable."""

from __future__ import annotations

import pytest

from redisops.address import Address
from redisops.cluster.nodes import shape_for
from redisops.errors import UsageError


def nodes(spec: str) -> list[Address]:
    return [Address.parse(p) for p in spec.split()]


def test_three_hosts_two_nodes_each_keep_replicas_off_their_masters_host() -> None:
    shape = shape_for(nodes("10.0.0.1:7000 10.0.0.1:7001 10.0.0.2:7000 10.0.0.2:7001 10.0.0.3:7000 10.0.0.3:7001"),
                      replicas=1)
    assert {m.host for m in shape.masters} == {"10.0.0.1", "10.0.0.2", "10.0.0.3"}
    assert all(r.host != m.host for r, m in shape.replica_of.items())
    assert sorted(shape.slots.values()) == [(0, 5460), (5461, 10921), (10922, 16383)]


def test_one_host_still_forms_with_one_replica_each() -> None:
    shape = shape_for(nodes(" ".join(f"127.0.0.1:{7000 + i}" for i in range(6))), replicas=1)
    assert len(shape.masters) == 3 and sorted(shape.replica_of.values()) == sorted(shape.masters)


@pytest.mark.parametrize(("spec", "replicas", "message"), [
    ("127.0.0.1:1 127.0.0.1:2 127.0.0.1:3 127.0.0.1:4", 1, "at least 3"),
    ("127.0.0.1:1 127.0.0.1:1 127.0.0.1:3", 0, "listed twice"),
])
def test_refuses_shapes_that_cannot_work(spec: str, replicas: int, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        shape_for(nodes(spec), replicas)
