"""Render the spec as a Docker Compose project that runs the same configs as ``redisops up``.

What differs from the local runtime is only *where* nodes run (a :class:`Placement`):
every node gets a static address on the project network, listens on ``0.0.0.0``
inside its own network namespace, keeps its data in ``/data`` (a named volume) and
logs to stdout.  redis.conf / sentinel.conf come from :func:`render_conf`, the
template source the local runtime uses, so a Compose node and its local twin run
the same configuration.

Why static addresses: Sentinel and Cluster remember peers by IP and announce the
address they were given (``sentinel announce-ip``, ``replica-announce-ip``,
``cluster-announce-ip``).  With Docker's dynamic addresses a restarted container
comes back under another IP and its peers keep calling the old one.

Secrets never enter the YAML or the conf files: ``redisops.env`` (mode 0600) feeds
``REDIS_PASSWORD`` / ``SENTINEL_PASSWORD`` to each container, whose start command
writes ``/data/auth.conf`` (the file the conf ``include``s) from them.

The output directory is written next to its final place and renamed into it, so a
failed render never leaves a half-written directory that looks complete.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from redisops.address import Address
from redisops.errors import EnvironmentProblem, UsageError
from redisops.runtime.conf import Placement, auth_lines, render_conf
from redisops.runtime.plan import SLOTS, ClusterLayout, NodeKind, NodePlan, Plan, build_plan
from redisops.runtime.ui import UI
from redisops.spec.models import Spec
from redisops.spec.secrets import Secrets, load_secrets

__all__ = [
    "COMPOSE_FILE",
    "ENV_FILE",
    "INIT_SCRIPT",
    "INIT_SERVICE",
    "MARKER_FILE",
    "UI",
    "UI_IMAGES",
    "OutputFile",
    "RenderResult",
    "cluster_init_script",
    "compose_files",
    "compose_placement",
    "render_compose",
    "static_ips",
    "write_output",
]

COMPOSE_FILE = "docker-compose.yml"
ENV_FILE = "redisops.env"
INIT_SCRIPT = "cluster-init.sh"
INIT_SERVICE = "cluster-init"
MARKER_FILE = ".redisops-compose.json"
NETWORK = "redisops"
#: Container paths; the rendered conf is mounted read-only and copied into /data once.
CONF_DIR = "/etc/redisops"
DATA_DIR = "/data"
AUTH_FILE = f"{DATA_DIR}/auth.conf"
#: Node k of ``plan.nodes`` gets host number FIRST_HOST + k; .1 is Docker's gateway.
FIRST_HOST = 10


@dataclass(frozen=True)
class _UIImage:
    service: str
    image: str
    port: int


#: Pinned tags; never ``latest`` (a moving tag makes two renders of one spec run different code).
UI_IMAGES: Mapping[UI, _UIImage] = {
    UI.REDISINSIGHT: _UIImage("redisinsight", "redis/redisinsight:2.70.0", 5540),
    UI.COMMANDER: _UIImage("redis-commander", "ghcr.io/joeferner/redis-commander:0.9.0", 8081),
}


@dataclass(frozen=True)
class OutputFile:
    text: str
    mode: int = 0o644


@dataclass(frozen=True)
class RenderResult:
    output: Path
    files: tuple[str, ...]
    services: tuple[str, ...]
    ui: UI | None

    def as_dict(self) -> dict[str, Any]:
        return {"output": str(self.output), "files": list(self.files), "services": list(self.services),
                "ui": self.ui.value if self.ui else None}


# --- the pure part: plan + secrets -> file texts --------------------------------------------------------


def static_ips(plan: Plan, extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Service name -> IPv4 address: nodes in plan order, then ``extra`` services.

    Static addresses use the lower half of ``compose.subnet``; the upper half is the
    network's ``ip_range`` for containers Compose places dynamically (``compose run``),
    so those can never take a node's address.
    """
    net = ipaddress.ip_network(plan.spec.compose.subnet)
    names = [n.name for n in plan.nodes] + list(extra)
    room = net.num_addresses // 2 - FIRST_HOST
    if len(names) > room:
        raise UsageError(
            f"compose.subnet {net} has room for {room} static addresses; the plan needs {len(names)}",
            hint=f"use a larger subnet such as {net.supernet(new_prefix=max(net.prefixlen - 2, 8))}")
    return {name: str(net.network_address + FIRST_HOST + k) for k, name in enumerate(names)}


