"""`redisops render compose`: valid Compose, the same configs as the local runtime, no inline secrets."""

from __future__ import annotations

import ipaddress
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import cli_json
import pytest
import yaml

from redisops.errors import EnvironmentProblem, UsageError
from redisops.runtime.compose import (
    COMPOSE_FILE,
    ENV_FILE,
    INIT_SCRIPT,
    INIT_SERVICE,
    UI,
    UI_IMAGES,
    OutputFile,
    compose_files,
    compose_placement,
    static_ips,
    write_output,
)
from redisops.runtime.conf import Placement, render_conf
from redisops.runtime.plan import NodeKind, NodePlan, Plan, build_plan
from redisops.security.tls.compose import render_compose_project
from redisops.spec import Secrets, Spec, generate_secrets, load_text
from redisops.spec.default import DEFAULT_SPEC
from redisops.spec.secrets import secrets_text

BIN = Path(sys.executable).parent


def _spec(overrides: dict[str, Any] | None = None) -> Spec:
    data = yaml.safe_load(DEFAULT_SPEC)
    for key, value in (overrides or {}).items():
        data[key] = value
    spec, problems = load_text(yaml.safe_dump(data))
    assert spec is not None, problems
    return spec


def _write_spec(directory: Path, secrets: Secrets, text: str = DEFAULT_SPEC) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    spec_file = directory / "redisops.yaml"
    spec_file.write_text(text, encoding="utf-8")
    secrets_file = directory / "redisops.secrets.yaml"
    secrets_file.write_text(secrets_text(secrets), encoding="utf-8")
    secrets_file.chmod(0o600)
    return spec_file


@pytest.fixture
def secrets() -> Secrets:
    return generate_secrets()


@pytest.fixture
def spec_file(tmp_path: Path, secrets: Secrets) -> Path:
    return _write_spec(tmp_path / "project", secrets)


def _render(spec_file: Path, out: Path, ui: UI | None = None) -> Path:
    """Render; with Redis Commander, which does not carry TLS client certificates, from a plaintext spec."""
    text = spec_file.read_text(encoding="utf-8")
    if ui is UI.COMMANDER:
        spec_file.write_text(text.replace("enabled: auto", "enabled: false"), encoding="utf-8")
    spec, _ = load_text(spec_file.read_text(encoding="utf-8"))
    assert spec is not None
    return render_compose_project(spec, spec_file, out, ui=ui).output


def _compose(out: Path) -> dict[str, Any]:
    doc = yaml.safe_load((out / COMPOSE_FILE).read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


# --- (1) the Compose specification's JSON schema --------------------------------------------------------


@pytest.mark.parametrize("ui", [None, UI.REDISINSIGHT, UI.COMMANDER])
def test_output_validates_against_the_compose_spec_schema(
        spec_file: Path, tmp_path: Path, ui: UI | None) -> None:
    out = _render(spec_file, tmp_path / "out", ui)
    proc = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                           str(out / COMPOSE_FILE)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sentinel_only_and_cluster_only_specs_validate(tmp_path: Path, secrets: Secrets) -> None:
    for name, drop in (("sentinel-only", "cluster"), ("cluster-only", "sentinel")):
        data = yaml.safe_load(DEFAULT_SPEC)
        del data[drop]
        spec_file = _write_spec(tmp_path / name, secrets, yaml.safe_dump(data))
        out = _render(spec_file, tmp_path / name / "out", UI.COMMANDER)
        proc = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                               str(out / COMPOSE_FILE)], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert (INIT_SERVICE in _compose(out)["services"]) is (drop != "cluster")
        assert (out / INIT_SCRIPT).exists() is (drop != "cluster")


# --- (2) parity with the local runtime ------------------------------------------------------------------


def _local_placement(root: Path, node: NodePlan, tls: bool = True) -> Placement:
    """What the local runtime passes to render_conf (one directory per node), for a TLS deployment by default
    (what a Compose project is with ``tls.enabled: auto``)."""
    node_dir = root / node.name
    return Placement(bind=node.address.host, dir=str(node_dir), logfile=f"{node_dir}/redis.log",
                     auth_file=f"{node_dir}/auth.conf", address_of=lambda n: n.address,
                     tls_dir=root / "tls" if tls else None)


