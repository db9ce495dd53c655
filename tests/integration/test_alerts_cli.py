"""`redisops alerts test` as a user runs it: a subprocess, a spec from `redisops init` plus an
`alerts:` section, secrets passed as environment variables, real local endpoints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cli_json
from alert_endpoints import Endpoint, free_port

REDISOPS = str(Path(sys.executable).with_name("redisops"))
TOKEN = "987654:clitokensecret"
SLACK_PATH = "/services/T1/B1/clislacksecret"


def redisops(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([REDISOPS, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})


def spec_with(tmp_path: Path, alerts_yaml: str) -> Path:
    spec = tmp_path / "redisops.yaml"
    done = redisops("init", "-f", str(spec), env={})
    assert done.returncode == 0, done.stderr
    spec.write_text(spec.read_text() + alerts_yaml)
    return spec


def test_alerts_test_reports_each_channel(tmp_path: Path, endpoint: Endpoint) -> None:
    spec = spec_with(tmp_path, f"""
alerts:
  channels:
    - {{type: slack, webhook_url_env: CLI_SLACK_URL}}
    - {{type: telegram, bot_token_env: CLI_TG_TOKEN, chat_id: "42", api_base: "{endpoint.url}"}}
    - {{type: webhook, url: "{endpoint.url}/hook", name: ops-hook}}
    - {{type: alertmanager, url: "http://127.0.0.1:{free_port()}"}}
    - {{type: email, smtp: "127.0.0.1:{free_port()}", from: a@example.com, to: [b@example.com],
       username_env: CLI_SMTP_USER, password_env: CLI_SMTP_PASS}}
""")
    env = {"CLI_SLACK_URL": endpoint.url + SLACK_PATH, "CLI_TG_TOKEN": TOKEN}
    done = redisops("alerts", "test", "-f", str(spec), "--json", env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    results = {r["channel"]: r for r in cli_json.data(done.stdout)["results"]}
    assert [r["ok"] for r in results.values()] == [True, True, True, False, False]
    assert results["ops-hook"]["reason"] == "delivered" and results["ops-hook"]["latency_ms"] >= 0
    assert "connection failed" in results["alertmanager"]["reason"]
    assert results["email"]["reason"] == "environment variable CLI_SMTP_USER (SMTP user name) is not set"
    assert {r.path for r in endpoint.requests} == {SLACK_PATH, f"/bot{TOKEN}/sendMessage", "/hook"}
    assert TOKEN not in done.stdout + done.stderr and "clislacksecret" not in done.stdout + done.stderr

    only = redisops("alerts", "test", "-f", str(spec), "--channel", "ops-hook", env=env)
    assert only.returncode == 0, only.stdout + only.stderr
    assert "1/1 channels delivered" in only.stdout and "ops-hook" in only.stdout


def test_alerts_test_input_errors_exit_2(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, "\nalerts:\n  channels:\n    - {type: slack, webhook_url: 'https://hooks.slack.com/x/SECRET99'}\n")
    done = redisops("alerts", "test", "-f", str(spec), env={})
    assert done.returncode == 2
    assert "alerts.channels[0].webhook_url: secrets must not be written in the spec" in done.stderr
    assert "SECRET99" not in done.stdout + done.stderr

    spec.write_text(spec.read_text().split("\nalerts:")[0] + "\nalerts:\n  channels:\n"
                    "    - {type: webhook, url: 'http://127.0.0.1:9/x'}\n")
    unknown = redisops("alerts", "test", "-f", str(spec), "--channel", "nope", "--json", env={})
    assert unknown.returncode == 2
    assert cli_json.error(unknown)["message"] == "no alert channel 'nope' (channels: webhook)"
