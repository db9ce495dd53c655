"""`redisops render compose --with-monitoring`: valid Compose, configs the real promtool / amtool accept, the
exporter's ACL user in every node's auth.conf, and no secret outside the 0600 env files."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from redisops.observe.compose import ALERTMANAGER_ENV, EXPORTER_ENV, GRAFANA_ENV, IMAGES, monitoring_addon
from redisops.observe.stack.acl import DATA_NODE_RULES, SENTINEL_RULES
from redisops.runtime.compose import COMPOSE_FILE, ENV_FILE, UI, static_ips
from redisops.runtime.plan import NodeKind, build_plan
from redisops.security.tls.compose import render_compose_project
from redisops.spec import generate_secrets, load_text
from redisops.spec.default import DEFAULT_SPEC
from redisops.spec.secrets import secrets_text

BIN = Path(sys.executable).parent
REDISOPS = [sys.executable, "-m", "redisops"]
TOKEN = "123456:ABC-def_ghi&jkl/mno"  # `&` and `/`: a sed/awk sub() replacement would mangle them
SLACK = "https://hooks.slack.test/services/T0/B0/secretpart"
SMTP = "smtp-pass&word"


def _project(tmp_path: Path, data: dict[str, Any] | None = None) -> Path:
    """A spec dir with every kind of alert channel, secrets from the environment (set by the fixture)."""
    data = data or yaml.safe_load(DEFAULT_SPEC)
    data["alerts"] = {"channels": [
        {"type": "webhook", "url": "http://127.0.0.1:9/hook"},
        {"type": "slack", "webhook_url_env": "T_SLACK_URL"},
        {"type": "telegram", "bot_token_env": "T_TG_TOKEN", "chat_id": "-1001", "api_base": "http://127.0.0.1:9"},
        {"type": "email", "smtp": "127.0.0.1:2525", "from": "r@example.test", "to": ["o@example.test"],
         "username_env": "T_SMTP_USER", "password_env": "T_SMTP_PASS"},
    ]}
    data.setdefault("monitor", {})["rule_files"] = ["extra/*.yml"]
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "extra").mkdir(exist_ok=True)
    (tmp_path / "extra" / "mine.yml").write_text(
        "groups:\n- name: mine\n  rules:\n  - alert: Mine\n    expr: redis_up == 0\n")
    spec_file = tmp_path / "redisops.yaml"
    spec_file.write_text(yaml.safe_dump(data, sort_keys=False))
    secrets = generate_secrets()
    (tmp_path / "redisops.secrets.yaml").write_text(secrets_text(secrets))
    (tmp_path / "redisops.secrets.yaml").chmod(0o600)
    return spec_file


@pytest.fixture(autouse=True)
def channel_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"T_SLACK_URL": SLACK, "T_TG_TOKEN": TOKEN, "T_SMTP_USER": "smtp-user",
                        "T_SMTP_PASS": SMTP}.items():
        monkeypatch.setenv(name, value)


def _render(spec_file: Path, out: Path, ui: UI | None = None) -> Path:
    """Render with monitoring; with Redis Commander (no TLS client certificates) from a plaintext spec."""
    if ui is UI.COMMANDER:
        spec_file.write_text(spec_file.read_text().replace("enabled: auto", "enabled: false"))
    spec, problems = load_text(spec_file.read_text())
    assert spec is not None, problems
    addon = monitoring_addon(spec, spec_file, build_plan(spec))
    return render_compose_project(spec, spec_file, out, ui=ui, addon=addon).output


def _doc(out: Path) -> dict[str, Any]:
    return dict(yaml.safe_load((out / COMPOSE_FILE).read_text()))


@pytest.mark.parametrize("ui", [None, UI.COMMANDER])
def test_validates_against_the_compose_spec_schema(tmp_path: Path, ui: UI | None) -> None:
    out = _render(_project(tmp_path), tmp_path / "out", ui)
    proc = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                           str(out / COMPOSE_FILE)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    services = _doc(out)["services"]
    assert set(IMAGES) <= set(services)
    assert all(services[name]["image"] == image for name, image in IMAGES.items())
    assert not any(image.endswith(":latest") or ":" not in image for image in IMAGES.values())


@pytest.mark.skipif(shutil.which("promtool") is None or shutil.which("amtool") is None,
                    reason="needs Debian's prometheus and prometheus-alertmanager")
def test_promtool_and_amtool_accept_the_rendered_configs(tmp_path: Path) -> None:
    out = _render(_project(tmp_path), tmp_path / "out")
    prom = subprocess.run(["promtool", "check", "config", str(out / "monitoring/prometheus/prometheus.yml")],
                          capture_output=True, text=True, timeout=60)
    assert prom.returncode == 0, prom.stdout + prom.stderr
    assert "2 rule files found" in prom.stdout  # the shipped rules and the spec's own
    am = subprocess.run(["amtool", "check-config", str(out / "monitoring/alertmanager/alertmanager.yml")],
                        capture_output=True, text=True, timeout=60)
    assert am.returncode == 0, am.stdout + am.stderr
    assert " - 5 receivers" in am.stdout  # the root's, and one per channel


def test_prometheus_scrapes_every_node_at_its_static_address_through_the_exporter(tmp_path: Path) -> None:
    spec_file = _project(tmp_path)
    out = _render(spec_file, tmp_path / "out")
    config = yaml.safe_load((out / "monitoring/prometheus/prometheus.yml").read_text())
    spec, _ = load_text(spec_file.read_text())
    assert spec is not None
    plan = build_plan(spec)
    ips = static_ips(plan)
    listed = {t: c["labels"]["node"] for job in config["scrape_configs"] if job.get("metrics_path") == "/scrape"
              for c in job["static_configs"] for t in c["targets"]}
    assert listed == {f"{ips[n.name]}:{n.address.port}": n.name for n in plan.nodes}
    relabel = next(j for j in config["scrape_configs"] if j["job_name"] == "redis")["relabel_configs"]
    assert {"target_label": "__address__", "replacement": "redis-exporter:9121"} in relabel
    own = {j["job_name"]: j["static_configs"][0]["targets"] for j in config["scrape_configs"] if "metrics_path" not in j}
    assert own == {"redis_exporter": ["redis-exporter:9121"], "prometheus": ["localhost:9090"],
                   "alertmanager": ["alertmanager:9093"]}
    assert config["rule_files"] == ["rules/*.yml"]
    assert sorted(p.name for p in (out / "monitoring/prometheus/rules").iterdir()) == ["redis.yml", "spec-mine.yml"]


def test_every_node_defines_the_exporter_user_and_drops_its_rewritten_copy(tmp_path: Path) -> None:
    spec_file = _project(tmp_path)
    out = _render(spec_file, tmp_path / "out")
    services = _doc(out)["services"]
    spec, _ = load_text(spec_file.read_text())
    assert spec is not None
    for node in build_plan(spec).nodes:
        script = services[node.name]["command"][2].replace("$$", "$")
        rules = SENTINEL_RULES if node.kind is NodeKind.SENTINEL else DATA_NODE_RULES
        assert f'"user redisops-exporter on >${{EXPORTER_PASSWORD}} resetchannels {" ".join(rules)}"' in script
        assert ': "${EXPORTER_PASSWORD:?' in script
        conf = "sentinel.conf" if node.kind is NodeKind.SENTINEL else "redis.conf"
        strip = script.index(f"sed -i '/^user redisops-exporter /d' /data/{conf}")
        assert script.index(f"[ -s /data/{conf} ]") < strip < script.index("echo 'include /data/auth.conf'")
    # without monitoring, a node's start is what it was: no exporter user, no EXPORTER_PASSWORD needed
    plain = render_compose_project(spec, spec_file, tmp_path / "plain").output
    assert "redisops-exporter" not in (plain / COMPOSE_FILE).read_text()
    assert "EXPORTER_PASSWORD" not in (plain / ENV_FILE).read_text()


def test_no_secret_outside_the_private_env_files(tmp_path: Path) -> None:
    spec_file = _project(tmp_path)
    out = _render(spec_file, tmp_path / "out")
    stored = yaml.safe_load((tmp_path / "redisops.secrets.yaml").read_text())
    assert set(stored) == {"admin_password", "app_password", "replication_password", "sentinel_user_password",
                           "sentinel_password", "exporter_password", "grafana_admin_password"}
    secrets = [*stored.values(), SLACK, TOKEN, SMTP]
    private = {ENV_FILE, EXPORTER_ENV, ALERTMANAGER_ENV, GRAFANA_ENV}
    for path in out.rglob("*"):
        if path.is_file() and path.name not in private:
            text = path.read_text()
            assert not any(secret in text for secret in secrets), path
    for name in private:
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600, name
    assert private <= set((out / ".gitignore").read_text().split())
    env = dict(line.split("=", 1) for line in (out / EXPORTER_ENV).read_text().splitlines() if "=" in line
               and not line.startswith("#"))
    assert env == {"REDIS_USER": "redisops-exporter", "REDIS_PASSWORD": stored["exporter_password"]}
    assert f"EXPORTER_PASSWORD={stored['exporter_password']}" in (out / ENV_FILE).read_text().splitlines()
    assert f"GF_SECURITY_ADMIN_PASSWORD={stored['grafana_admin_password']}" in (out / GRAFANA_ENV).read_text()
    # a second render keeps the generated passwords
    _render(spec_file, tmp_path / "out")
    assert yaml.safe_load((tmp_path / "redisops.secrets.yaml").read_text()) == stored


def test_alertmanager_start_puts_each_secret_in_place(tmp_path: Path) -> None:
    """Runs the container's start command with sh and awk, its paths moved into a temp dir and the server
    replaced by `cat` of the config it would load: the Telegram token (with `&` and `/`) lands in the config
    verbatim, the Slack URL and SMTP password in 0600 files the config names, the mounted config untouched."""
    out = _render(_project(tmp_path), tmp_path / "out")
    service = _doc(out)["services"]["alertmanager"]
    script = service["command"][0].replace("$$", "$")
    root = tmp_path / "container"
    (root / "etc").mkdir(parents=True)
    mounted = out / "monitoring/alertmanager/alertmanager.yml"
    shutil.copy(mounted, root / "etc" / "alertmanager.yml")
    script = script.replace("/etc/alertmanager/alertmanager.yml", "@mounted@")
    script = re.sub(r"(?<=[\s=])/alertmanager", str(root / "data"), script)  # the paths that start with it
    script = script.replace("@mounted@", str(root / "etc" / "alertmanager.yml"))
    script = re.sub(r"exec /bin/alertmanager --config.file=(\S+) .*", r"cat \1", script)
    env = {"PATH": os.environ["PATH"]}
    for line in (out / ALERTMANAGER_ENV).read_text().splitlines():
        if line and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key] = value
    (root / "data").mkdir()
    done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    loaded = yaml.safe_load(done.stdout)
    telegram = next(r for r in loaded["receivers"] if "telegram_configs" in r)["telegram_configs"][0]
    assert telegram["bot_token"] == TOKEN
    slack = next(r for r in loaded["receivers"] if "slack_configs" in r)["slack_configs"][0]
    email = next(r for r in loaded["receivers"] if "email_configs" in r)["email_configs"][0]
    for path_in_container, value in ((slack["api_url_file"], SLACK), (email["auth_password_file"], SMTP)):
        local = Path(path_in_container.replace("/alertmanager", str(root / "data")))
        assert local.read_text().strip() == value
        assert stat.S_IMODE(local.stat().st_mode) == 0o600
    assert TOKEN not in mounted.read_text()
    # a missing env file fails the start with the reason, before anything is written
    bare = subprocess.run(["sh", "-c", script], env={"PATH": os.environ["PATH"]}, capture_output=True, text=True,
                          timeout=30)
    assert bare.returncode != 0 and "alertmanager.env must sit next to docker-compose.yml" in bare.stderr


def test_grafana_gets_both_datasources_and_every_dashboard(tmp_path: Path) -> None:
    out = _render(_project(tmp_path), tmp_path / "out")
    sources = yaml.safe_load((out / "monitoring/grafana/provisioning/datasources/redisops.yaml").read_text())
    assert {(s["uid"], s["type"], s["url"]) for s in sources["datasources"]} == {
        ("redisops-prometheus", "prometheus", "http://prometheus:9090"), ("redisops-loki", "loki", "http://loki:3100")}
    provider = yaml.safe_load((out / "monitoring/grafana/provisioning/dashboards/redisops.yaml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/etc/redisops/dashboards"
    grafana = _doc(out)["services"]["grafana"]
    assert "./monitoring/grafana/dashboards:/etc/redisops/dashboards:ro" in grafana["volumes"]
    boards = sorted(p.name for p in (out / "monitoring/grafana/dashboards").iterdir())
    assert boards == ["cluster.json", "node.json", "overview.json", "sentinel.json"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.rsplit("/", 1)[1] in boards
    assert all(json.loads((out / "monitoring/grafana/dashboards" / b).read_text())["uid"] for b in boards)
    published = [p for s in _doc(out)["services"].values() for p in s.get("ports", [])]
    assert all(p.startswith("127.0.0.1:") for p in published), published


def test_a_rule_pattern_that_matches_nothing_is_one_clear_line(tmp_path: Path) -> None:
    spec_file = _project(tmp_path)
    data = yaml.safe_load(spec_file.read_text())
    data["monitor"]["rule_files"] = ["extra/*.yaml"]
    spec_file.write_text(yaml.safe_dump(data, sort_keys=False))
    done = subprocess.run([*REDISOPS, "render", "compose", "-o", str(tmp_path / "out"), "--with-monitoring",
                           "-f", str(spec_file)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "T_TG_TOKEN": TOKEN})
    assert done.returncode == 2, done.stdout + done.stderr
    assert "monitor.rule_files: 'extra/*.yaml' matches no file" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_cli_json_lists_the_monitoring_services(tmp_path: Path) -> None:
    spec_file = _project(tmp_path)
    done = subprocess.run([*REDISOPS, "render", "compose", "-o", str(tmp_path / "out"), "--with-monitoring",
                           "--json", "-f", str(spec_file)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)["data"]
    assert set(IMAGES) <= set(data["services"])
    assert "monitoring/prometheus/prometheus.yml" in data["files"]


def test_every_file_a_service_mounts_was_rendered(tmp_path: Path) -> None:
    out = _render(_project(tmp_path), tmp_path / "out")
    mounts = [v.split(":")[0] for s in _doc(out)["services"].values() for v in s.get("volumes", [])
              if v.startswith("./")]
    assert len(mounts) >= 8
    missing = [m for m in mounts if not (out / m).exists()]
    assert not missing, missing
    env_files = {f for s in _doc(out)["services"].values() for f in s.get("env_file", [])}
    assert all((out / f).is_file() for f in env_files), env_files


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs Debian's prometheus (promtool)")
def test_a_rule_edited_into_invalid_promql_stops_the_render(tmp_path: Path) -> None:
    spec_file = _project(tmp_path)
    (tmp_path / "extra" / "mine.yml").write_text(
        "groups:\n- name: mine\n  rules:\n  - alert: Mine\n    expr: redis_up ==\n")
    done = subprocess.run([*REDISOPS, "render", "compose", "-o", str(tmp_path / "out"), "--with-monitoring",
                           "-f", str(spec_file)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "a rule file is invalid" in done.stderr and "spec-mine.yml" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2 and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