def _normalize(text: str) -> str:
    """Blank out what a placement decides: addresses and paths.  Everything else must match."""
    text = re.sub(r"^(bind|dir|logfile|include|tls-cert-file|tls-key-file|tls-ca-cert-file) .*$", r"\1 <placement>",
                  text, flags=re.M)
    return re.sub(r"\b\d{1,3}(?:\.\d{1,3}){3}\b", "<ip>", text)


def test_compose_configs_differ_from_local_ones_only_in_addresses_and_paths(
        spec_file: Path, tmp_path: Path) -> None:
    out = _render(spec_file, tmp_path / "out")
    plan = build_plan(_spec())
    for node in plan.nodes:
        compose_text = (out / "conf" / f"{node.name}.conf").read_text(encoding="utf-8")
        local_text = render_conf(plan, node, _local_placement(tmp_path / "state", node))
        assert compose_text != local_text, node.name  # so this test can fail
        assert _normalize(compose_text) == _normalize(local_text), node.name
        assert "\nport 0\n" in compose_text and f"\ntls-port {node.address.port}\n" in compose_text
        assert f"tls-cert-file /data/tls/nodes/{node.name}.crt" in compose_text


def test_a_plaintext_project_matches_a_plaintext_local_deployment(spec_file: Path, tmp_path: Path) -> None:
    spec_file.write_text(spec_file.read_text().replace("enabled: auto", "enabled: false"))
    out = _render(spec_file, tmp_path / "out")
    assert not (out / "tls").exists()
    plan = build_plan(_spec())
    for node in plan.nodes:
        compose_text = (out / "conf" / f"{node.name}.conf").read_text(encoding="utf-8")
        local_text = render_conf(plan, node, _local_placement(tmp_path / "state", node, tls=False))
        assert _normalize(compose_text) == _normalize(local_text), node.name
        assert "tls-port" not in compose_text


def test_compose_configs_carry_the_container_placement(spec_file: Path, tmp_path: Path) -> None:
    out = _render(spec_file, tmp_path / "out")
    services = _compose(out)["services"]
    plan = build_plan(_spec())
    for node in plan.nodes:
        text = (out / "conf" / f"{node.name}.conf").read_text(encoding="utf-8")
        ip = services[node.name]["networks"]["redisops"]["ipv4_address"]
        assert f"\nbind {ip} 127.0.0.1\n" in text and "\ndir /data\n" in text and '\nlogfile ""\n' in text
        assert text.rstrip().endswith("include /data/auth.conf")
        announce = "sentinel announce-ip" if node.kind is NodeKind.SENTINEL else (
            "cluster-announce-ip" if node.kind is NodeKind.CLUSTER else "replica-announce-ip")
        assert f"\n{announce} {ip}\n" in text, node.name
    monitor = (out / "conf" / "mymaster-sentinel-0.conf").read_text(encoding="utf-8")
    master_ip = services["mymaster-0"]["networks"]["redisops"]["ipv4_address"]
    assert f"sentinel monitor mymaster {master_ip} 6400 2" in monitor


# --- (3) secrets ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ui", [None, UI.COMMANDER])
def test_no_secret_outside_the_env_file(
        spec_file: Path, tmp_path: Path, secrets: Secrets, ui: UI | None) -> None:
    out = _render(spec_file, tmp_path / "out", ui)
    values = secrets.passwords
    assert len(values) == 6  # sentinels', four users', the exporter's
    for path in out.rglob("*"):
        if path.is_file() and path.name != ENV_FILE:
            text = path.read_text(encoding="utf-8")
            assert not any(v in text for v in values), path
    env = out / ENV_FILE
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    lines = env.read_text(encoding="utf-8").splitlines()
    assert "REDIS_USERNAME=admin" in lines and f"REDIS_PASSWORD={secrets.admin_password}" in lines
    assert f"SENTINEL_PASSWORD={secrets.sentinel_password}" in lines
    assert {f"{key.upper()}={getattr(secrets, key)}" for key in ("app_password", "replication_password",
                                                                 "sentinel_user_password")} <= set(lines)
    assert ENV_FILE in (out / ".gitignore").read_text(encoding="utf-8").split()


