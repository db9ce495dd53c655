"""The rendered Compose project, run without Docker: real redis-server / redis-sentinel on 127.0.0.1.

Each node runs its service's own start command and mounted conf, with the container
paths (/data, /etc/redisops) mapped to a temp directory and each container address
to a loopback address of its own (172.28.0.16 -> 127.28.0.16; Linux routes all of
127/8 to lo), so every node has its own IP as under Docker: Sentinel and
``redis-cli --cluster create`` see as many hosts as Compose gives them.  That
exercises what Docker would: the auth.conf written from the env file, the conf
copied once into the data dir, the healthchecks, and the generated cluster-init
script forming a real cluster.
"""

from __future__ import annotations

import ipaddress
import os
import random
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from redisops.observe.compose import EXPORTER_ENV, monitoring_addon
from redisops.runtime.compose import COMPOSE_FILE, ENV_FILE, INIT_SCRIPT
from redisops.runtime.plan import build_plan
from redisops.runtime.ui import UI
from redisops.security.tls.compose import render_compose_project
from redisops.spec import Secrets, Spec, generate_secrets, load_text
from redisops.spec.default import DEFAULT_SPEC
from redisops.spec.secrets import secrets_text

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None or shutil.which("redis-cli") is None,
                                reason="needs redis-server and redis-cli")


#: NODE_<k>="${REDISOPS_NODE_<k>:-<ip>:<port>}"  # <name>, <role>  -> (k, ip, port, name, role)
NODE_LINE = r'^NODE_(\d+)="\$\{REDISOPS_NODE_\d+:-([\d.]+):(\d+)\}"  # ([\w.-]+), (\w+)'


def loopback(ip: str) -> str:
    """A container address -> a loopback address of its own: the low 24 bits kept, 127 in front."""
    return str(ipaddress.ip_address((127 << 24) | (int(ipaddress.ip_address(ip)) & 0xFFFFFF)))


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _port_block(count: int, bus: bool = False, taken: set[int] | None = None) -> int:
    """First port of `count` free consecutive ports in 35000-39999 (and their +10000 cluster bus ports)."""
    taken = taken if taken is not None else set()
    for _ in range(200):
        base = random.randrange(35000, 40000 - count)
        ports = range(base, base + count)
        if any(p in taken for p in ports):
            continue
        if all(_free(p) and (not bus or _free(p + 10000)) for p in ports):
            taken.update(ports)
            return base
    raise RuntimeError("no free port block in 35000-39999")


