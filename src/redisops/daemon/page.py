"""The status page: the live topology and the recent incidents, served by the daemon next to ``/metrics``.

::

    page = StatusPage(poll_interval_s=2.0, secrets=[password])
    page.cycle(sentence, report)     # the watcher's on_cycle: each poll's sentence and StatusReport
    page.notify(incident)            # an alert sink: each incident opened, updated or resolved
    page.answer("/api/status", "127.0.0.1:9122")   # -> Response (the endpoint writes it)

Paths: ``/`` (``static/index.html``), ``/app.js``, ``/style.css`` (plain files
of the package: no CDN, no build step) and ``/api/status``, one JSON document::

    {"format": 1, "now": 1764770000.1, "updated_at": 1764769999.4, "poll_interval_s": 2.0,
     "sentence": "no action: mymaster 127.0.0.1:6400 master, ...",
     "status": {...the data of `redisops status --json`...} | null before the first poll,
     "incidents": [{"status": "firing" | "resolved", ...the data of a watch.incident line...}, newest first]}

The page polls ``/api/status`` every second (``app.js``) rather than holding
a Server-Sent Events stream: the daemon's snapshot changes once a poll and an
incident is handed within milliseconds, so a second of polling shows a
failover about as soon as a stream would, while no connection outlives its
request: the endpoint stays the one-request-per-connection server that
``/metrics`` is (nothing to drain on stop, nothing a phone's flaky network
leaves half open), and a page opened before a watcher restart simply picks the
new one up.  The page stops polling while its tab is hidden.

Incidents are kept in memory, the last :data:`MAX_INCIDENTS` by key (an
update replaces its incident, the least recently touched goes first); the
alert channels and the outbox are the record that outlives a restart.

Nothing secret is served: the status report holds addresses, roles and
offsets, never a password, and every response of ``/api/status`` is also
scrubbed of the passwords the daemon was given (``secrets``), should one ever
reach a failure's text.  The endpoint binds loopback; a request whose ``Host``
names anything but a loopback address or ``localhost`` is refused (403), so a
web page the operator visits cannot read the status through a DNS name it
points at 127.0.0.1 (DNS rebinding).  Behind a reverse proxy, have it send
``Host: 127.0.0.1``.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

from redisops.alerts.model import Incident
from redisops.daemon.http import Response
from redisops.topology.status import StatusReport

__all__ = ["MAX_INCIDENTS", "PAGE_FORMAT", "SECURITY_HEADERS", "StatusPage", "incident_record"]

#: incidents the page keeps: a bad day's worth, and a JSON document a phone still fetches every second
MAX_INCIDENTS = 50
#: the version of ``/api/status``'s shape
PAGE_FORMAT = 1

#: path -> (file in static/, content type)
_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
_JSON = "application/json; charset=utf-8"
_TEXT = "text/plain; charset=utf-8"

#: on every page response: only the page's own files run, nothing frames it, no referrer leaves it
SECURITY_HEADERS = (
    ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                                "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)


def incident_record(incident: Incident) -> dict[str, Any]:
    """An incident as ``watch --json`` prints it: ``status`` (firing / resolved) and its fields."""
    return {"status": "resolved" if incident.resolved else "firing", **incident.to_dict()}


class StatusPage:
    """The page's state (the last poll and the recent incidents) and its HTTP answers.

    ``cycle`` and ``notify`` may come from different threads (the backup
    schedule's sink runs in its own): a lock guards the state."""

    def __init__(self, *, poll_interval_s: float = 2.0, secrets: Iterable[str | None] = (),
                 keep: int = MAX_INCIDENTS, wall: Callable[[], float] = time.time) -> None:
        self.poll_interval_s = poll_interval_s
        self.keep = keep
        self.wall = wall
        # longest first, so a password that contains another is scrubbed whole
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._lock = threading.Lock()
        self._incidents: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._status: dict[str, Any] | None = None
        self._sentence: str | None = None
        self._updated_at: float | None = None
        self._files: dict[str, bytes] = {}

    # --- fed by the daemon ----------------------------------------------------------------------------

    def add_secrets(self, secrets: Iterable[str | None]) -> None:
        """Scrub these too (the daemon read a changed secrets file)."""
        with self._lock:
            self._secrets = sorted({*self._secrets, *(s for s in secrets if s)}, key=len, reverse=True)

    def cycle(self, sentence: str, report: StatusReport) -> None:
        """A poll's sentence and report (the watcher's ``on_cycle``)."""
        status = report.to_dict()
        with self._lock:
            self._status, self._sentence, self._updated_at = status, sentence, self.wall()

    def notify(self, incident: Incident) -> None:
        """An incident opened, updated or resolved (an alert sink): it replaces the one of its key."""
        record = incident_record(incident)
        with self._lock:
            self._incidents.pop(incident.key, None)
            self._incidents[incident.key] = record
            while len(self._incidents) > self.keep:
                self._incidents.popitem(last=False)

    def snapshot(self) -> dict[str, Any]:
        """The document ``/api/status`` serves (before scrubbing)."""
        with self._lock:
            incidents = sorted(self._incidents.values(), key=lambda r: r["started_at"], reverse=True)
            return {"format": PAGE_FORMAT, "now": self.wall(), "updated_at": self._updated_at,
                    "poll_interval_s": self.poll_interval_s, "sentence": self._sentence,
                    "status": self._status, "incidents": incidents}

    # --- served ---------------------------------------------------------------------------------------

    def answer(self, path: str, host: str | None) -> Response | None:
        """The response to ``GET path`` with this ``Host`` header; None for a path that is not the page's."""
        if path != "/api/status" and path not in _FILES:
            return None
        if not loopback_host(host):
            return Response("403 Forbidden", _TEXT, b"redisops: the status page answers requests for 127.0.0.1 "
                            b"or localhost only (a proxy in front must send Host: 127.0.0.1)\n", SECURITY_HEADERS)
        if path == "/api/status":
            return Response("200 OK", _JSON, self._scrubbed(json.dumps(self.snapshot(), default=str)).encode(),
                            SECURITY_HEADERS)
        name, kind = _FILES[path]
        return Response("200 OK", kind, self._file(name), SECURITY_HEADERS)

    def _scrubbed(self, text: str) -> str:
        for secret in self._secrets:
            for form in (secret, json.dumps(secret)[1:-1]):  # as is, and as JSON escapes it
                text = text.replace(form, "***")
        return text

    def _file(self, name: str) -> bytes:
        if name not in self._files:
            self._files[name] = (resources.files("redisops.daemon") / "static" / name).read_bytes()
        return self._files[name]


def loopback_host(host: str | None) -> bool:
    """Whether a ``Host`` header names this machine: ``localhost``, 127.0.0.0/8 or ``[::1]``, any port.

    No header at all (HTTP/1.0) passes: only a browser's request can be steered
    by DNS rebinding, and every browser sends one."""
    if host is None:
        return True
    name = host.strip().lower()
    if name.startswith("["):  # [::1]:9122
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
