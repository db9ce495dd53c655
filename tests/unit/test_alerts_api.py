"""The alerts package's public surface (what the watcher and the CLI call) is pinned here."""

from __future__ import annotations

import inspect

import redisops.alerts as alerts


def test_all_is_pinned() -> None:
    assert sorted(alerts.__all__) == ["AlertSink", "ChannelConfigError", "DeliveryError", "Dispatcher", "Incident",
                                      "IncidentKind", "ProbeResult", "Severity", "TimelineEntry", "build_dispatcher",
                                      "probe_channels", "probe_incident"]
    for name in alerts.__all__:
        getattr(alerts, name)


def test_build_dispatcher_signature() -> None:
    params = inspect.signature(alerts.build_dispatcher).parameters
    assert list(params) == ["alerts", "base_dir", "registry", "clock"]
    assert params["registry"].kind is inspect.Parameter.KEYWORD_ONLY and params["clock"].default is None


def test_errors_join_the_one_tree() -> None:
    from redisops.errors import InputError, RedisopsError

    assert issubclass(alerts.ChannelConfigError, InputError) and alerts.ChannelConfigError.exit_code == 2
    assert issubclass(alerts.DeliveryError, RedisopsError)
    assert alerts.DeliveryError("x", "down", retryable=True).retryable
