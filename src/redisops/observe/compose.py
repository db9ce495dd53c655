"""``redisops render compose --with-monitoring``: the monitoring stack of ``monitor up``, as Compose services.

What the project gains (``monitoring/`` beside ``conf/``)::

    redis-exporter   redis_exporter 1.45, multi-target /scrape, logs in as the exporter's ACL user
    prometheus       the same prometheus.yml as ``monitor up`` (targets at the nodes' static addresses) and
                     the same rules: monitoring/prometheus/rules/ holds the shipped rules and the spec's own
    alertmanager     the same routes and receivers; its secrets come from alertmanager.env (0600) at start
    grafana          provisioned with the Prometheus and Loki datasources and the shipped dashboards
    loki, promtail   the nodes' logs, labelled node / role / level (:mod:`redisops.observe.compose_logs`)

The images are the versions the local stack runs from Debian 12 and the tests check (Prometheus 2.42,
Alertmanager 0.25, redis_exporter 1.45), so a rule or receiver that passes ``promtool`` / ``amtool`` here
behaves the same in the containers.  Grafana and Loki are not in Debian: their images are pinned tags.

Secrets stay out of every file but the 0600 env files, as for the nodes:

- the exporter's password goes to ``redisops.env`` (the nodes write the ACL user into ``auth.conf`` at each
  start) and to ``exporter.env`` (the exporter reads ``REDIS_USER`` / ``REDIS_PASSWORD``);
- Alertmanager's secrets go to ``alertmanager.env``; its start command writes them to files under its data
  volume (Slack URL, SMTP password) or into its config (Telegram's token, which 0.25 takes only inline);
- Grafana's admin password (``grafana_admin_password`` in the spec's secrets file) goes to ``grafana.env``.
"""

from __future__ import annotations

import glob
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from redisops.address import Address
from redisops.errors import InputError
from redisops.observe.compose_logs import LOKI_IMAGE, LOKI_PORT, PROMTAIL_IMAGE, loki_config, promtail_config
from redisops.observe.grafana import grafana_files
from redisops.observe.stack.acl import DATA_NODE_RULES, SENTINEL_RULES
from redisops.observe.stack.config import (
    EXPORTER_USER,
    Endpoints,
    alertmanager_config,
    prometheus_config,
    receivers,
    scrape_targets,
)
from redisops.observe.stack.monitor import MonitorConfigError, _tool_error
from redisops.observe.stack.secret import exporter_password, stored_secret
from redisops.runtime.compose import ComposeAddon, OutputFile, static_ips
from redisops.runtime.compose.tls import BUNDLE, MOUNT_DIR, client_mounts, compose_tls, rel
from redisops.runtime.plan import NodeKind, Plan
from redisops.spec.models import Spec

__all__ = ["IMAGES", "MONITORING_DIR", "monitoring_addon"]

MONITORING_DIR = "monitoring"

#: pinned images; the first three are the Debian 12 versions the local stack runs and the tests check
IMAGES = {
    "redis-exporter": "oliver006/redis_exporter:v1.45.0",
    "prometheus": "prom/prometheus:v2.42.0",
    "alertmanager": "prom/alertmanager:v0.25.0",
    "grafana": "grafana/grafana:11.3.0",
    "loki": LOKI_IMAGE,
    "promtail": PROMTAIL_IMAGE,
}
#: the ports inside the project network (each tool's own); the host sees Prometheus, Alertmanager and Grafana
#: on the spec's ``monitor.*_port``, on loopback
EXPORTER_PORT, PROMETHEUS_PORT, ALERTMANAGER_PORT, GRAFANA_PORT = 9121, 9090, 9093, 3000

EXPORTER_ENV = "exporter.env"
ALERTMANAGER_ENV = "alertmanager.env"
GRAFANA_ENV = "grafana.env"
GRAFANA_PASSWORD_KEY = "grafana_admin_password"
#: the variable of ``redisops.env`` the nodes put in the exporter user's line
PASSWORD_VAR = "EXPORTER_PASSWORD"

_AM_CONF = "/etc/alertmanager/alertmanager.yml"
_AM_DATA = PurePosixPath("/alertmanager")


class ComposeMonitoringError(InputError):
    """What the monitoring part of a Compose render cannot carry (an unusable secret, a rule file missing)."""


@dataclass(frozen=True)
class _Secret:
    var: str  # the variable of alertmanager.env
    value: str
    file: str | None  # the file the start command writes it to, or None for an inline placeholder
    placeholder: str | None


