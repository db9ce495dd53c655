"""The public surface is explicit; changing it is a decision, so this test pins it."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "redisops": ["Address", "RedisopsError", "__version__"],
    "redisops.errors": ["AuthError", "ClusterFormationError", "EnvironmentProblem", "HealthTimeout", "InputError",
                        "MissingBinaryError", "NodeError", "NodeUnreachableError", "PortInUseError", "Problem",
                        "RedisopsError", "SecretsError", "SpecError", "StartupError", "StateDirError", "UsageError"],
    "redisops.spec": ["AuthSpec", "ClusterSpec", "ComposeSpec", "MaxmemoryPolicy", "Persistence", "RedisSpec",
                      "Secrets", "SentinelGroup", "Spec", "check_rules", "generate_secrets", "load", "load_secrets",
                      "load_text", "validate"],
    "redisops.cluster": ["CheckReport", "ClusterShape", "MoverSettings", "add_node", "check_cluster",
                         "check_cluster_sync", "create_cluster", "fix_cluster_sync", "form_cluster", "move_slots_sync",
                         "remove_node"],
    "redisops.lifecycle": ["Deployment", "DownResult", "ScaleResult", "UpResult", "down", "init_files", "node_identity",
                           "scale_cluster",
                           "up", "wait_healthy"],
    "redisops.testing": ["Topology", "allocate_ports", "assert_eventually", "empty_cluster_node", "valkey_server",
                         "wait_until"],
    "redisops.chaos": ["DrillReport", "Fault", "RoundResult", "WriteBook", "Writer", "drill_failover"],
    "redisops.ha": ["Condition", "FailoverError", "FailoverResult", "FailoverTimeout", "Finding", "Instance",
                    "InstanceType", "MetricsServer", "Poll", "SentinelEvent", "WatchInput", "WatchMetrics", "WatchState",
                    "Watcher", "apply_fixes", "cluster_conditions", "describe_report", "group_conditions",
                    "manual_failover", "parse_event", "read_live", "replay", "review", "step"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_all_is_pinned_and_importable(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(PUBLIC[module])
    for name in mod.__all__:
        getattr(mod, name)  # raises AttributeError when a listed name is missing


def test_every_error_is_a_redisops_error() -> None:
    errors = importlib.import_module("redisops.errors")
    for name in errors.__all__:
        cls = getattr(errors, name)
        if isinstance(cls, type) and name != "Problem":
            assert issubclass(cls, errors.RedisopsError)
            assert cls.exit_code in (1, 2, 3)
