"""The report that ``status`` prints and ``up`` waits on: health, JSON shape, errors, targets."""

from __future__ import annotations

import asyncio
import json

import pytest

import redisops.topology
from redisops.address import Address
from redisops.clock import FakeClock
from redisops.errors import AuthError, NodeUnreachableError
from redisops.runtime.plan import build_plan
from redisops.spec import Secrets, load_text
from redisops.spec.default import DEFAULT_SPEC
from redisops.topology.cluster_status import judge_cluster
from redisops.topology.model import ClusterProbe, Failure, FailureKind, Health, NodeInfo, SentinelView
from redisops.topology.sentinel_status import judge_group
from redisops.topology.status import StatusReport, unreachable_error, watch_status
from redisops.topology.targets import ClusterTarget, SentinelTarget, targets_from_plan

A = Address
REFUSED = Failure(FailureKind.UNREACHABLE, "connection refused")
WRONG = Failure(FailureKind.AUTH, "wrong password")


def test_public_names_are_pinned() -> None:
    assert sorted(redisops.topology.__all__) == [
        "ClusterNode", "ClusterProbe", "ClusterRow", "ClusterStatus", "ClusterTarget", "Failure", "FailureKind",
        "GroupStatus", "Health", "NodeInfo", "ReplicaLink", "Role", "SentinelTarget", "SentinelView", "SlotMap",
        "StatusReport", "collect_status", "collect_status_sync", "targets_from_plan", "watch_status",
    ]


def test_health_is_the_worst_part_and_maps_to_exit_codes() -> None:
    assert Health.worst([Health.OK, Health.DOWN, Health.DEGRADED]) is Health.DOWN
    assert Health.worst([]) is Health.OK
    assert [h.exit_code for h in Health] == [0, 1, 3]


def silent_group() -> SentinelTarget:
    return SentinelTarget("mymaster", (A("127.0.0.1", 26400), A("127.0.0.1", 26401)))


def test_report_of_a_silent_remote_group_gives_one_unreachable_error() -> None:
    group = judge_group(silent_group(), [SentinelView(a, REFUSED) for a in silent_group().sentinels], [])
    cluster = judge_cluster(ClusterTarget("main", (A("127.0.0.1", 7000),)),
                            [ClusterProbe(NodeInfo(A("127.0.0.1", 7000), WRONG))])
    report = StatusReport.of([group], [cluster])
    assert report.health is Health.DOWN and report.exit_code == 3
    assert report.reasons[0] == "mymaster: all 2 sentinels unreachable (connection refused)"
    error = report.unreachable_error()
    assert isinstance(error, NodeUnreachableError) and error.exit_code == 3
    assert str(error).startswith("127.0.0.1:26400, 127.0.0.1:26401: connection refused: no node of mymaster")


def test_wrong_password_is_an_input_error() -> None:
    error = unreachable_error("main", [(A("127.0.0.1", 7000), WRONG), (A("127.0.0.1", 7001), REFUSED)])
    assert isinstance(error, AuthError) and error.exit_code == 2
    assert error.message == "127.0.0.1:7000, 127.0.0.1:7001: 127.0.0.1:7000 wrong password; " \
                            "127.0.0.1:7001 connection refused"


def test_report_json_shape() -> None:
    group = judge_group(silent_group(), [SentinelView(a, REFUSED) for a in silent_group().sentinels], [])
    data = json.loads(json.dumps(StatusReport.of([group], []).to_dict()))
    assert set(data) == {"health", "exit_code", "reasons", "groups", "clusters"}
    assert data["groups"][0]["sentinels"][0]["failure"] == {"kind": "unreachable", "detail": "connection refused"}
    assert StatusReport.of([], []).to_dict() == {"health": "ok", "exit_code": 0, "reasons": [], "groups": [],
                                                 "clusters": []}


def test_targets_from_the_default_spec() -> None:
    spec, _ = load_text(DEFAULT_SPEC)
    assert spec is not None
    groups, clusters = targets_from_plan(build_plan(spec), Secrets("data-secret", "sentinel-secret"))
    (group,) = groups
    assert group.name == "mymaster" and [a.port for a in group.nodes] == [6400, 6401, 6402]
    assert [a.port for a in group.sentinels] == [26400, 26401, 26402]
    assert (group.password, group.sentinel_password) == ("data-secret", "sentinel-secret")
    assert (group.expected_replicas, group.expected_sentinels) == (2, 3)
    (cluster,) = clusters
    assert [a.port for a in cluster.seeds] == list(range(7000, 7006))
    assert (cluster.expected_masters, cluster.expected_replicas_per_master) == (3, 1)
    assert "secret" not in repr(group) + repr(cluster)


def test_watch_refreshes_on_the_injected_clock() -> None:
    clock = FakeClock()

    async def three() -> list[StatusReport]:
        reports = watch_status([], [], interval=2.0, clock=clock)
        return [await anext(reports) for _ in range(3)]

    reports = asyncio.run(three())
    assert [r.health for r in reports] == [Health.OK] * 3
    assert clock.slept == [2.0, 2.0]


@pytest.mark.parametrize(("args", "message"), [
    (["--sentinel", "127.0.0.1", "--master", "m"], "error: --sentinel: '127.0.0.1' is not host:port"),
    (["--sentinel", "127.0.0.1:26400"], "error: --sentinel and --master go together"),
    (["--master", "m"], "error: --master and --*password-env only go with --sentinel or --cluster"),
    (["--cluster", "127.0.0.1:7000", "--password-env", "REDISOPS_TEST_UNSET"],
     "error: --password-env: environment variable REDISOPS_TEST_UNSET is not set or empty"),
    (["--cluster", ","], "error: --cluster: no address given"),
])
def test_status_cli_rejects_bad_remote_input(args: list[str], message: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from redisops.cli.main import app

    monkeypatch.delenv("REDISOPS_TEST_UNSET", raising=False)
    result = CliRunner().invoke(app, ["status", *args])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[0].startswith(message)
