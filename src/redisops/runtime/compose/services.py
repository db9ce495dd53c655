"""The ``docker-compose.yml`` document: one service per node, the one-shot cluster-init, the optional UI.

Secrets never enter the YAML: ``redisops.env`` (mode 0600) feeds
``REDIS_PASSWORD`` / ``SENTINEL_PASSWORD`` to each container, whose start command
writes ``/data/auth.conf`` (the file the conf ``include``s) from them.
Healthchecks pass the password in ``REDISCLI_AUTH``, never in argv.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from redisops.runtime.acl import OWNED, acl_auth_lines, legacy_auth_lines, shell_values
from redisops.runtime.compose import tls as ctls
from redisops.runtime.compose.addon import ComposeAddon
from redisops.runtime.compose.layout import (
    AUTH_FILE,
    COMPOSE_FILE,
    CONF_DIR,
    DATA_DIR,
    ENV_FILE,
    INIT_SCRIPT,
    INIT_SERVICE,
    NETWORK,
)
from redisops.runtime.conf import conf_directive
from redisops.runtime.plan import ClusterLayout, NodeKind, NodePlan, Plan
from redisops.runtime.ui import UI

__all__ = ["UI_IMAGES", "USER_ARG", "compose_text"]

#: redis-cli's ``--user`` when the env file names one (``REDIS_USERNAME``, a hardened deployment); nothing else
USER_ARG = '${REDIS_USERNAME:+--user "$REDIS_USERNAME"}'


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


def compose_text(plan: Plan, ips: Mapping[str, str], ui: UI | None, addon: ComposeAddon | None = None, *,
                 acl: bool = True, tls: bool = False) -> str:
    """The YAML, with a header that says how to start it; ``ips`` from :func:`~.layout.static_ips`; ``tls``: the
    project carries ``tls/`` (:mod:`redisops.runtime.compose.tls`)."""
    spec = plan.spec
    addon = addon or ComposeAddon()
    services: dict[str, Any] = {node.name: _node_service(plan, node, ips, addon, acl, tls) for node in plan.nodes}
    if plan.cluster is not None:
        services[INIT_SERVICE] = _init_service(plan.cluster, spec.redis.image, ips, tls)
    if ui is not None:
        services[UI_IMAGES[ui].service] = _ui_service(plan, ui, ips, tls)
    for name, service in addon.services.items():
        if name in services:
            raise ValueError(f"service {name!r} twice in the Compose project")
        services[name] = {**service, "networks": [NETWORK]}
    volumes: dict[str, Any] = {_volume(node): None for node in plan.nodes}
    if ui is UI.REDISINSIGHT:
        volumes["redisinsight-data"] = None
    volumes.update(dict.fromkeys(addon.volumes))
    net = ipaddress.ip_network(spec.compose.subnet)
    upper = list(net.subnets(prefixlen_diff=1))[1]
    doc = {
        "name": f"redisops-{spec.name}",
        "services": services,
        "networks": {NETWORK: {"driver": "bridge",
                               "ipam": {"config": [{"subnet": str(net), "ip_range": str(upper)}]}}},
        "volumes": volumes,
    }
    tls_note = (f"# TLS only: applications trust {ctls.PROJECT_DIR}/ca-bundle.crt and log in with a client "
                f"certificate ({ctls.PROJECT_DIR}/clients/{ctls.APP_CLIENT}.crt and .key).\n" if tls else "")
    header = (f"# Compose project for redisops deployment {spec.name!r},"
              " rendered by `redisops render compose`.\n"
              "# Re-render instead of editing.  Secrets come from redisops.env (mode 0600).\n"
              + tls_note +
              "#   docker compose up -d                  # nodes, then the one-shot cluster-init\n"
              "#   docker compose --profile ui up -d     # also the web UI, if rendered --with-ui\n"
              + "".join(f"# {line}\n" for line in addon.header))
    return header + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)


def _volume(node: NodePlan) -> str:
    return f"{node.name}-data"


def _compose_escape(text: str) -> str:
    """Compose interpolates ``$VAR`` itself; ``$$`` hands a literal ``$`` to the container's shell."""
    return text.replace("$", "$$")


def _conf_name(node: NodePlan) -> str:
    return "sentinel.conf" if node.kind is NodeKind.SENTINEL else "redis.conf"


