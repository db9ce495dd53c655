"""``monitor up | down | status``: the local Prometheus + redis_exporter + Alertmanager stack of a spec.

State lives in ``.redisops/<name>/monitor/`` next to the nodes' directories:
``prometheus/`` (prometheus.yml, data), ``alertmanager/`` (alertmanager.yml,
mode 0600, its secret files, data), ``exporter/`` (the password map, mode
0600); each with its pid file and log.  ``up`` converges like the nodes' ``up``:
configs are regenerated from the spec every time, a running service whose
configs changed is reloaded or restarted, a missing one started; then it waits
until Prometheus has scraped every target.
"""

from __future__ import annotations

import functools
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import yaml

from redisops.clock import Clock, SystemClock
from redisops.errors import InputError, RedisopsError
from redisops.observe.stack.acl import AclOutcome, diagnose, ensure_user
from redisops.observe.stack.config import (
    EXPORTER_USER,
    JOBS,
    alertmanager_config,
    exporter_passwords,
    prometheus_config,
    receivers,
    scrape_targets,
    target_uri,
)
from redisops.observe.stack.secret import exporter_password
from redisops.observe.stack.services import Service, find_binary
from redisops.runtime.plan import NodeKind, Plan, build_plan, state_dir
from redisops.runtime.tls import open_secrets
from redisops.spec.load import load
from redisops.spec.models import Spec
from redisops.spec.secrets import Secrets, write_private

__all__ = ["Monitor", "MonitorConfigError", "StackReport", "Target"]

Progress = Callable[[str], None]

#: (binary, Debian package) of every tool the stack runs or checks its configs with
BINARIES = {"prometheus": "prometheus", "promtool": "prometheus", "prometheus-alertmanager": "prometheus-alertmanager",
            "amtool": "prometheus-alertmanager", "prometheus-redis-exporter": "prometheus-redis-exporter"}


#: what redis_exporter 1.45 says for any failed connection or login (it retries a failed URL as a network name)
OPAQUE_ERRORS = frozenset({"dial redis: unknown network redis", ""})

#: the jobs whose targets are nodes scraped through the exporter
NODE_JOBS = frozenset(JOBS.values())


class MonitorConfigError(InputError):
    """A generated config (or a rule file it loads) that promtool / amtool reject: the tool's own words."""

    def __init__(self, what: str, detail: str) -> None:
        self.detail = detail
        super().__init__(f"{what} is invalid: {detail}",
                         hint="fix the rule file or the spec's `monitor:` / `alerts:` section it names")


@dataclass(frozen=True)
class Target:
    """One scrape target as Prometheus sees it."""

    job: str
    instance: str
    node: str
    health: str  # up, down, unknown (not scraped yet)
    last_error: str
    last_scrape: str

    def to_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


@dataclass
class StackReport:
    """What ``up`` did and what ``status`` sees: services, targets, firing alerts, URLs."""

    services: dict[str, str]  # name -> state ("started", "running", "stopped", ...)
    urls: dict[str, str]
    targets: list[Target] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    acl: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def down(self) -> list[Target]:
        return [t for t in self.targets if t.health != "up"]

    @property
    def exit_code(self) -> int:
        """0 every service running and every target up; 1 some target down; 3 a service not running."""
        if any(state in ("stopped", "not running") for state in self.services.values()):
            return 3
        return 1 if self.down or not self.targets else 0

    def to_dict(self) -> dict[str, Any]:
        return {"services": self.services, "urls": self.urls, "targets": [t.to_dict() for t in self.targets],
                "targets_up": len(self.targets) - len(self.down), "targets_total": len(self.targets),
                "alerts": self.alerts, "acl": self.acl, "notes": self.notes, "seconds": round(self.seconds, 2)}