def _eventually(check: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {within} s: {what}")


class Project:
    """A rendered project whose services run as local processes; stops every process it started."""

    def __init__(self, root: Path, spec: Spec, secrets: Secrets, monitoring: bool = False,
                 ui: UI | None = None) -> None:
        self.root = root
        spec_file = root / "redisops.yaml"
        secrets_file = root / spec.auth.secrets_file
        secrets_file.write_text(secrets_text(secrets))
        secrets_file.chmod(0o600)
        addon = monitoring_addon(spec, spec_file, build_plan(spec)) if monitoring else None
        self.out = render_compose_project(spec, spec_file, root / "compose", addon=addon, ui=ui).output
        self.doc: dict[str, Any] = yaml.safe_load((self.out / COMPOSE_FILE).read_text())
        self.subnet = ipaddress.ip_network(spec.compose.subnet)
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env_file(self.out / ENV_FILE)}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        if (self.out / "tls").exists():
            self._localize_certificates(spec, spec_file)

    def _localize_certificates(self, spec: Spec, spec_file: Path) -> None:
        """Node certificates naming the loopback twins: redis_exporter (Go) checks the address it dials against
        them.  Issued by the project's own CA (kept in the state directory), as a render would."""
        from redisops.runtime.plan import state_dir
        from redisops.runtime.tls_layout import Layout
        from redisops.security.tls import NodeIdentity, ensure_material

        root = state_dir(spec, spec_file).resolve() / "compose-tls"
        services = self.doc["services"]
        nodes = [NodeIdentity(n.name, (loopback(services[n.name]["networks"]["redisops"]["ipv4_address"]),
                                       "127.0.0.1"), (n.name,)) for n in build_plan(spec).nodes]
        ensure_material(root, spec.name, nodes, ())
        for node in nodes:
            pair = Layout(root).node(node.name)
            shutil.copyfile(pair.cert, self.out / "tls" / "nodes" / f"{node.name}.crt")
            shutil.copyfile(pair.key, self.out / "tls" / "nodes" / f"{node.name}.key")

    def localize(self, text: str, name: str) -> str:
        """Container paths to this node's temp dirs, container addresses to loopback."""
        text = text.replace("/etc/redisops", str(self.root / "nodes" / name / "etc"))
        text = text.replace("/data", str(self.root / "nodes" / name / "vol"))
        own = self.doc["services"][name]["networks"]["redisops"]["ipv4_address"]
        text = text.replace("bind 0.0.0.0", f"bind 127.0.0.1 {loopback(own)}")  # healthchecks use 127.0.0.1

        def local(match: re.Match[str]) -> str:
            return loopback(match.group()) if ipaddress.ip_address(match.group()) in self.subnet else match.group()

        return re.sub(r"\b\d{1,3}(?:\.\d{1,3}){3}\b", local, text)

    def start(self, name: str) -> None:
        service = self.doc["services"][name]
        node_dir = self.root / "nodes" / name
        (node_dir / "vol").mkdir(parents=True, exist_ok=True)
        (node_dir / "etc").mkdir(exist_ok=True)
        for volume in service["volumes"]:
            source, target, *_ = volume.split(":")
            if source.startswith("./"):
                mounted = Path(self.localize(target, name))
                mounted.parent.mkdir(parents=True, exist_ok=True)
                if mounted.suffix in (".crt", ".key"):  # certificates and keys as they are
                    shutil.copyfile(self.out / source, mounted)
                else:
                    mounted.write_text(self.localize((self.out / source).read_text(), name))
        script = self.localize(service["command"][2].replace("$$", "$"), name)
        # A TLS container starts as root and drops to the image's redis user, who could not read this temp dir:
        # run as whoever runs the test, as a container started with another `user:` does.
        script = script.replace('if [ "$(id -u)" = 0 ]; then', "if false; then")
        log = open(node_dir / "stdout.log", "wb")  # noqa: SIM115 - closed with the process
        self.procs[name] = subprocess.Popen(["sh", "-c", script], env=self.env, stdout=log, stderr=log)
        log.close()

    def healthy(self, name: str) -> bool:
        test = self.doc["services"][name]["healthcheck"]["test"][1].replace("$$", "$")
        return subprocess.run(["sh", "-c", self.localize(test, name)], env=self.env, capture_output=True,
                              timeout=10).returncode == 0

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def cli(self, port: int, *args: str, password: str = "REDIS_PASSWORD") -> str:
        """redis-cli as the admin user (``REDIS_USERNAME``), or a sentinel's default user (``SENTINEL_PASSWORD``)."""
        env = {**self.env, "REDISCLI_AUTH": self.env[password]}
        return subprocess.run(["redis-cli", "-p", str(port), *self.tls(), *self.user(password), *args], env=env,
                              capture_output=True, text=True, timeout=10).stdout.replace("\r", "")

    def tls(self) -> list[str]:
        """redis-cli's TLS flags with the project's ``app`` client certificate (none for a plaintext project)."""
        root = self.out / "tls"
        if not root.exists():
            return []
        return ["--tls", "--cacert", str(root / "ca-bundle.crt"), "--cert", str(root / "clients" / "app.crt"),
                "--key", str(root / "clients" / "app.key")]

    def user(self, password: str = "REDIS_PASSWORD") -> list[str]:
        """redis-cli's ``--user`` for the env file's data-node password: the ACL user it belongs to."""
        return ["--user", self.env["REDIS_USERNAME"]] if password == "REDIS_PASSWORD" else []


