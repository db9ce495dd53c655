"""The monitoring stack's generated configs (no process started): scrape targets, receivers, the spec section."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from redisops.observe.stack.config import (
    BLACKHOLE,
    alertmanager_config,
    duration,
    exporter_passwords,
    prometheus_config,
    receivers,
    scrape_targets,
)
from redisops.observe.stack.secret import exporter_password
from redisops.runtime.plan import build_plan
from redisops.spec.load import load_text
from redisops.spec.models import Spec
from redisops.spec.secrets import generate_secrets, load_secrets, secrets_text, write_private

SPEC = """
name: demo
sentinel:
  - {name: mymaster, port: 6400, replicas: 2, sentinels: 3, sentinel_port: 26400}
cluster: {name: main, port: 7000, masters: 3, replicas_per_master: 1}
monitor: {prometheus_port: 19090, alertmanager_port: 19093, exporter_port: 19121, scrape_interval_s: 1,
          evaluation_interval_s: 0.5, group_wait_s: 0.5}
"""

CHANNELS = """
alerts:
  channels:
    - {type: slack, webhook_url_env: TEST_SLACK_URL}
    - {type: telegram, bot_token_env: TEST_BOT_TOKEN, chat_id: "-100123", api_base: "http://127.0.0.1:1"}
    - {type: telegram, name: tg-channel, bot_token_env: TEST_BOT_TOKEN, chat_id: "@ops"}
    - {type: email, smtp: "smtp.example.com:587", starttls: true, from: redis@example.com,
       to: [a@example.com, b@example.com], username_env: TEST_SMTP_USER, password_env: TEST_SMTP_PASSWORD}
    - {type: email, name: mail-tls, smtp: "smtp.example.com:2465", tls: true, from: r@example.com, to: [c@example.com]}
    - {type: webhook, url: "http://127.0.0.1:1/hook", secret_env: TEST_HOOK_SECRET}
    - {type: alertmanager, url: "http://127.0.0.1:9093"}