def compose_placement(ips: Mapping[str, str]) -> Placement:
    """Where a node runs in Compose: its own network namespace, data in the volume, logs on stdout.

    ``bind 0.0.0.0``: a container has only loopback and its one project interface, so
    binding every IPv4 address exposes nothing beyond the project network (no ports are
    published) while letting the healthcheck use 127.0.0.1.  Compose networks are IPv4
    unless ``enable_ipv6`` is set, so ``* -::*`` would add nothing.
    """
    return Placement(bind="0.0.0.0", dir=DATA_DIR, logfile="", auth_file=AUTH_FILE,
                     address_of=lambda node: Address(ips[node.name], node.address.port))


def compose_files(plan: Plan, secrets: Secrets, ui: UI | None = None) -> dict[str, OutputFile]:
    """Relative path -> file, for everything ``render compose`` writes."""
    names = [n.name for n in plan.nodes]
    duplicate = sorted({n for n in names if names.count(n) > 1})
    if duplicate:
        raise UsageError(f"two nodes would share the service name {duplicate[0]!r}",
                         hint="give the sentinel group and the cluster different names")
    extra = ((INIT_SERVICE,) if plan.cluster else ()) + ((UI_IMAGES[ui].service,) if ui else ())
    ips = static_ips(plan, extra)
    place = compose_placement(ips)
    files = {f"conf/{node.name}.conf": OutputFile(render_conf(plan, node, place)) for node in plan.nodes}
    if plan.cluster is not None:
        files[INIT_SCRIPT] = OutputFile(cluster_init_script(plan.cluster, place), 0o755)
    files[ENV_FILE] = OutputFile(_env_text(secrets), 0o600)
    files[COMPOSE_FILE] = OutputFile(_compose_text(plan, ips, ui))
    files[".gitignore"] = OutputFile(f"# never commit the secrets\n{ENV_FILE}\n")
    return files


def _env_text(secrets: Secrets) -> str:
    return ("# Passwords for the Compose project rendered by `redisops render compose`.\n"
            "# Mode 0600; keep it out of version control.  Taken from the spec's secrets file.\n"
            f"REDIS_PASSWORD={secrets.redis_password}\n"
            f"SENTINEL_PASSWORD={secrets.sentinel_password}\n")


def _compose_text(plan: Plan, ips: Mapping[str, str], ui: UI | None) -> str:
    spec = plan.spec
    services: dict[str, Any] = {node.name: _node_service(plan, node, ips) for node in plan.nodes}
    if plan.cluster is not None:
        services[INIT_SERVICE] = _init_service(plan.cluster, spec.redis.image, ips)
    if ui is not None:
        services[UI_IMAGES[ui].service] = _ui_service(plan, ui, ips)
    volumes: dict[str, Any] = {_volume(node): None for node in plan.nodes}
    if ui is UI.REDISINSIGHT:
        volumes["redisinsight-data"] = None
    net = ipaddress.ip_network(spec.compose.subnet)
    upper = list(net.subnets(prefixlen_diff=1))[1]
    doc = {
        "name": f"redisops-{spec.name}",
        "services": services,
        "networks": {NETWORK: {"driver": "bridge",
                               "ipam": {"config": [{"subnet": str(net), "ip_range": str(upper)}]}}},
        "volumes": volumes,
    }
    header = (f"# Compose project for redisops deployment {spec.name!r},"
              " rendered by `redisops render compose`.\n"
              "# Re-render instead of editing.  Secrets come from redisops.env (mode 0600).\n"
              "#   docker compose up -d                  # nodes, then the one-shot cluster-init\n"
              "#   docker compose --profile ui up -d     # also the web UI, if rendered --with-ui\n")
    return header + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)