def monitoring_addon(spec: Spec, spec_file: Path, plan: Plan) -> ComposeAddon:
    """Everything ``--with-monitoring`` adds; generates the exporter's and Grafana's passwords into the spec's
    secrets file when they are missing (as ``monitor up`` does)."""
    secrets_file = spec_file.parent / spec.auth.secrets_file
    password = exporter_password(secrets_file)
    grafana_password = stored_secret(secrets_file, GRAFANA_PASSWORD_KEY)
    ips = static_ips(plan)
    targets = scrape_targets(plan, lambda node: Address(ips[node.name], node.address.port))
    m = spec.monitor
    files: dict[str, OutputFile] = {}

    rules = _rule_files(spec, spec_file)
    _check_rules(rules)
    for name, text in rules.items():
        files[f"{MONITORING_DIR}/prometheus/rules/{name}"] = OutputFile(text)
    endpoints = Endpoints(exporter=f"redis-exporter:{EXPORTER_PORT}", alertmanager=f"alertmanager:{ALERTMANAGER_PORT}",
                          prometheus=f"localhost:{PROMETHEUS_PORT}")
    tls = compose_tls(spec)
    prometheus = prometheus_config(spec, targets, ["rules/*.yml"], endpoints, scheme="rediss" if tls else "redis")
    files[f"{MONITORING_DIR}/prometheus/prometheus.yml"] = OutputFile(_yaml(prometheus))

    built = receivers(spec.alerts.channels, spec_file.parent.resolve(), _AM_DATA / "secrets", placeholders=True)
    secrets = _am_secrets(built.files, built.inline)
    files[f"{MONITORING_DIR}/alertmanager/alertmanager.yml"] = OutputFile(_yaml(alertmanager_config(spec, built)))
    files[ALERTMANAGER_ENV] = OutputFile(_env_file("Alertmanager's receiver secrets",
                                                   {s.var: s.value for s in secrets}), 0o600)
    files[EXPORTER_ENV] = OutputFile(_env_file("the exporter's login on every node",
                                               {"REDIS_USER": EXPORTER_USER, "REDIS_PASSWORD": password}), 0o600)
    files[GRAFANA_ENV] = OutputFile(_env_file("Grafana's admin login (user admin)",
                                              {"GF_SECURITY_ADMIN_PASSWORD": grafana_password}), 0o600)

    loki_url = f"http://loki:{LOKI_PORT}"
    for path, text in grafana_files(f"http://prometheus:{PROMETHEUS_PORT}", dashboards_dir="/etc/redisops/dashboards",
                                   scrape_interval_s=m.scrape_interval_s, loki_url=loki_url).items():
        files[f"{MONITORING_DIR}/grafana/{path}"] = OutputFile(text)
    files[f"{MONITORING_DIR}/loki/loki.yaml"] = OutputFile(_yaml(loki_config(retention_days=m.retention_days)))
    files[f"{MONITORING_DIR}/promtail/promtail.yaml"] = OutputFile(
        _yaml(promtail_config(deployment=spec.name, loki_url=f"{loki_url}/loki/api/v1/push")))

    user_line = f"user {EXPORTER_USER} on >${{{PASSWORD_VAR}}} resetchannels"
    return ComposeAddon(
        services=_services(spec, secrets, tls),
        volumes=("prometheus-data", "alertmanager-data", "grafana-data", "loki-data", "promtail-data"),
        files=files,
        env={PASSWORD_VAR: password},
        auth_lines={NodeKind.REDIS: (f"{user_line} {' '.join(DATA_NODE_RULES)}",),
                    NodeKind.CLUSTER: (f"{user_line} {' '.join(DATA_NODE_RULES)}",),
                    NodeKind.SENTINEL: (f"{user_line} {' '.join(SENTINEL_RULES)}",)},
        header=(f"monitoring: Grafana http://127.0.0.1:{m.grafana_port}/ (user admin, password in {GRAFANA_ENV}),",
                f"  Prometheus http://127.0.0.1:{m.prometheus_port}/, "
                f"Alertmanager http://127.0.0.1:{m.alertmanager_port}/"),
        tls_clients=(EXPORTER_USER,) if tls else (),
    )