def env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of a rendered env file, as Compose reads them into a container's environment."""
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def _spec(taken: set[int], *, sentinel: bool, cluster: bool, monitoring: bool = False) -> Spec:
    data = yaml.safe_load(DEFAULT_SPEC)
    if monitoring:
        data["monitor"] = {"scrape_interval_s": 1, "evaluation_interval_s": 1}
    if sentinel:
        data["sentinel"][0]["port"] = _port_block(3, taken=taken)
        data["sentinel"][0]["sentinel_port"] = _port_block(3, taken=taken)
        data["sentinel"][0]["persistence"] = "none"
    else:
        del data["sentinel"]
    if cluster:
        data["cluster"]["port"] = _port_block(6, bus=True, taken=taken)
        data["cluster"]["persistence"] = "none"
    else:
        del data["cluster"]
    spec, problems = load_text(yaml.safe_dump(data))
    assert spec is not None, problems
    return spec


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Callable[..., Project]]:
    made: list[Project] = []

    def make(ui: UI | None = None, **kinds: bool) -> Project:
        made.append(Project(tmp_path, _spec(set(), **kinds), generate_secrets(), kinds.get("monitoring", False), ui))
        return made[-1]

    yield make
    for item in made:
        item.stop_all()


def _nodes_by_port(project: Project, port: int) -> dict[int, tuple[str, str, str]]:
    """port -> (node id, role flag, master id) from CLUSTER NODES."""
    out = {}
    for line in project.cli(port, "cluster", "nodes").splitlines():
        fields = line.split()
        flags = fields[2].split(",")
        role = "master" if "master" in flags else "replica"
        out[int(fields[1].split("@")[0].rsplit(":", 1)[1])] = (fields[0], role, fields[3])
    return out


def _start_cluster(proj: Project) -> tuple[dict[str, str], dict[str, int], dict[str, str]]:
    """Start the six cluster nodes; return the cluster-init's environment, name -> port and name -> planned role.

    REDISOPS_NODE_<k> points the script at the node's loopback twin of its container address.
    """
    names = [f"main-{k}" for k in range(6)]
    for name in names:
        proj.start(name)
    _eventually(lambda: all(proj.healthy(n) for n in names), 15, "cluster nodes pass their healthchecks")
    env = {**proj.env, "REDISOPS_TIMEOUT": "30", "REDISOPS_TLS_DIR": str(proj.out / "tls")}
    ports, roles = {}, {}
    for k, ip, port, name, role in re.findall(NODE_LINE, (proj.out / INIT_SCRIPT).read_text(), re.M):
        env[f"REDISOPS_NODE_{k}"] = f"{loopback(ip)}:{port}"
        ports[name], roles[name] = int(port), role
    assert sorted(ports) == names
    return env, ports, roles