def _volume(node: NodePlan) -> str:
    return f"{node.name}-data"


def _compose_escape(text: str) -> str:
    """Compose interpolates ``$VAR`` itself; ``$$`` hands a literal ``$`` to the container's shell."""
    return text.replace("$", "$$")


def _conf_name(node: NodePlan) -> str:
    return "sentinel.conf" if node.kind is NodeKind.SENTINEL else "redis.conf"


def _start_script(plan: Plan, node: NodePlan) -> str:
    """Shell run by the container: auth.conf from the env, conf copied once, then exec the server.

    The conf is copied only when /data has none: Redis and Sentinel rewrite their own
    conf (after a failover the current master and epochs live there), so it must
    survive restarts.  auth.conf is rewritten at every start, and its ``include`` moved
    to the end of the conf: CONFIG REWRITE (which Sentinel triggers on failover) copies
    ``requirepass`` / ``masterauth`` into the main file, and the last line read wins,
    so this keeps redisops.env the source of the passwords after a rotation.
    """
    conf = _conf_name(node)
    binary = "redis-sentinel" if node.kind is NodeKind.SENTINEL else "redis-server"
    lines = auth_lines(plan, node, "${REDIS_PASSWORD}", "${SENTINEL_PASSWORD}")
    quoted = " ".join(f'"{line}"' for line in lines)
    needed = ["REDIS_PASSWORD", "SENTINEL_PASSWORD"] if node.kind is NodeKind.SENTINEL else ["REDIS_PASSWORD"]
    return "\n".join([
        "set -eu",
        *(f': "${{{var}:?not set: {ENV_FILE} must sit next to {COMPOSE_FILE}}}"' for var in needed),
        "umask 077",
        f"printf '%s\\n' {quoted} > {AUTH_FILE}.tmp",
        f"mv {AUTH_FILE}.tmp {AUTH_FILE}",
        f"[ -s {DATA_DIR}/{conf} ] || cp {CONF_DIR}/{conf} {DATA_DIR}/{conf}",
        f"sed -i '\\#^include {AUTH_FILE}$#d' {DATA_DIR}/{conf}",
        f"echo 'include {AUTH_FILE}' >> {DATA_DIR}/{conf}",
        f"exec {binary} {DATA_DIR}/{conf}",
    ]) + "\n"


def _healthcheck(test: str) -> dict[str, Any]:
    return {"test": ["CMD-SHELL", _compose_escape(test)], "interval": "5s", "timeout": "3s",
            "retries": 5, "start_period": "10s"}


def _ping(node: NodePlan) -> str:
    """PING with the password in REDISCLI_AUTH (the environment), never in argv where `ps` shows it."""
    var = "SENTINEL_PASSWORD" if node.kind is NodeKind.SENTINEL else "REDIS_PASSWORD"
    return f'REDISCLI_AUTH="${var}" redis-cli -p {node.address.port} ping | grep -q PONG'


def _node_service(plan: Plan, node: NodePlan, ips: Mapping[str, str]) -> dict[str, Any]:
    conf = _conf_name(node)
    service: dict[str, Any] = {
        "image": plan.spec.redis.image,
        # The image's entrypoint drops root only for `redis-server ...`; our command is
        # `sh`, so run as the image's redis user from the start (the named volume's
        # /data is created owned by redis from the image).
        "user": "redis",
        "command": ["sh", "-c", _compose_escape(_start_script(plan, node))],
        "env_file": [ENV_FILE],
        "volumes": [f"{_volume(node)}:{DATA_DIR}", f"./conf/{node.name}.conf:{CONF_DIR}/{conf}:ro"],
        "networks": {NETWORK: {"ipv4_address": ips[node.name]}},
        "healthcheck": _healthcheck(_ping(node)),
        "restart": "unless-stopped",
        "stop_grace_period": "30s",  # time for the final RDB save / AOF flush on SIGTERM
        "labels": {"io.redisops.deployment": plan.spec.name, "io.redisops.node": node.name,
                   "io.redisops.kind": node.kind.value},
    }
    depends = _start_order(plan, node)
    if depends:
        service["depends_on"] = {name: {"condition": "service_started"} for name in depends}
    return service