def test_every_dollar_reaches_the_container_shell(spec_file: Path, tmp_path: Path) -> None:
    """Compose interpolates `$X` itself: every `$` meant for the container is written `$$`."""
    text = (_render(spec_file, tmp_path / "out") / COMPOSE_FILE).read_text(encoding="utf-8")
    assert "$$" in text
    assert re.search(r"(?<!\$)\$(?!\$)", text.replace("$$", "")) is None


def test_containers_build_auth_conf_from_the_env_and_keep_their_own_conf(
        spec_file: Path, tmp_path: Path) -> None:
    services = _compose(_render(spec_file, tmp_path / "out"))["services"]
    sentinel = services["mymaster-sentinel-0"]["command"][2].replace("$$", "$")
    assert ('"requirepass ${SENTINEL_PASSWORD}" "sentinel auth-user mymaster sentinel" '
            '"sentinel auth-pass mymaster ${SENTINEL_USER_PASSWORD}"') in sentinel
    assert "umask 077" in sentinel
    assert "[ -s /data/sentinel.conf ] || cp /etc/redisops/sentinel.conf /data/sentinel.conf" in sentinel
    assert sentinel.rstrip().endswith("exec redis-sentinel /data/sentinel.conf")
    redis = services["main-0"]["command"][2].replace("$$", "$")
    assert '"user default reset" "user admin reset on >${REDIS_PASSWORD} ~* &* +@all"' in redis
    assert '"user app reset on >${APP_PASSWORD} ~* &* +@all -@dangerous +info +role"' in redis
    assert '"masteruser replication" "masterauth ${REPLICATION_PASSWORD}"' in redis
    # a copy of the legacy requirepass a CONFIG REWRITE left in the conf goes, whatever auth.conf holds now
    assert "sed -i '/^requirepass /d' /data/redis.conf" in redis
    assert redis.rstrip().endswith("exec redis-server /data/redis.conf")
    # TLS: started as root to copy the 0600 key, then the server runs as the image's redis user
    assert "cp /etc/redisops/tls/nodes/main-0.key /data/tls/nodes/main-0.key" in redis
    assert "chown -R redis:redis /data/auth.conf /data/redis.conf /data/tls" in redis
    assert redis.index("chown") < redis.index("exec gosu redis redis-server /data/redis.conf")
    for name, service in services.items():
        if name in UI_IMAGES[UI.REDISINSIGHT].service:
            continue
        assert service["env_file"] == [ENV_FILE], name
        assert "user" not in service, name
        health = " ".join(service["healthcheck"]["test"])
        assert "REDISCLI_AUTH=" in health and " -a " not in health, name  # no password in argv


# --- (4) services: healthchecks, volumes, pinned images, static addresses ---------------------------------


@pytest.mark.parametrize("ui", [UI.REDISINSIGHT, UI.COMMANDER])
def test_every_service_is_healthchecked_pinned_and_addressed(spec_file: Path, tmp_path: Path, ui: UI) -> None:
    doc = _compose(_render(spec_file, tmp_path / "out", ui))
    services = doc["services"]
    plan = build_plan(_spec())
    assert list(services) == [n.name for n in plan.nodes] + [INIT_SERVICE, UI_IMAGES[ui].service]
    subnet = ipaddress.ip_network(doc["networks"]["redisops"]["ipam"]["config"][0]["subnet"])
    addresses = []
    for name, service in services.items():
        test = service["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL") and all(test[1:]), name
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), name
        address = service["networks"]["redisops"]["ipv4_address"]
        assert ipaddress.ip_address(address) in subnet, name
        addresses.append(address)
    assert len(set(addresses)) == len(addresses)
    for node in plan.nodes:
        service = services[node.name]
        assert service["image"] == "redis:7.0.15"
        assert f"{node.name}-data:/data" in service["volumes"]
        assert f"{node.name}-data" in doc["volumes"]
        assert all(not v.startswith("./conf") or v.endswith(":ro") for v in service["volumes"])
    assert services[UI_IMAGES[ui].service]["profiles"] == ["ui"]
    assert services[UI_IMAGES[ui].service]["image"] == UI_IMAGES[ui].image
    assert all(p.startswith("127.0.0.1:") for p in services[UI_IMAGES[ui].service]["ports"])


