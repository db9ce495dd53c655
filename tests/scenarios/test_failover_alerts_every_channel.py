"""Kill -9 the master of a Sentinel group watched by `redisops watch`: exactly one failover alert, with its
timeline, reaches each local endpoint (Slack, Telegram, webhook, Alertmanager, SMTP); the killed node,
restarted by `up`, rejoins as a replica."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

import cli_json
import pytest
import yaml
from alert_endpoints import Endpoint, SmtpSink, failover_chain

from redisops.testing import Topology, assert_eventually

REDISOPS = [sys.executable, "-m", "redisops"]
pytestmark = pytest.mark.slow


def failover_messages(endpoint: Endpoint, smtp: SmtpSink) -> dict[str, list[str]]:
    """Per channel, the failover messages received (their text), firing and resolved alike."""
    mails = [message_from_bytes(m[2], policy=policy.default) for m in smtp.messages]
    return {
        "slack": [r.body.decode() for r in endpoint.at("/services/") if "failed over" in r.json()["text"]],
        "telegram": [r.json()["text"] for r in endpoint.at("/tg/") if "failed over" in r.json()["text"]],
        "webhook": [r.body.decode() for r in endpoint.at("/hook") if r.json()["incident"]["kind"] == "failover"],
        "alertmanager": [json.dumps(a) for r in endpoint.at("/am/") for a in r.json()
                         if a["labels"]["alertname"] == "redisops_failover"],
        "email": [f"{m['Subject']}\n{m.get_body().get_content()}" for m in mails  # type: ignore[union-attr]
                  if "failed over" in str(m["Subject"])],
    }


def resolved(message: str) -> bool:
    return "RESOLVED" in message or '"state": "resolved"' in message or '"endsAt"' in message


def test_one_failover_alert_per_channel_with_timeline(tmp_path: Path, endpoint: Endpoint, smtp: SmtpSink) -> None:
    with Topology.start(tmp_path, cluster=False, down_after_ms=1000) as topo:
        spec = yaml.safe_load(topo.spec_file.read_text())
        spec["alerts"] = {"channels": [
            {"type": "slack", "webhook_url_env": "SLACK_URL"},
            {"type": "telegram", "bot_token_env": "TG_TOKEN", "chat_id": "-100123", "api_base": endpoint.url + "/tg"},
            {"type": "webhook", "url": endpoint.url + "/hook"},
            {"type": "alertmanager", "url": endpoint.url + "/am"},
            {"type": "email", "smtp": f"127.0.0.1:{smtp.port}", "from": "redis@example.com",
             "to": ["oncall@example.com"], "username_env": "SMTP_USER", "password_env": "SMTP_PASS"},
        ]}
        spec["watch"] = {"metrics_port": 0}
        topo.spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
        env = {**os.environ, "SLACK_URL": endpoint.url + "/services/T0/B0/secret", "TG_TOKEN": "1:tgsecret",
               "SMTP_USER": SmtpSink.USER, "SMTP_PASS": SmtpSink.PASSWORD}
        proc = subprocess.Popen([*REDISOPS, "watch", "--json", "-f", str(topo.spec_file)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
        try:
            assert proc.stdout is not None
            assert cli_json.record(proc.stdout.readline())[1]["health"] == "ok"
            old = topo.node("mymaster-0").address
            topo.kill("mymaster-0")

            def every_channel_got_firing_and_resolved() -> dict[str, list[str]]:
                got = failover_messages(endpoint, smtp)
                assert all(len(messages) >= 2 for messages in got.values()), {k: len(v) for k, v in got.items()}
                return got

            assert_eventually(every_channel_got_firing_and_resolved, within=40)
            topo.up()
            node = topo.client("mymaster-0").info("replication")
            assert node["role"] == "slave" and node["master_link_status"] == "up"

            def as_many_on_every_channel_as_the_webhook_had_failovers() -> tuple[dict[str, list[str]], list[str]]:
                got = failover_messages(endpoint, smtp)
                keys = failover_chain([json.loads(m) for m in got["webhook"]], str(old))
                counts = {channel: len(messages) for channel, messages in got.items()}
                assert counts == dict.fromkeys(got, 2 * len(keys)), counts
                return got, keys

            got, keys = assert_eventually(as_many_on_every_channel_as_the_webhook_had_failovers, within=30)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=30)

    assert proc.returncode == 0
    firing = {channel: [m for m in messages if not resolved(m)] for channel, messages in got.items()}
    assert {channel: len(messages) for channel, messages in firing.items()} == dict.fromkeys(got, len(keys))
    for channel, (message, *_) in firing.items():
        assert str(old) in message and "+switch-master" in message, (channel, message)
        assert "+sdown" in message and "+odown" in message, (channel, message)