def _start_order(plan: Plan, node: NodePlan) -> list[str]:
    """Start order on first `up` only: replicas after their master, sentinels after the data nodes.

    ``service_started`` rather than ``service_healthy``: after a failover the first node
    is nobody's master, and one dead node must not keep `up` from starting the rest.
    """
    if node.kind is NodeKind.CLUSTER:
        return []
    layout = next(g for g in plan.groups if g.spec.name == node.group)
    if node.kind is NodeKind.SENTINEL:
        return [n.name for n in layout.redis]
    return [] if node is layout.master else [layout.master.name]


def _init_service(cluster: ClusterLayout, image: str, ips: Mapping[str, str]) -> dict[str, Any]:
    first = cluster.nodes[0]
    check = (f'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h {ips[first.name]} -p {first.address.port} '
             "cluster info | grep -q cluster_state:ok")
    return {
        "image": image,
        "user": "redis",
        "command": ["sh", f"{CONF_DIR}/{INIT_SCRIPT}"],
        "env_file": [ENV_FILE],
        "volumes": [f"./{INIT_SCRIPT}:{CONF_DIR}/{INIT_SCRIPT}:ro"],
        "networks": {NETWORK: {"ipv4_address": ips[INIT_SERVICE]}},
        "depends_on": {n.name: {"condition": "service_healthy"} for n in cluster.nodes},
        "healthcheck": _healthcheck(check),
        "restart": "no",
        "labels": {"io.redisops.role": "cluster-init"},
    }


def _http_check(port: int, path: str) -> list[str]:
    """Both UI images ship node but not necessarily curl/wget or a shell: probe with node."""
    js = (f"require('http').get('http://127.0.0.1:{port}{path}',"
          "r=>process.exit(r.statusCode<400?0:1)).on('error',()=>process.exit(1))")
    return ["CMD", "node", "-e", js]


def _ui_service(plan: Plan, ui: UI, ips: Mapping[str, str]) -> dict[str, Any]:
    info = UI_IMAGES[ui]
    service: dict[str, Any] = {
        "image": info.image,
        "profiles": ["ui"],
        "ports": [f"127.0.0.1:{info.port}:{info.port}"],  # the UI holds passwords: loopback only
        "networks": {NETWORK: {"ipv4_address": ips[info.service]}},
        "restart": "unless-stopped",
    }
    if ui is UI.REDISINSIGHT:
        service["volumes"] = [f"redisinsight-data:{DATA_DIR}"]
        service["healthcheck"] = {"test": _http_check(info.port, "/api/health/"), "interval": "10s",
                                  "timeout": "5s", "retries": 5, "start_period": "30s"}
        return service
    # Redis Commander's own entrypoint reads REDIS_PASSWORD / SENTINEL_PASSWORD: the env file's names.
    service["env_file"] = [ENV_FILE]
    service["environment"] = _commander_target(plan, ips)
    service["healthcheck"] = {"test": _http_check(info.port, "/"), "interval": "10s", "timeout": "5s",
                              "retries": 5, "start_period": "30s"}
    return service


def _commander_target(plan: Plan, ips: Mapping[str, str]) -> dict[str, str]:
    """Redis Commander takes one connection from the environment: the first group, else the cluster."""
    if plan.groups:
        group = plan.groups[0]
        sentinels = ",".join(f"{ips[s.name]}:{s.address.port}" for s in group.sentinels)
        return {"SENTINELS": sentinels, "SENTINEL_NAME": group.spec.name, "REDIS_LABEL": group.spec.name}
    assert plan.cluster is not None
    first = plan.cluster.nodes[0]
    return {"REDIS_HOST": ips[first.name], "REDIS_PORT": str(first.address.port), "IS_CLUSTER": "true",
            "REDIS_LABEL": plan.cluster.spec.name}


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line scripts; no anchors/aliases (readers of the YAML expect plain text)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


