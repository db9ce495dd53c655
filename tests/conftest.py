"""Shared test support: ``tests/alert_endpoints.py`` is importable from every test directory, and its
local alert endpoints are fixtures (every server stopped when its test ends)."""

import socket
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


@pytest.fixture
def gcs_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """gcp-storage-emulator (the GCS JSON API, in memory) on a free 127.0.0.1 port with a bucket ``backups``.

    ``STORAGE_EMULATOR_HOST`` is set for this process and the subprocesses it starts; yields that URL.
    """
    from gcp_storage_emulator.server import create_server

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket="backups")
    server.start()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", url)
    try:
        yield url
    finally:
        server.stop()
