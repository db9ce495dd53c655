"""Alerts delivered to real local endpoints: an HTTP server on 127.0.0.1 standing in for Slack,
Telegram (via ``api_base``), a webhook receiver and Alertmanager, and an aiosmtpd SMTP server.

Every server is stopped in a ``finally``/fixture; every wait has a deadline.
No Redis is needed.  ``Endpoint`` and ``SmtpSink`` live in ``tests/alert_endpoints.py``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from alert_endpoints import Endpoint, SmtpSink, free_port  # noqa: F401 - free_port re-exported
from prometheus_client import CollectorRegistry

from redisops.alerts import Incident, IncidentKind, Severity, TimelineEntry, build_dispatcher, probe_channels
from redisops.spec.alerts import AlertsSpec

SECRETS = {"SLACK_URL_PATH": "/services/T000/B000/slacksecret42", "TG_TOKEN": "123456:tgsecret42",
           "HOOK_SECRET": "hooksecret42", "SMTP_USER": SmtpSink.USER, "SMTP_PASS": SmtpSink.PASSWORD}


def all_channels(endpoint: Endpoint, smtp: SmtpSink, **retry: Any) -> AlertsSpec:
    return AlertsSpec.model_validate({
        "outbox_dir": "outbox",
        "retry": {"backoff_base_s": 0.01, "backoff_max_s": 0.05, "max_attempts": 3, "timeout_s": 2, **retry},
        "channels": [
            {"type": "slack", "webhook_url_env": "SLACK_URL"},
            {"type": "telegram", "bot_token_env": "TG_TOKEN", "chat_id": "-100123", "api_base": endpoint.url + "/tg"},
            {"type": "webhook", "url": endpoint.url + "/hook", "secret_env": "HOOK_SECRET"},
            {"type": "alertmanager", "url": endpoint.url + "/am", "labels": {"env": "test"}},
            {"type": "email", "smtp": f"127.0.0.1:{smtp.port}", "from": "redis@example.com",
             "to": ["oncall@example.com", "dba@example.com"], "username_env": "SMTP_USER",
             "password_env": "SMTP_PASS"},
        ],
    })


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch, endpoint: Endpoint) -> None:
    monkeypatch.setenv("SLACK_URL", endpoint.url + SECRETS["SLACK_URL_PATH"])
    for name in ("TG_TOKEN", "HOOK_SECRET", "SMTP_USER", "SMTP_PASS"):
        monkeypatch.setenv(name, SECRETS[name])


def failover(resolved_at: float | None = None) -> Incident:
    t0 = time.time() - 3
    return Incident(
        key="failover:mymaster:7", kind=IncidentKind.FAILOVER, severity=Severity.CRITICAL, group="mymaster",
        title="mymaster failed over from 127.0.0.1:6400 to 127.0.0.1:6401", started_at=t0,
        summary="The master stopped answering; sentinels promoted 127.0.0.1:6401.", resolved_at=resolved_at,
        timeline=(TimelineEntry(t0, "+sdown", "127.0.0.1:26400", "master mymaster 127.0.0.1 6400"),
                  TimelineEntry(t0 + 0.05, "+odown", "127.0.0.1:26400", "#quorum 2/2"),
                  TimelineEntry(t0 + 0.06, "+elected-leader", "127.0.0.1:26401"),
                  TimelineEntry(t0 + 1.1, "+switch-master", "127.0.0.1:26401",
                                "mymaster 127.0.0.1 6400 127.0.0.1 6401"),
                  TimelineEntry(t0 + 1.3, "+failover-end", "127.0.0.1:26401")),
        labels={"old_master": "127.0.0.1:6400", "new_master": "127.0.0.1:6401"},
    )


def test_a_failover_reaches_every_channel_once_then_resolves(tmp_path: Path, endpoint: Endpoint, smtp: SmtpSink,
                                                             secrets_env: None) -> None:
    registry = CollectorRegistry()
    dispatcher = build_dispatcher(all_channels(endpoint, smtp), tmp_path, registry=registry)
    assert dispatcher.problems == ()
    dispatcher.start()
    try:
        began = time.monotonic()
        for _ in range(3):  # three sentinels published +switch-master: one incident, one message per channel
            dispatcher.notify(failover())
        http = endpoint.wait_for(4)
        mails = smtp.wait_for(1)
        latency = max([r.at for r in http] + [m[3] for m in mails]) - began
        assert dispatcher.flush(timeout=5)
        assert len(endpoint.requests) == 4 and len(smtp.messages) == 1
        check_firing(endpoint, smtp)
        dispatcher.notify(failover(resolved_at=time.time()))
        endpoint.wait_for(8)
        smtp.wait_for(2)
        assert dispatcher.flush(timeout=5)
        check_resolved(endpoint, smtp)
    finally:
        dispatcher.stop()
    print(f"\nall five channels received the alert {latency * 1000:.0f} ms after notify()")  # measured, not asserted
    assert registry.get_sample_value("redisops_alert_deliveries_total", {"channel": "email", "outcome": "sent"}) == 2
    assert list((tmp_path / "outbox").glob("*/*.json")) == []


def check_firing(endpoint: Endpoint, smtp: SmtpSink) -> None:
    (slack,) = endpoint.at("/services/")
    assert slack.path == SECRETS["SLACK_URL_PATH"]
    blocks = json.dumps(slack.json()["blocks"])
    assert slack.json()["text"].startswith(":red_circle: CRITICAL mymaster failed over from 127.0.0.1:6400")
    assert "+switch-master (127.0.0.1:26401) mymaster 127.0.0.1 6400 127.0.0.1 6401" in blocks

    (telegram,) = endpoint.at("/tg/")
    assert telegram.path == f"/tg/bot{SECRETS['TG_TOKEN']}/sendMessage"
    body = telegram.json()
    assert (body["chat_id"], body["parse_mode"]) == ("-100123", "HTML")
    assert body["text"].startswith("<b>CRITICAL mymaster failed over") and "<pre>" in body["text"]
    assert " +elected-leader (127.0.0.1:26401)" in body["text"]

    (hook,) = endpoint.at("/hook")
    expected = "sha256=" + hmac.new(SECRETS["HOOK_SECRET"].encode(), hook.body, hashlib.sha256).hexdigest()
    assert hook.headers["X-Redisops-Signature"] == expected
    assert hook.json()["state"] == "firing" and len(hook.json()["incident"]["timeline"]) == 5

    (am,) = endpoint.at("/am/api/v2/alerts")
    (alert,) = am.json()
    assert alert["labels"]["alertname"] == "redisops_failover" and alert["labels"]["env"] == "test"
    assert alert["labels"]["severity"] == "critical" and "endsAt" not in alert
    assert "+failover-end" in alert["annotations"]["description"]

    (mail,) = smtp.messages
    sender, recipients, content, _ = mail
    message = message_from_bytes(content, policy=policy.default)
    assert (sender, recipients) == ("redis@example.com", ["oncall@example.com", "dba@example.com"])
    assert message["Subject"] == "[redisops] CRITICAL mymaster failed over from 127.0.0.1:6400 to 127.0.0.1:6401"
    text = message.get_body().get_content()  # type: ignore[union-attr]
    assert "timeline (UTC):" in text and "+odown (127.0.0.1:26400) #quorum 2/2" in text
    assert smtp.logins == [SmtpSink.USER]


def check_resolved(endpoint: Endpoint, smtp: SmtpSink) -> None:
    assert endpoint.at("/services/")[1].json()["text"].startswith(":white_check_mark: RESOLVED mymaster")
    assert "RESOLVED mymaster" in endpoint.at("/tg/")[1].json()["text"]
    assert endpoint.at("/hook")[1].json()["state"] == "resolved"
    (alert,) = endpoint.at("/am/")[1].json()
    assert alert["endsAt"].endswith("Z") and alert["labels"]["incident"] == "failover:mymaster:7"
    assert message_from_bytes(smtp.messages[1][2], policy=policy.default)["Subject"].startswith("[redisops] RESOLVED mymaster failed over")


def test_retries_reach_a_flaky_endpoint(tmp_path: Path, endpoint: Endpoint) -> None:
    endpoint.fail_next = 2
    spec = AlertsSpec.model_validate({"outbox_dir": "outbox", "retry": {"backoff_base_s": 0.01},
                                      "channels": [{"type": "webhook", "url": endpoint.url + "/hook"}]})
    dispatcher = build_dispatcher(spec, tmp_path)
    dispatcher.start()
    try:
        dispatcher.notify(failover())
        assert dispatcher.flush(timeout=5)
    finally:
        dispatcher.stop()
    assert len(endpoint.requests) == 3
    assert (dispatcher.metrics.value("webhook", "error"), dispatcher.metrics.value("webhook", "sent")) == (2, 1)


def test_a_down_channel_keeps_the_alert_in_the_outbox_until_a_restart_delivers_it(tmp_path: Path) -> None:
    later = Endpoint()  # its port is free: connections are refused until it starts
    spec = AlertsSpec.model_validate({
        "retry": {"backoff_base_s": 0.01, "max_attempts": 2},
        "channels": [{"type": "alertmanager", "url": later.url, "name": "am"}]})
    first = build_dispatcher(spec, tmp_path)
    first.start()
    try:
        first.notify(failover())
        assert first.flush(timeout=5)
    finally:
        first.stop()
    assert first.metrics.value("am", "gave_up") == 1
    (pending,) = (tmp_path / ".redisops" / "outbox" / "am").glob("*.json")
    later.start()
    second = build_dispatcher(spec, tmp_path)
    try:
        second.start()
        assert second.flush(timeout=5)
        (request,) = later.wait_for(1)
    finally:
        second.stop()
        later.stop()
    assert request.json()[0]["labels"]["incident"] == "failover:mymaster:7"
    assert not pending.exists()


def test_secrets_never_reach_logs_or_reasons(tmp_path: Path, endpoint: Endpoint, secrets_env: None,
                                             caplog: pytest.LogCaptureFixture,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    endpoint.echo_path = True  # answers 404 quoting the request path, which holds the secret
    spec = AlertsSpec.model_validate({"retry": {"backoff_base_s": 0.01, "max_attempts": 2}, "channels": [
        {"type": "slack", "webhook_url_env": "SLACK_URL"},
        {"type": "telegram", "bot_token_env": "TG_TOKEN", "chat_id": "1", "api_base": endpoint.url}]})
    caplog.set_level(logging.DEBUG)
    dispatcher = build_dispatcher(spec, tmp_path)
    dispatcher.start()
    try:
        dispatcher.notify(failover())
        assert dispatcher.flush(timeout=5)
    finally:
        dispatcher.stop()
    results = probe_channels(spec, tmp_path)
    reasons = " ".join(r.reason for r in results)
    assert reasons.count("HTTP 404 Not Found") == 2 and "***" in reasons
    assert "slack: HTTP 404" not in reasons and f"{endpoint.url}/…" in reasons
    seen = caplog.text + reasons + "".join(capsys.readouterr())
    for secret in ("slacksecret42", "tgsecret42"):
        assert secret not in seen
    assert "rate limit" not in caplog.text and "HTTP 404" in caplog.text


def test_probe_reports_each_channel_and_runs_the_others(tmp_path: Path, endpoint: Endpoint, smtp: SmtpSink,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_USER", SmtpSink.USER)
    monkeypatch.setenv("SMTP_PASS", "wrong-password")
    monkeypatch.delenv("NO_SUCH_VAR", raising=False)
    (tmp_path / "empty.token").write_text("\n")
    spec = AlertsSpec.model_validate({"retry": {"timeout_s": 2}, "channels": [
        {"type": "email", "smtp": f"127.0.0.1:{smtp.port}", "from": "a@example.com", "to": ["b@example.com"],
         "username_env": "SMTP_USER", "password_env": "SMTP_PASS"},
        {"type": "slack", "webhook_url_env": "NO_SUCH_VAR"},
        {"type": "telegram", "bot_token_file": "empty.token", "chat_id": "1"},
        {"type": "alertmanager", "url": f"http://127.0.0.1:{free_port()}"},
        {"type": "webhook", "url": endpoint.url + "/hook"}]})
    results = {r.channel: r for r in probe_channels(spec, tmp_path)}
    assert results["email"].reason.startswith(f"127.0.0.1:{smtp.port}: SMTP AUTH refused")
    assert results["slack"].reason == "environment variable NO_SUCH_VAR (webhook URL) is not set"
    assert results["telegram"].reason.endswith("empty.token is empty")
    assert "connection failed" in results["alertmanager"].reason
    assert results["webhook"].ok and results["webhook"].reason == "delivered"
    assert [r.ok for r in results.values()] == [False, False, False, False, True]
    assert "wrong-password" not in str(results)
    (hook,) = endpoint.requests
    assert hook.json()["incident"]["kind"] == "test"


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_email_over_starttls_and_implicit_tls_with_a_private_ca(tmp_path: Path, mode: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from alert_endpoints import self_signed

    ca, context = self_signed(tmp_path)
    sink = SmtpSink(context, mode)
    sink.controller.start()
    monkeypatch.setenv("SMTP_USER", SmtpSink.USER)
    monkeypatch.setenv("SMTP_PASS", SmtpSink.PASSWORD)
    try:
        spec = AlertsSpec.model_validate({"channels": [
            {"type": "email", "smtp": f"127.0.0.1:{sink.port}", mode: True, "ca_file": ca.name,
             "from": "redis@example.com", "to": ["oncall@example.com"], "username_env": "SMTP_USER",
             "password_env": "SMTP_PASS"}]})
        (result,) = probe_channels(spec, tmp_path)
        assert result.ok, result.reason
        assert sink.logins == [SmtpSink.USER] and len(sink.messages) == 1
        untrusted = AlertsSpec.model_validate({"channels": [
            {"type": "email", "smtp": f"127.0.0.1:{sink.port}", mode: True, "from": "redis@example.com",
             "to": ["oncall@example.com"]}]})
        (refused,) = probe_channels(untrusted, tmp_path)  # the system CAs do not know this certificate
        assert not refused.ok and "certificate" in refused.reason.lower()
    finally:
        sink.controller.stop()