def test_cluster_init_waits_for_healthy_nodes_and_runs_once(spec_file: Path, tmp_path: Path) -> None:
    services = _compose(_render(spec_file, tmp_path / "out"))["services"]
    init = services[INIT_SERVICE]
    assert init["restart"] == "no"
    assert init["depends_on"] == {f"main-{k}": {"condition": "service_healthy"} for k in range(6)}
    assert init["volumes"] == [f"./{INIT_SCRIPT}:/etc/redisops/{INIT_SCRIPT}:ro",
                               "./tls/ca-bundle.crt:/etc/redisops/tls/ca-bundle.crt:ro",
                               "./tls/clients/cluster-init.crt:/etc/redisops/tls/clients/cluster-init.crt:ro",
                               "./tls/clients/cluster-init.key:/etc/redisops/tls/clients/cluster-init.key:ro"]
    assert all("profiles" not in s for n, s in services.items() if n != INIT_SERVICE)


def test_subnet_too_small_for_the_plan_is_an_input_error(secrets: Secrets) -> None:
    spec = _spec({"compose": {"subnet": "172.28.0.0/26"},
                  "cluster": {"name": "main", "port": 7000, "masters": 6, "replicas_per_master": 2}})
    with pytest.raises(UsageError, match="room for 22 static addresses; the plan needs"):
        compose_files(build_plan(spec), secrets)


def test_static_addresses_follow_plan_order() -> None:
    plan = build_plan(_spec())
    ips = static_ips(plan, (INIT_SERVICE,))
    assert ips["mymaster-0"] == "172.28.0.10" and ips["main-5"] == "172.28.0.21"
    assert ips[INIT_SERVICE] == "172.28.0.22"
    assert str(compose_placement(ips).address_of(plan.node("main-1"))) == "172.28.0.17:7001"


# --- (5) the cluster-init script --------------------------------------------------------------------------


def _script_nodes(script: str) -> list[tuple[int, str, str]]:
    """``NODE_<k>=...  # <name>, <role>`` lines -> (k, name, role), in script order."""
    node_line = r'^NODE_(\d+)="\$\{REDISOPS_NODE_\d+:-[^}]+\}"  # ([\w.-]+), (\w+)$'
    return [(int(k), name, role) for k, name, role in re.findall(node_line, script, re.M)]


@pytest.mark.parametrize("masters,per_master", [(3, 1), (4, 2), (5, 0)])
def test_cluster_init_hands_the_planned_shape_to_redis_cli(secrets: Secrets, masters: int, per_master: int) -> None:
    spec = _spec({"cluster": {"name": "main", "port": 7000, "masters": masters,
                              "replicas_per_master": per_master}})
    plan: Plan = build_plan(spec)
    assert plan.cluster is not None
    script = compose_files(plan, secrets)[INIT_SCRIPT].text
    nodes = _script_nodes(script)
    assert [(k, name) for k, name, _ in nodes] == list(enumerate(n.name for n in plan.cluster.nodes))
    # redis-cli --cluster create makes masters of the first nodes it is given: the plan's masters come first
    assert [role for _, _, role in nodes] == ["master"] * masters + ["replica"] * (masters * per_master)
    assert [name for _, name, role in nodes if role == "master"] == [m.name for m in plan.cluster.masters]
    assert f'NODES="{" ".join(f"$NODE_{k}" for k, _, _ in nodes)}"' in script
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    assert re.search(rf"redis-cli --cluster create \$NODES --cluster-replicas {per_master} --cluster-yes", code)
    assert f"{masters} masters, {masters * per_master} replicas" in code
    for own_way in ("set-config-epoch", "addslots", "cluster meet", "expect_ok"):  # no second formation algorithm
        assert own_way not in code
    assert 'export REDISCLI_AUTH="$REDIS_PASSWORD"' in code
    assert " -a " not in code and "--pass" not in code and "--askpass" not in code  # no password in argv


