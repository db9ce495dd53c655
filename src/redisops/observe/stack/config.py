"""The stack's configuration, generated from the spec: prometheus.yml, alertmanager.yml, the exporter's passwords.

Pure functions from the spec, the plan and a few paths to plain data (dicts
dumped as YAML or JSON by the caller), so unit tests read them without starting
anything.

One redis_exporter serves every node through its multi-target ``/scrape``
endpoint (exporter 1.45 has no discovery): Prometheus lists each node as a
static target and relabels it into ``/scrape?target=redis://host:port`` on the
exporter, with ``instance`` set to that same URI (the label the shipped rules join on).  The exporter
finds each target's password in ``--redis.password-file``, a JSON map from that
exact URI to the password, so no password is ever on a command line.

Alertmanager gets one receiver per alert channel of the spec (its own Slack,
email, Telegram and webhook integrations), each reached by a child route with
``continue: true`` so every alert goes to every channel, as the watcher does.
Secrets go into files of mode 0600 where Alertmanager 0.25 can read them from a
file (Slack ``api_url_file``, email ``auth_password_file``); Telegram's bot
token has no ``*_file`` field before 0.26, so alertmanager.yml itself is 0600.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from redisops.address import Address
from redisops.alerts.channels.base import read_secret, read_url_secret
from redisops.runtime.acl import EXPORTER_USER
from redisops.runtime.plan import NodeKind, NodePlan, Plan
from redisops.spec.alerts import (
    AlertmanagerChannel,
    AnyChannel,
    EmailChannel,
    SlackChannel,
    TelegramChannel,
    WebhookChannel,
)
from redisops.spec.models import Spec

__all__ = [
    "EXPORTER_USER",
    "JOBS",
    "Endpoints",
    "Receivers",
    "ScrapeTarget",
    "alertmanager_config",
    "duration",
    "exporter_passwords",
    "prometheus_config",
    "receivers",
    "scrape_targets",
    "target_uri",
]

#: the ACL user redis_exporter logs in as, on data nodes and sentinels alike

#: Prometheus job of each kind of node; rules and dashboards select on these
JOBS = {NodeKind.REDIS: "redis", NodeKind.CLUSTER: "redis", NodeKind.SENTINEL: "sentinel"}


@dataclass(frozen=True)
class ScrapeTarget:
    """One node scraped through the exporter: its address and the labels Prometheus gives its series."""

    node: str
    group: str  # the Sentinel group's master name, or the cluster's name
    kind: NodeKind
    address: Address

    @property
    def job(self) -> str:
        return JOBS[self.kind]

    @property
    def labels(self) -> dict[str, str]:
        """The target labels the shipped rules group by (see the top of ``observe/rules/redis.yml``)."""
        owner = "redis_cluster" if self.kind is NodeKind.CLUSTER else "redis_group"
        role_kind = "sentinel" if self.kind is NodeKind.SENTINEL else "node"
        return {"node": self.node, owner: self.group, "role_kind": role_kind}


def scrape_targets(plan: Plan, address_of: Callable[[NodePlan], Address] | None = None) -> list[ScrapeTarget]:
    """Every data node and sentinel of the plan, in plan order; ``address_of``: where the exporter reaches a node
    (a Compose project's static addresses), by default where it listens locally."""
    where = address_of or (lambda node: node.address)
    return [ScrapeTarget(n.name, n.group, n.kind, where(n)) for n in plan.nodes]


def target_uri(address: Address, scheme: str = "redis") -> str:
    """The exporter's name for a node: ``redis://host:port`` (``rediss://`` over TLS; the key of its password
    map)."""
    return f"{scheme}://{address}"


def exporter_passwords(targets: Sequence[ScrapeTarget], password: str, scheme: str = "redis") -> dict[str, str]:
    """``--redis.password-file``'s content: every target's URI to the exporter user's password."""
    return {target_uri(t.address, scheme): password for t in targets}


def duration(seconds: float) -> str:
    """Prometheus / Alertmanager duration text: ``15s``, ``500ms``, ``4h`` stays ``14400s``."""
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


@dataclass(frozen=True)
class Endpoints:
    """Where Prometheus reaches the stack's own services (``host:port``); the watcher only when it serves
    ``/metrics``.  :meth:`local` is the embedded stack on loopback; a Compose project names its services."""

    exporter: str
    alertmanager: str
    prometheus: str
    watcher: str | None = None

    @classmethod
    def local(cls, spec: Spec) -> Endpoints:
        m = spec.monitor
        watcher = str(Address(m.host, spec.watch.metrics_port)) if spec.watch.metrics_port else None
        return cls(str(Address(m.host, m.exporter_port)), str(Address(m.host, m.alertmanager_port)),
                   str(Address(m.host, m.prometheus_port)), watcher)


def prometheus_config(spec: Spec, targets: Sequence[ScrapeTarget], rule_files: Sequence[str],
                      endpoints: Endpoints | None = None, scheme: str = "redis") -> dict[str, Any]:
    """prometheus.yml: a job per kind of node through the exporter, plus the exporter, the watcher,
    Alertmanager and Prometheus themselves; every rule file; Alertmanager as the alert sink."""
    monitor = spec.monitor
    where = endpoints or Endpoints.local(spec)
    exporter = where.exporter
    scrape_timeout = min(10.0, monitor.scrape_interval_s)
    jobs: list[dict[str, Any]] = []
    for job in dict.fromkeys(t.job for t in targets):
        jobs.append({
            "job_name": job,
            "metrics_path": "/scrape",
            "static_configs": [{"targets": [str(t.address)], "labels": t.labels} for t in targets if t.job == job],
            "relabel_configs": [
                # the exporter dials rediss:// over TLS; the instance label stays redis://host:port either way
                {"source_labels": ["__address__"], "target_label": "__param_target",
                 "replacement": f"{scheme}://$1"},
                {"source_labels": ["__address__"], "target_label": "instance", "replacement": "redis://$1"},
                {"target_label": "__address__", "replacement": exporter},
            ],
        })
    own = [("redis_exporter", where.exporter, "exporter"), ("prometheus", where.prometheus, ""),
           ("alertmanager", where.alertmanager, "")]
    if where.watcher:
        own.insert(1, ("redisops_watch", where.watcher, "watcher"))
    jobs += [{"job_name": name, "static_configs": [
        {"targets": [address], **({"labels": {"role_kind": kind}} if kind else {})}]}
        for name, address, kind in own]
    return {
        "global": {
            "scrape_interval": duration(monitor.scrape_interval_s),
            "scrape_timeout": duration(scrape_timeout),
            "evaluation_interval": duration(monitor.evaluation_interval_s),
            "external_labels": {"deployment": spec.name},
        },
        "rule_files": list(rule_files),
        "alerting": {"alertmanagers": [
            {"static_configs": [{"targets": [where.alertmanager]}]}]},
        "scrape_configs": jobs,
    }


@dataclass
class Receivers:
    """Alertmanager receivers built from the spec's channels.

    ``files``: secret file name -> content, to be written with mode 0600 next
    to alertmanager.yml; ``notes``: what could not be carried over, one line each.
    """

    receivers: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: write secrets that Alertmanager 0.25 takes only inline (Telegram's bot token) as placeholders, the
    #: secret in :attr:`inline`: the config then holds no secret at all
    placeholders: bool = False
    #: placeholder -> secret
    inline: dict[str, str] = field(default_factory=dict)

    def secret_inline(self, name: str, value: str) -> str:
        """What the config says for an inline-only secret: the value, or a placeholder standing for it."""
        if not self.placeholders:
            return value
        placeholder = f"@@redisops-secret:{name}@@"
        self.inline[placeholder] = value
        return placeholder


def receivers(channels: Sequence[AnyChannel], base_dir: Path, secrets_dir: PurePath, *,
              placeholders: bool = False) -> Receivers:
    """One receiver per channel; secrets read now (env or file) and handed over in 0600 files where possible.

    ``placeholders``: an inline-only secret is written as a placeholder in the config and handed over in
    :attr:`Receivers.inline` (a Compose container puts it in at start, from its 0600 env file)."""
    out = Receivers(placeholders=placeholders)
    for channel in channels:
        build = _BUILDERS.get(type(channel))
        if build is None:
            continue
        config = build(channel, base_dir, secrets_dir, out)
        if config is not None:
            out.receivers.append({"name": channel.label, **config})
    return out


def _slack(channel: Any, base_dir: Path, secrets_dir: PurePath, out: Receivers) -> dict[str, Any] | None:
    assert isinstance(channel, SlackChannel)
    url = read_url_secret(channel.label, channel.webhook_url_env, channel.webhook_url_file, base_dir,
                          "Slack webhook URL")
    name = f"{channel.label}.slack-url"
    out.files[name] = url
    return {"slack_configs": [{"api_url_file": str(secrets_dir / name), "send_resolved": True}]}


def _telegram(channel: Any, base_dir: Path, secrets_dir: PurePath, out: Receivers) -> dict[str, Any] | None:
    assert isinstance(channel, TelegramChannel)
    if not channel.chat_id.lstrip("-").isdigit():
        out.notes.append(f"alert channel {channel.label}: skipped in Alertmanager, which takes a numeric chat_id "
                         f"only (not {channel.chat_id}); `redisops watch` still sends to it")
        return None
    token = read_secret(channel.label, channel.bot_token_env, channel.bot_token_file, base_dir, "bot token")
    parse_mode = "" if channel.parse_mode == "none" else channel.parse_mode
    token = out.secret_inline(f"{channel.label}.telegram-token", token)
    return {"telegram_configs": [{"bot_token": token, "chat_id": int(channel.chat_id), "api_url": channel.api_base,
                                  "parse_mode": parse_mode, "send_resolved": True}]}


def _email(channel: Any, base_dir: Path, secrets_dir: PurePath, out: Receivers) -> dict[str, Any] | None:
    assert isinstance(channel, EmailChannel)
    if channel.tls and channel.port != 465:
        out.notes.append(f"alert channel {channel.label}: skipped in Alertmanager, which speaks implicit TLS on "
                         f"port 465 only (not {channel.port}); use starttls, or port 465")
        return None
    config: dict[str, Any] = {"to": ", ".join(channel.to), "from": channel.sender,
                              "smarthost": f"{channel.host}:{channel.port}", "require_tls": channel.starttls,
                              "send_resolved": True}
    if channel.username_env and channel.password_env:
        config["auth_username"] = read_secret(channel.label, channel.username_env, None, base_dir, "SMTP user name")
        name = f"{channel.label}.smtp-password"
        out.files[name] = read_secret(channel.label, channel.password_env, None, base_dir, "SMTP password")
        config["auth_password_file"] = str(secrets_dir / name)
    if channel.ca_file:
        config["tls_config"] = {"ca_file": str((base_dir / channel.ca_file).resolve())}
    return {"email_configs": [config]}


def _webhook(channel: Any, base_dir: Path, secrets_dir: PurePath, out: Receivers) -> dict[str, Any] | None:
    assert isinstance(channel, WebhookChannel)
    if channel.secret_env:
        out.notes.append(f"alert channel {channel.label}: Alertmanager posts its own JSON, unsigned "
                         f"({channel.secret_env} signs only what `redisops watch` sends)")
    return {"webhook_configs": [{"url": channel.url, "send_resolved": True}]}


_BUILDERS: Mapping[type, Any] = {SlackChannel: _slack, TelegramChannel: _telegram, EmailChannel: _email,
                                 WebhookChannel: _webhook, AlertmanagerChannel: None}

#: the root route's receiver (a name no channel can have): alerts reach the channels through their child routes
BLACKHOLE = "redisops:none"


def alertmanager_config(spec: Spec, built: Receivers) -> dict[str, Any]:
    """alertmanager.yml: one notification per alert and Sentinel group or cluster,
    the spec's timings, and every receiver reached through a ``continue: true`` child route."""
    monitor = spec.monitor
    return {
        "route": {
            "receiver": BLACKHOLE,
            "group_by": ["alertname", "redis_group", "redis_cluster"],
            "group_wait": duration(monitor.group_wait_s),
            "group_interval": duration(monitor.group_interval_s),
            "repeat_interval": duration(monitor.repeat_interval_s),
            "routes": [{"receiver": r["name"], "continue": True} for r in built.receivers],
        },
        "receivers": [{"name": BLACKHOLE}, *built.receivers],
    }
