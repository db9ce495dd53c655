"""The status page's state and answers, without a network: which Host names pass, secrets scrubbed from
/api/status, the incident list (an update replaces its incident, the oldest touched goes first), and the bounded
wait of ``find_page`` on a fake clock."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from redisops.alerts.model import Incident, IncidentKind, Severity, TimelineEntry
from redisops.clock import FakeClock
from redisops.daemon.dashboard import find_page
from redisops.daemon.page import StatusPage, loopback_host
from redisops.errors import EnvironmentProblem, NodeUnreachableError


@pytest.mark.parametrize("host", [None, "127.0.0.1", "127.0.0.1:9122", "127.1.2.3:80", "localhost", "LOCALHOST:9122",
                                  "[::1]:9122", "[::1]", "::1"])
def test_loopback_names_pass(host: str | None) -> None:
    assert loopback_host(host)


@pytest.mark.parametrize("host", ["", "example.com", "example.com:9122", "10.0.0.1:9122", "[::2]:9122",
                                  "localhost.example.com", "127.0.0.1.nip.io:9122", "0.0.0.0:9122"])
def test_other_names_are_refused(host: str) -> None:
    assert not loopback_host(host)
    page = StatusPage()
    answer = page.answer("/api/status", host)
    assert answer is not None and answer.status.startswith("403")


def incident(key: str, at: float, *, title: str = "t", resolved: bool = False) -> Incident:
    return Incident(key=key, kind=IncidentKind.REPLICA_DOWN, severity=Severity.WARNING, group="g", title=title,
                    started_at=at, resolved_at=at + 1 if resolved else None,
                    timeline=(TimelineEntry(at, "poll", "poll", "down"),))


def served(page: StatusPage) -> dict[str, object]:
    answer = page.answer("/api/status", "127.0.0.1:9122")
    assert answer is not None and answer.status == "200 OK"
    return dict(json.loads(answer.body))


def test_incidents_newest_first_an_update_replaces_and_the_list_is_bounded() -> None:
    page = StatusPage(keep=3, wall=lambda: 100.0)
    for i in range(4):
        page.notify(incident(f"k{i}", float(i)))
    page.notify(incident("k1", 1.0, resolved=True))  # touched last: kept; k0 was the oldest touched
    doc = served(page)
    assert [(i["key"], i["status"]) for i in doc["incidents"]] == [  # type: ignore[attr-defined]
        ("k3", "firing"), ("k2", "firing"), ("k1", "resolved")]
    assert doc["status"] is None and doc["now"] == 100.0 and doc["format"] == 1


def test_passwords_are_scrubbed_however_they_are_written() -> None:
    page = StatusPage(secrets=["s3cr\"et", "plain-pass", None, ""])
    page.notify(incident("a", 1.0, title="auth s3cr\"et failed, plain-pass too"))
    answer = page.answer("/api/status", None)
    assert answer is not None
    assert b"plain-pass" not in answer.body and b"s3cr" not in answer.body
    assert json.loads(answer.body)["incidents"][0]["title"] == "auth *** failed, *** too"


def test_paths_that_are_not_the_pages_are_left_to_the_endpoint() -> None:
    page = StatusPage()
    for path in ("/metrics", "/static/app.js", "/../pyproject.toml", "/api"):
        assert page.answer(path, "127.0.0.1") is None
    for path in ("/", "/index.html", "/app.js", "/style.css"):
        answer = page.answer(path, "localhost")
        assert answer is not None and answer.status == "200 OK" and answer.body


def test_find_page_waits_a_bounded_time_for_a_starting_watcher() -> None:
    clock = FakeClock()
    with pytest.raises(NodeUnreachableError, match="no status page answers"):
        find_page(1, wait_s=2.0, clock=clock)  # port 1: nothing listens there
    assert 1.8 <= clock.t <= 2.2 and len(clock.slept) <= 11


@pytest.mark.parametrize("reply", [b"-ERR unknown command\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
                                   b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", b"HTTP/1.1 404 Not Found\r\n\r\n"])
def test_another_program_on_the_port_is_named_as_such(reply: bytes) -> None:
    """Not a redisops page (a Redis port, an HTML server, another JSON API): exit 2 with what to do, not a
    traceback."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        def answer() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(reply)

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        with pytest.raises(EnvironmentProblem, match=f"127.0.0.1:{port} is not a redisops status page"):
            find_page(port)
        thread.join(timeout=5)


def test_a_failing_page_is_a_500_and_metrics_still_answer() -> None:
    from prometheus_client import CollectorRegistry

    from redisops.daemon.http import MetricsEndpoint, Response

    class Broken:
        def answer(self, path: str, host: str | None) -> Response | None:
            raise RuntimeError("boom")

    endpoint = MetricsEndpoint(CollectorRegistry(), 0, pages=Broken())
    assert endpoint._answer("GET", "/", "127.0.0.1").status.startswith("500")
    assert endpoint._answer("GET", "/metrics", "127.0.0.1").status == "200 OK"