"""

SECRET_VALUES = {"TEST_SLACK_URL": "https://hooks.slack.com/services/T0/B0/slack-secret-path",
                 "TEST_BOT_TOKEN": "123456:telegram-secret-token", "TEST_SMTP_USER": "mailer",
                 "TEST_SMTP_PASSWORD": "smtp-secret-password"}


def _spec(text: str) -> Spec:
    spec, problems = load_text(text)
    assert spec is not None, problems
    return spec


def _job(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(job for job in config["scrape_configs"] if job["job_name"] == name)


def test_every_node_is_a_target_through_the_exporter() -> None:
    spec = _spec(SPEC)
    plan = build_plan(spec)
    config = prometheus_config(spec, scrape_targets(plan), ["/rules/*.yml"])
    redis, sentinel = _job(config, "redis"), _job(config, "sentinel")
    listed = {target: group["labels"] for job in (redis, sentinel) for group in job["static_configs"]
              for target in group["targets"]}
    assert set(listed) == {str(node.address) for node in plan.nodes}  # 3 + 3 sentinels + 6 cluster nodes
    assert listed["127.0.0.1:6400"] == {"node": "mymaster-0", "redis_group": "mymaster", "role_kind": "node"}
    assert listed["127.0.0.1:26401"] == {"node": "mymaster-sentinel-1", "redis_group": "mymaster",
                                         "role_kind": "sentinel"}
    assert listed["127.0.0.1:7005"] == {"node": "main-5", "redis_cluster": "main", "role_kind": "node"}
    assert redis["metrics_path"] == "/scrape"
    relabel = {r["target_label"]: r.get("replacement") for r in redis["relabel_configs"]}
    assert relabel == {"__param_target": "redis://$1", "instance": "redis://$1", "__address__": "127.0.0.1:19121"}


def test_own_jobs_rules_and_timings() -> None:
    spec = _spec(SPEC)
    config = prometheus_config(spec, scrape_targets(build_plan(spec)), ["/rules/*.yml", "/spec/extra.yml"])
    assert config["rule_files"] == ["/rules/*.yml", "/spec/extra.yml"]
    assert config["global"]["scrape_interval"] == "1s"
    assert config["global"]["scrape_timeout"] == "1s"  # never longer than the interval
    assert config["global"]["evaluation_interval"] == "500ms"
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:19093"]
    assert _job(config, "redisops_watch")["static_configs"][0] == {"targets": ["127.0.0.1:9122"],
                                                                   "labels": {"role_kind": "watcher"}}
    assert _job(config, "redis_exporter")["static_configs"][0]["labels"] == {"role_kind": "exporter"}
    no_watch = _spec(SPEC + "watch: {metrics_port: 0}\n")
    jobs = [j["job_name"] for j in prometheus_config(no_watch, [], [])["scrape_configs"]]
    assert jobs == ["redis_exporter", "prometheus", "alertmanager"]


def test_exporter_password_map_names_every_target() -> None:
    plan = build_plan(_spec(SPEC))
    passwords = exporter_passwords(scrape_targets(plan), "pw")
    assert len(passwords) == len(plan.nodes) == 12
    assert passwords["redis://127.0.0.1:26400"] == "pw"


@pytest.mark.parametrize(("seconds", "text"), [(15, "15s"), (0.5, "500ms"), (14400, "14400s"), (1.25, "1250ms")])
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_receivers_for_every_channel_type(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRET_VALUES.items():
        monkeypatch.setenv(name, value)
    spec = _spec(SPEC + CHANNELS)
    built = receivers(spec.alerts.channels, tmp_path, tmp_path / "secrets")
    by_name = {r["name"]: r for r in built.receivers}
    assert list(by_name) == ["slack", "telegram", "email", "webhook"]
    assert by_name["slack"]["slack_configs"][0]["api_url_file"] == str(tmp_path / "secrets" / "slack.slack-url")
    assert built.files["slack.slack-url"] == SECRET_VALUES["TEST_SLACK_URL"]
    telegram = by_name["telegram"]["telegram_configs"][0]
    assert telegram["chat_id"] == -100123 and telegram["parse_mode"] == "HTML"
    email = by_name["email"]["email_configs"][0]
    assert email["to"] == "a@example.com, b@example.com" and email["require_tls"] is True
    assert built.files["email.smtp-password"] == SECRET_VALUES["TEST_SMTP_PASSWORD"]
    assert "auth_password" not in email
    assert by_name["webhook"]["webhook_configs"] == [{"url": "http://127.0.0.1:1/hook", "send_resolved": True}]
    notes = "\n".join(built.notes)
    assert "tg-channel" in notes and "numeric chat_id" in notes  # skipped, said why
    assert "mail-tls" in notes and "465" in notes
    assert "unsigned" in notes
    config = alertmanager_config(spec, built)
    assert config["route"]["receiver"] == BLACKHOLE
    assert [r["receiver"] for r in config["route"]["routes"]] == ["slack", "telegram", "email", "webhook"]
    assert all(r["continue"] for r in config["route"]["routes"])
    assert config["route"]["group_wait"] == "500ms"
    text = yaml.safe_dump(config)
    # only Telegram's token is inline (Alertmanager 0.25 has no bot_token_file); the other secrets are in files
    assert SECRET_VALUES["TEST_SLACK_URL"] not in text and SECRET_VALUES["TEST_SMTP_PASSWORD"] not in text


def test_missing_channel_secret_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from redisops.alerts.errors import ChannelConfigError

    monkeypatch.delenv("TEST_SLACK_URL", raising=False)
    spec = _spec(SPEC + "alerts: {channels: [{type: slack, webhook_url_env: TEST_SLACK_URL}]}\n")
    with pytest.raises(ChannelConfigError, match="TEST_SLACK_URL"):
        receivers(spec.alerts.channels, tmp_path, tmp_path)


def test_spec_problems_of_the_monitor_section() -> None:
    _, problems = load_text(SPEC.replace("exporter_port: 19121", "exporter_port: 19093"))
    assert [p.path for p in problems] == ["monitor"] and "alertmanager_port" in problems[0].message
    _, problems = load_text(SPEC.replace("prometheus_port: 19090", "prometheus_port: 6401"))
    assert [p.path for p in problems] == ["monitor.prometheus_port"]
    assert "overlaps" in problems[0].message and "sentinel[0].port" in problems[0].message
    _, problems = load_text(SPEC.replace("scrape_interval_s: 1,", "scrape_interval_s: 1, host: 10.1.2.3,"))
    assert [p.path for p in problems] == ["monitor.host"]
    assert "loopback" in problems[0].message


def test_exporter_password_is_generated_once_into_the_secrets_file(tmp_path: Path) -> None:
    path = tmp_path / "redisops.secrets.yaml"
    write_private(path, secrets_text(generate_secrets(acl=False)))  # a hardened deployment has one from init
    before = path.read_text()
    assert exporter_password(path, create=False) == "" and path.read_text() == before  # readers write nothing
    first = exporter_password(path)
    assert len(first) >= 43 and exporter_password(path) == first
    assert path.read_text().startswith(before)  # appended, the rest untouched
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    load_secrets(path)  # still a valid secrets file
