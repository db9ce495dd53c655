"""Message formats per channel, dedup decisions and pacing: pure functions, no network."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from datetime import datetime, timezone

from redisops.alerts import Incident, IncidentKind, Severity, TimelineEntry
from redisops.alerts.channels.alertmanager import alertmanager_alerts
from redisops.alerts.channels.slack import slack_payload
from redisops.alerts.channels.smtp import email_message
from redisops.alerts.channels.telegram import telegram_text
from redisops.alerts.channels.webhook import sign, webhook_body
from redisops.alerts.dedup import Dedup
from redisops.alerts.pacing import Backoff, TokenBucket
from redisops.alerts.render import State, redact_url, scrub, timeline_lines
from redisops.clock import FakeClock

T0 = datetime(2026, 11, 25, 14, 2, 3, 120000, tzinfo=timezone.utc).timestamp()


def failover(**changes: object) -> Incident:
    base = Incident(
        key="failover:mymaster:7", kind=IncidentKind.FAILOVER, severity=Severity.CRITICAL, group="mymaster",
        title="mymaster failed over from 127.0.0.1:6400 to 127.0.0.1:6401", started_at=T0,
        summary="master <6400> & replicas: promoted 127.0.0.1:6401",
        timeline=(TimelineEntry(T0, "+sdown", "127.0.0.1:26400", "master mymaster 127.0.0.1 6400"),
                  TimelineEntry(T0 + 0.4, "+odown", "127.0.0.1:26401", "#quorum 2/2"),
                  TimelineEntry(T0 + 1.25, "+switch-master", "127.0.0.1:26400")),
        labels={"old_master": "127.0.0.1:6400", "new_master": "127.0.0.1:6401"},
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_timeline_lines_read_like_a_log() -> None:
    assert timeline_lines(failover()) == [
        "14:02:03.120 +sdown (127.0.0.1:26400) master mymaster 127.0.0.1 6400",
        "14:02:03.520 +odown (127.0.0.1:26401) #quorum 2/2",
        "14:02:04.370 +switch-master (127.0.0.1:26400)",
    ]


def test_slack_escapes_and_carries_the_timeline_in_a_code_block() -> None:
    payload = slack_payload(failover(), State.FIRING)
    text = json.dumps(payload)
    assert payload["text"].startswith(":red_circle: CRITICAL mymaster failed over")
    assert "master &lt;6400&gt; &amp; replicas" in text and "<6400>" not in text
    timeline = payload["blocks"][3]["text"]["text"]
    assert timeline.startswith("*Timeline (UTC)*\n```14:02:03.120 +sdown (127.0.0.1:26400)")
    resolved = slack_payload(failover(resolved_at=T0 + 5), State.RESOLVED)
    assert resolved["text"].startswith(":white_check_mark: RESOLVED mymaster failed over")


def test_telegram_html_escapes_only_what_html_needs() -> None:
    text = telegram_text(failover(), State.FIRING, "HTML")
    assert text.startswith("<b>CRITICAL mymaster failed over from 127.0.0.1:6400 to 127.0.0.1:6401</b>")
    assert "master &lt;6400&gt; &amp; replicas" in text
    assert "<pre>14:02:03.120 +sdown (127.0.0.1:26400)" in text and text.endswith("</pre>")
    markdown = telegram_text(failover(), State.FIRING, "MarkdownV2")
    assert markdown.startswith(r"*CRITICAL mymaster failed over from 127\.0\.0\.1:6400")
    assert "```\n14:02:03.120 +sdown (127.0.0.1:26400)" in markdown
    long = failover(summary="x" * 5000)
    assert len(telegram_text(long, State.FIRING, "none")) == 4096


def test_email_subject_and_plain_body() -> None:
    message = email_message(failover(), State.FIRING, "redis@example.com", ["a@example.com", "b@example.com"])
    assert message["Subject"] == "[redisops] CRITICAL mymaster failed over from 127.0.0.1:6400 to 127.0.0.1:6401"
    assert message["To"] == "a@example.com, b@example.com"
    body = message.get_content()
    assert "timeline (UTC):\n14:02:03.120 +sdown (127.0.0.1:26400)" in body
    assert "new_master: 127.0.0.1:6401" in body and "incident key: failover:mymaster:7" in body


def test_alertmanager_labels_and_resolve_times() -> None:
    (alert,) = alertmanager_alerts(failover(), State.FIRING, {"env": "prod"})
    assert alert["labels"] == {"alertname": "redisops_failover", "group": "mymaster", "severity": "critical",
                               "incident": "failover:mymaster:7", "old_master": "127.0.0.1:6400",
                               "new_master": "127.0.0.1:6401", "env": "prod"}
    assert alert["startsAt"] == "2026-11-25T14:02:03.120Z" and "endsAt" not in alert
    assert "14:02:04.370 +switch-master" in alert["annotations"]["description"]
    (done,) = alertmanager_alerts(failover(resolved_at=T0 + 60), State.RESOLVED, {})
    assert done["endsAt"] == "2026-11-25T14:03:03.120Z"


def test_webhook_body_is_the_incident_and_the_signature_verifies() -> None:
    body = webhook_body(failover(), State.FIRING)
    data = json.loads(body)
    assert data["state"] == "firing" and Incident.from_dict(data["incident"]) == failover()
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert sign("s3cret", body) == expected


def test_dedup_sends_firing_once_escalation_and_one_resolve() -> None:
    dedup = Dedup()
    warning = failover(severity=Severity.WARNING)
    assert dedup.decide(warning) is State.FIRING
    assert dedup.decide(warning) is None
    assert dedup.decide(failover(severity=Severity.INFO)) is None
    assert dedup.decide(failover()) is State.FIRING  # warning -> critical
    assert dedup.decide(failover(resolved_at=T0 + 9)) is State.RESOLVED
    assert dedup.decide(failover(resolved_at=T0 + 9)) is None
    assert dedup.decide(failover()) is State.FIRING  # re-opened
    assert Dedup().decide(failover(resolved_at=T0 + 1)) is State.RESOLVED  # seen only when over


def test_dedup_memory_is_bounded() -> None:
    dedup = Dedup(keep=2)
    for key in ("a", "b", "c"):
        dedup.decide(failover(key=key))
    assert dedup.decide(failover(key="a")) is State.FIRING  # forgotten, so it counts as new


def test_backoff_doubles_up_to_the_cap() -> None:
    backoff = Backoff(0.5, 4.0, 10)
    assert [backoff.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(3, clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.sleep(20)  # 3/min = one token per 20 s
    assert [bucket.take(), bucket.take()] == [True, False]


def test_urls_and_secrets_are_redacted() -> None:
    assert redact_url("https://hooks.slack.com/services/T0/B0/XYZ") == "https://hooks.slack.com/…"
    assert redact_url("http://127.0.0.1:8080/bot123:ABC/sendMessage") == "http://127.0.0.1:8080/…"
    assert scrub("GET /bot123:ABCDEF/sendMessage failed", ("123:ABCDEF",)) == "GET /bot***/sendMessage failed"
