"""From a spec to the project's files: the pure part (plan + secrets -> texts) and the one I/O call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from redisops.errors import UsageError
from redisops.runtime.acl import env_vars
from redisops.runtime.compose.addon import ComposeAddon
from redisops.runtime.compose.cluster_init import cluster_init_script
from redisops.runtime.compose.layout import (
    COMPOSE_FILE,
    ENV_FILE,
    INIT_SCRIPT,
    INIT_SERVICE,
    compose_placement,
    static_ips,
)
from redisops.runtime.compose.output import OutputFile, write_output
from redisops.runtime.compose.services import UI_IMAGES, compose_text
from redisops.runtime.compose.tls import ComposeTls, compose_tls, ui_clients
from redisops.runtime.conf import render_conf
from redisops.runtime.plan import Plan, build_plan
from redisops.runtime.ui import UI
from redisops.spec.models import Spec
from redisops.spec.secrets import Secrets, load_secrets

__all__ = ["RenderResult", "compose_files", "render_compose"]


@dataclass(frozen=True)
class RenderResult:
    output: Path
    files: tuple[str, ...]
    services: tuple[str, ...]
    ui: UI | None
    tls: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"output": str(self.output), "files": list(self.files), "services": list(self.services),
                "ui": self.ui.value if self.ui else None, "tls": self.tls}


def compose_files(plan: Plan, secrets: Secrets, ui: UI | None = None,
                  addon: ComposeAddon | None = None, tls: ComposeTls | None = None) -> dict[str, OutputFile]:
    """Relative path -> file, for everything ``render compose`` writes; ``addon``: what monitoring adds; ``tls``:
    the project's certificates (:func:`~.tls.project_tls`), None for a plaintext project."""
    addon = addon or ComposeAddon()
    names = [n.name for n in plan.nodes]
    duplicate = sorted({n for n in names if names.count(n) > 1})
    if duplicate:
        raise UsageError(f"two nodes would share the service name {duplicate[0]!r}",
                         hint="give the sentinel group and the cluster different names")
    extra = ((INIT_SERVICE,) if plan.cluster else ()) + ((UI_IMAGES[ui].service,) if ui else ())
    ips = static_ips(plan, extra)
    place = compose_placement(ips, tls=tls is not None)
    files = {f"conf/{node.name}.conf": OutputFile(render_conf(plan, node, place)) for node in plan.nodes}
    if plan.cluster is not None:
        files[INIT_SCRIPT] = OutputFile(cluster_init_script(plan.cluster, place, tls=tls is not None), 0o755)
    files[ENV_FILE] = OutputFile(_env_text(secrets, addon.env), 0o600)
    files[COMPOSE_FILE] = OutputFile(compose_text(plan, ips, ui, addon, acl=secrets.acl, tls=tls is not None))
    if tls is not None:
        missing = sorted({*addon.tls_clients, *ui_clients(ui)} - set(tls.clients))
        if missing:
            raise UsageError(f"the project's certificates lack the client {missing[0]}", hint="report this as a bug")
        files.update(tls.files)
    clash = sorted(set(files) & set(addon.files))
    if clash:
        raise UsageError(f"two parts of the Compose project would write {clash[0]}", hint="report this as a bug")
    files.update(addon.files)
    private = sorted(name for name, item in files.items() if item.mode & 0o077 == 0 and "/" not in name)
    keys = sorted({name.rsplit("/", 1)[0] + "/*.key" for name, item in files.items()
                   if item.mode & 0o077 == 0 and "/" in name})
    files[".gitignore"] = OutputFile("# never commit the secrets\n" + "".join(f"{name}\n" for name in private + keys))
    return files


def _env_text(secrets: Secrets, extra: Mapping[str, str]) -> str:
    return ("# Passwords for the Compose project rendered by `redisops render compose`.\n"
            "# Mode 0600; keep it out of version control.  Taken from the spec's secrets file.\n"
            + "".join(f"{name}={value}\n" for name, value in {**env_vars(secrets), **extra}.items()))


def render_compose(spec: Spec, spec_file: Path, output: Path, *, ui: UI | None = None,
                   force: bool = False, addon: ComposeAddon | None = None,
                   tls: ComposeTls | None = None) -> RenderResult:
    """Render the Compose project for ``spec`` into ``output`` (see :mod:`redisops.runtime.compose`); ``tls``:
    its certificates, from :func:`redisops.security.tls.compose.compose_material`, when :func:`~.tls.compose_tls`
    says the project runs TLS (``tls.enabled`` auto or true)."""
    if compose_tls(spec) and tls is None:
        raise UsageError("the Compose project runs TLS (tls.enabled: auto or true) but no certificates were given",
                         hint="pass tls=compose_material(spec, spec_file) (redisops.security.tls.compose)")
    secrets = load_secrets(spec_file.parent / spec.auth.secrets_file)
    plan = build_plan(spec)
    files = compose_files(plan, secrets, ui, addon, tls if compose_tls(spec) else None)
    target = write_output(files, output, force=force, protect=spec_file)
    services = tuple(yaml.safe_load(files[COMPOSE_FILE].text)["services"])
    return RenderResult(target, tuple(sorted(files)), services, ui, tls is not None and compose_tls(spec))