def _run_init(proj: Project, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(proj.out / INIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=120)


def test_cluster_init_script_forms_the_planned_cluster(project: Callable[..., Project]) -> None:
    proj = project(sentinel=False, cluster=True)
    env, ports, roles = _start_cluster(proj)

    first = _run_init(proj, env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "[OK] All 16384 slots covered." in first.stdout  # redis-cli --cluster create formed it
    assert "cluster main is ok: 3 masters, 3 replicas" in first.stdout

    check_env = {**proj.env, "REDISCLI_AUTH": proj.env["REDIS_PASSWORD"]}
    check = subprocess.run(["redis-cli", *proj.tls(), *proj.user(), "--cluster", "check", f"127.0.0.1:{ports['main-0']}"],
                           env=check_env,
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout
    assert "[OK] All 16384 slots covered." in check.stdout

    planned_masters = {ports[n] for n, role in roles.items() if role == "master"}

    def shards_as_planned() -> bool:  # as main-0 sees it, once gossip has spread the roles
        nodes = _nodes_by_port(proj, ports["main-0"])
        masters = {p for p, (_, role, _) in nodes.items() if role == "master"}
        followed = sorted(master_id for _, role, master_id in nodes.values() if role == "replica")
        return masters == planned_masters and followed == sorted(nodes[p][0] for p in planned_masters)

    _eventually(shards_as_planned, 15, "main-0/1/2 are the masters, each followed by one of main-3/4/5")
    assert proj.cli(ports["main-1"], "cluster", "countkeysinslot", "0").strip() == "0"

    before = _nodes_by_port(proj, ports["main-0"])
    again = _run_init(proj, env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already has all 16384 slots assigned" in again.stdout
    assert "forming" not in again.stdout  # nothing changed the second time
    assert _nodes_by_port(proj, ports["main-0"]) == before


def test_cluster_init_says_how_to_finish_an_interrupted_formation(project: Callable[..., Project]) -> None:
    """A create killed after the MEETs and before the REPLICATEs leaves empty masters: a rerun must not say ok."""
    proj = project(sentinel=False, cluster=True)
    env, ports, _ = _start_cluster(proj)
    nodes = [env[f"REDISOPS_NODE_{k}"] for k in range(6)]
    auth = {**proj.env, "REDISCLI_AUTH": proj.env["REDIS_PASSWORD"]}
    create = subprocess.run(["redis-cli", *proj.tls(), *proj.user(), "--cluster", "create", *nodes[:3], "--cluster-yes"], env=auth,
                            capture_output=True, text=True, timeout=60)
    assert create.returncode == 0, create.stdout + create.stderr
    host, port = nodes[0].rsplit(":", 1)
    for node in nodes[3:]:
        assert proj.cli(int(node.rsplit(":", 1)[1]), "cluster", "meet", host, port).strip() == "OK"
    _eventually(lambda: sum("handshake" not in line for line in proj.cli(int(port), "cluster", "nodes")
                            .splitlines()) == 6, 15, "the first node knows the three empty masters")

    run = _run_init(proj, env)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "cluster main is not finished, masters without slots:" in run.stderr
    assert all(node in run.stderr for node in nodes[3:]) and not any(node in run.stderr for node in nodes[:3])
    assert "cluster replicate <master id>" in run.stderr


def test_cluster_init_refuses_nodes_that_hold_data(project: Callable[..., Project]) -> None:
    proj = project(sentinel=False, cluster=True)
    env, _, _ = _start_cluster(proj)
    node = env["REDISOPS_NODE_4"]
    port = int(node.rsplit(":", 1)[1])
    assert proj.cli(port, "cluster", "addslots", "42").strip() == "OK"
    run = _run_init(proj, env)
    assert run.returncode == 1
    assert "refusing to form cluster main" in run.stderr
    assert f"{node} (known_nodes=1 slots=1" in run.stderr
    assert proj.cli(port, "cluster", "info").count("cluster_known_nodes:1") == 1  # nothing was met


def test_sentinel_group_runs_from_the_compose_configs(project: Callable[..., Project]) -> None:
    proj = project(sentinel=True, cluster=False)
    group = proj.doc["services"]
    names = ["mymaster-0", "mymaster-1", "mymaster-2", "mymaster-sentinel-0", "mymaster-sentinel-1",
             "mymaster-sentinel-2"]
    for name in names:
        proj.start(name)
    _eventually(lambda: all(proj.healthy(n) for n in names), 15, "group passes its healthchecks")
    port_of = {n: int(re.search(r"-p (\d+) ", group[n]["healthcheck"]["test"][1]).group(1))  # type: ignore[union-attr]
               for n in names}

    def sentinels_see_everyone() -> bool:
        for s in names[3:]:
            reply = proj.cli(port_of[s], "sentinel", "master", "mymaster", password="SENTINEL_PASSWORD")
            fields = reply.split()
            info = dict(zip(fields[::2], fields[1::2], strict=False))
            if info.get("num-slaves") != "2" or info.get("num-other-sentinels") != "2":
                return False
            if info.get("flags") != "master":
                return False
        return True

    _eventually(sentinels_see_everyone, 20, "each sentinel sees the master, 2 replicas and 2 peers")
    # TLS only (tls.enabled: auto): a plaintext client gets no answer, on a data node or a sentinel
    for name in ("mymaster-0", "mymaster-sentinel-0"):
        plain = subprocess.run(["redis-cli", "-p", str(port_of[name]), "ping"], capture_output=True, text=True,
                               timeout=10, env={**proj.env, "REDISCLI_AUTH": proj.env["REDIS_PASSWORD"]})
        assert "PONG" not in plain.stdout, name
        assert "tls-port" in (proj.root / "nodes" / name / "vol" / ("sentinel.conf" if "sentinel" in name
                                                                     else "redis.conf")).read_text()
    _eventually(lambda: "master_link_status:up" in proj.cli(port_of["mymaster-1"], "info", "replication"),
                20, "mymaster-1 replicates the master")

    # The conf in the data dir is the node's own after the first start: a rewrite survives a restart,
    # and the include of auth.conf stays last (the env file's passwords win).
    assert proj.cli(port_of["mymaster-1"], "config", "set", "maxmemory-samples", "7").strip() == "OK"
    assert proj.cli(port_of["mymaster-1"], "config", "rewrite").strip() == "OK"
    proj.stop("mymaster-1")
    proj.start("mymaster-1")
    _eventually(lambda: proj.healthy("mymaster-1"), 15, "mymaster-1 back")
    samples = proj.cli(port_of["mymaster-1"], "config", "get", "maxmemory-samples").split()
    assert samples == ["maxmemory-samples", "7"]
    conf = (proj.root / "nodes" / "mymaster-1" / "vol" / "redis.conf").read_text().strip().splitlines()
    assert conf[-1].startswith("include ") and conf[-1].endswith("/vol/auth.conf")
    assert sum(line.startswith("include ") for line in conf) == 1
    # the rewrite copied the ACL users and masterauth into the conf; the start dropped them: auth.conf alone
    # holds them
    assert not any(line.startswith(("requirepass ", "masterauth ", "masteruser ", "user ")) for line in conf)
    passwords = [value for key, value in proj.env.items() if key.endswith("_PASSWORD")]
    assert len(passwords) >= 5 and not [p for p in passwords if p in "\n".join(conf)]
    auth = proj.root / "nodes" / "mymaster-1" / "vol" / "auth.conf"
    assert auth.stat().st_mode & 0o077 == 0


# --- --with-monitoring: the rendered exporter, Prometheus and Alertmanager configs on the real Debian binaries ------
def _localize_monitoring(proj: Project, text: str, ports: dict[str, int]) -> str:
    """Service names to loopback ports, container addresses to their loopback twins."""
    for name, port in (("redis-exporter:9121", ports["exporter"]), ("alertmanager:9093", ports["alertmanager"]),
                       ("localhost:9090", ports["prometheus"])):
        text = text.replace(name, f"127.0.0.1:{port}")
    return re.sub(r"\b\d{1,3}(?:\.\d{1,3}){3}\b",
                  lambda m: loopback(m.group()) if ipaddress.ip_address(m.group()) in proj.subnet else m.group(), text)


def _start_monitoring(proj: Project, ports: dict[str, int]) -> None:
    """redis_exporter with exporter.env as its environment, Prometheus on the rendered prometheus.yml and rules,
    Alertmanager through its rendered start command; each on a loopback port, logs in the temp dir."""
    root = proj.root / "monitoring"
    prom = root / "prometheus"
    shutil.copytree(proj.out / "monitoring" / "prometheus", prom)
    config = prom / "prometheus.yml"
    config.write_text(_localize_monitoring(proj, config.read_text(), ports))
    exporter = [*proj.doc["services"]["redis-exporter"]["command"]]
    exporter = [f"--web.listen-address=127.0.0.1:{ports['exporter']}" if a.startswith("--web.listen")
                else a.replace("/etc/redisops/tls", str(proj.out / "tls")) for a in exporter]
    am_dir = root / "alertmanager"
    (am_dir / "etc").mkdir(parents=True)
    shutil.copy(proj.out / "monitoring" / "alertmanager" / "alertmanager.yml", am_dir / "etc" / "alertmanager.yml")
    script = proj.doc["services"]["alertmanager"]["command"][0].replace("$$", "$")
    script = script.replace("/etc/alertmanager/alertmanager.yml", str(am_dir / "etc" / "alertmanager.yml"))
    script = re.sub(r"(?<=[\s=])/alertmanager\b(?!\.yml)", str(am_dir / "data"), script)
    script = script.replace("exec /bin/alertmanager", "exec prometheus-alertmanager").replace(
        "--cluster.listen-address=", f"--cluster.listen-address= --web.listen-address=127.0.0.1:{ports['alertmanager']}")
    commands = {
        "redis-exporter": (["prometheus-redis-exporter", *exporter], env_file(proj.out / EXPORTER_ENV)),
        "alertmanager": (["sh", "-c", script], env_file(proj.out / "alertmanager.env")),
        "prometheus": (["prometheus", f"--config.file={config}", f"--storage.tsdb.path={prom / 'data'}",
                        f"--web.listen-address=127.0.0.1:{ports['prometheus']}"], {}),
    }
    for name, (argv, env) in commands.items():
        log = open(root / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proj.procs[name] = subprocess.Popen(argv, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
                                            stdout=log, stderr=log, cwd=root)
        log.close()


@pytest.mark.skipif(any(shutil.which(b) is None for b in ("prometheus", "prometheus-alertmanager",
                                                           "prometheus-redis-exporter")),
                    reason="needs Debian's prometheus, prometheus-alertmanager and prometheus-redis-exporter")
def test_monitoring_runs_from_the_compose_configs(project: Callable[..., Project]) -> None:
    """The nodes start with the exporter's ACL user from their auth.conf (and restart with it after their conf
    was rewritten), and the rendered exporter, Prometheus and Alertmanager, on the real binaries, scrape every
    node up through that user."""
    import httpx

    proj = project(sentinel=True, cluster=False, monitoring=True)
    names = ["mymaster-0", "mymaster-1", "mymaster-2", "mymaster-sentinel-0", "mymaster-sentinel-1",
             "mymaster-sentinel-2"]
    for name in names:
        proj.start(name)
    _eventually(lambda: all(proj.healthy(n) for n in names), 15, "group passes its healthchecks")
    port_of = {n: int(re.search(r"-p (\d+) ", proj.doc["services"][n]["healthcheck"]["test"][1]).group(1))  # type: ignore[union-attr]
               for n in names}
    exporter_env = env_file(proj.out / EXPORTER_ENV)

    def as_exporter(name: str, *command: str) -> str:
        env = {**proj.env, "REDISCLI_AUTH": exporter_env["REDIS_PASSWORD"]}
        done = subprocess.run(["redis-cli", "-p", str(port_of[name]), *proj.tls(), "--user", exporter_env["REDIS_USER"],
                               *command],
                              env=env, capture_output=True, text=True, timeout=10)
        return done.stdout + done.stderr

    # a rewritten conf holds the user too (CONFIG REWRITE, SENTINEL FLUSHCONFIG; both run on a failover), and
    # Redis refuses a user defined twice: the restarts prove the start removes the copy
    assert proj.cli(port_of["mymaster-1"], "config", "rewrite").strip() == "OK"
    assert proj.cli(port_of["mymaster-sentinel-0"], "sentinel", "flushconfig",
                    password="SENTINEL_PASSWORD").strip() == "OK"
    for name in ("mymaster-1", "mymaster-sentinel-0"):
        conf = "sentinel.conf" if "sentinel" in name else "redis.conf"
        assert "user redisops-exporter " in (proj.root / "nodes" / name / "vol" / conf).read_text(), name
        proj.stop(name)
        proj.start(name)
    _eventually(lambda: all(proj.healthy(n) for n in names), 15, "restarted nodes pass their healthchecks")
    for name in names:
        assert "redis_version:" in as_exporter(name, "info", "server"), name
        forbidden = ("sentinel", "failover", "mymaster") if "sentinel" in name else ("get", "k")
        assert "NOPERM" in as_exporter(name, *forbidden), name

    taken: set[int] = set()
    ports = dict(zip(("exporter", "alertmanager", "prometheus"), (_port_block(1, taken=taken) for _ in range(3)),
                     strict=True))
    _start_monitoring(proj, ports)
    api = f"http://127.0.0.1:{ports['prometheus']}/api/v1"

    def scraped() -> bool:
        try:
            up = httpx.get(f"{api}/query", params={"query": "redis_up"}, timeout=3).json()["data"]["result"]
            managers = httpx.get(f"{api}/alertmanagers", timeout=3).json()["data"]["activeAlertmanagers"]
            rules = httpx.get(f"{api}/rules", timeout=3).json()["data"]["groups"]
        except (httpx.HTTPError, KeyError, ValueError):
            return False
        return (sorted(r["metric"]["node"] for r in up if r["value"][1] == "1") == sorted(names)
                and len(managers) == 1 and len(rules) > 0)

    _eventually(scraped, 60, "Prometheus scrapes all 6 nodes up through the exporter, with rules and Alertmanager")


# --- --with-ui commander: the image's own entrypoint (shipped in the npm package) on the rendered environment -------
COMMANDER_PACKAGE = Path(__file__).resolve().parents[2] / ".redisops" / "tools" / "node_modules" / "redis-commander"


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node (make commander)")
def test_redis_commander_runs_from_the_compose_configs_over_tls(project: Callable[..., Project]) -> None:
    """The Commander service's environment (the env file's admin login, its sentinels, REDIS_TLS_* naming the
    mounted ui certificate) through docker/entrypoint.sh, the script the image starts: connected through the
    sentinels over TLS, it shows a key written to the master."""
    import httpx

    assert (COMMANDER_PACKAGE / "docker" / "entrypoint.sh").is_file(), "run `make commander`"
    proj = project(ui=UI.COMMANDER, sentinel=True, cluster=False)
    names = ["mymaster-0", "mymaster-1", "mymaster-2", "mymaster-sentinel-0", "mymaster-sentinel-1",
             "mymaster-sentinel-2"]
    for name in names:
        proj.start(name)
    _eventually(lambda: all(proj.healthy(n) for n in names), 15, "group passes its healthchecks")
    master_port = int(re.search(r"-p (\d+) ", proj.doc["services"]["mymaster-0"]["healthcheck"]["test"][1])
                      .group(1))  # type: ignore[union-attr]
    assert proj.cli(master_port, "set", "ui:compose", "over TLS").strip() == "OK"

    service = proj.doc["services"]["redis-commander"]
    assert service["user"] == "0:0"
    home = proj.root / "commander"
    (home / "config").mkdir(parents=True)
    port = _port_block(1)
    env = {**proj.env, "HOME": str(home), "NODE_ENV": "production", "ADDRESS": "127.0.0.1", "PORT": str(port)}
    env |= {k: proj.localize(str(v), "redis-commander").replace(str(proj.root / "nodes" / "redis-commander" / "etc"
                                                                    / "tls"), str(proj.out / "tls"))
            for k, v in service["environment"].items()}
    assert env["REDIS_TLS_KEY_FILE"] == str(proj.out / "tls" / "clients" / "ui.key")
    log = open(proj.root / "commander.log", "wb")  # noqa: SIM115 - closed with the process
    proj.procs["redis-commander"] = subprocess.Popen(["sh", str(COMMANDER_PACKAGE / "docker" / "entrypoint.sh")],
                                                     env=env, cwd=COMMANDER_PACKAGE, stdout=log, stderr=log)
    log.close()
    url = f"http://127.0.0.1:{port}"

    def shows_the_key() -> bool:
        try:
            info = httpx.get(f"{url}/apiv2/server/info", timeout=3, trust_env=False).json()["data"]
            ids = [c["connectionId"] for c in info if not c.get("error")]
            if not ids:
                return False
            keys = httpx.get(f"{url}/apiv1/keystree/{ids[0]}/ui:", timeout=3, trust_env=False).json()["data"]
        except (httpx.HTTPError, KeyError, ValueError, TypeError):
            return False
        return [k["keyName"] for k in keys] == ["compose"]

    try:
        _eventually(shows_the_key, 30, "Redis Commander shows the master's key over TLS")
    except AssertionError:
        print((proj.root / "commander.log").read_text())
        raise
