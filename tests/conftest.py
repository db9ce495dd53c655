"""Shared test support: ``tests/alert_endpoints.py`` is importable from every test directory, and its
local alert endpoints are fixtures (every server stopped when its test ends)."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from alert_endpoints import Endpoint, SmtpSink  # noqa: E402 - needs the path above


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    """A recording HTTP server on 127.0.0.1 (Slack, Telegram via api_base, webhook, Alertmanager)."""
    server = Endpoint().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """aiosmtpd on 127.0.0.1 with AUTH."""
    sink = SmtpSink()
    sink.controller.start()
    try:
        yield sink
    finally:
        sink.controller.stop()
