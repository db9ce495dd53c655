"""TLS in a Compose project: the certificates it carries, where containers see them, redis-cli's flags.

Every container of a Compose project talks to its peers over the project network, so
``tls.enabled: auto`` (the default) renders the project with TLS; ``false`` renders it in
plaintext, which ``redisops audit`` reports (RA013).

The material is made by :func:`redisops.security.tls.compose.compose_material` in ``.redisops/<name>/compose-tls``
(its own CA, kept across renders so applications keep trusting it; a certificate is
reissued within 30 days of expiry, and a render then carries the new one).  The project
gets copies under ``tls/``: the CA bundle, one certificate and key per node (its static
address, its service name and 127.0.0.1 for the healthcheck), and client certificates:
``cluster-init``, ``app`` for applications, ``ui`` for Redis Commander (``--with-ui commander``),
and what an addon asks for (the exporter's).
The CA's key never leaves the state directory.

Keys are mode 0600 on the host, so the image's ``redis`` user cannot read the mounted
file: a node's container starts as root, copies its files into ``/data/tls`` owned by
``redis``, and drops to ``redis`` (gosu, or su-exec in Alpine images) before the server
runs.  A container already started as another user skips the copy's ``chown``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from redisops.runtime.compose.layout import CONF_DIR, TLS_COPY_DIR
from redisops.runtime.compose.output import OutputFile
from redisops.runtime.plan import NodePlan
from redisops.runtime.ui import UI
from redisops.spec.models import Spec

__all__ = [
    "APP_CLIENT",
    "BUNDLE",
    "COPY_DIR",
    "INIT_CLIENT",
    "MOUNT_DIR",
    "UI_CLIENT",
    "PROJECT_DIR",
    "ComposeTls",
    "client_args",
    "client_files",
    "client_mounts",
    "compose_tls",
    "node_args",
    "node_copy_lines",
    "node_mounts",
    "rel",
    "ui_clients",
]

#: the project's directory of certificates, beside docker-compose.yml
PROJECT_DIR = "tls"
#: where a container sees the project's files (read-only mounts)
MOUNT_DIR = f"{CONF_DIR}/tls"
#: a node's own copies, owned by the redis user: what its conf names
COPY_DIR = TLS_COPY_DIR
INIT_CLIENT = "cluster-init"
APP_CLIENT = "app"
#: Redis Commander's: it logs in as admin, with its own certificate
UI_CLIENT = "ui"
#: the CA bundle every node and client trusts
BUNDLE = "ca-bundle.crt"


def compose_tls(spec: Spec) -> bool:
    """Whether a Compose project of ``spec`` runs TLS: always, unless ``tls.enabled: false``."""
    return spec.tls.on(exposed=True)


@dataclass(frozen=True)
class ComposeTls:
    """The project's ``tls/`` files (relative path -> file; keys 0600) and the client names it holds."""

    files: Mapping[str, OutputFile]
    clients: tuple[str, ...]


def ui_clients(ui: UI | None) -> tuple[str, ...]:
    """The client certificates a web UI's container needs: Redis Commander is configured to log in; RedisInsight
    is not (its connection form takes the CA and a client certificate: ``tls/clients/app.*``)."""
    return (UI_CLIENT,) if ui is UI.COMMANDER else ()


def rel(kind: str, name: str, ext: str) -> str:
    """A file's path under ``tls/`` (and under its mount): ``nodes/<name>.crt``, ``clients/<name>.key``."""
    return f"{kind}/{name}.{ext}"


def _mounts(kind: str, name: str) -> list[str]:
    return [f"./{PROJECT_DIR}/{BUNDLE}:{MOUNT_DIR}/{BUNDLE}:ro",
            *(f"./{PROJECT_DIR}/{rel(kind, name, ext)}:{MOUNT_DIR}/{rel(kind, name, ext)}:ro"
              for ext in ("crt", "key"))]


def node_mounts(node: NodePlan) -> list[str]:
    return _mounts("nodes", node.name)


def client_mounts(name: str) -> list[str]:
    return _mounts("clients", name)


def _args(base: str, kind: str, name: str) -> str:
    return (f"--tls --cacert {base}/{BUNDLE} --cert {base}/{rel(kind, name, 'crt')} "
            f"--key {base}/{rel(kind, name, 'key')}")


def node_args(node: NodePlan) -> str:
    """redis-cli's TLS flags inside a node's container (its healthcheck): the node's own copies."""
    return _args(COPY_DIR, "nodes", node.name)


def client_files(name: str, base: str = MOUNT_DIR) -> tuple[str, str, str]:
    """The CA bundle, certificate and key of a client whose files are mounted, as its container sees them."""
    return f"{base}/{BUNDLE}", f"{base}/{rel('clients', name, 'crt')}", f"{base}/{rel('clients', name, 'key')}"


def client_args(name: str, base: str = MOUNT_DIR) -> str:
    """redis-cli's TLS flags for a client whose files are mounted (``base`` may be a shell variable)."""
    return _args(base, "clients", name)


def node_copy_lines(node: NodePlan) -> list[str]:
    """Shell lines of the start script (umask 077 already set): the mounted files copied where the conf names
    them, so the redis user can own them."""
    out = [f"mkdir -p {COPY_DIR}/nodes", f"cp {MOUNT_DIR}/{BUNDLE} {COPY_DIR}/{BUNDLE}"]
    out += [f"cp {MOUNT_DIR}/{rel('nodes', node.name, ext)} {COPY_DIR}/{rel('nodes', node.name, ext)}"
            for ext in ("crt", "key")]
    return out
