"""The public surface of ``redisops.ha`` (the watcher part) is explicit; this test pins it."""

from __future__ import annotations

import redisops.ha

WATCHER_API = {"Condition", "FailoverTimeout", "Instance", "InstanceType", "MetricsServer", "Poll", "SentinelEvent",
               "WatchInput", "WatchMetrics", "WatchState", "Watcher", "cluster_conditions", "describe_report",
               "group_conditions", "parse_event", "replay", "step"}


def test_watcher_names_are_exported() -> None:
    assert WATCHER_API <= set(redisops.ha.__all__)
    for name in redisops.ha.__all__:
        getattr(redisops.ha, name)


DAEMON_API = ["BackupRunner", "Daemon", "MetricsEndpoint", "PageFound", "StatusPage", "back_up_sets", "backup_schedule",
              "find_page", "log_to_file", "page_daemon", "spec_store"]


def test_daemon_names_are_pinned() -> None:
    import redisops.daemon

    assert sorted(redisops.daemon.__all__) == DAEMON_API
    for name in redisops.daemon.__all__:
        getattr(redisops.daemon, name)