def _represent_none(dumper: yaml.SafeDumper, data: None) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:null", "")


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(type(None), _represent_none)


# --- the cluster-init script ----------------------------------------------------------------------------

_INIT_HEAD = r"""#!/bin/sh
# cluster-init for Redis Cluster {name!r}, generated by `redisops render compose` from the spec.
# Forms the cluster the way redisops does, without `redis-cli --cluster create`:
# a unique config epoch per node, contiguous slot ranges per master, MEET to the
# first node, wait until every node knows every other, CLUSTER REPLICATE by node id,
# then wait for cluster_state:ok.  Safe to rerun: when all {slots} slots are assigned
# it only finishes missing replicas, and it never changes a node holding slots or keys.
#
# Each node is host:port; REDISOPS_NODE_<k> overrides node k (the tests run this
# against local processes), REDISOPS_TIMEOUT the seconds each wait may take.
set -eu

: "${{REDIS_PASSWORD:?not set: start this with env_file {env}}}"
export REDISCLI_AUTH="$REDIS_PASSWORD"   # redis-cli reads it: the password stays out of argv
TIMEOUT="${{REDISOPS_TIMEOUT:-60}}"
"""

_INIT_FUNCTIONS = r"""
cli() {  # cli HOST:PORT ARGS...
    _addr="$1"; shift
    redis-cli -h "${_addr%:*}" -p "${_addr##*:}" "$@" 2>&1 | tr -d '\r'
}

info_field() {  # info_field HOST:PORT FIELD -> value from CLUSTER INFO
    cli "$1" cluster info | sed -n "s/^$2://p"
}

fail() {
    echo "cluster-init: $*" >&2
    exit 1
}

expect_ok() {  # expect_ok HOST:PORT ARGS...: run a command that must answer OK
    _addr="$1"; shift
    _out=$(cli "$_addr" "$@")
    [ "$_out" = OK ] || fail "$* on $_addr answered: $_out"
}

wait_for() {  # wait_for WHAT COMMAND...: retry once a second until TIMEOUT
    _what="$1"; shift
    _n=0
    until "$@"; do
        _n=$((_n + 1))
        [ "$_n" -lt "$TIMEOUT" ] || fail "timed out after ${TIMEOUT}s waiting for $_what"
        sleep 1
    done
}

answers() { [ "$(cli "$1" ping)" = PONG ]; }
state_ok() { [ "$(info_field "$1" cluster_state)" = ok ]; }
knows_all() {  # every node listed, none in handshake, every link connected
    _seen=$(cli "$1" cluster nodes | grep -v handshake | grep -c ' connected')
    [ "${_seen:-0}" -ge "$NODE_COUNT" ]
}
own_slot_fields() {  # fields after the 8 fixed ones on the node's own CLUSTER NODES line
    cli "$1" cluster nodes | awk '/myself/ {print NF - 8}'
}
is_empty_master() {
    [ "$(cli "$1" role | head -n 1)" = master ] && [ "$(own_slot_fields "$1")" = 0 ] \
        && [ "$(cli "$1" dbsize)" = 0 ]
}

make_replica() {  # make_replica REPLICA MASTER: only if REPLICA is still an empty master
    if ! is_empty_master "$1"; then
        echo "cluster-init: $1 is already a replica or holds data; left as it is"
        return 0
    fi
    _id=$(cli "$2" cluster myid)
    expect_ok "$1" cluster replicate "$_id"
    echo "cluster-init: $1 replicates $2 ($_id)"
}
"""


