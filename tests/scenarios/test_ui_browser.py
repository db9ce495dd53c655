"""A browser opens ``redisops ui`` (Redis Commander) and finds a key written to the Sentinel group and one written to
the cluster, with their values: the UI really is pre-connected, with the right passwords, to both.

Headless Debian chromium driven by Playwright's sync API (never ``playwright install``); Redis Commander from
``make commander``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from playwright.sync_api import Page, expect, sync_playwright

from redisops.observe.commander import Commander
from redisops.testing import Topology, assert_eventually

pytestmark = pytest.mark.slow

REDISOPS = str(Path(sys.executable).parent / "redisops")
COMMANDER_PACKAGE = Path(__file__).resolve().parents[2] / ".redisops" / "tools" / "node_modules" / "redis-commander"
#: how long the page may take to show what it was asked for (a bound, not a measurement)
WAIT_MS = 20_000


@pytest.fixture
def topo(tmp_path: Path) -> Iterator[Topology]:
    with Topology.start(tmp_path, replicas=1, replicas_per_master=0) as topology:
        yield topology


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"],
                                             headless=True)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def connection(page: Page, label: str) -> str:
    """XPath of the key tree's top-level item for the connection labelled ``label``."""
    return f"//li[contains(@class, 'jstree-node')][a[contains(., '{label}')]]"


def open_key(page: Page, label: str, key: str, value: str) -> None:
    """Expand the connection's tree, find ``key`` under it, click it, and see ``value`` in the key's view."""
    item = page.locator(f"xpath={connection(page, label)}")
    expect(item).to_be_visible(timeout=WAIT_MS)
    anchor = item.locator("a.jstree-anchor", has_text=key)

    def key_shown() -> None:
        """The UI opens the first connection by itself, the others on a click on their toggle: click it
        while the item says it is closed (a click on an item being opened would close it again)."""
        if anchor.is_visible():
            return
        if "jstree-closed" in (item.get_attribute("class") or ""):
            item.locator("xpath=./i[contains(@class, 'jstree-ocl')]").click()
        raise AssertionError(f"{key} not shown under {label}")

    assert_eventually(key_shown, within=WAIT_MS / 1000, interval=0.5)
    anchor.click()
    view = page.locator("#body")
    expect(view).to_contain_text(f"Key: {key}", timeout=WAIT_MS)
    expect(view.get_by_role("textbox")).to_have_value(value, timeout=WAIT_MS)


def test_browser_finds_a_group_key_and_a_cluster_key(topo: Topology, page: Page) -> None:
    assert COMMANDER_PACKAGE.is_dir(), "Redis Commander is not installed: run `make commander`"
    tag = uuid.uuid4().hex[:8]
    group_key, cluster_key = f"browser-group-{tag}", f"browser-cluster-{tag}"
    topo.client("mymaster-0").set(group_key, f"group value {tag}")
    seed = topo.node("main-0").address
    cluster = redis.RedisCluster(seed.host, seed.port, username="admin", password=topo.secrets.admin_password)
    try:
        cluster.set(cluster_key, f"cluster value {tag}")
    finally:
        cluster.close()

    port = free_port()
    ui = Commander(topo.plan, topo.secrets, topo.deployment.runtime.state_dir)
    try:
        done = subprocess.run([REDISOPS, "ui", "-f", str(topo.spec_file), "--port", str(port)], capture_output=True,
                              text=True, timeout=120,
                              env={**os.environ, "REDISOPS_COMMANDER": str(COMMANDER_PACKAGE)})
        assert done.returncode == 0, done.stderr + done.stdout
        url = f"http://127.0.0.1:{port}/"
        assert url in done.stdout

        page.goto(url)
        open_key(page, "mymaster (sentinels)", group_key, f"group value {tag}")
        open_key(page, "main (cluster)", cluster_key, f"cluster value {tag}")
    finally:
        ui.stop()
