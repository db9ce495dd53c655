"""The status page in a real browser (headless Debian chromium through Playwright), on a desktop and a phone-sized
screen: it shows the group's master and the cluster's shards; kill -9 the group's master (and a cluster master) and,
without a reload, both screens show the master the sentinels elected, the old one down, and the failover incident
with its timeline, and the shard under the replica that took it over; restart the old masters and they show as
replicas.  The phone layout never scrolls sideways.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
import redis
from alert_endpoints import free_port

from redisops.daemon import Daemon
from redisops.spec.watch import WatchSpec
from redisops.testing import Topology, assert_eventually
from redisops.testing.watching import DaemonThread
from redisops.topology import targets_from_plan

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
#: Playwright's waits (ms): a failover with down-after 1 s takes 2 to 5 s here, a slow CI machine more
SHOWN_MS = 30_000


@pytest.fixture
def topo(tmp_path: Path) -> Iterator[Topology]:
    with Topology.start(tmp_path, cluster=True, down_after_ms=1000, node_timeout_ms=1000) as topology:
        yield topology


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian's chromium is not installed ({CHROMIUM}): `sudo apt-get install -y chromium`, or `make up`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page_url(topo: Topology) -> Iterator[str]:
    groups, clusters = targets_from_plan(topo.plan, topo.secrets)
    port = free_port()
    daemon = Daemon(groups, clusters, settings=WatchSpec(poll_interval_s=0.5, probe_timeout_s=0.5), metrics_port=port,
                    base_dir=topo.spec_file.parent)
    running = DaemonThread(daemon)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        running.close()
    assert running.error is None, running.error


@pytest.fixture
def screens(browser: Any, page_url: str, tmp_path: Path) -> Iterator[tuple[Any, Any, list[str]]]:
    """The page open on a desktop and on a phone, and the script errors they report; screenshots of both are
    left in the test's temp dir at the end (its path is printed: a failing run shows it)."""
    errors: list[str] = []
    desk = browser.new_page(viewport={"width": 1280, "height": 900})
    phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True,
                                has_touch=True).new_page()
    for tab in (desk, phone):
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.goto(page_url)
    try:
        yield desk, phone, errors
    finally:
        for name, tab in (("desktop", desk), ("phone", phone)):
            with suppress(Exception):
                tab.screenshot(path=str(tmp_path / f"status-page-{name}.png"), full_page=True, timeout=5000)
        print(f"\nscreenshots of the status page: {tmp_path}")