def cluster_init_script(cluster: ClusterLayout, place: Placement) -> str:
    """POSIX sh that forms ``cluster`` with redis-cli; node addresses come from ``place``."""
    index = {node.name: k for k, node in enumerate(cluster.nodes)}
    out = [_INIT_HEAD.format(name=cluster.spec.name, slots=SLOTS, env=ENV_FILE)]
    for k, node in enumerate(cluster.nodes):
        role = ("master of slots {}-{}".format(*cluster.slots_of(node)) if node in cluster.masters
                else f"replica of {cluster.replica_of[node.name]}")
        out.append(f'NODE_{k}="${{REDISOPS_NODE_{k}:-{place.address_of(node)}}}"  # {node.name}, {role}\n')
    out.append(f'NODES="{" ".join(f"$NODE_{k}" for k in range(len(cluster.nodes)))}"\n')
    out.append(f"NODE_COUNT={len(cluster.nodes)}\n")
    out.append(_INIT_FUNCTIONS)
    out.append("\n".join(_init_body(cluster, index)) + "\n")
    return "".join(out)


def _init_body(cluster: ClusterLayout, index: Mapping[str, int]) -> Iterator[str]:
    name, count = cluster.spec.name, len(cluster.nodes)
    replicas = [(index[r], index[m]) for r, m in cluster.replica_of.items()]
    yield "\nfor addr in $NODES; do wait_for \"$addr to answer PING\" answers \"$addr\"; done\n"
    yield "finish() {  # replicas, then every node must see a healthy cluster"
    yield "    for addr in $NODES; do"
    yield "        wait_for \"$addr to know all $NODE_COUNT nodes\" knows_all \"$addr\""
    yield "    done"
    for replica, of in sorted(replicas):
        yield f'    make_replica "$NODE_{replica}" "$NODE_{of}"'
    yield "    for addr in $NODES; do wait_for \"cluster_state:ok on $addr\" state_ok \"$addr\"; done"
    yield "}\n"
    yield "for addr in $NODES; do"
    yield f'    if [ "$(info_field "$addr" cluster_slots_assigned)" = {SLOTS} ]; then'
    yield (f'        echo "cluster-init: cluster {name} already has all {SLOTS} slots assigned'
           ' (seen by $addr)"')
    yield "        finish"
    yield "        exit 0"
    yield "    fi"
    yield "done\n"
    yield 'busy=""'
    yield "for addr in $NODES; do"
    yield '    known=$(info_field "$addr" cluster_known_nodes)'
    yield '    slots=$(info_field "$addr" cluster_slots_assigned)'
    yield '    keys=$(cli "$addr" dbsize)'
    yield '    if [ "$known" != 1 ] || [ "$slots" != 0 ] || [ "$keys" != 0 ]; then'
    yield '        busy="$busy $addr (known_nodes=$known slots=$slots keys=$keys)"'
    yield "    fi"
    yield "done"
    yield ('[ -z "$busy" ] || fail "refusing to form cluster ' + name + ': nodes not empty:$busy;'
           ' check them with \\`redisops cluster check\\`"\n')
    yield f'echo "cluster-init: forming cluster {name} from {count} empty nodes"'
    yield "epoch=0"
    yield "for addr in $NODES; do"
    yield "    epoch=$((epoch + 1))"
    yield '    expect_ok "$addr" cluster set-config-epoch "$epoch"'
    yield "done"
    for master in cluster.masters:
        first, last = cluster.slots_of(master)
        yield f'expect_ok "$NODE_{index[master.name]}" cluster addslotsrange {first} {last}'
    yield "for addr in $NODES; do"
    yield '    [ "$addr" = "$NODE_0" ] || expect_ok "$addr" cluster meet "${NODE_0%:*}" "${NODE_0##*:}"'
    yield "done"
    yield "finish"
    masters, replica_count = len(cluster.masters), len(replicas)
    yield (f'echo "cluster-init: cluster {name} is ok: {masters} masters, {replica_count} replicas, '
           f'slots 0-{SLOTS - 1}"')


# --- the I/O part: secrets in, directory out ------------------------------------------------------------


