"""The daemon's /metrics endpoint on its asyncio loop: the registry in Prometheus' format, 404 elsewhere, and a
port in use is one clear error (loopback only; no Redis)."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from redisops.daemon import MetricsEndpoint
from redisops.errors import UsageError


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_metrics_and_nothing_else() -> None:
    registry = CollectorRegistry()
    Counter("redisops_test_events", "Test events.", registry=registry).inc(3)

    async def main() -> list[tuple[int, str]]:
        endpoint = MetricsEndpoint(registry, 0)  # 0: the system picks a free port
        await endpoint.start()
        try:
            return [await asyncio.to_thread(get, endpoint.port, path) for path in ("/metrics", "/")]
        finally:
            await endpoint.close()

    (status, body), (missing, _) = asyncio.run(main())
    assert status == 200 and "redisops_test_events_total 3.0" in body
    assert missing == 404


def test_a_port_in_use_is_a_usage_error() -> None:
    async def main() -> None:
        first = MetricsEndpoint(CollectorRegistry(), 0)
        await first.start()
        try:
            await MetricsEndpoint(CollectorRegistry(), first.port).start()
        finally:
            await first.close()

    with pytest.raises(UsageError, match="cannot serve /metrics on 127.0.0.1:[0-9]+: Address already in use") as exc:
        asyncio.run(main())
    assert exc.value.hint is not None and "metrics_port" in exc.value.hint
