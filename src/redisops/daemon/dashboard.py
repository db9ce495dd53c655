"""``redisops dashboard``: find the running watcher's status page, or serve one without a watcher.

The page lives in the watcher daemon (:mod:`redisops.daemon.page`), on the
port of its ``/metrics`` (``watch.metrics_port``, 9122), so the page a
``make up`` started needs no process of its own: :func:`find_page` asks
``http://127.0.0.1:PORT/api/status`` and says what it found.  Where no watcher
runs (nodes redisops did not start, a machine where alerts are sent by another
watcher), :func:`page_daemon` builds a daemon that only watches and serves the
page: no alert channels (the other watcher sends them; two would page twice)
and no backups.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redisops.clock import Clock, SystemClock
from redisops.daemon.core import Daemon
from redisops.errors import EnvironmentProblem, NodeUnreachableError, UsageError
from redisops.runtime.processes import port_is_free
from redisops.spec.alerts import AlertsSpec
from redisops.spec.watch import WatchSpec
from redisops.topology.targets import ClusterTarget, SentinelTarget

__all__ = ["PageFound", "find_page", "page_daemon", "page_url"]

#: one request to a local watcher: it answers in milliseconds unless it is hung
REQUEST_TIMEOUT_S = 2.0
#: between two tries while waiting for a watcher that is starting
RETRY_S = 0.2

_START_HINT = ("start the watcher (`make up`, or `redisops watch -f SPEC` in the background; its log says why it "
               "does not serve), or serve the page from here: `redisops dashboard --serve`")


def page_url(port: int, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{port}/"


@dataclass(frozen=True)
class PageFound:
    """A watcher's page that answered, with what it shows."""

    url: str
    health: str | None  # None before the watcher's first poll
    sentence: str | None
    updated_at: float | None  # unix time of the last poll
    firing: int  # incidents not resolved

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "health": self.health, "sentence": self.sentence, "updated_at": self.updated_at,
                "incidents_firing": self.firing}


def find_page(port: int, *, host: str = "127.0.0.1", wait_s: float = 0.0, clock: Clock | None = None) -> PageFound:
    """The status page on ``host:port``, waiting up to ``wait_s`` for a watcher that is starting.

    Raises :class:`NodeUnreachableError` (exit 3) when nothing answers, and
    :class:`EnvironmentProblem` (exit 2) when something that is not a redisops
    watcher with a status page does."""
    clock = clock or SystemClock()
    deadline = clock.now() + wait_s
    for _ in range(int(wait_s / RETRY_S) + 1):  # bounded: one try, plus one per RETRY_S of waiting
        try:
            return _ask(port, host)
        except NodeUnreachableError:
            if clock.now() + RETRY_S > deadline:
                raise
        clock.sleep(RETRY_S)
    return _ask(port, host)


def _ask(port: int, host: str) -> PageFound:
    url = page_url(port, host)
    try:
        with urllib.request.urlopen(url + "api/status", timeout=REQUEST_TIMEOUT_S) as response:
            doc = json.loads(response.read().decode())
    except urllib.error.HTTPError as exc:
        raise _not_ours(host, port, f"it answers HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NodeUnreachableError(f"{host}:{port}", f"no status page answers ({_reason(reason)})",
                                   hint=_START_HINT) from None
    except (ValueError, http.client.HTTPException):  # garbage instead of HTTP, or a body that is not JSON
        raise _not_ours(host, port, "it does not answer HTTP with JSON") from None
    if not isinstance(doc, dict) or "format" not in doc or "incidents" not in doc:
        raise _not_ours(host, port, "its answer is not the status page's")
    status = doc.get("status") or {}
    firing = sum(1 for i in doc["incidents"] if i.get("status") == "firing")
    return PageFound(url, status.get("health"), doc.get("sentence"), doc.get("updated_at"), firing)


def _reason(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError):
        return "timed out"
    return str(getattr(reason, "strerror", None) or reason)


def _not_ours(host: str, port: int, what: str) -> EnvironmentProblem:
    return EnvironmentProblem(
        f"{host}:{port} is not a redisops status page: {what}",
        hint="an older watcher (restart it: `make down && make up`), or another program holds the port: "
             "point redisops at the watcher's port (--port, watch.metrics_port)")


def page_daemon(groups: Sequence[SentinelTarget], clusters: Sequence[ClusterTarget], *, port: int,
                settings: WatchSpec | None = None, base_dir: Path | None = None, host: str = "127.0.0.1") -> Daemon:
    """A daemon that watches ``groups`` and ``clusters`` and serves the page (and ``/metrics``) on ``port``:
    no alert channels, no backups.

    Raises :class:`UsageError` when a watcher already serves a page there, or
    when the port is taken by anything else."""
    if port == 0:
        raise UsageError("the page needs a port (0 turns the HTTP endpoint off)", hint="pass --port 9122")
    try:
        found = _ask(port, host)
    except (NodeUnreachableError, EnvironmentProblem):
        found = None
    if found is not None:
        raise UsageError(f"a watcher already serves the status page at {found.url}",
                         hint="open that one (`redisops dashboard` prints it), or pass --port for a second page")
    if not port_is_free(host, port):
        raise UsageError(f"{host}:{port} is in use by another program", hint="pass --port with a free port")
    return Daemon(groups, clusters, settings=settings, alerts=AlertsSpec(), base_dir=base_dir, metrics_port=port)