def test_the_page_shows_the_new_master_and_the_failover(topo: Topology, screens: tuple[Any, Any, list[str]]) -> None:
    from playwright.sync_api import expect

    desk, phone, errors = screens
    old = str(topo.node("mymaster-0").address)
    for tab in (desk, phone):
        expect(master(tab)).to_have_text(old, timeout=SHOWN_MS)
        expect(tab.locator("#verdict")).to_have_text("ok", timeout=SHOWN_MS)
    expect(desk.locator("#no-incidents")).to_be_visible()
    old_shard = slot_owner(topo)
    expect(desk.locator('[data-cluster="main"] .shard[data-master]')).to_have_count(3)
    expect(desk.locator(f'[data-cluster="main"] .shard[data-master="{old_shard}"]')).to_have_count(1)

    killed_at = time.monotonic()
    topo.kill("mymaster-0")
    topo.kill(next(f"main-{i}" for i in range(6) if str(topo.node(f"main-{i}").address) == old_shard))
    # a loaded machine may fail the new master over once more (down-after is 1 s): the page must show the master
    # the sentinels agree on now, and the failover away from the killed one
    title = re.compile(rf"^mymaster failed over from {re.escape(old)} to 127\.0\.0\.1:\d+$")
    for tab in (desk, phone):
        assert_eventually(lambda tab=tab: shows_elected(topo, tab, old), within=SHOWN_MS / 1000)
        if tab is desk:
            print(f"\nkill -9 of the master -> the page shows the elected one: {time.monotonic() - killed_at:.2f} s")
        failover = away_from(tab, old)
        expect(failover).to_have_count(1, timeout=SHOWN_MS)
        expect(failover.locator(".title")).to_have_text(title)
        expect(tab.locator(f'[data-group="mymaster"] tr[data-node="{old}"]')).to_have_attribute("data-role", "down")
    failover = away_from(desk, old)
    failover.locator("summary").click()
    timeline = failover.locator(".timeline")
    expect(timeline).to_contain_text("+odown")
    expect(timeline).to_contain_text("+switch-master")
    desk.wait_for_timeout(1500)  # two more polls redraw the list: the timeline the reader opened stays open
    expect(timeline).to_be_visible()

    for tab in (desk, phone):  # the shard of slot 0 under the master the cluster says owns it now
        assert_eventually(lambda tab=tab: shows_slot_owner(topo, tab, old_shard), within=SHOWN_MS / 1000)

    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    box = master(phone).bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box

    # the old master comes back and follows the new one (`up` runs asyncio: not on the thread whose event loop
    # Playwright's sync API holds)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(topo.up).result(timeout=90)
    for tab in (desk, phone):
        expect(tab.locator(f'[data-group="mymaster"] tr[data-node="{old}"]')).to_have_attribute(
            "data-role", "replica", timeout=SHOWN_MS)
        expect(tab.locator(f'[data-cluster="main"] .shard li[data-node="{old_shard}"]')).to_have_count(
            1, timeout=SHOWN_MS)  # back as a replica
    assert_eventually(lambda: shows_elected(topo, desk, old), within=SHOWN_MS / 1000)
    assert errors == []


def master(tab: Any) -> Any:
    return tab.locator('[data-group="mymaster"] [data-testid="master"]')


def away_from(tab: Any, old: str) -> Any:
    """The failover incident whose title names ``old`` as the master failed over from."""
    return tab.locator('#incidents > li[data-kind="failover"]').filter(has_text=f"failed over from {old} to ")


def shows_elected(topo: Topology, tab: Any, old: str) -> str:
    """The master the page shows, once it is the one the sentinels agree on and not ``old``."""
    shown = master(tab).inner_text(timeout=5000)
    assert shown == elected(topo, old), shown
    return shown


def slot_owner(topo: Topology) -> str:
    """The master of slot 0, as the cluster says (CLUSTER SLOTS of the first node that answers)."""
    for name in (f"main-{i}" for i in range(6)):
        try:
            with topo.client(name) as node:
                slots = node.execute_command("CLUSTER", "SLOTS")
        except redis.ConnectionError:  # the killed one
            continue
        for start, end, owner, *_ in slots:
            if int(start) <= 0 <= int(end):
                host = owner[0].decode() if isinstance(owner[0], bytes) else owner[0]
                return f"{host}:{int(owner[1])}"
        raise AssertionError(f"{name}: nobody owns slot 0")
    raise AssertionError("no cluster node answers")


def shows_slot_owner(topo: Topology, tab: Any, old: str) -> None:
    """The page lists the master of slot 0 as a shard, once it is not ``old``, which is no shard's master."""
    owner = slot_owner(topo)
    assert owner != old, "slot 0 not failed over yet"
    masters = tab.locator('[data-cluster="main"] .shard[data-master]').evaluate_all(
        "shards => shards.map(s => s.dataset.master)")
    assert owner in masters and old not in masters, (owner, masters)


def elected(topo: Topology, old: str) -> str:
    """The master the sentinels agree on, once it is not ``old``."""
    views = set()
    for i in range(3):
        with topo.client(f"mymaster-sentinel-{i}") as sentinel:
            host, port = sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")
        views.add(f"{host.decode() if isinstance(host, bytes) else host}:{int(port)}")
    assert len(views) == 1 and old not in views, views
    return views.pop()
