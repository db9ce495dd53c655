"""The `alerts:` section: channel types, secrets only by reference, every problem with its path."""

from __future__ import annotations

import textwrap

from redisops.spec import load_text
from redisops.spec.alerts import EmailChannel, TelegramChannel, WebhookChannel

BASE = "sentinel:\n  - name: mymaster\n"


def problems(alerts_yaml: str) -> dict[str, str]:
    spec, found = load_text(BASE + textwrap.dedent(alerts_yaml))
    assert spec is None or not found
    return {p.path: p.message for p in found}


def test_every_channel_type_parses_with_defaults() -> None:
    spec, found = load_text(BASE + textwrap.dedent("""
        alerts:
          channels:
            - {type: slack, webhook_url_env: SLACK_WEBHOOK_URL}
            - {type: telegram, bot_token_file: tg.token, chat_id: -100123}
            - {type: email, smtp: "smtp.example.com", starttls: true, from: redis@example.com, to: [a@example.com]}
            - {type: webhook, url: "https://hooks.example.com/redis/", secret_env: HOOK_SECRET}
            - {type: alertmanager, url: "http://127.0.0.1:9093", labels: {env: prod}, name: am}
    """))
    assert found == [] and spec is not None
    slack, telegram, email, webhook, am = spec.alerts.channels
    assert [c.label for c in spec.alerts.channels] == ["slack", "telegram", "email", "webhook", "am"]
    assert isinstance(telegram, TelegramChannel) and telegram.chat_id == "-100123"
    assert telegram.api_base == "https://api.telegram.org" and telegram.parse_mode == "HTML"
    assert isinstance(email, EmailChannel) and (email.host, email.port, email.sender) == ("smtp.example.com", 587,
                                                                                          "redis@example.com")
    assert isinstance(webhook, WebhookChannel) and webhook.url == "https://hooks.example.com/redis"
    assert slack.rate_limit_per_minute == 20 and am.label == "am"
    assert spec.alerts.outbox_dir == ".redisops/outbox" and spec.alerts.retry.max_attempts == 10


def test_an_inline_secret_is_rejected_without_echoing_it() -> None:
    found = problems("""
        alerts:
          channels:
            - {type: slack, webhook_url: "https://hooks.slack.com/services/T0/B0/SECRETVALUE"}
            - {type: telegram, bot_token: "123:SECRETTOKEN", chat_id: "1"}
            - {type: email, smtp: "h:25", from: a@b.c, to: [d@e.f], password: hunter2secret}
    """)
    assert found["alerts.channels[0].webhook_url"] == (
        "secrets must not be written in the spec; use webhook_url_env or webhook_url_file instead")
    assert "bot_token_env" in found["alerts.channels[1].bot_token"]
    assert "password_env" in found["alerts.channels[2].password"]
    assert not any(s in str(found) for s in ("SECRETVALUE", "SECRETTOKEN", "hunter2secret"))


def test_each_problem_carries_its_path() -> None:
    found = problems("""
        alerts:
          channels:
            - {type: slack, webhook_url_env: A, webhook_url_file: a.txt}
            - {type: telegram, bot_token_env: T}
            - {type: email, smtp: "h:99999", from: nobody, to: [], starttls: true, tls: true}
            - {type: webhook, url: "ftp://example.com"}
            - {type: alertmanager, url: "http://u:p@127.0.0.1:9093"}
            - {type: pager}
            - {type: slack, webhook_url_env: B, bogus: 1}
          retry: {max_attempts: 0}
    """)
    assert found["alerts.channels[0]"] == "give exactly one of webhook_url_env or webhook_url_file"
    assert found["alerts.channels[1].chat_id"] == "Field required"
    assert "must be host:port" in found["alerts.channels[2].smtp"]
    assert "at least 1 item" in found["alerts.channels[2].to"]
    assert "alerts.channels[2].from" in found
    assert "http:// or https://" in found["alerts.channels[3].url"]
    assert "must not carry credentials" in found["alerts.channels[4].url"]
    assert found["alerts.channels[5]"].startswith("unknown channel type 'pager' (known: slack, telegram")
    assert found["alerts.channels[6].bogus"].startswith("unknown key (known keys: name, rate_limit_per_minute")
    assert "greater than or equal to 1" in found["alerts.retry.max_attempts"]


def test_tls_modes_and_auth_pairs_are_checked_together() -> None:
    found = problems("""
        alerts:
          channels:
            - {type: email, smtp: "h", from: a@b.c, to: [d@e.f], starttls: true, tls: true}
            - {type: email, smtp: "h", from: a@b.c, to: [d@e.f], username_env: U}
    """)
    assert "not both" in found["alerts.channels[0]"]
    assert "both username_env and password_env" in found["alerts.channels[1]"]


def test_two_channels_with_one_name_are_rejected() -> None:
    found = problems("""
        alerts:
          channels:
            - {type: slack, webhook_url_env: A}
            - {type: slack, webhook_url_env: B}
    """)
    assert "already named 'slack'" in found["alerts.channels[1].name"]


def test_problems_point_at_the_yaml_line() -> None:
    _, found = load_text(BASE + "alerts:\n  channels:\n    - type: telegram\n      bot_token_env: T\n"
                         "      chat_id: not-a-chat\n")
    (problem,) = found
    assert problem.path == "alerts.channels[0].chat_id" and problem.line == 7