def render_compose(spec: Spec, spec_file: Path, output: Path, *, ui: UI | None = None,
                   force: bool = False) -> RenderResult:
    """Render the Compose project for ``spec`` into ``output`` (see the module docstring)."""
    secrets = load_secrets(spec_file.parent / spec.auth.secrets_file)
    plan = build_plan(spec)
    files = compose_files(plan, secrets, ui)
    target = write_output(files, output, force=force, protect=spec_file)
    services = tuple(yaml.safe_load(files[COMPOSE_FILE].text)["services"])
    return RenderResult(target, tuple(sorted(files)), services, ui)


def write_output(files: Mapping[str, OutputFile], output: Path, *, force: bool = False,
                 protect: Path | None = None) -> Path:
    """Write ``files`` into a temp directory next to ``output``, then rename it into place.

    A non-empty ``output`` is replaced only when redisops wrote it (its marker file
    lists what it wrote) or with ``force``; files it holds that redisops did not write
    (a ``docker-compose.override.yml``) are carried over.
    """
    target = output.expanduser().resolve()
    _check_target(target, force, protect)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    except OSError as exc:
        raise _unwritable(target, exc) from exc
    try:
        _write_tree(staging, files)
        if target.exists():
            _carry_over(target, staging)
        _swap(staging, target)
    except OSError as exc:
        raise _unwritable(target, exc) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _check_target(target: Path, force: bool, protect: Path | None) -> None:
    existing = next(p for p in (target, *target.parents) if p.exists())
    if not existing.is_dir():
        raise UsageError(f"output {target}: {existing} is not a directory", hint="choose another -o DIR")
    if not os.access(existing if existing != target else target.parent, os.W_OK):
        raise _unwritable(target, PermissionError(13, "permission denied"))
    if protect is not None and protect.resolve().is_relative_to(target):
        raise UsageError(f"output {target} holds the spec {protect}",
                         hint="render into a directory of its own")
    if not target.is_dir() or force or (target / MARKER_FILE).is_file():
        return
    try:
        empty = not any(target.iterdir())
    except OSError as exc:
        raise _unwritable(target, exc) from exc
    if not empty:
        raise UsageError(f"output {target} is not empty and was not written by redisops",
                         hint="choose another -o DIR, or pass --force to write into it")


def _unwritable(target: Path, exc: OSError) -> EnvironmentProblem:
    reason = exc.strerror or type(exc).__name__
    return EnvironmentProblem(f"cannot write {target} ({reason})", hint="choose a writable -o DIR")


def _write_tree(root: Path, files: Mapping[str, OutputFile]) -> None:
    for rel, item in sorted(files.items()):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, item.mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(item.text)
        os.chmod(path, item.mode)  # exact mode whatever the umask: containers read conf files as uid 999
    marker = {"generator": "redisops render compose", "files": sorted(files)}
    (root / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    for directory in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        os.chmod(directory, 0o755)


def _carry_over(target: Path, staging: Path) -> None:
    """Copy what the old directory holds besides redisops' own files into the new one."""
    previous = _previous_files(target)
    for entry in target.iterdir():
        rel = entry.name
        if rel == MARKER_FILE or (staging / rel).exists() or rel in previous:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, staging / rel, symlinks=True)
        else:
            shutil.copy2(entry, staging / rel, follow_symlinks=False)


def _previous_files(target: Path) -> set[str]:
    try:
        marker = json.loads((target / MARKER_FILE).read_text(encoding="utf-8"))
        return {str(p).split("/", 1)[0] for p in marker.get("files", [])}
    except (OSError, ValueError, AttributeError):
        return set()


def _swap(staging: Path, target: Path) -> None:
    """Rename staging into place; an old directory is moved aside first and removed after."""
    if not target.exists():
        os.rename(staging, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    os.rename(target, old / "previous")
    try:
        os.rename(staging, target)
    except OSError:
        os.rename(old / "previous", target)  # if this fails too, the old tree stays in `old`
        os.rmdir(old)
        raise
    shutil.rmtree(old, ignore_errors=True)