def test_cluster_init_addresses_match_the_compose_services(spec_file: Path, tmp_path: Path) -> None:
    out = _render(spec_file, tmp_path / "out")
    services = _compose(out)["services"]
    script = (out / INIT_SCRIPT).read_text(encoding="utf-8")
    for host, port, name in re.findall(r'^NODE_\d+="\$\{REDISOPS_NODE_\d+:-([\d.]+):(\d+)\}"  # ([\w.-]+),',
                                       script, re.M):
        assert services[name]["networks"]["redisops"]["ipv4_address"] == host
        assert f"-p {port} " in services[name]["healthcheck"]["test"][1]
    proc = subprocess.run(["sh", "-n", str(out / INIT_SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr  # POSIX sh parses it


# --- writing the directory ----------------------------------------------------------------------------------


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    files = {"a.txt": OutputFile("a"), "a.txt/b.txt": OutputFile("b")}  # the second cannot be written
    with pytest.raises(EnvironmentProblem):
        write_output(files, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rewrite_keeps_the_previous_output(tmp_path: Path) -> None:
    out = write_output({"a.txt": OutputFile("first")}, tmp_path / "out")
    with pytest.raises(EnvironmentProblem):
        write_output({"a.txt": OutputFile("second"), "a.txt/b": OutputFile("x")}, out)
    assert (out / "a.txt").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_rerender_replaces_own_files_and_keeps_the_users(tmp_path: Path) -> None:
    out = write_output({"a.txt": OutputFile("1"), "old.txt": OutputFile("gone")}, tmp_path / "out")
    (out / "docker-compose.override.yml").write_text("services: {}\n")
    write_output({"a.txt": OutputFile("2")}, out)
    assert (out / "a.txt").read_text() == "2"
    assert not (out / "old.txt").exists()  # redisops wrote it before, not this time
    assert (out / "docker-compose.override.yml").read_text() == "services: {}\n"


def test_refuses_a_foreign_non_empty_directory_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not empty and was not written by redisops"):
        write_output({"a.txt": OutputFile("1")}, out)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    write_output({"a.txt": OutputFile("1")}, out, force=True)
    assert (out / "notes.txt").read_text() == "mine" and (out / "a.txt").read_text() == "1"


def test_refuses_to_render_over_the_spec(spec_file: Path) -> None:
    with pytest.raises(UsageError, match="holds the spec"):
        _render(spec_file, spec_file.parent)


# --- (6) the command line -----------------------------------------------------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR")}
    env["COLUMNS"] = "200"
    return subprocess.run([str(BIN / "redisops"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env=env)


def test_cli_renders_and_lists_the_files_as_json(spec_file: Path) -> None:
    proc = _cli("render", "compose", "-f", str(spec_file), "-o", "out", "--with-ui", "redisinsight", "--json",
                cwd=spec_file.parent)
    assert proc.returncode == 0, proc.stderr
    data = cli_json.data(proc.stdout)
    assert {COMPOSE_FILE, ENV_FILE, INIT_SCRIPT, "conf/main-0.conf"} <= set(data["files"])
    assert data["ui"] == "redisinsight" and Path(data["output"]) == (spec_file.parent / "out").resolve()
    again = _cli("render", "compose", "-f", str(spec_file), "-o", "out", cwd=spec_file.parent)
    assert again.returncode == 0, again.stderr  # its own output is replaced without --force


def test_cli_output_that_cannot_be_a_directory_is_one_line_exit_2(spec_file: Path) -> None:
    blocker = spec_file.parent / "a-file"
    blocker.write_text("x")
    proc = _cli("render", "compose", "-f", str(spec_file), "-o", str(blocker / "out"), cwd=spec_file.parent)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "is not a directory" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_cli_unwritable_output_is_one_line_exit_2(spec_file: Path) -> None:
    locked = spec_file.parent / "locked"
    locked.mkdir(mode=0o500)
    proc = _cli("render", "compose", "-f", str(spec_file), "-o", str(locked / "out"), cwd=spec_file.parent)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "cannot write" in proc.stderr


def test_cli_foreign_non_empty_output_is_one_line_exit_2(spec_file: Path) -> None:
    out = spec_file.parent / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    proc = _cli("render", "compose", "-f", str(spec_file), "-o", str(out), cwd=spec_file.parent)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "--force" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    forced = _cli("render", "compose", "-f", str(spec_file), "-o", str(out), "--force", cwd=spec_file.parent)
    assert forced.returncode == 0, forced.stderr
    assert (out / "keep.txt").read_text() == "mine" and (out / COMPOSE_FILE).is_file()


def test_cli_bad_ui_choice_is_exit_2(spec_file: Path) -> None:
    proc = _cli("render", "compose", "-f", str(spec_file), "-o", "out", "--with-ui", "grafana",
                cwd=spec_file.parent)
    assert proc.returncode == 2
    assert not (spec_file.parent / "out").exists()


# --- (5) TLS (tls.enabled: auto): the project's certificates -----------------------------------------------


def test_the_project_carries_node_and_client_certificates_but_not_the_ca_key(spec_file: Path, tmp_path: Path) -> None:
    from cryptography import x509

    out = _render(spec_file, tmp_path / "out")
    services = _compose(out)["services"]
    plan = build_plan(_spec())
    ca = x509.load_pem_x509_certificate((out / "tls" / "ca-bundle.crt").read_bytes())
    for node in plan.nodes:
        cert = x509.load_pem_x509_certificate((out / "tls" / "nodes" / f"{node.name}.crt").read_bytes())
        assert cert.issuer == ca.subject
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        ips = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
        assert ips == {services[node.name]["networks"]["redisops"]["ipv4_address"], "127.0.0.1"}, node.name
        assert sans.get_values_for_type(x509.DNSName) == [node.name]
        key = out / "tls" / "nodes" / f"{node.name}.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert sorted(p.name for p in (out / "tls" / "clients").iterdir()) == [
        "app.crt", "app.key", "cluster-init.crt", "cluster-init.key"]
    assert not [p for p in out.rglob("*") if p.name.startswith("ca") and p.suffix == ".key"]
    assert {"tls/nodes/*.key", "tls/clients/*.key"} <= set((out / ".gitignore").read_text().split())
    # a second render keeps the CA (applications keep trusting it) and the certificates
    again = _render(spec_file, tmp_path / "again")
    for rel in ("tls/ca-bundle.crt", "tls/nodes/main-0.crt", "tls/clients/app.key"):
        assert (again / rel).read_bytes() == (out / rel).read_bytes(), rel


def test_redis_commander_in_a_tls_project_logs_in_with_its_own_client_certificate(
        spec_file: Path, tmp_path: Path) -> None:
    from redisops.security.tls.compose import render_compose_project

    spec, _ = load_text(spec_file.read_text(encoding="utf-8"))
    assert spec is not None
    out = render_compose_project(spec, spec_file, tmp_path / "out", ui=UI.COMMANDER).output
    service = yaml.safe_load((out / "docker-compose.yml").read_text())["services"]["redis-commander"]
    env = service["environment"]
    assert (env["REDIS_TLS"], env["SENTINEL_TLS"]) == ("true", "true")
    files = {env[k] for k in ("REDIS_TLS_CA_CERT_FILE", "REDIS_TLS_CERT_FILE", "REDIS_TLS_KEY_FILE")}
    assert files == {"/etc/redisops/tls/ca-bundle.crt", "/etc/redisops/tls/clients/ui.crt",
                     "/etc/redisops/tls/clients/ui.key"}
    # each file it names is mounted read-only from the project's tls/, and exists there
    mounted = {target: source for source, target, mode in (v.split(":") for v in service["volumes"])}
    assert set(mounted) == files and all(mode == "ro" for *_, mode in (v.split(":") for v in service["volumes"]))
    for source in mounted.values():
        assert (out / source).is_file(), source
    assert stat.S_IMODE((out / "tls/clients/ui.key").stat().st_mode) == 0o600
    assert service["user"] == "0:0"  # the mounted key is 0600 on the host
    assert service["ports"] == ["127.0.0.1:8081:8081"]
    # RedisInsight is not configured to log in: no ui certificate
    insight = render_compose_project(spec, spec_file, tmp_path / "insight", ui=UI.REDISINSIGHT).output
    assert not (insight / "tls/clients/ui.crt").exists()