def _rule_files(spec: Spec, spec_file: Path) -> dict[str, str]:
    """The shipped rules, then the spec's ``monitor.rule_files`` (globs relative to the spec), by file name;
    a pattern matching nothing is an error, as a typo in it would silently drop the user's alerts."""
    out: dict[str, str] = {}
    shipped = resources.files("redisops.observe") / "rules"
    for entry in sorted(shipped.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yml"):
            out[entry.name] = entry.read_text(encoding="utf-8")
    base = spec_file.parent.resolve()
    for pattern in spec.monitor.rule_files:
        matches = sorted(glob.glob(str(base / pattern)))
        if not matches:
            raise ComposeMonitoringError(f"monitor.rule_files: {pattern!r} matches no file under {base}",
                                         hint="fix the pattern or remove it from the spec")
        for path in map(Path, matches):
            name = f"spec-{path.stem}.yml"
            if name in out:
                raise ComposeMonitoringError(f"monitor.rule_files: two rule files are named {path.stem}",
                                             hint="give the spec's rule files distinct names")
            try:
                out[name] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ComposeMonitoringError(f"monitor.rule_files: cannot read {path} ({type(exc).__name__})",
                                             hint="fix the file's permissions or the pattern") from exc
    return out


def _check_rules(rules: dict[str, str]) -> None:
    """``promtool check rules`` on every rule file when Debian's prometheus is installed (the tests install it),
    so a rule edited into invalid PromQL stops the render with promtool's words, not the container at start."""
    promtool = shutil.which("promtool")
    if promtool is None:
        return
    with tempfile.TemporaryDirectory(prefix="redisops-rules-") as scratch:
        paths = []
        for name, text in rules.items():
            (Path(scratch) / name).write_text(text, encoding="utf-8")
            paths.append(str(Path(scratch) / name))
        done = subprocess.run([promtool, "check", "rules", *paths], capture_output=True, text=True, timeout=60,
                              check=False)
    if done.returncode != 0:
        raise MonitorConfigError("a rule file", _tool_error((done.stdout + done.stderr).replace(scratch + "/", "")))


def _am_secrets(files: dict[str, str], inline: dict[str, str]) -> list[_Secret]:
    out = []
    for k, (name, value) in enumerate(sorted(files.items())):
        out.append(_Secret(f"AM_SECRET_{k}", value, name, None))
    for k, (placeholder, value) in enumerate(sorted(inline.items()), start=len(out)):
        out.append(_Secret(f"AM_SECRET_{k}", value, None, placeholder))
    for secret in out:
        if any(ch in secret.value for ch in "\n\r'\"\\") or not secret.value:
            what = secret.file or (secret.placeholder or "").strip("@").split(":", 1)[-1]
            raise ComposeMonitoringError(f"alert secret {what} holds a quote, backslash or line break, or is empty",
                                         hint="check the value the spec's *_env / *_file points to")
    return out


def _am_start(secrets: list[_Secret], external_url: str) -> str:
    """Alertmanager's start: its secrets from the environment into files (mode 0600) on its volume, the
    placeholders of inline-only secrets replaced in a copy of its config, then the server."""
    config = _AM_CONF
    lines = ["set -eu", "umask 077", f"mkdir -p {_AM_DATA / 'secrets'}"]
    for secret in secrets:
        lines.append(f': "${{{secret.var}:?not set: {ALERTMANAGER_ENV} must sit next to docker-compose.yml}}"')
        if secret.file:
            lines.append(f'printf \'%s\\n\' "${secret.var}" > {_AM_DATA / "secrets" / secret.file}')
    inline = [s for s in secrets if s.placeholder]
    if inline:
        # awk with index/substr, not sub(): a secret is data, never a pattern or a replacement with `&`
        program = "".join(
            f'k="{s.placeholder}"; v=ENVIRON["{s.var}"]; '
            "while ((i = index($0, k)) > 0) $0 = substr($0, 1, i - 1) v substr($0, i + length(k)); "
            for s in inline)
        config = str(_AM_DATA / "alertmanager.yml")
        lines.append(f"awk '{{ {program}print }}' {_AM_CONF} > {config}.tmp")
        lines.append(f"mv {config}.tmp {config}")
    argv = ["/bin/alertmanager", f"--config.file={config}", f"--storage.path={_AM_DATA}",
            f"--web.external-url={external_url}", "--cluster.listen-address="]
    lines.append("exec " + " ".join(shlex.quote(a) for a in argv))
    return "\n".join(lines) + "\n"


def _http_health(port: int, path: str) -> dict[str, Any]:
    """busybox wget, which the prom/* images ship."""
    return {"test": ["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{port}{path}"],
            "interval": "10s", "timeout": "5s", "retries": 5, "start_period": "20s"}


def _exporter_tls() -> dict[str, Any]:
    """What the exporter adds in a TLS project: its client certificate mounted, the flags that use it, and root,
    which alone reads the key (mode 0600, owned by whoever rendered the project); the image has no shell."""
    flags = [f"--tls-ca-cert-file={MOUNT_DIR}/{BUNDLE}",
             f"--tls-client-cert-file={MOUNT_DIR}/{rel('clients', EXPORTER_USER, 'crt')}",
             f"--tls-client-key-file={MOUNT_DIR}/{rel('clients', EXPORTER_USER, 'key')}"]
    return {"flags": flags, "user": "0:0", "volumes": client_mounts(EXPORTER_USER)}


def _services(spec: Spec, secrets: list[_Secret], tls: bool = False) -> dict[str, dict[str, Any]]:
    m = spec.monitor
    timeout = max(1.0, min(5.0, 0.8 * min(10.0, m.scrape_interval_s)))
    labels = {"io.redisops.deployment": spec.name, "io.redisops.role": "monitoring"}
    mon = f"./{MONITORING_DIR}"
    extra = _exporter_tls() if tls else {"flags": []}
    return {
        "redis-exporter": {
            "image": IMAGES["redis-exporter"],
            **({"user": extra["user"], "volumes": extra["volumes"]} if tls else {}),
            "command": ["--redis.addr=", f"--web.listen-address=:{EXPORTER_PORT}",
                        f"--connection-timeout={timeout:g}s", *extra["flags"]],
            "env_file": [EXPORTER_ENV],
            "restart": "unless-stopped",
            "labels": labels,
        },
        "alertmanager": {
            "image": IMAGES["alertmanager"],
            "entrypoint": ["/bin/sh", "-c"],
            "command": [_escape(_am_start(secrets, f"http://127.0.0.1:{m.alertmanager_port}/"))],
            "env_file": [ALERTMANAGER_ENV],
            "volumes": [f"{mon}/alertmanager/alertmanager.yml:{_AM_CONF}:ro", f"alertmanager-data:{_AM_DATA}"],
            "ports": [f"127.0.0.1:{m.alertmanager_port}:{ALERTMANAGER_PORT}"],
            "healthcheck": _http_health(ALERTMANAGER_PORT, "/-/ready"),
            "restart": "unless-stopped",
            "labels": labels,
        },
        "prometheus": {
            "image": IMAGES["prometheus"],
            "command": ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus",
                        f"--storage.tsdb.retention.time={m.retention_days}d",
                        f"--web.external-url=http://127.0.0.1:{m.prometheus_port}/"],
            "volumes": [f"{mon}/prometheus:/etc/prometheus:ro", "prometheus-data:/prometheus"],
            "ports": [f"127.0.0.1:{m.prometheus_port}:{PROMETHEUS_PORT}"],
            "depends_on": {"redis-exporter": {"condition": "service_started"},
                           "alertmanager": {"condition": "service_started"}},
            "healthcheck": _http_health(PROMETHEUS_PORT, "/-/ready"),
            "restart": "unless-stopped",
            "labels": labels,
        },
        "loki": {
            "image": IMAGES["loki"],
            "command": ["-config.file=/etc/loki/loki.yaml"],
            "volumes": [f"{mon}/loki/loki.yaml:/etc/loki/loki.yaml:ro", "loki-data:/loki"],
            "restart": "unless-stopped",
            "labels": labels,
        },
        "promtail": {
            "image": IMAGES["promtail"],
            "command": ["-config.file=/etc/promtail/promtail.yaml"],
            # read-only, yet the Docker API is root-equivalent on the host: see docs/compose-monitoring.md
            "volumes": [f"{mon}/promtail/promtail.yaml:/etc/promtail/promtail.yaml:ro",
                        "/var/run/docker.sock:/var/run/docker.sock:ro", "promtail-data:/promtail"],
            "depends_on": {"loki": {"condition": "service_started"}},
            "restart": "unless-stopped",
            "labels": labels,
        },
        "grafana": {
            "image": IMAGES["grafana"],
            "env_file": [GRAFANA_ENV],
            "environment": {"GF_SECURITY_ADMIN_USER": "admin", "GF_USERS_ALLOW_SIGN_UP": "false",
                            "GF_AUTH_ANONYMOUS_ENABLED": "false", "GF_ANALYTICS_REPORTING_ENABLED": "false",
                            "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
                            "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH":
                                "/etc/redisops/dashboards/overview.json"},
            # the two provisioning kinds we write, not the whole directory: the image's others stay as shipped
            "volumes": [f"{mon}/grafana/provisioning/{kind}:/etc/grafana/provisioning/{kind}:ro"
                        for kind in ("datasources", "dashboards")]
            + [f"{mon}/grafana/dashboards:/etc/redisops/dashboards:ro", "grafana-data:/var/lib/grafana"],
            "ports": [f"127.0.0.1:{m.grafana_port}:{GRAFANA_PORT}"],
            "depends_on": {"prometheus": {"condition": "service_started"},
                           "loki": {"condition": "service_started"}},
            "restart": "unless-stopped",
            "labels": labels,
        },
    }


def _escape(text: str) -> str:
    """Compose interpolates ``$VAR`` itself; ``$$`` hands a literal ``$`` to the container's shell."""
    return text.replace("$", "$$")


def _env_file(what: str, values: dict[str, str]) -> str:
    return (f"# {what}, for the Compose project rendered by `redisops render compose --with-monitoring`.\n"
            "# Mode 0600; keep it out of version control.\n" + "".join(f"{k}={v}\n" for k, v in values.items()))


def _yaml(data: dict[str, Any]) -> str:
    return "# generated by `redisops render compose --with-monitoring`; re-render instead of editing\n" + \
        yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