def _start_script(node: NodePlan, addon: ComposeAddon, acl: bool, tls: bool) -> str:
    """Shell run by the container: auth.conf from the env, conf copied once, then exec the server.

    The conf is copied only when /data has none: Redis and Sentinel rewrite their own
    conf (after a failover the current master and epochs live there), so it must
    survive restarts.  auth.conf is rewritten at every start, and its ``include`` moved
    to the end of the conf: CONFIG REWRITE (which Sentinel triggers on failover) copies
    ``requirepass`` / ``masterauth`` (and any ACL user auth.conf defines) into the main
    file.  Those copies are deleted first: a password then lives in auth.conf alone,
    redisops.env stays its source after a rotation, and Redis never meets a user
    defined twice (which it refuses).

    With TLS the container starts as root: it copies the node's certificate and key (0600 on the host) into
    ``/data/tls``, hands what it wrote to the redis user and drops to it (:mod:`redisops.runtime.compose.tls`).
    """
    conf = _conf_name(node)
    binary = "redis-sentinel" if node.kind is NodeKind.SENTINEL else "redis-server"
    extra = addon.auth_lines.get(node.kind, ())
    own = acl_auth_lines(node, shell_values()) if acl else legacy_auth_lines(node, shell_values())
    lines = [*own, *extra]
    quoted = " ".join(f'"{line}"' for line in lines)
    needed = list(dict.fromkeys(re.findall(r"\$\{([A-Z_]+)\}", " ".join(lines))))
    owned = f"{AUTH_FILE} {DATA_DIR}/{conf}" + (f" {ctls.COPY_DIR}" if tls else "")
    run = f"{binary} {DATA_DIR}/{conf}"
    drop = [  # root (a TLS project's containers) -> the image's redis user, owning what root wrote
        'if [ "$(id -u)" = 0 ]; then',
        f"    chown -R redis:redis {owned}",
        f"    if command -v gosu >/dev/null 2>&1; then exec gosu redis {run}; fi",
        f"    if command -v su-exec >/dev/null 2>&1; then exec su-exec redis {run}; fi",
        f'    echo "{node.name}: the image has neither gosu nor su-exec to drop root; use a redis image" >&2',
        "    exit 1",
        "fi",
    ] if tls else []
    return "\n".join([
        "set -eu",
        *(f': "${{{var}:?not set: {ENV_FILE} must sit next to {COMPOSE_FILE}}}"' for var in needed),
        "umask 077",
        *(ctls.node_copy_lines(node) if tls else []),
        f"printf '%s\\n' {quoted} > {AUTH_FILE}.tmp",
        f"mv {AUTH_FILE}.tmp {AUTH_FILE}",
        f"[ -s {DATA_DIR}/{conf} ] || cp {CONF_DIR}/{conf} {DATA_DIR}/{conf}",
        *(f"sed -i '/^{key} /d' {DATA_DIR}/{conf}" for key in dict.fromkeys(
            [*(conf_directive(line) for line in lines), *sorted(OWNED)])),
        f"sed -i '\\#^include {AUTH_FILE}$#d' {DATA_DIR}/{conf}",
        f"echo 'include {AUTH_FILE}' >> {DATA_DIR}/{conf}",
        *drop,
        f"exec {run}",
    ]) + "\n"


def _healthcheck(test: str) -> dict[str, Any]:
    return {"test": ["CMD-SHELL", _compose_escape(test)], "interval": "5s", "timeout": "3s",
            "retries": 5, "start_period": "10s"}


def _ping(node: NodePlan, tls: bool) -> str:
    """PING with the password in REDISCLI_AUTH (the environment), never in argv where `ps` shows it; a data
    node as ``REDIS_USERNAME`` when the env file names one (ACL users); over TLS with the node's own
    certificate."""
    cli = f"redis-cli {ctls.node_args(node)}" if tls else "redis-cli"
    if node.kind is NodeKind.SENTINEL:
        return f'REDISCLI_AUTH="$SENTINEL_PASSWORD" {cli} -p {node.address.port} ping | grep -q PONG'
    return f'REDISCLI_AUTH="$REDIS_PASSWORD" {cli} {USER_ARG} -p {node.address.port} ping | grep -q PONG'


def _node_service(plan: Plan, node: NodePlan, ips: Mapping[str, str], addon: ComposeAddon,
                  acl: bool, tls: bool) -> dict[str, Any]:
    conf = _conf_name(node)
    service: dict[str, Any] = {
        "image": plan.spec.redis.image,
        # The image's entrypoint drops root only for `redis-server ...`; our command is
        # `sh`, so run as the image's redis user from the start (the named volume's
        # /data is created owned by redis from the image).  With TLS the script starts
        # as root to copy the key, then drops to redis itself.
        **({} if tls else {"user": "redis"}),
        "command": ["sh", "-c", _compose_escape(_start_script(node, addon, acl, tls))],
        "env_file": [ENV_FILE],
        "volumes": [f"{_volume(node)}:{DATA_DIR}", f"./conf/{node.name}.conf:{CONF_DIR}/{conf}:ro",
                    *(ctls.node_mounts(node) if tls else [])],
        "networks": {NETWORK: {"ipv4_address": ips[node.name]}},
        "healthcheck": _healthcheck(_ping(node, tls)),
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


def _init_service(cluster: ClusterLayout, image: str, ips: Mapping[str, str], tls: bool) -> dict[str, Any]:
    first = cluster.nodes[0]
    cli = f"redis-cli {ctls.client_args(ctls.INIT_CLIENT)}" if tls else "redis-cli"
    check = (f'REDISCLI_AUTH="$REDIS_PASSWORD" {cli} {USER_ARG} -h {ips[first.name]} -p {first.address.port} '
             "cluster info | grep -q cluster_state:ok")
    return {
        "image": image,
        # with TLS as root: the mounted client key is 0600 on the host; the one-shot runs redis-cli only
        **({} if tls else {"user": "redis"}),
        "command": ["sh", f"{CONF_DIR}/{INIT_SCRIPT}"],
        "env_file": [ENV_FILE],
        "volumes": [f"./{INIT_SCRIPT}:{CONF_DIR}/{INIT_SCRIPT}:ro",
                    *(ctls.client_mounts(ctls.INIT_CLIENT) if tls else [])],
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


def _ui_service(plan: Plan, ui: UI, ips: Mapping[str, str], tls: bool) -> dict[str, Any]:
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
    if tls:
        # Its entrypoint turns these into --redis-tls-*-file flags (the files' paths, not their contents);
        # SENTINEL_TLS alone reuses them for the sentinels.  The key is mode 0600 on the host, so the image's
        # own user could not read the mount: the container runs as root, like the exporter's.
        ca, cert, key = ctls.client_files(ctls.UI_CLIENT)
        service["environment"] |= {"REDIS_TLS": "true", "REDIS_TLS_CA_CERT_FILE": ca, "REDIS_TLS_CERT_FILE": cert,
                                   "REDIS_TLS_KEY_FILE": key, **({"SENTINEL_TLS": "true"} if plan.groups else {})}
        service["volumes"] = ctls.client_mounts(ctls.UI_CLIENT)
        service["user"] = "0:0"
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