class Monitor:
    """The stack of one spec file."""

    def __init__(self, spec_file: Path, spec: Spec, secrets: Secrets, plan: Plan, *,
                 clock: Clock | None = None) -> None:
        self.spec_file = spec_file
        self.spec = spec
        self.secrets = secrets
        self.plan = plan
        self.clock = clock or SystemClock()
        self.directory = state_dir(spec, spec_file) / "monitor"

    @classmethod
    def open(cls, spec_file: Path, *, clock: Clock | None = None) -> Monitor:
        spec = load(spec_file)
        secrets = open_secrets(spec, spec_file)
        return cls(spec_file, spec, secrets, build_plan(spec), clock=clock)

    # --- where things are ---------------------------------------------------------
    def dir(self, service: str) -> Path:
        return self.directory / service

    @property
    def secrets_file(self) -> Path:
        return self.spec_file.parent / self.spec.auth.secrets_file

    @property
    def scheme(self) -> str:
        """How the exporter dials the nodes: ``rediss`` for a TLS deployment."""
        return "rediss" if self.secrets.tls is not None else "redis"

    def _exporter_tls(self) -> list[str]:
        """The exporter's TLS flags: the CA bundle, and redisops' client certificate (tls-auth-clients)."""
        tls = self.secrets.tls
        if tls is None:
            return []
        return [f"--tls-ca-cert-file={tls.ca_file}", f"--tls-client-cert-file={tls.cert_file}",
                f"--tls-client-key-file={tls.key_file}"]

    def services(self, binaries: dict[str, str] | None = None) -> list[Service]:
        """The three services, in start order (the exporter first: Prometheus scrapes it at once)."""
        binaries = binaries or {name: name for name in BINARIES}
        m = self.spec.monitor
        prom, am, exp = self.dir("prometheus"), self.dir("alertmanager"), self.dir("exporter")
        timeout = max(1.0, min(5.0, 0.8 * min(10.0, m.scrape_interval_s)))
        return [
            Service("redis_exporter", exp, (
                binaries["prometheus-redis-exporter"], f"--web.listen-address={m.host}:{m.exporter_port}",
                "--redis.addr=", f"--redis.user={EXPORTER_USER}",
                f"--redis.password-file={exp / 'passwords.json'}", f"--connection-timeout={timeout:g}s",
                *self._exporter_tls(),
            ), m.host, m.exporter_port, "monitor.exporter_port", "/health", (exp / "passwords.json",)),
            Service("alertmanager", am, (
                binaries["prometheus-alertmanager"], f"--config.file={am / 'alertmanager.yml'}",
                f"--storage.path={am / 'data'}", f"--web.listen-address={m.host}:{m.alertmanager_port}",
                f"--web.external-url=http://{m.host}:{m.alertmanager_port}/", "--cluster.listen-address=",
            ), m.host, m.alertmanager_port, "monitor.alertmanager_port", "/-/ready", self._am_files(), True),
            Service("prometheus", prom, (
                binaries["prometheus"], f"--config.file={prom / 'prometheus.yml'}",
                f"--storage.tsdb.path={prom / 'data'}", f"--storage.tsdb.retention.time={m.retention_days}d",
                f"--web.listen-address={m.host}:{m.prometheus_port}",
                f"--web.external-url=http://{m.host}:{m.prometheus_port}/",
            ), m.host, m.prometheus_port, "monitor.prometheus_port", "/-/ready", self._prom_files(), True),
        ]

    def _am_files(self) -> tuple[Path, ...]:
        am = self.dir("alertmanager")
        secrets = sorted((am / "secrets").glob("*")) if (am / "secrets").is_dir() else []
        return (am / "alertmanager.yml", *secrets)

    def _prom_files(self) -> tuple[Path, ...]:
        """prometheus.yml and every rule file it loads: a rule edited since the last run is a change too."""
        return (self.dir("prometheus") / "prometheus.yml", *[Path(p) for p in self._rule_paths()])

    def urls(self) -> dict[str, str]:
        return {s.name: s.url for s in self.services()}

    # --- configs --------------------------------------------------------------------
    def rule_globs(self) -> list[str]:
        """The shipped rules (``redisops/observe/rules/*.yml``) and the spec's own ``monitor.rule_files``."""
        shipped = Path(str(resources.files("redisops.observe"))) / "rules"
        base = self.spec_file.parent.resolve()
        return [str(shipped / "*.yml"), *[str(base / pattern) for pattern in self.spec.monitor.rule_files]]

    def _rule_paths(self) -> list[str]:
        import glob

        return sorted({p for pattern in self.rule_globs() for p in glob.glob(pattern)})

    def write_configs(self) -> list[str]:
        """Write every config from the spec (secrets in 0600 files); returns notes on what could not be carried."""
        prom, am, exp = self.dir("prometheus"), self.dir("alertmanager"), self.dir("exporter")
        for directory in (prom, am, am / "secrets", exp):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        targets = scrape_targets(self.plan)
        password = exporter_password(self.secrets_file)
        _write_if_changed(exp / "passwords.json",
                          json.dumps(exporter_passwords(targets, password, self.scheme), indent=1))
        built = receivers(self.spec.alerts.channels, self.spec_file.parent.resolve(), am / "secrets")
        for stale in set(p.name for p in (am / "secrets").iterdir()) - set(built.files):
            (am / "secrets" / stale).unlink()
        for name, content in built.files.items():
            _write_if_changed(am / "secrets" / name, content + "\n")
        _write_if_changed(am / "alertmanager.yml", _yaml(alertmanager_config(self.spec, built)))
        _write_if_changed(prom / "prometheus.yml",
                          _yaml(prometheus_config(self.spec, targets, self.rule_globs(), scheme=self.scheme)),
                          mode=0o644)
        return built.notes

    def check_configs(self, binaries: dict[str, str]) -> None:
        """promtool and amtool on what was written: prometheus.yml with every rule file, alertmanager.yml."""
        checks = [("prometheus.yml (or a rule file it loads)",
                   [binaries["promtool"], "check", "config", str(self.dir("prometheus") / "prometheus.yml")]),
                  ("alertmanager.yml", [binaries["amtool"], "check-config", str(self.dir("alertmanager") /
                                                                                "alertmanager.yml")])]
        for what, argv in checks:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
            if done.returncode != 0:
                raise MonitorConfigError(what, _tool_error(done.stdout + done.stderr))

    # --- the exporter's user ----------------------------------------------------------
    def ensure_exporter_user(self) -> list[AclOutcome]:
        password = exporter_password(self.secrets_file)
        out = []
        for node in self.plan.nodes:
            admin = self.secrets.sentinel if node.kind is NodeKind.SENTINEL else self.secrets.admin
            out.append(ensure_user(node.address, node.kind, admin, EXPORTER_USER, password))
        return out

    # --- the commands -----------------------------------------------------------------
    def up(self, *, timeout: float = 60.0, progress: Progress = lambda _msg: None) -> StackReport:
        """Converge the stack on the spec and wait until Prometheus has scraped every target up."""
        began = self.clock.now()
        binaries = {name: find_binary(name, package) for name, package in BINARIES.items()}
        services = self.services(binaries)
        for service in services:  # every port before anything changes: a taken one leaves nothing half done
            if service.pid() is None:
                service.check_port()
        progress("setting the exporter's ACL user on every node")
        acl = self.ensure_exporter_user()
        progress("writing and checking configs")
        notes = self.write_configs()
        self.check_configs(binaries)
        states: dict[str, str] = {}
        for service in self.services(binaries):  # anew: the config files it fingerprints exist now
            progress(f"{service.name}: converging")
            states[service.name] = service.converge()
            service.wait_ready(self.clock, max(5.0, timeout - (self.clock.now() - began)))
        progress("waiting for every scrape target")
        targets = self._wait_targets(began + timeout)
        report = StackReport(states, self.urls(), targets, self._alerts(), [_acl_line(a) for a in acl],
                             notes + [_acl_line(a) for a in acl if a.action == "failed"],
                             self.clock.now() - began)
        return report

    def _wait_targets(self, deadline: float) -> list[Target]:
        """Poll Prometheus' targets until every one is up, or until each was scraped and those down stayed
        down for one more scrape interval (a dead node will not come up by waiting), or the deadline."""
        grace = self.spec.monitor.scrape_interval_s + 0.5
        settled_at: float | None = None
        targets: list[Target] = []
        while True:
            try:
                targets = self.targets()
            except RedisopsError:
                targets = []
            if targets and all(t.health == "up" for t in targets):
                return targets
            now = self.clock.now()
            if targets and all(t.health != "unknown" for t in targets):
                settled_at = now if settled_at is None else settled_at
            else:
                settled_at = None
            if now > deadline or (settled_at is not None and now - settled_at > grace):
                return self._explained(targets)
            self.clock.sleep(0.25)

    def down(self) -> dict[str, str]:
        """Stop every service (Prometheus first, so it does not fire alerts about the others going)."""
        out = {}
        for service in reversed(self.services()):
            out[service.name] = "stopped" if service.stop(clock=self.clock) else "not running"
        return out

    def status(self) -> StackReport:
        states = {s.name: "running" if s.pid() is not None else "not running" for s in self.services()}
        targets: list[Target] = []
        alerts: list[dict[str, Any]] = []
        if states["prometheus"] == "running":
            targets, alerts = self._explained(self.targets()), self._alerts()
        return StackReport(states, self.urls(), targets, alerts)

    def _explained(self, targets: list[Target]) -> list[Target]:
        """Down nodes with the exporter's opaque error replaced by what the node itself says."""
        by_uri = {target_uri(n.address): n for n in self.plan.nodes}
        password = exporter_password(self.secrets_file, create=False)
        out = []
        for target in targets:
            node = by_uri.get(target.instance)
            if node is not None and target.health == "down" and target.last_error in OPAQUE_ERRORS:
                admin = self.secrets.sentinel if node.kind is NodeKind.SENTINEL \
                    else self.secrets.admin
                why = diagnose(node.address, node.kind, admin, EXPORTER_USER, password)
                target = replace(target, last_error=why)
            out.append(target)
        return out

    # --- Prometheus' API ----------------------------------------------------------------
    @functools.cached_property
    def _http(self) -> httpx.Client:
        """One client for every API call (a new one per call costs about 0.1 s: it loads the CA bundle, which
        plain HTTP on loopback never uses)."""
        return httpx.Client(timeout=3.0, verify=False)

    def _api(self, path: str) -> Any:
        url = self.urls()["prometheus"] + path
        try:
            response = self._http.get(url)
            response.raise_for_status()
            return response.json()["data"]
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise RedisopsError(f"Prometheus at {url} did not answer ({type(exc).__name__})",
                                hint="run `redisops monitor up`") from exc

    def targets(self) -> list[Target]:
        """Every active scrape target with its health and last error.

        For a node, Prometheus' own health says only that the exporter answered:
        the exporter answers 200 for a dead node too, with ``redis_up 0`` and the
        reason in ``redis_exporter_last_scrape_error{err}``.  So a node is ``up``
        when both are, and its error is the exporter's.
        """
        nodes = self._node_health()
        out = []
        for item in self._api("/api/v1/targets?state=active").get("activeTargets", []):
            labels = item.get("labels", {})
            health, error = item.get("health", "unknown"), item.get("lastError", "")
            if health == "up" and labels.get("job") in NODE_JOBS:
                health, error = nodes.get(labels.get("instance", ""), ("unknown", "not scraped yet"))
            out.append(Target(labels.get("job", ""), labels.get("instance", ""), labels.get("node", ""),
                              health, error, item.get("lastScrape", "")))
        return sorted(out, key=lambda t: (t.job, t.instance))

    def _node_health(self) -> dict[str, tuple[str, str]]:
        """instance -> (up / down, the exporter's last error), from the latest ``redis_up`` and scrape errors."""
        up = {r["metric"].get("instance", ""): r["value"][1]
              for r in self._api("/api/v1/query?query=redis_up").get("result", [])}
        errors = {r["metric"].get("instance", ""): r["metric"].get("err", "")
                  for r in self._api("/api/v1/query?query=redis_exporter_last_scrape_error").get("result", [])}
        return {instance: ("up" if value == "1" else "down", errors.get(instance, ""))
                for instance, value in up.items()}

    def _alerts(self) -> list[dict[str, Any]]:
        try:
            alerts = self._api("/api/v1/alerts").get("alerts", [])
        except RedisopsError:
            return []
        return [{"name": a.get("labels", {}).get("alertname", ""), "state": a.get("state", ""),
                 "labels": a.get("labels", {}), "active_at": a.get("activeAt", "")} for a in alerts]


def _acl_line(outcome: AclOutcome) -> str:
    if outcome.action == "failed":
        return f"exporter user not set on {outcome.address}: {outcome.detail} (run `redisops monitor up` again " \
               "once it runs)"
    return f"{outcome.address}: {outcome.action}"


def _yaml(data: dict[str, Any]) -> str:
    return "# generated by `redisops monitor up` from the spec; edits are overwritten\n" + \
        yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def _write_if_changed(path: Path, text: str, mode: int = 0o600) -> None:
    """Rewrite only a changed file, so an unchanged config keeps its content and a running service its state."""
    try:
        if path.read_text() == text:
            return
    except OSError:
        pass
    write_private(path, text, mode=mode)


def _tool_error(output: str) -> str:
    """The lines of promtool / amtool output that say what is wrong (they also print what passed)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    bad = [line for line in lines if any(w in line.lower() for w in ("error", "failed", "invalid", "unmarshal"))]
    return " ".join((bad or lines)[-3:])[:600] or "no output"
