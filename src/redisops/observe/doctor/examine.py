"""One doctor run: every node examined in parallel, then the host, into one :class:`DoctorReport`.

Per node, on one connection: ``INFO all`` and ``CONFIG GET`` (the rules of
:mod:`.rules`), ``MEMORY DOCTOR``, ``SLOWLOG GET`` (grouped, :mod:`.slowlog`), the big
keys (:mod:`.bigkeys`, on masters: a replica holds the same keys), and the latency
monitor (:mod:`.latency`).  A node whose latency monitor is off gets it on for
``latency_window_s``; the other reads happen inside that window, so a run lasts about
one window however many nodes it examines.

A run starts by undoing what a killed redisops left behind
(:func:`~redisops.runtime.temporary.recover`): a doctor killed in its window leaves
``latency-monitor-threshold`` raised, journaled with its original value, and the next
doctor puts it back before it reads anything.

A node that refuses one command (an ACL without ``+memory``) still gets the rest
examined; the refusal is a finding that names the permission to grant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from redisops.address import Address
from redisops.auth import Credential, connection_kwargs, tls_of
from redisops.clients import TlsConnection
from redisops.clock import Clock, SystemClock
from redisops.observe.doctor.bigkeys import BigKeyLimits, bigkey_findings, sample_bigkeys
from redisops.observe.doctor.host import (
    host_findings,
    intrinsic_findings,
    intrinsic_latency,
    is_local,
    merge_inputs,
    read_host,
)
from redisops.observe.doctor.latency import PARAM, latency_findings, parse_latest
from redisops.observe.doctor.model import DoctorReport, Finding, NodeReport, Severity
from redisops.observe.doctor.rules import Thresholds, figures_of, info_findings, memory_doctor_findings
from redisops.observe.doctor.slowlog import group_slowlog, parse_slowlog, slowlog_findings
from redisops.runtime.temporary import Journal, recover, temporary_config
from redisops.topology.parse import parse_info

__all__ = ["CONFIG_PARAMS", "DoctorNode", "DoctorSettings", "examine", "examine_node"]

#: CONFIG GET parameters the rules read
CONFIG_PARAMS = ("maxmemory", "maxmemory-policy", "maxclients", PARAM, "slowlog-log-slower-than", "tcp-backlog",
                 "disable-thp")
#: what a refused command needs granted (ACL), for the finding that says so
ACL_OF = {"INFO": "+info", "CONFIG": "+config|get", "MEMORY": "+memory|doctor", "SLOWLOG": "+slowlog|get",
          "LATENCY": "+latency|latest +latency|doctor", "SCAN": "+scan +type +memory|usage"}
REASON = "doctor: latency sampling window"


@dataclass(frozen=True)
class DoctorNode:
    name: str
    address: Address
    password: Credential = field(default=None, repr=False)


@dataclass(frozen=True)
class DoctorSettings:
    #: seconds the latency monitor runs on a node that has it off (0: do not turn it on)
    latency_window_s: float = 2.0
    #: the threshold set for that window: low, to catch spikes of a short sample
    latency_threshold_ms: int = 10
    slowlog_entries: int = 128
    worst_entries: int = 5
    bigkeys: BigKeyLimits = BigKeyLimits()
    thresholds: Thresholds = Thresholds()
    #: check the host's kernel settings (only when the nodes are on this machine)
    host: bool = True
    #: seconds of ``redis-cli --intrinsic-latency`` on this host, beside the nodes' examination (0: none)
    intrinsic_s: int = 0
    host_root: Path = Path("/")
    timeout: float = 5.0


class _Raw:
    """One connection answering raw replies (no redis-py parsing): INFO text, SLOWLOG arrays."""

    def __init__(self, address: Address, password: Credential, timeout: float) -> None:
        kind = TlsConnection if tls_of(password) else redis.Connection
        self.conn = kind(host=address.host, port=address.port, **connection_kwargs(password), socket_timeout=timeout,
                         socket_connect_timeout=min(timeout, 2.0), retry=Retry(NoBackoff(), 0), protocol=2)

    def __call__(self, *args: Any) -> Any:
        self.conn.send_command(*args)
        return self.conn.read_response()

    def many(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """One round trip; an error reply is returned as its exception, in its place."""
        self.conn.send_packed_command(self.conn.pack_commands(commands))
        replies = []
        for _ in commands:
            try:
                replies.append(self.conn.read_response())
            except redis.ResponseError as exc:
                replies.append(exc)
        return replies

    def close(self) -> None:
        self.conn.disconnect()


def examine(nodes: Sequence[DoctorNode], *, journal: Journal | None = None,
            settings: DoctorSettings = DoctorSettings(), fail_on: Severity = Severity.WARNING,
            clock: Clock | None = None) -> DoctorReport:
    """Examine ``nodes`` (in parallel) and, when they run here, the host."""
    clock = clock or SystemClock()
    began = clock.now()
    journal = journal or Journal(None)
    recovered = recover(journal, nodes[0].password) if nodes else []
    masters_only = len(nodes) > 1
    local = settings.host and all(is_local(n.address.host) for n in nodes)
    with ThreadPoolExecutor(max_workers=max(1, min(16, len(nodes))) + 1, thread_name_prefix="doctor") as pool:
        intrinsic = pool.submit(intrinsic_latency, settings.intrinsic_s) if local and settings.intrinsic_s else None
        reports = list(pool.map(lambda n: examine_node(n, journal, settings, clock, bigkeys_on_replicas=not
                                                       masters_only), nodes))
        stalls = intrinsic.result() if intrinsic is not None else None
    host, figures = _host(reports, nodes, settings)
    if stalls is not None:
        figures["intrinsic_latency"] = {**stalls, "seconds": settings.intrinsic_s}
        host += intrinsic_findings(stalls)
    return DoctorReport(reports, host, figures, fail_on, recovered, clock.now() - began)


def examine_node(node: DoctorNode, journal: Journal, settings: DoctorSettings, clock: Clock, *,
                 bigkeys_on_replicas: bool = True) -> NodeReport:
    report = NodeReport(node.name, node.address)
    try:
        raw = _Raw(node.address, node.password, settings.timeout)
        try:
            _examine(raw, node, report, journal, settings, clock, bigkeys_on_replicas)
        finally:
            raw.close()
    except redis.AuthenticationError as exc:
        _failed(report, "node.auth", f"{_who(node)} refused the password: {exc}",
                "check admin_password (or redis_password) in the secrets file, or the variable given to --password-env")
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        _failed(report, "node.unreachable", f"{_who(node)} does not answer: {exc}",
                "is it running? `redisops status`; `redisops up` restarts the spec's nodes")
    except redis.ResponseError as exc:
        _failed(report, "node.refused", f"{_who(node)} refused the doctor: {exc}",
                "a loading node answers once loaded; an ACL user needs +info +config|get")
    return report


def _who(node: DoctorNode) -> str:
    return node.name if node.name == str(node.address) else f"{node.name} ({node.address})"


def _failed(report: NodeReport, finding_id: str, message: str, fix: str) -> None:
    report.error = message
    report.findings.append(Finding(finding_id, Severity.ERROR, message, "the node could not be examined", fix,
                                   report.name))


def _examine(raw: _Raw, node: DoctorNode, report: NodeReport, journal: Journal, settings: DoctorSettings,
             clock: Clock, bigkeys_on_replicas: bool) -> None:
    info = parse_info(_text(raw("INFO", "all")))
    config = report.config = _config(raw, report)
    report.role = {"slave": "replica"}.get(info.get("role", ""), info.get("role", "unknown"))
    report.figures = figures_of(info)
    found = info_findings(info, config, settings.thresholds)
    # unknown when CONFIG GET was refused: then the monitor is read as it is, never changed
    threshold = int(config[PARAM]) if config.get(PARAM, "").isdigit() else None
    window = settings.latency_window_s if threshold == 0 else 0.0
    with temporary_config(journal, node.password, REASON) as temp:
        if window > 0:
            temp.set(node.address, PARAM, settings.latency_threshold_ms)
        opened = clock.now()
        report.memory_doctor = _section(raw, report, lambda: _text(raw("MEMORY", "DOCTOR")))
        if report.memory_doctor is not None:
            found += memory_doctor_findings(report.memory_doctor)
        found += _slowlog(raw, report, config, settings)
        if report.role == "master" or bigkeys_on_replicas:
            found += _bigkeys(node, report, info, settings, clock)
        if window > 0:
            clock.sleep(max(0.0, window - (clock.now() - opened)))
        found += _latency(raw, report, threshold, window, settings)
    report.findings += [f.on(node.name) for f in found]


def _section(raw: _Raw, report: NodeReport, read: Callable[[], Any]) -> Any:
    """``read()``; a refused command (NOPERM, unknown command) becomes a finding instead of the section."""
    try:
        return read()
    except redis.ResponseError as exc:
        grant = _grant(exc, "the command")
        report.findings.append(Finding(
            "doctor.refused", Severity.INFO, f"the node refused a command of the doctor: {exc}",
            "that part of the examination is missing from this report",
            f"grant {grant} to the user the doctor connects as (or run it as an admin user)", report.name))
        return None


def _grant(exc: redis.ResponseError, fallback: str) -> str:
    """The ACL rule a refusal asks for: NOPERM names the command (``'memory|doctor'`` -> ``+memory|doctor``)."""
    text = str(exc)
    if "no permissions to run the '" in text:
        return "+" + text.split("'")[1]
    if "'" in text:
        return ACL_OF.get(text.split("'")[1].split("|")[0].upper(), fallback)
    return fallback


def _config(raw: _Raw, report: NodeReport) -> dict[str, str]:
    reply = _section(raw, report, lambda: raw("CONFIG", "GET", *CONFIG_PARAMS))
    if reply is None:
        return {}
    if isinstance(reply, dict):
        return {_text(k): _text(v) for k, v in reply.items()}
    pairs = [_text(x) for x in reply]
    return dict(zip(pairs[::2], pairs[1::2], strict=True))


def _slowlog(raw: _Raw, report: NodeReport, config: dict[str, str], settings: DoctorSettings) -> list[Finding]:
    reply = _section(raw, report, lambda: raw("SLOWLOG", "GET", settings.slowlog_entries))
    if reply is None:
        return []
    slower = config.get("slowlog-log-slower-than")
    slower_us = int(slower) if slower not in (None, "") else None
    grouped = group_slowlog(parse_slowlog(reply), settings.worst_entries)
    report.slowlog = {**grouped, "log_slower_than_us": slower_us}
    return slowlog_findings(grouped, slower_us)


def _bigkeys(node: DoctorNode, report: NodeReport, info: dict[str, str], settings: DoctorSettings,
             clock: Clock) -> list[Finding]:
    dbs = sorted(int(k[2:]) for k in info if k.startswith("db") and k[2:].isdigit())
    if not dbs:
        report.bigkeys = {"sized": 0, "bytes": 0, "complete": True, "seconds": 0.0, "top": []}
        return []
    raw = _Raw(node.address, node.password, settings.timeout)
    try:
        sample = _section_bigkeys(raw, report, dbs, settings, clock)
    finally:
        raw.close()
    if sample is None:
        return []
    report.bigkeys = sample
    return bigkey_findings(sample, settings.bigkeys)


def _section_bigkeys(raw: _Raw, report: NodeReport, dbs: list[int], settings: DoctorSettings,
                     clock: Clock) -> dict[str, Any] | None:
    """On a connection of its own: a walk cut short by an error leaves no SELECT behind on the main one."""
    try:
        return sample_bigkeys(_raise_first(raw), dbs, settings.bigkeys, clock)
    except redis.ResponseError as exc:
        report.findings.append(Finding(
            "doctor.refused", Severity.INFO, f"the node refused the big-key sample: {exc}",
            "big keys are missing from this report",
            f"grant {_grant(exc, ACL_OF['SCAN'])} to the user the doctor connects as", report.name))
        return None


def _raise_first(raw: _Raw) -> Callable[[Sequence[tuple[Any, ...]]], list[Any]]:
    """The first error reply raised (a NOPERM names the permission; a vanished key is a nil, not an error)."""
    def ask(commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        replies = raw.many(commands)
        for reply in replies:
            if isinstance(reply, redis.ResponseError):
                raise reply
        return replies
    return ask


def _latency(raw: _Raw, report: NodeReport, threshold: int | None, window: float,
             settings: DoctorSettings) -> list[Finding]:
    latest = _section(raw, report, lambda: raw("LATENCY", "LATEST"))
    if latest is None:
        return []
    events = parse_latest(latest)
    doctor = _section(raw, report, lambda: _text(raw("LATENCY", "DOCTOR")))
    report.latency = {"threshold_ms": threshold, "sampled_s": window,
                      "sample_threshold_ms": settings.latency_threshold_ms if window else None,
                      "events": [e.to_dict() for e in events], "doctor": doctor}
    return latency_findings(events, threshold, sampled=window > 0 or threshold is None)


def _host(reports: list[NodeReport], nodes: Sequence[DoctorNode],
          settings: DoctorSettings) -> tuple[list[Finding], dict[str, Any]]:
    if not settings.host:
        return [], {"checked": False, "why": "--no-host"}
    remote = sorted({n.address.host for n in nodes if not is_local(n.address.host)})
    if remote:
        return [], {"checked": False, "why": f"nodes on other hosts ({', '.join(remote)}): run the doctor there"}
    figures = read_host(settings.host_root)
    configs = [r.config for r in reports if r.error is None]
    return host_findings(figures, merge_inputs(configs)), {"checked": True, **figures}


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
